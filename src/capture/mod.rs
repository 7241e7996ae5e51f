//! The layer-2 capture/inject backend a proxy needs: the frames it acts on (ARP, neighbour
//! solicitations and advertisements, TCP SYNs, magic packets) in, the frames it answers with
//! out. Both backends use the same classic-BPF program ([`bpf`]), so only those frames reach
//! user space, and neither hands back this host's own outgoing frames.
//!
//! - Linux ([`PacketCapture`]): an `AF_PACKET` socket, async with tokio; frames are split off one
//!   reused receive buffer.
//! - Windows ([`NpcapCapture`]): Npcap's `wpcap.dll` loaded at run time; a reader thread per
//!   interface. Without Npcap it does not open, and the node announces that it cannot proxy.

#[cfg(any(target_os = "linux", windows))]
mod bpf;
mod describe;

pub use describe::describe;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::PacketCapture;

#[cfg(windows)]
mod npcap;
#[cfg(windows)]
pub use npcap::{NpcapCapture, npcap_device};
