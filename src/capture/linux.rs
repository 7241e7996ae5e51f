//! The Linux backend: `AF_PACKET` + BPF, driven by tokio's `AsyncFd`.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;

use crate::sys::linux as sys;

/// A filtered capture on one interface, which can also send frames there.
#[derive(Debug)]
pub struct PacketCapture {
    fd: AsyncFd<OwnedFd>,
    index: u32,
}

impl PacketCapture {
    /// Opens the capture on `iface` for magic packets to `wol_port` (needs `CAP_NET_RAW`).
    /// `promiscuous`: also receive frames addressed to other MACs (the MAC-takeover proxy
    /// receives a sleeper's unicast frames); undone when the capture is dropped.
    pub fn open(iface: &str, wol_port: u16, promiscuous: bool) -> io::Result<Self> {
        let (fd, index) = sys::packet_socket(iface, &super::bpf::program(wol_port))?;
        if promiscuous {
            sys::add_promiscuous(&fd, index)?;
        }
        Ok(Self { fd: sys::register(fd)?, index })
    }

    /// The next frame the filter let through.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| sys::recv_frame(fd.get_ref(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one complete Ethernet frame on the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        sys::send_frame_on(self.fd.get_ref(), self.index, frame)
    }
}
