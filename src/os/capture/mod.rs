//! The layer-2 capture/inject backend a proxy needs: the frames it acts on (ARP, neighbour
//! solicitations and advertisements, TCP SYNs, magic packets) in, the frames it answers with
//! out. Both backends use the same classic-BPF program ([`bpf`]), so only those frames reach
//! user space, and neither hands back this host's own outgoing frames.
//!
//! The daemon reaches a backend only through [`FrameBackend`], and this platform's is [`Backend`]:
//!
//! - Linux ([`PacketBackend`] over a [`PacketCapture`]): an `AF_PACKET` socket, async with tokio;
//!   frames are split off one reused receive buffer.
//! - Windows ([`NpcapCapture`]): Npcap's `wpcap.dll` loaded at run time; a reader thread per
//!   interface. Without Npcap it does not open, and the node announces that it cannot proxy.
//! - Elsewhere ([`Unsupported`]): never opens; the node runs without answering for sleepers.

use std::io;

use bytes::Bytes;

#[cfg(any(target_os = "linux", windows))]
mod bpf;
mod describe;

pub use describe::describe;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{PacketBackend, PacketCapture};

#[cfg(windows)]
mod npcap;
#[cfg(windows)]
pub use npcap::{NpcapCapture, npcap_device};

/// Where a backend hands every frame its filter passes, one at a time, from its own task or
/// thread. It must not block: the daemon's sink queues the frame for the node, or drops it when
/// the queue is full.
pub type FrameSink = Box<dyn FnMut(Bytes) + Send>;

/// A layer-2 capture/inject backend on one interface: the daemon's only way to see and send
/// Ethernet frames. The core never meets one: the daemon feeds what it delivers to
/// `Node::handle_frame` and hands it the node's `SendFrame` actions.
pub trait FrameBackend: Sized + Send + Sync + 'static {
    /// Opens the backend on `iface`, letting through only what the proxy acts on (ARP, neighbour
    /// solicitations and advertisements, SYNs, magic packets on 0x0842 and UDP `wol_port`);
    /// `promiscuous` also receives frames addressed to other MACs (MAC takeover). From now until
    /// it is dropped, every such frame goes to `sink`. Linux needs a running tokio runtime. The
    /// error says why this node cannot answer for sleepers here.
    fn open(iface: &str, wol_port: u16, promiscuous: bool, sink: FrameSink) -> io::Result<Self>;

    /// Sends one complete Ethernet frame on the interface.
    fn send(&self, frame: &[u8]) -> io::Result<()>;

    /// Frames the kernel dropped before the backend could read them (its buffer was full),
    /// since the backend opened; `None` if this backend cannot tell.
    fn kernel_drops(&self) -> Option<u64> {
        None
    }
}

/// This platform's backend.
#[cfg(target_os = "linux")]
pub type Backend = PacketBackend;
/// This platform's backend.
#[cfg(windows)]
pub type Backend = NpcapCapture;
/// This platform's backend.
#[cfg(not(any(target_os = "linux", windows)))]
pub type Backend = Unsupported;

/// No layer-2 backend on this system: it never opens.
#[derive(Debug)]
pub struct Unsupported;

impl FrameBackend for Unsupported {
    fn open(
        _iface: &str,
        _wol_port: u16,
        _promiscuous: bool,
        _sink: FrameSink,
    ) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "wakeproxy has no layer-2 backend for this operating system",
        ))
    }

    fn send(&self, _frame: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no layer-2 backend"))
    }
}
