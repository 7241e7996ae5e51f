//! The layer-2 capture/inject backend a proxy needs: the frames it acts on (ARP, neighbour
//! solicitations, TCP SYNs, magic packets) in, the frames it answers with out.
//!
//! Linux: an `AF_PACKET` socket with a kernel BPF filter ([`bpf`]), so only those frames reach
//! user space, never this host's own outgoing frames; async with tokio. Windows (Npcap loaded at
//! run time) comes with the layer-2 proxy. The daemon does not use this backend yet: until the
//! proxy's safety checks (probe before claim) are in, nodes announce that they cannot proxy.

#[cfg(target_os = "linux")]
mod bpf;
mod describe;

pub use describe::describe;

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
pub use linux::PacketCapture;
