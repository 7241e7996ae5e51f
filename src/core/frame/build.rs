//! The frames a proxy (or a host handing its addresses back) sends: ARP replies, announcements
//! and probes (RFC 826, RFC 5227), neighbour advertisements and duplicate address detection
//! probes (RFC 4861, RFC 4862); and the TCP SYN of a caller a driver plays (the simulator's).
//!
//! Each builder returns a complete Ethernet II frame without FCS in an inline [`FrameBuf`],
//! padded to Ethernet's 60-byte minimum, with the ICMPv6 checksum filled in. No allocation.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::wire::*;
use super::{ipv6_multicast_mac, solicited_node};
use crate::core::addr::MacAddr;

const CAPACITY: usize = 160;

/// A frame built in place: up to 160 bytes, more than any builder here needs and room for any
/// captured TCP SYN without data (at most 138 bytes: VLAN tag, IPv4 and TCP options).
#[derive(Clone, PartialEq, Eq)]
pub struct FrameBuf {
    buf: [u8; CAPACITY],
    len: usize,
}

impl FrameBuf {
    fn new() -> Self {
        Self { buf: [0; CAPACITY], len: 0 }
    }

    /// The frame's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The frame's bytes, to change in place.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    /// The frame's length, at least 60.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: every builder writes at least a minimum-size frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`. Builders write fixed layouts far below the capacity, so this cannot
    /// overflow for any argument values.
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16) -> Self {
        let mut f = Self::new();
        f.put(&dst.0);
        f.put(&src.0);
        f.put(&ethertype.to_be_bytes());
        f
    }

    /// A copy of the captured `frame` with new Ethernet addresses, padded to the minimum;
    /// `None` if it is shorter than an Ethernet header or does not fit.
    pub(crate) fn readdressed(frame: &[u8], dst: MacAddr, src: MacAddr) -> Option<Self> {
        let payload = frame.get(12..).filter(|p| p.len() >= 2 && p.len() + 12 <= CAPACITY)?;
        let mut f = Self::new();
        f.put(&dst.0);
        f.put(&src.0);
        f.put(payload);
        Some(f.padded())
    }

    /// Pads with zeros to the Ethernet minimum (the buffer is zeroed already).
    fn padded(mut self) -> Self {
        self.len = self.len.max(ETHERNET_MIN_LEN);
        self
    }
}

impl AsRef<[u8]> for FrameBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for FrameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameBuf[{}](", self.len)?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// An Ethernet/IPv4 ARP packet from `sha`, fields in wire order.
fn arp(
    eth_dst: MacAddr,
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> FrameBuf {
    arp_from(eth_dst, sha, op, sha, spa, tha, tpa)
}

/// An Ethernet/IPv4 ARP packet whose Ethernet source may differ from its sender hardware
/// address: how a proxy speaks about someone else's MAC without putting that MAC on the wire as
/// a source (which would move it to the proxy's switch port).
fn arp_from(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> FrameBuf {
    let mut f = FrameBuf::ethernet(eth_dst, eth_src, ETHERTYPE_ARP);
    f.put(&ARP_ETHERNET_IPV4);
    f.put(&op.to_be_bytes());
    f.put(&sha.0);
    f.put(&spa.octets());
    f.put(&tha.0);
    f.put(&tpa.octets());
    f.padded()
}

/// An ARP reply telling `target` (`target_mac`, `target_ip`) that `sender_ip` is at
/// `sender_mac`, sent from `sender_mac` straight to `target_mac`.
pub fn arp_reply(
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> FrameBuf {
    arp(target_mac, ARP_REPLY, sender_mac, sender_ip, target_mac, target_ip)
}

/// An RFC 5227 announcement: a broadcast ARP request from `mac` with sender and target IP both
/// `ip`, which makes every neighbour update its cache entry for `ip` to `mac`.
///
/// Meant for a host reclaiming its own address on resume: the Ethernet source `mac` also moves
/// the MAC back to its switch port.
pub fn gratuitous_arp(mac: MacAddr, ip: Ipv4Addr) -> FrameBuf {
    arp(MacAddr::BROADCAST, ARP_REQUEST, mac, ip, MacAddr::ZERO, ip)
}

/// A gratuitous ARP that gives `ip` back to its owner `owner_mac`, sent by a proxy from its own
/// `src_mac`: every cache that pointed `ip` at the proxy points at the owner again, and the
/// switch learns nothing new (no MAC flap).
pub fn gratuitous_arp_for(src_mac: MacAddr, owner_mac: MacAddr, ip: Ipv4Addr) -> FrameBuf {
    arp_from(MacAddr::BROADCAST, src_mac, ARP_REQUEST, owner_mac, ip, MacAddr::ZERO, ip)
}

/// A broadcast ARP request from `sender_mac` / `sender_ip` asking who has `target_ip`.
pub fn arp_request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> FrameBuf {
    arp(MacAddr::BROADCAST, ARP_REQUEST, sender_mac, sender_ip, MacAddr::ZERO, target_ip)
}

/// An RFC 5227 probe: a broadcast ARP request for `target_ip` with sender IP `0.0.0.0`, which
/// asks whether anyone uses the address without touching anyone's cache. An answer arrives as
/// [`Classified::AddressInUse`](super::Classified::AddressInUse).
pub fn arp_probe(sender_mac: MacAddr, target_ip: Ipv4Addr) -> FrameBuf {
    arp(
        MacAddr::BROADCAST,
        ARP_REQUEST,
        sender_mac,
        Ipv4Addr::UNSPECIFIED,
        MacAddr::ZERO,
        target_ip,
    )
}

/// A TCP SYN over IPv4 from `src_ip`:`src_port` to `dst_ip`:`dst_port`, as a station opening a
/// connection sends it: no options, don't fragment, TTL 64, both checksums filled in.
///
/// The proxy never opens a connection (it replays a caller's SYN: [`super::replayable_syn`]);
/// this is the SYN of the callers a driver plays itself: the simulator's, which wake its
/// sleepers.
pub fn tcp_syn(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
) -> FrameBuf {
    let mut tcp = [0u8; TCP_MIN_HEADER_LEN];
    tcp[0..2].copy_from_slice(&src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&dst_port.to_be_bytes());
    // Data offset 5 words (no options); sequence, acknowledgement and window zero.
    tcp[12] = ((TCP_MIN_HEADER_LEN / 4) as u8) << 4;
    tcp[13] = TCP_SYN;
    let mut addrs = [0u8; 8];
    addrs[..4].copy_from_slice(&src_ip.octets());
    addrs[4..].copy_from_slice(&dst_ip.octets());
    let sum = checksum::ipv4_upper_layer(addrs, IP_PROTO_TCP, &tcp);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());

    let mut ip = [0u8; IPV4_MIN_HEADER_LEN];
    ip[0] = 0x40 | (IPV4_MIN_HEADER_LEN / 4) as u8;
    ip[2..4].copy_from_slice(&((IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN) as u16).to_be_bytes());
    // Flags: don't fragment; time to live 64.
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = IP_PROTO_TCP;
    ip[12..20].copy_from_slice(&addrs);
    let sum = checksum::ones_complement(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    let mut f = FrameBuf::ethernet(dst_mac, src_mac, ETHERTYPE_IPV4);
    f.put(&ip);
    f.put(&tcp);
    f.padded()
}

/// Flags of a neighbour advertisement (RFC 4861 §4.4). The router flag is always clear.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct NaFlags {
    /// S: answers a solicitation (set when replying to an NS, clear when unsolicited).
    pub solicited: bool,
    /// O: the receiver should replace a cached link-layer address with this one.
    pub override_: bool,
}

/// An IPv6 packet with hop limit 255 carrying the ICMPv6 `message`, whose checksum (bytes 2..4,
/// zero on entry) is filled in here.
fn icmpv6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    message: &mut [u8],
) -> FrameBuf {
    let sum = checksum::ipv6_upper_layer(src_ip, dst_ip, IP_PROTO_ICMPV6, message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = FrameBuf::ethernet(dst_mac, src_mac, ETHERTYPE_IPV6);
    // Version 6, traffic class and flow label 0.
    f.put(&[0x60, 0, 0, 0]);
    // Messages here are at most 32 bytes.
    f.put(&(message.len() as u16).to_be_bytes());
    f.put(&[IP_PROTO_ICMPV6, ND_HOP_LIMIT]);
    f.put(&src_ip.octets());
    f.put(&dst_ip.octets());
    f.put(message);
    f.padded()
}

/// A neighbour advertisement that `target` is at `target_mac`, with the target link-layer
/// address option, sent from `src_mac`/`src_ip` to `dst_mac`/`dst_ip`.
///
/// To answer a [`Classified::NeighborSolicitation`](super::Classified::NeighborSolicitation),
/// send it to the requester with `solicited` set; after a DAD solicitation (requester `::`),
/// RFC 4861 §7.2.4 says to send it unsolicited to `ff02::1` instead.
pub fn neighbor_advertisement(
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_mac: MacAddr,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
    target_mac: MacAddr,
    flags: NaFlags,
) -> FrameBuf {
    let mut flag_bits = 0;
    if flags.solicited {
        flag_bits |= NA_FLAG_SOLICITED;
    }
    if flags.override_ {
        flag_bits |= NA_FLAG_OVERRIDE;
    }
    let mut m = [0u8; ND_MESSAGE_LEN + ND_OPT_LLADDR_LEN];
    m[0] = ICMPV6_NEIGHBOR_ADVERT;
    m[4] = flag_bits;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = ND_OPT_TARGET_LLADDR;
    m[25] = 1;
    m[26..32].copy_from_slice(&target_mac.0);
    icmpv6_frame(src_mac, dst_mac, src_ip, dst_ip, &mut m)
}

/// An unsolicited neighbour advertisement with Override set, from `mac` about `target` (also
/// the IPv6 source) to all nodes (`ff02::1`): every neighbour's cache entry for `target` moves
/// to `mac` (RFC 4861 §7.2.6). Sent once by a host taking its address back.
pub fn unsolicited_na(mac: MacAddr, target: Ipv6Addr) -> FrameBuf {
    unsolicited_na_for(mac, mac, target)
}

/// An unsolicited neighbour advertisement with Override that gives `target` back to its owner
/// `owner_mac` (the target link-layer address), sent from the proxy's own `src_mac`.
pub fn unsolicited_na_for(src_mac: MacAddr, owner_mac: MacAddr, target: Ipv6Addr) -> FrameBuf {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let flags = NaFlags { solicited: false, override_: true };
    neighbor_advertisement(
        src_mac,
        target,
        ipv6_multicast_mac(all_nodes),
        all_nodes,
        target,
        owner_mac,
        flags,
    )
}

/// A duplicate address detection probe (RFC 4862 §5.4.2): a neighbour solicitation for
/// `target` from `::` to its solicited-node group, without a source link-layer option. Whoever
/// uses `target` answers with an advertisement, seen as
/// [`Classified::AddressInUse`](super::Classified::AddressInUse).
pub fn dad_probe(src_mac: MacAddr, target: Ipv6Addr) -> FrameBuf {
    let group = solicited_node(target);
    let mut m = [0u8; ND_MESSAGE_LEN];
    m[0] = ICMPV6_NEIGHBOR_SOLICIT;
    m[8..24].copy_from_slice(&target.octets());
    icmpv6_frame(src_mac, ipv6_multicast_mac(group), Ipv6Addr::UNSPECIFIED, group, &mut m)
}
