//! `wakeproxy lab flood`: a hostile station's traffic, from the namespace it runs in, as fast as
//! one thread can send it, for the flood tests and `docs/performance.md`. It reports how many
//! packets it sent and the rate.
//!
//! - `junk`: datagrams of random bytes and lengths (never starting with `WKPX`): the peer
//!   port's readers drop them at the magic check.
//! - `magic`: valid-looking datagrams (`WKPX`, version 1, a body of the declared length) with a
//!   random tag: each one costs the receiver the HMAC before it is refused.
//! - `hex:<bytes>`: the same datagram again and again (a replayed capture).
//! - `arp`: broadcast ARP requests from this host's MAC and address for every address of its
//!   subnet in turn, from an `AF_PACKET` socket (needs `CAP_NET_RAW`).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::core::proto::{HEADER_LEN, MAGIC, MAX_DATAGRAM, TAG_LEN, VERSION_MAJOR, VERSION_MINOR};

/// Distinct payloads a datagram flood cycles through.
const VARIANTS: usize = 64;

/// What to flood with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloodKind {
    /// Random datagrams.
    Junk,
    /// Datagrams that pass every check but the tag.
    Magic,
    /// One datagram, repeated.
    Payload(Vec<u8>),
    /// ARP requests.
    Arp,
}

/// A flood kind that [`FloodKind`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a flood: use junk, magic, arp or hex:<an even number of hex digits>")]
pub struct UnknownFlood(pub String);

impl std::str::FromStr for FloodKind {
    type Err = UnknownFlood;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "junk" => Ok(Self::Junk),
            "magic" => Ok(Self::Magic),
            "arp" => Ok(Self::Arp),
            _ => match s.strip_prefix("hex:").map(parse_hex) {
                Some(Some(b)) if !b.is_empty() => Ok(Self::Payload(b)),
                _ => Err(UnknownFlood(s.to_owned())),
            },
        }
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// What a flood did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodReport {
    /// Packets the kernel took.
    pub sent: u64,
    /// Sends the kernel refused (a full queue).
    pub failed: u64,
    /// How long it ran.
    pub elapsed: Duration,
}

impl FloodReport {
    /// Packets per second.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn random(n: usize) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(b)
}

/// The datagrams a `kind` flood cycles through.
fn payloads(kind: &FloodKind) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(VARIANTS);
    match kind {
        FloodKind::Payload(p) => out.push(p.clone()),
        FloodKind::Junk => {
            for _ in 0..VARIANTS {
                let r = random(2)?;
                let len = usize::from(u16::from_be_bytes([r[0], r[1]])) % MAX_DATAGRAM + 1;
                let mut p = random(len)?;
                if p[0] == MAGIC[0] {
                    p[0] ^= 0xff;
                }
                out.push(p);
            }
        }
        FloodKind::Magic => {
            for i in 0..VARIANTS {
                // Bodies of 0 to ~1300 bytes: the HMAC costs the receiver more the longer.
                let body = i * (MAX_DATAGRAM - HEADER_LEN - TAG_LEN) / VARIANTS;
                let mut p = random(HEADER_LEN + body + TAG_LEN)?;
                p[..4].copy_from_slice(&MAGIC);
                p[4..8].copy_from_slice(&[VERSION_MAJOR, VERSION_MINOR, 1, 0]);
                p[HEADER_LEN - 2..HEADER_LEN].copy_from_slice(&(body as u16).to_be_bytes());
                out.push(p);
            }
        }
        FloodKind::Arp => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "ARP is not a datagram"));
        }
    }
    Ok(out)
}

/// Sends `kind` datagrams to `to` with IP TTL `ttl` for `duration`, as fast as it can.
pub fn udp(
    kind: &FloodKind,
    to: SocketAddr,
    ttl: u8,
    duration: Duration,
) -> io::Result<FloodReport> {
    let payloads = payloads(kind)?;
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.set_broadcast(true)?;
    sock.set_ttl(u32::from(ttl))?;
    run(duration, |i| sock.send_to(&payloads[i % payloads.len()], to).map(drop))
}

/// Sends broadcast ARP requests out of `iface` for `duration`, as fast as it can: from its MAC
/// and first IPv4 address, for every address of that subnet in turn.
pub fn arp(iface: &str, duration: Duration) -> io::Result<FloodReport> {
    let link =
        crate::daemon::scan_links().into_iter().find(|l| l.name == iface).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no interface {iface} here"))
        })?;
    let prefix = link.ipv4.first().copied().ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{iface} has no IPv4 address"))
    })?;
    let len = prefix.len.clamp(16, 30);
    let net = u32::from(prefix.addr) & !(u32::MAX >> len);
    let hosts = (1..(1u32 << (32 - len)) - 1).map(|h| Ipv4Addr::from(net | h));
    let frames: Vec<_> =
        hosts.map(|t| crate::core::frame::arp_request(link.mac, prefix.addr, t)).collect();
    // A filter that accepts nothing: this socket only sends.
    let (fd, index) = crate::os::sys::linux::packet_socket(iface, &[(0x06, 0, 0, 0)])?;
    run(duration, |i| {
        crate::os::sys::linux::send_frame_on(&fd, index, frames[i % frames.len()].as_slice())
    })
}

fn run(
    duration: Duration,
    mut send: impl FnMut(usize) -> io::Result<()>,
) -> io::Result<FloodReport> {
    let start = Instant::now();
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut i = 0usize;
    loop {
        // Look at the clock once per 256 packets: it is not free at these rates.
        if i % 256 == 0 && start.elapsed() >= duration {
            break;
        }
        match send(i) {
            Ok(()) => sent += 1,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EAGAIN)) => failed += 1,
            Err(e) => return Err(e),
        }
        i = i.wrapping_add(1);
    }
    Ok(FloodReport { sent, failed, elapsed: start.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_bad_ones_say_what_is_accepted() {
        assert_eq!("junk".parse(), Ok(FloodKind::Junk));
        assert_eq!("hex:57Ab".parse(), Ok(FloodKind::Payload(vec![0x57, 0xab])));
        for bad in ["hex:", "hex:5", "hex:zz", "storm"] {
            let e = bad.parse::<FloodKind>().unwrap_err().to_string();
            assert!(e.contains("junk, magic, arp or hex:") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn magic_datagrams_pass_every_check_but_the_tag_and_junk_fails_the_first() {
        let key = crate::core::proto::SiteKey::new(&[7; 32]).unwrap();
        for p in payloads(&FloodKind::Magic).unwrap() {
            assert!(p.len() <= MAX_DATAGRAM);
            assert_eq!(
                crate::core::proto::decode(&key, &p),
                Err(crate::core::proto::DecodeError::BadTag)
            );
        }
        for p in payloads(&FloodKind::Junk).unwrap() {
            assert!(!p.is_empty() && p.len() <= MAX_DATAGRAM);
            let e = crate::core::proto::decode(&key, &p).unwrap_err();
            assert!(
                matches!(
                    e,
                    crate::core::proto::DecodeError::BadMagic
                        | crate::core::proto::DecodeError::TooShort { .. }
                ),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_udp_flood_to_loopback_reports_what_it_sent() {
        let rx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let to = rx.local_addr().unwrap();
        let r = udp(&FloodKind::Payload(b"x".to_vec()), to, 64, Duration::from_millis(50)).unwrap();
        assert!(r.sent > 0 && r.elapsed >= Duration::from_millis(50), "{r:?}");
        let mut buf = [0u8; 8];
        assert_eq!(rx.recv(&mut buf).unwrap(), 1);
    }
}
