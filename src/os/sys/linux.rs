//! Linux: raw Ethernet frames through an `AF_PACKET` socket; the NIC's Wake-on-LAN setting
//! ([`ethtool`]).
#![allow(unsafe_code)]

pub mod ethtool;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The index of interface `name`.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

/// Sends one complete Ethernet frame (destination MAC first, no FCS) out of interface `name`.
/// Needs `CAP_NET_RAW`.
pub fn send_frame(name: &str, frame: &[u8]) -> io::Result<()> {
    let index = if_index(name)?;
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid descriptor owned by nobody else; `OwnedFd` closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    send_frame_on(&fd, index, frame)
}

/// `ETH_P_ALL` in network byte order, as `socket(2)` and `sockaddr_ll` take it.
fn eth_p_all() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

/// Puts the interface `index` into promiscuous mode for as long as `fd` is open (a packet
/// socket membership: the kernel counts it and drops it when the socket closes, so nothing is
/// left behind if the process dies). The MAC-takeover proxy needs it to receive frames sent to
/// a sleeper's MAC on hardware that filters unicast by destination.
pub fn add_promiscuous(fd: &OwnedFd, index: u32) -> io::Result<()> {
    // SAFETY: `packet_mreq` is plain old data; all-zero is a valid value.
    let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mreq.mr_ifindex = index as i32;
    mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
    // SAFETY: `mreq` is a valid `packet_mreq` whose size is passed alongside it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&raw const mreq).cast(),
            std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An `AF_PACKET` socket on interface `name` that receives only what the classic BPF `program`
/// accepts, never this host's own outgoing frames, non-blocking. The filter is attached before
/// the socket is bound, so no unfiltered frame is ever queued.
pub fn packet_socket(name: &str, program: &[(u16, u8, u8, u32)]) -> io::Result<(OwnedFd, u32)> {
    let index = if_index(name)?;
    // Protocol 0: the socket receives nothing until it is bound below.
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid descriptor owned by nobody else; `OwnedFd` closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut filter: Vec<libc::sock_filter> =
        program.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k }).collect();
    let fprog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    // SAFETY: `fprog` points at `filter`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let one: libc::c_int = 1;
    // Our own frames (replies, announcements) must not come back as input. Linux ≥ 4.20; on
    // older kernels the option is unknown and the caller sees its own frames.
    // SAFETY: `one` is a valid int for the duration of the call.
    let _ = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    // SAFETY: `sockaddr_ll` is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = eth_p_all();
    addr.sll_ifindex = index as i32;
    // SAFETY: `addr` is a valid `sockaddr_ll` whose size is passed alongside it.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fd, index))
}

/// Reads one frame from a (non-blocking) packet socket.
pub fn recv_frame(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Reads one frame from a (non-blocking) packet socket into the spare capacity of `buf` and
/// appends it there; a frame longer than that space is truncated (only headers matter). Returns
/// its length.
pub fn recv_frame_into(fd: &OwnedFd, buf: &mut bytes::BytesMut) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    // SAFETY: `spare` is valid for writes of `spare.len()` bytes; recv writes at most that many.
    let n = unsafe { libc::recv(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised the first `n` bytes of the spare capacity (n ≤ its length).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Sends one complete Ethernet frame on the packet socket's interface `index`.
pub fn send_frame_on(fd: &OwnedFd, index: u32, frame: &[u8]) -> io::Result<()> {
    if frame.len() < 14 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an Ethernet frame has at least 14 bytes",
        ));
    }
    // SAFETY: `sockaddr_ll` is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = index as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` is valid for `frame.len()` bytes; `addr` is a valid `sockaddr_ll` whose
    // size is passed alongside it.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Frames the kernel dropped on packet socket `fd` (its receive buffer was full) since the
/// last call: `PACKET_STATISTICS` resets the counts it reports.
pub fn packet_drops(fd: &OwnedFd) -> io::Result<u64> {
    // SAFETY: `tpacket_stats` is plain old data; all-zero is a valid value.
    let mut stats: libc::tpacket_stats = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `stats` is valid for writes of `len` bytes, and `len` for the kernel to update.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &raw mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(stats.tp_drops))
}

/// Registers an owned descriptor with tokio's reactor (needs a running runtime).
pub fn register(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` owns one open descriptor, returns that same descriptor from
    // `as_raw_fd` for as long as it lives, and closes it only when dropped, which happens only
    // when the `AsyncFd` holding it is dropped.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(Into::into)
}
