//! The daemon's sockets: one UDP socket per managed interface on the peer port, one for magic
//! packets, and the optional listener on the Wake-on-LAN port.
//!
//! On Linux a socket bound to the interface's own address receives no broadcasts, so peer
//! sockets bind `0.0.0.0:<port>` and pin themselves to their interface with `SO_BINDTODEVICE`:
//! they then receive unicast, subnet-directed and limited broadcasts of that interface only,
//! and several of them share the port without `SO_REUSEADDR` games.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// A UDP socket on `port` that hears only interface `iface` (Linux), with broadcast allowed.
pub(super) fn bind_udp(iface: &str, port: u16) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_broadcast(true)?;
    #[cfg(unix)]
    sock.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    sock.bind_device(Some(iface.as_bytes()))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = iface;
    sock.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).into())?;
    // tokio requires non-blocking sockets; `from_std` does not set it.
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

/// A UDP socket for datagrams the OS routes (WakeRequests to other subnets): not pinned to an
/// interface, ephemeral port.
pub(super) fn bind_routed() -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_broadcast(true)?;
    sock.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}
