//! The Windows backend: Npcap, loaded at run time, with the same kernel filter as Linux. Npcap
//! has no handle tokio can wait on, so a thread per interface reads (waking every 100 ms to see
//! whether it should stop) and hands each frame to a callback; sends go through a second handle.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::BytesMut;

use super::{FrameBackend, FrameSink};
use crate::os::sys::windows::npcap::Pcap;

/// How long a read waits before the reader looks at its stop flag.
const READ_TIMEOUT_MS: i32 = 100;

/// Npcap's device name for a network interface as netdev names it (its adapter GUID,
/// `{…}`): `\Device\NPF_{…}`.
pub fn npcap_device(adapter: &str) -> String {
    if adapter.starts_with("\\Device\\NPF_") {
        adapter.to_owned()
    } else {
        format!("\\Device\\NPF_{adapter}")
    }
}

/// A filtered capture on one interface, which can also send frames there.
pub struct NpcapCapture {
    device: String,
    wol_port: u16,
    promiscuous: bool,
    send: Mutex<Pcap>,
    stop: Arc<AtomicBool>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for NpcapCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpcapCapture").field("device", &self.device).finish_non_exhaustive()
    }
}

impl FrameBackend for NpcapCapture {
    /// Fails, saying so, when Npcap is not installed. `iface` is the adapter as netdev names it.
    fn open(iface: &str, wol_port: u16, promiscuous: bool, sink: FrameSink) -> io::Result<Self> {
        let device = npcap_device(iface);
        let send =
            Pcap::open(&device, promiscuous, READ_TIMEOUT_MS, &super::bpf::program(wol_port))?;
        let capture = Self {
            device,
            wol_port,
            promiscuous,
            send: Mutex::new(send),
            stop: Arc::new(AtomicBool::new(false)),
            reader: Mutex::new(None),
        };
        capture.start_reader(sink)?;
        Ok(capture)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send.lock().map_err(|_| io::Error::other("Npcap sender poisoned"))?.send(frame)
    }
}

impl NpcapCapture {
    /// Starts the reader thread: every frame the filter lets through goes to `sink`.
    fn start_reader(&self, mut sink: FrameSink) -> io::Result<()> {
        let mut pcap = Pcap::open(
            &self.device,
            self.promiscuous,
            READ_TIMEOUT_MS,
            &super::bpf::program(self.wol_port),
        )?;
        let stop = self.stop.clone();
        let device = self.device.clone();
        let handle =
            std::thread::Builder::new().name("wakeproxy-npcap".into()).spawn(move || {
                let mut buf = BytesMut::with_capacity(64 * 1024);
                while !stop.load(Ordering::Relaxed) {
                    buf.reserve(2048);
                    match pcap.next(&mut buf) {
                        Ok(Some(_)) => sink(buf.split().freeze()),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!("Npcap on {device}: {e}; no more frames from it");
                            return;
                        }
                    }
                }
            })?;
        if let Ok(mut r) = self.reader.lock() {
            *r = Some(handle);
        }
        Ok(())
    }
}

impl Drop for NpcapCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.reader.get_mut().ok().and_then(Option::take) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_the_npcap_way() {
        let guid = "{6E2C2A1B-0C4F-4C4F-9C4F-2C4F6E2C2A1B}";
        assert_eq!(npcap_device(guid), format!("\\Device\\NPF_{guid}"));
        assert_eq!(npcap_device(&npcap_device(guid)), npcap_device(guid));
    }
}
