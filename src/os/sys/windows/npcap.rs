//! Npcap's `wpcap.dll`, loaded at run time (never linked), so wakeproxy.exe starts on machines
//! without Npcap and only the layer-2 proxy is off there.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io;
use std::sync::Arc;

use libloading::Library;

/// Where Npcap installs its DLLs (unless in WinPcap-compatible mode, which puts them in
/// System32 itself): tried in this order.
pub fn dll_candidates() -> Vec<std::path::PathBuf> {
    let system = std::env::var_os("SystemRoot")
        .map_or_else(|| std::path::PathBuf::from("C:\\Windows"), std::path::PathBuf::from);
    vec![system.join("System32").join("Npcap").join("wpcap.dll"), "wpcap.dll".into()]
}

#[repr(C)]
struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

#[repr(C)]
struct PcapPkthdr {
    ts_sec: i32,
    ts_usec: i32,
    caplen: u32,
    len: u32,
}

type OpenLive =
    unsafe extern "C" fn(*const c_char, c_int, c_int, c_int, *mut c_char) -> *mut c_void;
type SetFilter = unsafe extern "C" fn(*mut c_void, *mut BpfProgram) -> c_int;
type NextEx = unsafe extern "C" fn(*mut c_void, *mut *mut PcapPkthdr, *mut *const u8) -> c_int;
type SendPacket = unsafe extern "C" fn(*mut c_void, *const u8, c_int) -> c_int;
type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Close = unsafe extern "C" fn(*mut c_void);
type SetDirection = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type SetMinToCopy = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// The functions wakeproxy uses, resolved once.
struct Api {
    _lib: Library,
    open_live: OpenLive,
    set_filter: SetFilter,
    next_ex: NextEx,
    send_packet: SendPacket,
    get_err: GetErr,
    close: Close,
    set_direction: Option<SetDirection>,
    set_min_to_copy: Option<SetMinToCopy>,
}

impl Api {
    fn load() -> io::Result<Arc<Self>> {
        let mut last = None;
        for path in dll_candidates() {
            // SAFETY: loading wpcap.dll runs its DllMain, which only initialises Npcap.
            match unsafe { Library::new(&path) } {
                Ok(lib) => return Self::resolve(lib).map(Arc::new),
                Err(e) => last = Some(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "Npcap is not installed ({}): install it from https://npcap.com to let this node answer for sleeping hosts; everything else works without it",
                last.map_or_else(String::new, |e| e.to_string())
            ),
        ))
    }

    fn resolve(lib: Library) -> io::Result<Self> {
        let missing = |name: &str, e: libloading::Error| {
            io::Error::new(io::ErrorKind::Unsupported, format!("wpcap.dll has no {name}: {e}"))
        };
        // SAFETY: each symbol is looked up by its documented name and given its documented C
        // signature (pcap(3PCAP)); the pointers stay valid while `_lib` is loaded, which the
        // returned `Api` keeps.
        unsafe {
            Ok(Self {
                open_live: *lib
                    .get::<OpenLive>(b"pcap_open_live\0")
                    .map_err(|e| missing("pcap_open_live", e))?,
                set_filter: *lib
                    .get::<SetFilter>(b"pcap_setfilter\0")
                    .map_err(|e| missing("pcap_setfilter", e))?,
                next_ex: *lib
                    .get::<NextEx>(b"pcap_next_ex\0")
                    .map_err(|e| missing("pcap_next_ex", e))?,
                send_packet: *lib
                    .get::<SendPacket>(b"pcap_sendpacket\0")
                    .map_err(|e| missing("pcap_sendpacket", e))?,
                get_err: *lib
                    .get::<GetErr>(b"pcap_geterr\0")
                    .map_err(|e| missing("pcap_geterr", e))?,
                close: *lib.get::<Close>(b"pcap_close\0").map_err(|e| missing("pcap_close", e))?,
                set_direction: lib.get::<SetDirection>(b"pcap_setdirection\0").ok().map(|s| *s),
                set_min_to_copy: lib.get::<SetMinToCopy>(b"pcap_setmintocopy\0").ok().map(|s| *s),
                _lib: lib,
            })
        }
    }
}

/// One open Npcap handle.
pub struct Pcap {
    api: Arc<Api>,
    handle: *mut c_void,
}

// SAFETY: a pcap handle may be used from any thread, one thread at a time; wakeproxy gives each
// handle to one thread (a receiver, or the sender behind a mutex).
unsafe impl Send for Pcap {}

const PCAP_D_IN: c_int = 1;
const PCAP_ERRBUF_SIZE: usize = 256;

impl Pcap {
    /// Opens `device` (`\Device\NPF_{GUID}`) with a read timeout of `timeout_ms`, only the
    /// frames `filter` (classic BPF: code, jt, jf, k) accepts, incoming frames only.
    pub fn open(
        device: &str,
        promiscuous: bool,
        timeout_ms: i32,
        filter: &[(u16, u8, u8, u32)],
    ) -> io::Result<Self> {
        let api = Api::load()?;
        let name = CString::new(device)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the device name"))?;
        let mut errbuf = [0 as c_char; PCAP_ERRBUF_SIZE];
        // SAFETY: `name` is NUL-terminated and `errbuf` has PCAP_ERRBUF_SIZE bytes, as
        // pcap_open_live requires.
        let handle = unsafe {
            (api.open_live)(
                name.as_ptr(),
                65535,
                c_int::from(promiscuous),
                timeout_ms,
                errbuf.as_mut_ptr(),
            )
        };
        if handle.is_null() {
            // SAFETY: on failure pcap_open_live wrote a NUL-terminated message into `errbuf`.
            let msg = unsafe { CStr::from_ptr(errbuf.as_ptr()) }.to_string_lossy().into_owned();
            return Err(io::Error::other(format!("Npcap cannot open {device}: {msg}")));
        }
        let pcap = Self { api, handle };
        let mut insns: Vec<BpfInsn> =
            filter.iter().map(|&(code, jt, jf, k)| BpfInsn { code, jt, jf, k }).collect();
        let mut program =
            BpfProgram { bf_len: insns.len() as c_uint, bf_insns: insns.as_mut_ptr() };
        // SAFETY: `handle` is open; `program` points at `insns`, which outlives the call (Npcap
        // copies the program).
        if unsafe { (pcap.api.set_filter)(pcap.handle, &mut program) } != 0 {
            return Err(pcap.error("pcap_setfilter"));
        }
        if let Some(set_direction) = pcap.api.set_direction {
            // SAFETY: `handle` is open. Our own frames must not come back as input.
            unsafe { set_direction(pcap.handle, PCAP_D_IN) };
        }
        if let Some(min_to_copy) = pcap.api.set_min_to_copy {
            // SAFETY: `handle` is open. Deliver each frame at once, not in batches.
            unsafe { min_to_copy(pcap.handle, 0) };
        }
        Ok(pcap)
    }

    /// The next frame, copied into `out` (cut to its length); `Ok(None)` when the read timeout
    /// passed without one.
    pub fn next(&mut self, out: &mut bytes::BytesMut) -> io::Result<Option<usize>> {
        let mut header: *mut PcapPkthdr = std::ptr::null_mut();
        let mut data: *const u8 = std::ptr::null();
        // SAFETY: `handle` is open; pcap_next_ex sets both pointers on success (1).
        let r = unsafe { (self.api.next_ex)(self.handle, &mut header, &mut data) };
        match r {
            1 => {
                // SAFETY: on success `header` and `data` point at the frame's header and its
                // `caplen` bytes, valid until the next call on this handle.
                let frame = unsafe {
                    let caplen = (*header).caplen as usize;
                    std::slice::from_raw_parts(data, caplen)
                };
                out.extend_from_slice(frame);
                Ok(Some(frame.len()))
            }
            0 => Ok(None),
            _ => Err(self.error("pcap_next_ex")),
        }
    }

    /// Sends one complete Ethernet frame.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let len = c_int::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
        // SAFETY: `handle` is open and `frame` is valid for `len` bytes.
        if unsafe { (self.api.send_packet)(self.handle, frame.as_ptr(), len) } != 0 {
            return Err(self.error("pcap_sendpacket"));
        }
        Ok(())
    }

    fn error(&self, call: &str) -> io::Error {
        // SAFETY: `handle` is open; pcap_geterr returns a NUL-terminated string it owns.
        let msg = unsafe { CStr::from_ptr((self.api.get_err)(self.handle)) };
        io::Error::other(format!("{call}: {}", msg.to_string_lossy()))
    }
}

impl Drop for Pcap {
    fn drop(&mut self) {
        // SAFETY: `handle` is open and closed exactly once, here.
        unsafe { (self.api.close)(self.handle) };
    }
}
