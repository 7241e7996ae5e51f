//! The simulated Wake-on-LAN NIC of a sleeping lab host.
//!
//! `lab sleep` freezes the host's daemon and service and takes its addresses away, so it
//! answers nothing (no ARP, no ping, no TCP), then starts this watcher in the host's namespace.
//! Like a real NIC in WoL mode it reads every frame on the wire (an `AF_PACKET` socket sees
//! frames whatever the IP stack does with them) and wakes on a magic packet for its MAC —
//! by UDP to any port, broadcast or unicast, or as an EtherType 0x0842 frame — with the SecureOn
//! password when one is set. On a match it waits the resume delay, gives the addresses back,
//! thaws the processes, tells the daemon it resumed and announces the host (gratuitous ARP).

use std::io::{ErrorKind, Read};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::core::addr::MacAddr;
use crate::core::wol::{SecureOn, find_magic};

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// How a magic packet travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// In a UDP datagram (IPv4) to this port.
    Udp(u16),
    /// As the payload of an EtherType 0x0842 frame.
    EtherType,
    /// In a frame of another EtherType (a NIC in WoL mode scans every frame).
    Other(u16),
}

/// A magic packet seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The MAC it wakes.
    pub target: MacAddr,
    /// Its SecureOn password, if it carries one.
    pub password: Option<SecureOn>,
    /// How it travelled.
    pub carrier: Carrier,
    /// What carried it: the UDP payload, or the frame after its Ethernet header.
    pub payload: Vec<u8>,
}

impl Heard {
    fn of(frame: &[u8]) -> Option<Self> {
        let body = frame.get(14..)?;
        // A NIC in WoL mode scans the whole frame for the pattern, whatever carries it.
        let found = find_magic(body)?;
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let udp = (ethertype == 0x0800 && body.len() >= 20 && body[9] == 17)
            .then(|| usize::from(body[0] & 0x0f) * 4)
            .and_then(|ihl| body.get(ihl..ihl + 8).map(|h| (ihl, h)));
        let (carrier, payload) = match (ethertype, udp) {
            (crate::core::wol::ETHERTYPE_WOL, _) => (Carrier::EtherType, body),
            (_, Some((ihl, h))) => {
                (Carrier::Udp(u16::from_be_bytes([h[2], h[3]])), &body[ihl + 8..])
            }
            (other, _) => (Carrier::Other(other), body),
        };
        Some(Self {
            target: found.target,
            password: found.password,
            carrier,
            payload: payload.to_vec(),
        })
    }
}

/// Every frame on this namespace's interfaces, read from an `AF_PACKET` socket: what is really
/// on the wire, whatever the IP stack does with it.
#[derive(Debug)]
pub struct WireTap {
    sock: Socket,
}

impl WireTap {
    /// Opens the tap in the calling thread's network namespace.
    pub fn open() -> std::io::Result<Self> {
        let proto = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        Ok(Self { sock: Socket::new(Domain::PACKET, Type::RAW, Some(proto))? })
    }

    /// The next magic packet, waiting at most `limit` (for ever if `None`); `None` if none came.
    pub fn next_magic(&mut self, limit: Option<Duration>) -> std::io::Result<Option<Heard>> {
        let end = limit.map(|l| std::time::Instant::now() + l);
        let mut buf = [0u8; 2048];
        loop {
            if let Some(end) = end {
                let left = end.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                self.sock.set_read_timeout(Some(left))?;
            }
            let n = match self.sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(heard) = Heard::of(&buf[..n]) {
                return Ok(Some(heard));
            }
        }
    }
}

/// Blocks until a magic packet for `mac` (with `password`, if set) arrives on this namespace's
/// interfaces; returns a description of how it came.
pub fn wait_for_magic(mac: MacAddr, password: Option<SecureOn>) -> std::io::Result<String> {
    let mut tap = WireTap::open()?;
    loop {
        let Some(heard) = tap.next_magic(None)? else { continue };
        if heard.target != mac || (password.is_some() && heard.password != password) {
            continue;
        }
        return Ok(match heard.carrier {
            Carrier::EtherType => "an EtherType 0x0842 frame".to_owned(),
            Carrier::Udp(_) => "a UDP datagram".to_owned(),
            Carrier::Other(other) => format!("a frame of EtherType {other:#06x}"),
        });
    }
}

/// How long a woken lab host takes to resume, unless told otherwise.
pub const DEFAULT_RESUME_DELAY: Duration = Duration::from_secs(2);
