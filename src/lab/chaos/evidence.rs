//! What the monitor reads in a captured frame, with a decoder the daemons do not use
//! (`pnet_packet`), so that a bug in the daemons' own frame code cannot hide from it. Peer
//! datagrams are read with the protocol's codec and the lab's site key: the monitor checks the
//! signature, and believes a heartbeat only from the switch port of the host that sent it.

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_packet::Packet;
use pnet_packet::arp::{ArpOperations, ArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::icmpv6::Icmpv6Types;
use pnet_packet::icmpv6::ndp::{NdpOptionTypes, NeighborAdvertPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::{TcpFlags, TcpPacket};
use pnet_packet::udp::UdpPacket;

use crate::core::proto::{self, Decoded, Message, Role, SiteKey};

/// The peer protocol's port.
const PEER_PORT: u16 = 25536;

/// What a frame says, as far as the checks care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// An ARP reply, or a gratuitous ARP: "`ip` is at `mac`".
    ArpAnswer {
        /// The address answered for.
        ip: Ipv4Addr,
        /// The MAC it is said to be at.
        mac: [u8; 6],
        /// The frame's Ethernet source.
        eth_src: [u8; 6],
        /// Unasked (gratuitous): a claim, a refresh or a hand-back.
        announce: bool,
    },
    /// A neighbour advertisement for `ip`.
    NeighbourAdvert {
        /// The target address.
        ip: Ipv6Addr,
        /// Its target link-layer address option, if any.
        mac: Option<[u8; 6]>,
        /// The frame's Ethernet source.
        eth_src: [u8; 6],
        /// Unsolicited: a claim, a refresh or a hand-back.
        announce: bool,
    },
    /// A signed heartbeat.
    Heartbeat {
        /// Its IPv4 source.
        src: Ipv4Addr,
        /// The role its sender says it holds.
        role: Role,
        /// Its term.
        term: u64,
    },
    /// A Wake-on-LAN magic packet for `target`.
    Magic {
        /// The MAC it wakes.
        target: [u8; 6],
    },
    /// A TCP SYN (not a SYN-ACK).
    Syn {
        /// The caller.
        src: Ipv4Addr,
        /// The address called.
        dst: Ipv4Addr,
        /// The port called.
        port: u16,
    },
}

/// What `frame` says, or `None` if nothing the checks use.
pub fn read(frame: &[u8], key: &SiteKey) -> Option<Seen> {
    let eth = EthernetPacket::new(frame)?;
    let eth_src = eth.get_source().octets();
    if let Some(target) = magic_target(eth.payload()) {
        return Some(Seen::Magic { target });
    }
    match eth.get_ethertype() {
        EtherTypes::Arp => {
            let arp = ArpPacket::new(eth.payload())?;
            let op = arp.get_operation();
            let (spa, tpa) = (arp.get_sender_proto_addr(), arp.get_target_proto_addr());
            // A reply, or an announcement (a request for the sender's own address).
            let answers =
                op == ArpOperations::Reply || (op == ArpOperations::Request && spa == tpa);
            (answers && !spa.is_unspecified()).then(|| Seen::ArpAnswer {
                ip: spa,
                mac: arp.get_sender_hw_addr().octets(),
                eth_src,
                announce: spa == tpa,
            })
        }
        EtherTypes::Ipv4 => {
            let ip = Ipv4Packet::new(eth.payload())?;
            match ip.get_next_level_protocol() {
                IpNextHeaderProtocols::Udp => {
                    let udp = UdpPacket::new(ip.payload())?;
                    if udp.get_destination() != PEER_PORT {
                        return None;
                    }
                    match proto::decode(key, udp.payload()).ok()? {
                        Decoded::Message(_, Message::Heartbeat(hb)) => Some(Seen::Heartbeat {
                            src: ip.get_source(),
                            role: hb.role,
                            term: hb.term,
                        }),
                        _ => None,
                    }
                }
                IpNextHeaderProtocols::Tcp => {
                    let tcp = TcpPacket::new(ip.payload())?;
                    let flags = tcp.get_flags();
                    (flags & TcpFlags::SYN != 0 && flags & TcpFlags::ACK == 0).then(|| Seen::Syn {
                        src: ip.get_source(),
                        dst: ip.get_destination(),
                        port: tcp.get_destination(),
                    })
                }
                _ => None,
            }
        }
        EtherTypes::Ipv6 => {
            let ip = Ipv6Packet::new(eth.payload())?;
            if ip.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
                return None;
            }
            let na = NeighborAdvertPacket::new(ip.payload())?;
            if na.get_icmpv6_type() != Icmpv6Types::NeighborAdvert {
                return None;
            }
            let mac = na
                .get_options_iter()
                .find(|o| o.get_option_type() == NdpOptionTypes::TargetLLAddr)
                .and_then(|o| o.payload().get(..6).and_then(|m| m.try_into().ok()));
            // The Solicited flag (RFC 4861 §4.4) is off in an unasked advertisement.
            let announce = na.get_flags() & 0x40 == 0;
            Some(Seen::NeighbourAdvert { ip: na.get_target_addr(), mac, eth_src, announce })
        }
        _ => None,
    }
}

/// The MAC a magic packet anywhere in `payload` wakes: six 0xff bytes, then one MAC sixteen
/// times (written here again, not taken from the daemons' code).
fn magic_target(payload: &[u8]) -> Option<[u8; 6]> {
    let mut at = 0;
    while let Some(rest) = payload.get(at..) {
        let start = rest.windows(6).position(|w| w == [0xff; 6])?;
        let body = rest.get(start + 6..start + 6 + 96);
        if let Some(body) = body {
            let mac: [u8; 6] = body[..6].try_into().ok()?;
            if mac != [0xff; 6] && body.chunks(6).all(|c| c == mac) {
                return Some(mac);
            }
        }
        at += start + 1;
    }
    None
}

/// A MAC in the usual notation.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// One line that says what a frame is, for the report.
pub fn describe(frame: &[u8], key: &SiteKey) -> String {
    let src = frame.get(6..12).and_then(|m| m.try_into().ok()).map(mac_text).unwrap_or_default();
    let what = match read(frame, key) {
        Some(Seen::ArpAnswer { ip, mac, announce, .. }) => format!(
            "ARP{}: {ip} is at {}",
            if announce { " announcement" } else { " reply" },
            mac_text(mac)
        ),
        Some(Seen::NeighbourAdvert { ip, mac, announce, .. }) => format!(
            "NA{}: {ip} is at {}",
            if announce { " (unsolicited)" } else { "" },
            mac.map(mac_text).unwrap_or_else(|| "(no option)".into())
        ),
        Some(Seen::Heartbeat { src, role, term }) => {
            format!("heartbeat from {src}: role {role:?}, term {term}")
        }
        Some(Seen::Magic { target }) => format!("magic packet for {}", mac_text(target)),
        Some(Seen::Syn { src, dst, port }) => format!("TCP SYN {src} -> {dst}:{port}"),
        None => format!("{} bytes", frame.len()),
    };
    format!("from {src}: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::addr::MacAddr;

    fn key() -> SiteKey {
        SiteKey::new(&[7; 32]).expect("32 bytes")
    }

    #[test]
    fn a_gratuitous_arp_and_a_reply_are_answers_and_a_request_is_not() {
        let mac = MacAddr([2, 0x57, 0x50, 0, 0, 1]);
        let ip = Ipv4Addr::new(10, 0, 1, 10);
        let garp = crate::core::frame::gratuitous_arp(mac, ip);
        let seen = |announce| Some(Seen::ArpAnswer { ip, mac: mac.0, eth_src: mac.0, announce });
        assert_eq!(read(garp.as_slice(), &key()), seen(true));
        let mut request = garp.as_slice().to_vec();
        request[38..42].copy_from_slice(&[10, 0, 1, 11]);
        assert_eq!(read(&request, &key()), None);
        let mut reply = request.clone();
        reply[21] = 2;
        assert_eq!(read(&reply, &key()), seen(false));
    }

    #[test]
    fn a_magic_packet_is_found_anywhere_and_a_near_miss_is_not() {
        let mac = [2, 0x57, 0x50, 1, 0, 3];
        let mut payload = vec![0u8; 14];
        payload.extend_from_slice(&[0xff; 6]);
        for _ in 0..16 {
            payload.extend_from_slice(&mac);
        }
        assert_eq!(magic_target(&payload), Some(mac));
        payload.truncate(payload.len() - 1);
        assert_eq!(magic_target(&payload), None);
        assert_eq!(magic_target(&[0xff; 200]), None);
    }

    #[test]
    fn junk_of_any_length_reads_as_nothing() {
        for n in 0..80 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let _ = read(&junk, &key());
            let _ = describe(&junk, &key());
        }
    }
}
