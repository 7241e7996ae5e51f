//! The daemon's sockets: one UDP socket per managed interface on the peer port, one for magic
//! packets, and the optional listener on the Wake-on-LAN port.
//!
//! Each socket belongs to one interface, so that several interfaces (Ethernet and Wi-Fi, a
//! VPN, a Hyper-V switch) each have their own and each datagram's interface is known:
//!
//! - On Linux a socket bound to the interface's own address receives no broadcasts, so peer
//!   sockets bind `0.0.0.0:<port>` and pin themselves to their interface with
//!   `SO_BINDTODEVICE`: they then receive unicast, subnet-directed and limited broadcasts of
//!   that interface only, and several of them share the port without `SO_REUSEADDR` games.
//! - On Windows there is no `SO_BINDTODEVICE`, and a socket bound to an interface's own address
//!   does receive the broadcasts that arrive on that interface: each socket binds
//!   `<interface address>:<port>`. (Bound to `0.0.0.0`, the second interface's socket cannot
//!   have the port: WSAEADDRINUSE, 10048.) An address change means new sockets; the daemon
//!   reopens them.
//!
//! Peer sockets send with IP TTL 255 and, on Linux, report each datagram's TTL (`IP_RECVTTL`)
//! and the socket's own drop count (`SO_RXQ_OVFL`) with it: the reader refuses what crossed a
//! router (GTSM, RFC 5082) and counts what the kernel dropped. Their receive buffer is raised to
//! [`PEER_RCVBUF`] so a burst survives while the reader is busy.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::ifaces::Link;

/// What ties a socket to its interface: the device name (Linux, `SO_BINDTODEVICE`) and the
/// interface's first IPv4 address (Windows binds to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::daemon) struct Pin<'a> {
    /// The name the OS opens the interface by ([`Link::device`]).
    pub(in crate::daemon) device: &'a str,
    /// Its first IPv4 address, if it has one.
    pub(in crate::daemon) v4: Option<Ipv4Addr>,
}

impl<'a> From<&'a Link> for Pin<'a> {
    fn from(link: &'a Link) -> Self {
        Self { device: &link.device, v4: link.ipv4.first().map(|p| p.addr) }
    }
}

/// Whether sockets are pinned to their interface by its address (Windows), so that they must
/// be opened again when the address changes; on Linux they are pinned by device.
pub(in crate::daemon) const PINNED_BY_ADDRESS: bool =
    !cfg!(any(target_os = "linux", target_os = "android"));

impl Pin<'_> {
    /// The local address a socket of this interface binds to, on `port`.
    fn local(&self, port: u16) -> io::Result<SocketAddrV4> {
        if !PINNED_BY_ADDRESS {
            return Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        }
        match self.v4 {
            Some(v4) => Ok(SocketAddrV4::new(v4, port)),
            None => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("interface {} has no IPv4 address to bind to", self.device),
            )),
        }
    }
}

/// The TTL peer datagrams are sent with and, but for WakeRequests, must arrive with: only a
/// sender on the same link can make a datagram arrive with TTL 255 (RFC 5082).
pub(in crate::daemon) const GTSM_TTL: u8 = 255;

/// The receive buffer asked for on peer sockets: about 2,000 heartbeats of kernel memory (Linux
/// doubles the number and accounts each small datagram at ~1 KiB).
pub(in crate::daemon) const PEER_RCVBUF: usize = 1 << 20;

/// Whether this platform reports the TTL of each received datagram (the GTSM check needs it).
pub(in crate::daemon) const REPORTS_TTL: bool = cfg!(target_os = "linux");

/// A UDP socket on `port` that hears only interface `on`, with broadcast allowed.
pub(in crate::daemon) fn bind_udp(on: Pin<'_>, port: u16) -> io::Result<UdpSocket> {
    let sock = udp_socket(on, port)?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

/// The peer socket of interface `on`: [`bind_udp`], plus TTL 255 on everything it sends,
/// the TTL and drop-count control messages (Linux) and a larger receive buffer.
pub(in crate::daemon) fn bind_peer(on: Pin<'_>, port: u16) -> io::Result<UdpSocket> {
    let sock = udp_socket(on, port)?;
    sock.set_ttl_v4(u32::from(GTSM_TTL))?;
    raise_rcvbuf(&sock);
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        setsockopt(&sock, sockopt::Ipv4RecvTtl, &true)?;
        setsockopt(&sock, sockopt::RxqOvfl, &1)?;
    }
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

fn udp_socket(on: Pin<'_>, port: u16) -> io::Result<Socket> {
    let local = on.local(port)?;
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_broadcast(true)?;
    #[cfg(unix)]
    sock.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    sock.bind_device(Some(on.device.as_bytes()))?;
    // Windows: no SO_REUSEADDR (it would let another program take the port from under us);
    // a second daemon gets WSAEADDRINUSE.
    sock.bind(&SocketAddr::V4(local).into())?;
    Ok(sock)
}

/// Asks for [`PEER_RCVBUF`]: as root (`CAP_NET_ADMIN`) beyond `net.core.rmem_max`, else up to
/// it. A smaller buffer only makes bursts lose more, so failure is not an error.
fn raise_rcvbuf(sock: &Socket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        if setsockopt(sock, sockopt::RcvBufForce, &PEER_RCVBUF).is_ok() {
            return;
        }
    }
    if let Err(e) = sock.set_recv_buffer_size(PEER_RCVBUF) {
        tracing::debug!("cannot raise the peer socket's receive buffer: {e}");
    }
}

/// A UDP socket for datagrams the OS routes (WakeRequests to other subnets): not pinned to an
/// interface, ephemeral port.
pub(in crate::daemon) fn bind_routed() -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_broadcast(true)?;
    sock.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

/// One datagram from a peer socket, with what the kernel said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::daemon) struct Received {
    /// Its length in the buffer.
    pub(in crate::daemon) len: usize,
    /// Who sent it.
    pub(in crate::daemon) from: SocketAddr,
    /// Its IP TTL on arrival.
    pub(in crate::daemon) ttl: Ttl,
    /// The socket's drop count (`SO_RXQ_OVFL`), when the kernel reported one.
    pub(in crate::daemon) kernel_drops: Option<u32>,
}

/// What is known about a datagram's TTL on arrival. Which variants a platform builds depends
/// on whether it reports TTLs; the sorter handles all of them everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Ttl {
    /// The kernel reported it.
    Known(u8),
    /// The platform reports TTLs but this datagram came without one (the control buffer was
    /// cut short): treated as not from this link.
    Missing,
    /// This platform does not report TTLs ([`REPORTS_TTL`]): the check is skipped.
    Unsupported,
}

/// Space for the control messages of [`recv_peer`]: the TTL and the drop count.
#[cfg(target_os = "linux")]
pub(in crate::daemon) fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(libc::c_int, u32)
}

/// Space for the control messages of [`recv_peer`] (none on this platform).
#[cfg(not(target_os = "linux"))]
pub(in crate::daemon) fn control_buffer() -> Vec<u8> {
    Vec::new()
}

/// Receives the next datagram of a peer socket into `buf`, with its TTL and the socket's drop
/// count (Linux: `recvmsg`); `control` comes from [`control_buffer`] and is reused. A datagram
/// longer than `buf` is cut (no wakeproxy datagram is: `buf` holds more than
/// [`MAX_DATAGRAM`](crate::core::proto::MAX_DATAGRAM)).
#[cfg(target_os = "linux")]
pub(in crate::daemon) async fn recv_peer(
    sock: &UdpSocket,
    buf: &mut [u8],
    control: &mut [u8],
) -> io::Result<Received> {
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg};

    sock.async_io(tokio::io::Interest::READABLE, || {
        let mut iov = [IoSliceMut::new(&mut *buf)];
        let msg = recvmsg::<SockaddrIn>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut *control),
            MsgFlags::MSG_DONTWAIT,
        )?;
        let from =
            msg.address.map_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)), |a| {
                SocketAddr::V4(SocketAddrV4::new(a.ip(), a.port()))
            });
        let mut ttl = Ttl::Missing;
        let mut kernel_drops = None;
        // A cut control buffer (MSG_CTRUNC) cannot be read: the TTL stays Missing.
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv4Ttl(t) => {
                        ttl = u8::try_from(t).map_or(Ttl::Missing, Ttl::Known)
                    }
                    ControlMessageOwned::RxqOvfl(n) => kernel_drops = Some(n),
                    _ => {}
                }
            }
        }
        Ok(Received { len: msg.bytes, from, ttl, kernel_drops })
    })
    .await
}

/// Receives the next datagram of a peer socket into `buf`; this platform reports no TTL.
#[cfg(not(target_os = "linux"))]
pub(in crate::daemon) async fn recv_peer(
    sock: &UdpSocket,
    buf: &mut [u8],
    _control: &mut [u8],
) -> io::Result<Received> {
    let (len, from) = sock.recv_from(buf).await?;
    Ok(Received { len, from, ttl: Ttl::Unsupported, kernel_drops: None })
}

/// The loopback interface, for tests.
#[cfg(all(test, target_os = "linux"))]
pub(in crate::daemon) const LO: Pin<'static> = Pin { device: "lo", v4: Some(Ipv4Addr::LOCALHOST) };

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Two sockets on loopback: what one sends with a given TTL, the other reports with it.
    #[tokio::test]
    async fn the_peer_socket_sends_with_ttl_255_and_reports_the_ttl_of_what_it_receives() {
        let rx = bind_peer(LO, 0).expect("a peer socket on lo");
        let port = rx.local_addr().unwrap().port();
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let tx = bind_peer(LO, 0).unwrap();
        let plain = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        plain.set_ttl(64).unwrap();
        let (mut buf, mut control) = (vec![0u8; 2048], control_buffer());

        tx.send_to(b"from a peer", to).await.unwrap();
        let got = recv_peer(&rx, &mut buf, &mut control).await.unwrap();
        assert_eq!(&buf[..got.len], b"from a peer");
        assert_eq!(got.ttl, Ttl::Known(GTSM_TTL));
        assert_eq!(got.from.port(), tx.local_addr().unwrap().port());

        plain.send_to(b"from elsewhere", to).unwrap();
        let got = recv_peer(&rx, &mut buf, &mut control).await.unwrap();
        assert_eq!(&buf[..got.len], b"from elsewhere");
        assert_eq!(got.ttl, Ttl::Known(64));
        assert_eq!(got.kernel_drops, None, "nothing was dropped");
    }

    #[tokio::test]
    async fn the_kernel_reports_the_datagrams_it_dropped_on_a_full_peer_socket() {
        let rx = bind_peer(LO, 0).unwrap();
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, rx.local_addr().unwrap().port()));
        // Shrink the buffer (unprivileged SO_RCVBUF: the minimum) and overfill it.
        socket2::SockRef::from(&rx).set_recv_buffer_size(1).unwrap();
        let tx = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        for _ in 0..2000 {
            let _ = tx.send_to(&[0u8; 1000], to);
        }
        // Drain what fit; a datagram queued after the drops carries their count.
        let (mut buf, mut control) = (vec![0u8; 2048], control_buffer());
        let wait = std::time::Duration::from_millis(200);
        while let Ok(Ok(_)) =
            tokio::time::timeout(wait, recv_peer(&rx, &mut buf, &mut control)).await
        {}
        tx.send_to(b"last", to).unwrap();
        let got = recv_peer(&rx, &mut buf, &mut control).await.unwrap();
        assert_eq!(&buf[..got.len], b"last");
        let most = got.kernel_drops.unwrap_or(0);
        assert!(most > 0, "the kernel dropped datagrams of a full socket and said so");
    }
}
