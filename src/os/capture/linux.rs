//! The Linux backend: `AF_PACKET` + BPF, driven by tokio's `AsyncFd`.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use super::{FrameBackend, FrameSink};
use crate::os::sys::linux as sys;

/// The most of a frame the daemon keeps: a full Ethernet frame with a VLAN tag. The classifier
/// reads headers only, so longer (jumbo) frames are cut.
const MAX_FRAME: usize = 1518;

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

    /// The next frame the filter let through, received straight into `buf`'s spare capacity
    /// and split off it. No copy, and no allocation once earlier frames are dropped: `reserve`
    /// then reuses the buffer's memory.
    pub async fn recv_frame(&self, buf: &mut BytesMut) -> io::Result<Bytes> {
        loop {
            buf.reserve(MAX_FRAME);
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| sys::recv_frame_into(fd.get_ref(), buf)) {
                Ok(Ok(_)) => return Ok(buf.split().freeze()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one complete Ethernet frame on the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        sys::send_frame_on(self.fd.get_ref(), self.index, frame)
    }

    /// Frames the kernel dropped since the last call (`PACKET_STATISTICS`).
    pub fn drops_since_last(&self) -> io::Result<u64> {
        sys::packet_drops(self.fd.get_ref())
    }
}

/// The daemon's backend on Linux: a [`PacketCapture`] and the task that reads it into the sink.
#[derive(Debug)]
pub struct PacketBackend {
    capture: Arc<PacketCapture>,
    reader: JoinHandle<()>,
    /// The kernel's drops so far (`PACKET_STATISTICS` resets on every read).
    drops: AtomicU64,
}

impl FrameBackend for PacketBackend {
    fn open(iface: &str, wol_port: u16, promiscuous: bool, sink: FrameSink) -> io::Result<Self> {
        let capture = PacketCapture::open(iface, wol_port, promiscuous).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(
                    e.kind(),
                    format!("{e} (it needs {})", crate::os::words::HERE.capture),
                )
            } else {
                e
            }
        })?;
        let capture = Arc::new(capture);
        let reader = tokio::spawn(read_into(capture.clone(), sink));
        Ok(Self { capture, reader, drops: AtomicU64::new(0) })
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.capture.send(frame)
    }

    fn kernel_drops(&self) -> Option<u64> {
        let new = self.capture.drops_since_last().ok()?;
        Some(self.drops.fetch_add(new, Ordering::Relaxed) + new)
    }
}

impl Drop for PacketBackend {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_into(capture: Arc<PacketCapture>, mut sink: FrameSink) {
    // Frames are split off one buffer whose memory is reused once the node is done with them:
    // the hot path does not allocate.
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        match capture.recv_frame(&mut buf).await {
            Ok(frame) => sink(frame),
            Err(e) => {
                tracing::debug!("capture: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
