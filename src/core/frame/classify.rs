//! [`classify`]: one captured frame in, one [`Classified`] out.
//!
//! Parsing is a walk over the frame with [`take`], which splits a fixed-size array view off the
//! front or fails: every header is read through such a view, so no index can go out of bounds
//! and the compiler drops the checks it can prove. The walk first reduces the frame to a
//! [`Parsed`] summary without touching the table, then resolves addresses against it; a frame
//! that is neither ARP, a TCP SYN, neighbour discovery nor Wake-on-LAN costs a few loads and
//! compares plus the one lookup of its source MAC.
//!
//! Why not `pnet_packet` views: their getters trust length fields in ways that must be audited
//! one by one (0.35's NDP option iterator computes `len * 8` in `u8` and panics on an option
//! length of 32 or more in a debug or fuzz build), and options come back as a `Vec`. The hand
//! views are a few lines per header and need no such audit. The tests cross-check the builders'
//! output with pnet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sleepers::SleeperTable;
use super::wire::*;
use super::{Classified, FromSleeperKind};
use crate::core::addr::MacAddr;
use crate::core::wol::{self, ETHERTYPE_WOL, MagicPacket};

/// The longest frame the proxy acts on: a 9,216-byte jumbo frame, the most any common switch
/// carries. ARP, neighbour discovery, SYNs and magic packets are far shorter; anything longer is
/// not one frame off the wire (a capture can hand over kernel-merged segments) and is dropped as
/// malformed. Frames from a sleeper's MAC are exempt: whatever their size, they prove it awake.
pub const MAX_FRAME_LEN: usize = 9_216;

/// A frame of a kind we parse is truncated or inconsistent.
struct Malformed;

type Result<T> = std::result::Result<T, Malformed>;

/// Splits the first `N` bytes off `buf`.
#[inline(always)]
fn take<'a, const N: usize>(buf: &mut &'a [u8]) -> Result<&'a [u8; N]> {
    let (head, tail) = buf.split_first_chunk::<N>().ok_or(Malformed)?;
    *buf = tail;
    Ok(head)
}

/// What the frame says, before any table lookup.
enum Parsed {
    /// Nothing we act on.
    Other,
    /// An Ethernet/IPv4 ARP request or reply.
    Arp {
        op: u16,
        sha: [u8; 6],
        spa: [u8; 4],
        tpa: [u8; 4],
    },
    /// A valid neighbour solicitation.
    Solicit {
        src: [u8; 16],
        target: [u8; 16],
        source_lladdr: Option<[u8; 6]>,
    },
    /// A valid neighbour advertisement.
    Advert {
        target: [u8; 16],
        target_lladdr: Option<[u8; 6]>,
    },
    /// A TCP segment with SYN set and ACK and RST clear.
    Syn {
        src: IpAddr,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
    },
    Magic(MagicPacket),
}

/// Classifies one raw Ethernet II frame (no FCS, at most one 802.1Q tag) against `table`;
/// `wol_port` is the UDP port on which magic packets are recognised.
///
/// The rules, first match wins:
/// - shorter than an Ethernet header: [`Irrelevant`](Classified::Irrelevant);
/// - Ethernet source is a sleeper's MAC: [`FromSleeper`](Classified::FromSleeper), whatever
///   the frame holds, even if malformed;
/// - Ethernet/IPv4 ARP whose sender IP is a sleeper's but sender MAC is not:
///   [`AddressInUse`](Classified::AddressInUse); else a request for a sleeper's IP:
///   [`ArpRequest`](Classified::ArpRequest);
/// - ICMPv6 directly after the IPv6 header (extension headers are not walked), hop limit 255,
///   code 0: a solicitation for a sleeper's address is a
///   [`NeighborSolicitation`](Classified::NeighborSolicitation), an advertisement for one with
///   another MAC is [`AddressInUse`](Classified::AddressInUse);
/// - TCP over IPv4 (IHL honoured, non-first fragments skipped) or IPv6 (next header 6), SYN set,
///   ACK and RST clear, to a sleeper's address: [`TcpSyn`](Classified::TcpSyn);
/// - a magic packet after EtherType 0x0842 or in UDP to `wol_port`:
///   [`MagicPacket`](Classified::MagicPacket);
/// - longer than [`MAX_FRAME_LEN`]: [`Malformed`](Classified::Malformed);
/// - a truncated or inconsistent ARP, IPv4, IPv6, TCP, UDP-to-`wol_port`, neighbour discovery
///   or 0x0842 frame: [`Malformed`](Classified::Malformed); anything else: `Irrelevant`.
///
/// Never panics and never allocates, whatever `frame` holds.
pub fn classify(table: &SleeperTable, frame: &[u8], wol_port: u16) -> Classified {
    let mut rest = frame;
    let Ok(eth) = take::<ETHERNET_HEADER_LEN>(&mut rest) else {
        return Classified::Irrelevant;
    };
    let [_, _, _, _, _, _, s0, s1, s2, s3, s4, s5, t0, t1] = *eth;
    let eth_src = [s0, s1, s2, s3, s4, s5];
    let parsed = parse_ethernet_payload(u16::from_be_bytes([t0, t1]), rest, wol_port);
    if let Some(sleeper) = table.by_mac(eth_src) {
        return Classified::FromSleeper { sleeper: sleeper.id, what: from_sleeper_kind(&parsed) };
    }
    if frame.len() > MAX_FRAME_LEN {
        return Classified::Malformed;
    }
    match parsed {
        Ok(p) => resolve(table, p, eth_src),
        Err(Malformed) => Classified::Malformed,
    }
}

#[inline(always)]
fn parse_ethernet_payload(mut ethertype: u16, mut rest: &[u8], wol_port: u16) -> Result<Parsed> {
    if ethertype == ETHERTYPE_VLAN {
        let [_, _, t0, t1] = *take::<VLAN_TAG_LEN>(&mut rest)?;
        ethertype = u16::from_be_bytes([t0, t1]);
    }
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(rest, wol_port),
        ETHERTYPE_IPV6 => ipv6(rest, wol_port),
        ETHERTYPE_ARP => arp(rest),
        // The EtherType promises a magic packet; not finding one is inconsistent.
        ETHERTYPE_WOL => wol::find_magic(rest).map(Parsed::Magic).ok_or(Malformed),
        _ => Ok(Parsed::Other),
    }
}

fn arp(mut p: &[u8]) -> Result<Parsed> {
    let [h0, h1, h2, h3, h4, h5, op0, op1] = *take::<8>(&mut p)?;
    if [h0, h1, h2, h3, h4, h5] != ARP_ETHERNET_IPV4 {
        // Another hardware or protocol type: not ours to judge.
        return Ok(Parsed::Other);
    }
    let op = u16::from_be_bytes([op0, op1]);
    let sha = *take::<6>(&mut p)?;
    let spa = *take::<4>(&mut p)?;
    let _tha = take::<6>(&mut p)?;
    let tpa = *take::<4>(&mut p)?;
    Ok(match op {
        ARP_REQUEST | ARP_REPLY => Parsed::Arp { op, sha, spa, tpa },
        _ => Parsed::Other,
    })
}

#[inline(always)]
fn ipv4(packet: &[u8], wol_port: u16) -> Result<Parsed> {
    let mut p = packet;
    let [vihl, _, len0, len1, _, _, frag0, frag1, _, proto, _, _] = *take::<12>(&mut p)?;
    let src = *take::<4>(&mut p)?;
    let dst = *take::<4>(&mut p)?;
    let header_len = usize::from(vihl & 0x0F) * 4;
    if vihl >> 4 != 4 || header_len < IPV4_MIN_HEADER_LEN {
        return Err(Malformed);
    }
    // Total length bounds the datagram: what follows is Ethernet padding.
    let total_len = usize::from(u16::from_be_bytes([len0, len1]));
    let payload = packet.get(header_len..total_len).ok_or(Malformed)?;
    let frag = u16::from_be_bytes([frag0, frag1]);
    if frag & 0x1FFF != 0 {
        // A later fragment carries no transport header.
        return Ok(Parsed::Other);
    }
    let more_fragments = frag & 0x2000 != 0;
    let (src, dst) = (IpAddr::V4(Ipv4Addr::from(src)), IpAddr::V4(Ipv4Addr::from(dst)));
    match proto {
        IP_PROTO_TCP => tcp(payload, src, dst),
        IP_PROTO_UDP => udp(payload, wol_port, more_fragments),
        _ => Ok(Parsed::Other),
    }
}

#[inline(always)]
fn ipv6(mut p: &[u8], wol_port: u16) -> Result<Parsed> {
    let [v, _, _, _, len0, len1, next_header, hop_limit] = *take::<8>(&mut p)?;
    let src = *take::<16>(&mut p)?;
    let dst = *take::<16>(&mut p)?;
    if v >> 4 != 6 {
        return Err(Malformed);
    }
    // A payload length of 0 would mean a jumbogram, which needs a hop-by-hop header: with the
    // next headers below it is simply too short.
    let payload = p.get(..usize::from(u16::from_be_bytes([len0, len1]))).ok_or(Malformed)?;
    // Only these next headers are read; extension headers are not walked.
    match next_header {
        IP_PROTO_TCP => tcp(payload, IpAddr::V6(src.into()), IpAddr::V6(dst.into())),
        IP_PROTO_UDP => udp(payload, wol_port, false),
        IP_PROTO_ICMPV6 => neighbor_discovery(payload, hop_limit, src, dst),
        _ => Ok(Parsed::Other),
    }
}

#[inline(always)]
fn tcp(segment: &[u8], src: IpAddr, dst: IpAddr) -> Result<Parsed> {
    let mut p = segment;
    let [sp0, sp1, dp0, dp1, _, _, _, _, _, _, _, _, offset, flags, ..] =
        *take::<TCP_MIN_HEADER_LEN>(&mut p)?;
    let header_len = usize::from(offset >> 4) * 4;
    if header_len < TCP_MIN_HEADER_LEN || header_len > segment.len() {
        return Err(Malformed);
    }
    if flags & (TCP_SYN | TCP_ACK | TCP_RST) != TCP_SYN {
        return Ok(Parsed::Other);
    }
    Ok(Parsed::Syn {
        src,
        src_port: u16::from_be_bytes([sp0, sp1]),
        dst,
        dst_port: u16::from_be_bytes([dp0, dp1]),
    })
}

/// `truncated`: the datagram is the first fragment of several, so its UDP length covers more
/// than is here.
fn udp(mut datagram: &[u8], wol_port: u16, truncated: bool) -> Result<Parsed> {
    let all = datagram;
    let [_, _, dp0, dp1, len0, len1, _, _] = *take::<UDP_HEADER_LEN>(&mut datagram)?;
    if u16::from_be_bytes([dp0, dp1]) != wol_port {
        return Ok(Parsed::Other);
    }
    let payload = if truncated {
        datagram
    } else {
        let len = usize::from(u16::from_be_bytes([len0, len1]));
        all.get(UDP_HEADER_LEN..len).ok_or(Malformed)?
    };
    // The port is a convention, and also the discard service's: other datagrams are not wrong.
    Ok(wol::find_magic(payload).map_or(Parsed::Other, Parsed::Magic))
}

/// Neighbour solicitations and advertisements, validated as RFC 4861 §7.1 asks. Frames the RFC
/// says to discard silently because they may be legitimate other traffic (hop limit, code) are
/// `Other`; those that contradict themselves are `Malformed`.
fn neighbor_discovery(mut m: &[u8], hop_limit: u8, src: [u8; 16], dst: [u8; 16]) -> Result<Parsed> {
    let [ty, code, _, _] = *take::<4>(&mut m)?;
    if ty != ICMPV6_NEIGHBOR_SOLICIT && ty != ICMPV6_NEIGHBOR_ADVERT {
        return Ok(Parsed::Other);
    }
    // Only a frame from the link itself carries 255; anything else was routed or forged.
    if hop_limit != ND_HOP_LIMIT || code != 0 {
        return Ok(Parsed::Other);
    }
    let [flags, _, _, _] = *take::<4>(&mut m)?;
    let target = *take::<16>(&mut m)?;
    if Ipv6Addr::from(target).is_multicast() {
        return Err(Malformed);
    }
    if ty == ICMPV6_NEIGHBOR_SOLICIT {
        let source_lladdr = lladdr_option(m, ND_OPT_SOURCE_LLADDR)?;
        if Ipv6Addr::from(src).is_unspecified() {
            // DAD: sent to the target's solicited-node group, with no address to answer to.
            let solicited_node_prefix = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff];
            if source_lladdr.is_some() || dst[..13] != solicited_node_prefix {
                return Err(Malformed);
            }
        }
        Ok(Parsed::Solicit { src, target, source_lladdr })
    } else {
        // A solicited advertisement answers one station, never a group.
        if flags & NA_FLAG_SOLICITED != 0 && Ipv6Addr::from(dst).is_multicast() {
            return Err(Malformed);
        }
        Ok(Parsed::Advert { target, target_lladdr: lladdr_option(m, ND_OPT_TARGET_LLADDR)? })
    }
}

/// The first Ethernet link-layer address option of type `wanted`; fails on an option of length
/// zero or one running past the message, as RFC 4861 §7.1 asks.
fn lladdr_option(mut options: &[u8], wanted: u8) -> Result<Option<[u8; 6]>> {
    let mut found = None;
    while !options.is_empty() {
        let [ty, units] = *take::<2>(&mut options)?;
        let body_len = (usize::from(units) * 8).checked_sub(2).ok_or(Malformed)?;
        let (body, rest) = options.split_at_checked(body_len).ok_or(Malformed)?;
        if ty == wanted && found.is_none() {
            found = body.first_chunk::<6>().copied();
        }
        options = rest;
    }
    Ok(found)
}

fn from_sleeper_kind(parsed: &Result<Parsed>) -> FromSleeperKind {
    match parsed {
        Ok(Parsed::Arp { spa, tpa, .. }) if spa == tpa && *spa != [0; 4] => {
            FromSleeperKind::ArpAnnouncement
        }
        Ok(Parsed::Arp { op: ARP_REQUEST, .. }) => FromSleeperKind::ArpRequest,
        Ok(Parsed::Arp { .. }) => FromSleeperKind::ArpReply,
        Ok(Parsed::Solicit { .. }) => FromSleeperKind::NeighborSolicitation,
        Ok(Parsed::Advert { .. }) => FromSleeperKind::NeighborAdvertisement,
        Ok(Parsed::Syn { .. }) => FromSleeperKind::TcpSyn,
        Ok(Parsed::Other | Parsed::Magic(_)) | Err(Malformed) => FromSleeperKind::Other,
    }
}

/// Looks the parsed addresses up; `eth_src` is not a sleeper's MAC.
fn resolve(table: &SleeperTable, parsed: Parsed, eth_src: [u8; 6]) -> Classified {
    match parsed {
        Parsed::Other => Classified::Irrelevant,
        Parsed::Arp { op, sha, spa, tpa } => {
            // RFC 5227 §2.4: a sender IP of ours with a sender MAC not ours is a conflict,
            // whatever the operation. (A probe's sender IP is 0.0.0.0: skip the lookup.)
            if spa != [0; 4] {
                if let Some(s) = table.by_ipv4(spa).filter(|s| s.mac.0 != sha) {
                    return Classified::AddressInUse {
                        sleeper: s.id,
                        addr: IpAddr::V4(spa.into()),
                        by: MacAddr(sha),
                    };
                }
            }
            match table.by_ipv4(tpa) {
                Some(s) if op == ARP_REQUEST => Classified::ArpRequest {
                    sleeper: s.id,
                    requester_mac: MacAddr(sha),
                    requester_ip: spa.into(),
                    target_ip: tpa.into(),
                    probe: spa == [0; 4],
                },
                _ => Classified::Irrelevant,
            }
        }
        Parsed::Solicit { src, target, source_lladdr } => match table.by_ipv6(target) {
            Some(s) => {
                let requester_ip = Ipv6Addr::from(src);
                Classified::NeighborSolicitation {
                    sleeper: s.id,
                    requester_mac: MacAddr(source_lladdr.unwrap_or(eth_src)),
                    requester_ip,
                    target: target.into(),
                    dad: requester_ip.is_unspecified(),
                }
            }
            None => Classified::Irrelevant,
        },
        Parsed::Advert { target, target_lladdr } => {
            let by = target_lladdr.unwrap_or(eth_src);
            match table.by_ipv6(target) {
                Some(s) if s.mac.0 != by => Classified::AddressInUse {
                    sleeper: s.id,
                    addr: IpAddr::V6(target.into()),
                    by: MacAddr(by),
                },
                _ => Classified::Irrelevant,
            }
        }
        Parsed::Syn { src, src_port, dst, dst_port } => {
            let sleeper = match dst {
                IpAddr::V4(a) => table.by_ipv4(a.octets()),
                IpAddr::V6(a) => table.by_ipv6(a.octets()),
            };
            match sleeper {
                Some(s) => Classified::TcpSyn {
                    sleeper: s.id,
                    src,
                    src_port,
                    dst,
                    dst_port,
                    wake: s.wake_ports.binary_search(&dst_port).is_ok(),
                },
                None => Classified::Irrelevant,
            }
        }
        Parsed::Magic(m) => Classified::MagicPacket { target: m.target, password: m.password },
    }
}
