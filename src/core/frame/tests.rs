//! Classifier and builder tests. Frames are assembled byte by byte here, independently of
//! `build`, so a shared misreading of a format does not cancel out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet_packet::Packet;
use pnet_packet::arp::{ArpOperations, ArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::icmpv6::ndp::{NdpOptionTypes, NeighborAdvertPacket, NeighborSolicitPacket};
use pnet_packet::icmpv6::{self, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ipv6::Ipv6Packet;
use proptest::prelude::*;

use super::*;
use crate::core::wol::{self, MagicPacket};

const WOL_PORT: u16 = wol::DEFAULT_WOL_PORT;

// Sleeper A, sleeper B, and C, an ordinary awake host. The fuzz target uses the same table, so
// the seed frames in `fuzz/seeds/` (see `fuzz_seeds_match_the_test_frames`) reach the deep paths.
const A_ID: NodeId = NodeId([0xA; 16]);
const A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0A]);
const A_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
const A_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xA);
const A_GUA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xA);
const B_ID: NodeId = NodeId([0xB; 16]);
const B_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0B]);
const B_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const C_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0C]);
const C_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
const C_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xC);

fn table() -> SleeperTable {
    [
        Sleeper {
            id: A_ID,
            mac: A_MAC,
            ipv4: vec![A_V4],
            ipv6: vec![A_LL, A_GUA],
            wake_ports: vec![3389, 22, 445],
        },
        Sleeper { id: B_ID, mac: B_MAC, ipv4: vec![B_V4], ipv6: vec![], wake_ports: vec![] },
    ]
    .into_iter()
    .collect()
}

fn classify(frame: &[u8]) -> Classified {
    super::classify(&table(), frame, WOL_PORT)
}

// ---- hand-made frames ----

use super::synth::{ACK, RST, SYN, arp as arp_packet, ethernet, ipv4, ipv6, udp};

fn tcp(src_port: u16, dst_port: u16, flags: u8) -> Vec<u8> {
    super::synth::tcp(src_port, dst_port, flags, 0)
}

fn with_vlan(frame: &[u8], vid: u16) -> Vec<u8> {
    [&frame[..12], &[0x81, 0x00], &vid.to_be_bytes(), &frame[12..]].concat()
}

fn arp_frame(op: u16, sha: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let dst = if op == 1 { MacAddr::BROADCAST } else { A_MAC };
    ethernet(dst, sha, 0x0806, &arp_packet(op, sha, spa, MacAddr::ZERO, tpa))
}

fn syn4(src: Ipv4Addr, dst: Ipv4Addr, dst_port: u16, flags: u8) -> Vec<u8> {
    let ip = ipv4(src, dst, 6, 0x4000, &[], &tcp(50000, dst_port, flags));
    ethernet(A_MAC, C_MAC, 0x0800, &ip)
}

fn syn6(src: Ipv6Addr, dst: Ipv6Addr, dst_port: u16) -> Vec<u8> {
    ethernet(A_MAC, C_MAC, 0x86DD, &ipv6(src, dst, 6, 64, &tcp(50000, dst_port, SYN)))
}

/// A neighbour solicitation with a correct checksum; `options` follow the target.
fn ns_frame(
    eth_src: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    hop: u8,
    code: u8,
    options: &[u8],
) -> Vec<u8> {
    let mut m = [&[135, code, 0, 0, 0, 0, 0, 0][..], &target.octets(), options].concat();
    let sum = checksum::ipv6_upper_layer(src, dst, 58, &m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    ethernet(ipv6_multicast_mac(dst), eth_src, 0x86DD, &ipv6(src, dst, 58, hop, &m))
}

fn slla(mac: MacAddr) -> Vec<u8> {
    [&[1, 1][..], &mac.0].concat()
}

fn magic_udp4(p: &MagicPacket, port: u16) -> Vec<u8> {
    let (payload, len) = p.payload();
    let ip = ipv4(C_V4, Ipv4Addr::BROADCAST, 17, 0, &[], &udp(40000, port, &payload[..len]));
    ethernet(MacAddr::BROADCAST, C_MAC, 0x0800, &ip)
}

fn magic_udp6(p: &MagicPacket) -> Vec<u8> {
    let (payload, len) = p.payload();
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let ip = ipv6(C_LL, all_nodes, 17, 64, &udp(40000, WOL_PORT, &payload[..len]));
    ethernet(ipv6_multicast_mac(all_nodes), C_MAC, 0x86DD, &ip)
}

fn magic_ether(p: &MagicPacket) -> Vec<u8> {
    let mut buf = [0; 128];
    let n = p.write_ethernet_frame(C_MAC, MacAddr::BROADCAST, &mut buf);
    buf[..n].to_vec()
}

// ---- ARP ----

#[test]
fn arp_request_for_a_sleeper() {
    assert_eq!(
        classify(&arp_frame(1, C_MAC, C_V4, A_V4)),
        Classified::ArpRequest {
            sleeper: A_ID,
            requester_mac: C_MAC,
            requester_ip: C_V4,
            target_ip: A_V4,
            probe: false
        }
    );
    assert_eq!(
        classify(&arp_frame(1, C_MAC, C_V4, Ipv4Addr::new(10, 0, 0, 99))),
        Classified::Irrelevant
    );
}

#[test]
fn arp_probe_is_flagged() {
    assert_eq!(
        classify(arp_probe(C_MAC, A_V4).as_slice()),
        Classified::ArpRequest {
            sleeper: A_ID,
            requester_mac: C_MAC,
            requester_ip: Ipv4Addr::UNSPECIFIED,
            target_ip: A_V4,
            probe: true
        }
    );
}

#[test]
fn arp_reply_to_a_sleeper_address_is_irrelevant() {
    // A reply *to* the sleeper's address (tpa) says nothing about it.
    assert_eq!(classify(&arp_frame(2, C_MAC, C_V4, A_V4)), Classified::Irrelevant);
}

#[test]
fn someone_else_using_a_sleeper_address() {
    let in_use = Classified::AddressInUse { sleeper: A_ID, addr: IpAddr::V4(A_V4), by: C_MAC };
    assert_eq!(classify(gratuitous_arp(C_MAC, A_V4).as_slice()), in_use);
    assert_eq!(
        classify(arp_reply(C_MAC, A_V4, MacAddr([2, 0, 0, 0, 0, 0x99]), C_V4).as_slice()),
        in_use
    );
    assert_eq!(classify(&arp_frame(1, C_MAC, A_V4, Ipv4Addr::new(10, 0, 0, 1))), in_use);
    // Another proxy answering with the sleeper's own MAC in the ARP payload is no conflict.
    let mut f = arp_reply(A_MAC, A_V4, C_MAC, C_V4).as_slice().to_vec();
    f[6..12].copy_from_slice(&MacAddr([2, 0, 0, 0, 0, 0x77]).0);
    assert_eq!(classify(&f), Classified::Irrelevant);
}

#[test]
fn arp_other_than_ethernet_ipv4_or_request_reply_is_irrelevant() {
    let mut p = arp_packet(1, C_MAC, C_V4, MacAddr::ZERO, A_V4);
    p[1] = 6; // IEEE 802 hardware type
    assert_eq!(classify(&ethernet(MacAddr::BROADCAST, C_MAC, 0x0806, &p)), Classified::Irrelevant);
    let p = arp_packet(8, C_MAC, C_V4, MacAddr::ZERO, A_V4); // InARP request
    assert_eq!(classify(&ethernet(MacAddr::BROADCAST, C_MAC, 0x0806, &p)), Classified::Irrelevant);
}

#[test]
fn truncated_arp_is_malformed() {
    let f = arp_frame(1, C_MAC, C_V4, A_V4);
    assert_eq!(classify(&f[..41]), Classified::Malformed);
    assert!(matches!(classify(&f[..42]), Classified::ArpRequest { .. }));
}

#[test]
fn frames_longer_than_a_jumbo_frame_are_malformed_unless_from_a_sleeper() {
    let mut f = arp_frame(1, C_MAC, C_V4, A_V4);
    f.resize(MAX_FRAME_LEN, 0);
    assert!(matches!(classify(&f), Classified::ArpRequest { .. }), "a padded jumbo frame");
    f.push(0);
    assert_eq!(classify(&f), Classified::Malformed);
    let mut from_a = arp_frame(1, A_MAC, A_V4, C_V4);
    from_a.resize(MAX_FRAME_LEN * 2, 0);
    assert!(matches!(classify(&from_a), Classified::FromSleeper { .. }), "still proves A awake");
}

// ---- neighbour discovery ----

#[test]
fn neighbor_solicitation_for_a_sleeper() {
    let group = solicited_node(A_GUA);
    let f = ns_frame(C_MAC, C_LL, group, A_GUA, 255, 0, &slla(MacAddr([2, 0, 0, 0, 0, 0x55])));
    assert_eq!(
        classify(&f),
        Classified::NeighborSolicitation {
            sleeper: A_ID,
            requester_mac: MacAddr([2, 0, 0, 0, 0, 0x55]),
            requester_ip: C_LL,
            target: A_GUA,
            dad: false
        },
        "the option wins over the Ethernet source"
    );
    let f = ns_frame(C_MAC, C_LL, A_LL, A_LL, 255, 0, &[]);
    assert!(matches!(
        classify(&f),
        Classified::NeighborSolicitation { requester_mac: C_MAC, target: A_LL, dad: false, .. }
    ));
    let f =
        ns_frame(C_MAC, C_LL, group, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99), 255, 0, &[]);
    assert_eq!(classify(&f), Classified::Irrelevant);
}

#[test]
fn dad_solicitation_is_flagged() {
    assert_eq!(
        classify(dad_probe(C_MAC, A_LL).as_slice()),
        Classified::NeighborSolicitation {
            sleeper: A_ID,
            requester_mac: C_MAC,
            requester_ip: Ipv6Addr::UNSPECIFIED,
            target: A_LL,
            dad: true
        }
    );
}

#[test]
fn neighbor_discovery_traps() {
    let group = solicited_node(A_LL);
    // RFC 4861 §7.1.1: hop limit other than 255 or a non-zero code: discard.
    assert_eq!(classify(&ns_frame(C_MAC, C_LL, group, A_LL, 254, 0, &[])), Classified::Irrelevant);
    assert_eq!(classify(&ns_frame(C_MAC, C_LL, group, A_LL, 255, 1, &[])), Classified::Irrelevant);
    // Inconsistent: zero-length option, option past the end, DAD with a source option, DAD not to
    // the solicited-node group, multicast target, message shorter than 24 bytes.
    for f in [
        ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &[1, 0, 0, 0, 0, 0, 0, 0]),
        ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &[1, 2, 0, 0, 0, 0, 0, 0]),
        ns_frame(C_MAC, Ipv6Addr::UNSPECIFIED, group, A_LL, 255, 0, &slla(C_MAC)),
        ns_frame(C_MAC, Ipv6Addr::UNSPECIFIED, A_LL, A_LL, 255, 0, &[]),
        ns_frame(C_MAC, C_LL, group, group, 255, 0, &[]),
    ] {
        assert_eq!(classify(&f), Classified::Malformed);
    }
    let short = ipv6(C_LL, group, 58, 255, &[135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80]);
    assert_eq!(classify(&ethernet(C_MAC, C_MAC, 0x86DD, &short)), Classified::Malformed);
    // An unknown option is skipped; a later source option is still found.
    let opts = [&[14, 1, 0, 0, 0, 0, 0, 0][..], &slla(MacAddr([2, 0, 0, 0, 0, 0x56]))].concat();
    assert!(matches!(
        classify(&ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &opts)),
        Classified::NeighborSolicitation { requester_mac: MacAddr([2, 0, 0, 0, 0, 0x56]), .. }
    ));
}

#[test]
fn next_header_other_than_icmpv6_is_not_misparsed() {
    // The same bytes as an NS, behind a hop-by-hop header number: not walked, so not an NS.
    let mut f = ns_frame(C_MAC, C_LL, solicited_node(A_LL), A_LL, 255, 0, &[]);
    f[14 + 6] = 0;
    assert_eq!(classify(&f), Classified::Irrelevant);
}

#[test]
fn advertisement_for_a_sleeper_address() {
    let f = neighbor_advertisement(
        C_MAC,
        C_LL,
        A_MAC,
        A_LL,
        A_GUA,
        C_MAC,
        NaFlags { solicited: true, override_: true },
    );
    assert_eq!(
        classify(f.as_slice()),
        Classified::AddressInUse { sleeper: A_ID, addr: IpAddr::V6(A_GUA), by: C_MAC }
    );
    // Another proxy advertising the sleeper's own MAC: no conflict.
    let f = neighbor_advertisement(C_MAC, C_LL, A_MAC, A_LL, A_GUA, A_MAC, NaFlags::default());
    assert_eq!(classify(f.as_slice()), Classified::Irrelevant);
    // A solicited advertisement to a group contradicts itself.
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let f = neighbor_advertisement(
        C_MAC,
        C_LL,
        MacAddr::BROADCAST,
        all_nodes,
        A_GUA,
        C_MAC,
        NaFlags { solicited: true, override_: false },
    );
    assert_eq!(classify(f.as_slice()), Classified::Malformed);
}

// ---- TCP ----

#[test]
fn syn_to_a_sleeper() {
    assert_eq!(
        classify(&syn4(C_V4, A_V4, 445, SYN)),
        Classified::TcpSyn {
            sleeper: A_ID,
            src: C_V4.into(),
            src_port: 50000,
            dst: A_V4.into(),
            dst_port: 445,
            wake: true
        }
    );
    assert!(matches!(classify(&syn4(C_V4, A_V4, 80, SYN)), Classified::TcpSyn { wake: false, .. }));
    assert!(matches!(
        classify(&syn4(C_V4, B_V4, 22, SYN)),
        Classified::TcpSyn { sleeper: B_ID, wake: false, .. }
    ));
    assert_eq!(
        classify(&syn6(C_LL, A_GUA, 3389)),
        Classified::TcpSyn {
            sleeper: A_ID,
            src: C_LL.into(),
            src_port: 50000,
            dst: A_GUA.into(),
            dst_port: 3389,
            wake: true
        }
    );
    // SYN with ECN flags (ECE, CWR) is still a connection attempt.
    assert!(matches!(classify(&syn4(C_V4, A_V4, 445, SYN | 0xC0)), Classified::TcpSyn { .. }));
}

#[test]
fn tcp_traps() {
    assert_eq!(classify(&syn4(C_V4, A_V4, 445, SYN | ACK)), Classified::Irrelevant);
    assert_eq!(classify(&syn4(C_V4, A_V4, 445, SYN | RST)), Classified::Irrelevant);
    assert_eq!(classify(&syn4(C_V4, A_V4, 445, ACK)), Classified::Irrelevant);
    assert_eq!(
        classify(&syn4(C_V4, Ipv4Addr::new(10, 0, 0, 99), 445, SYN)),
        Classified::Irrelevant
    );
    // A later fragment whose payload happens to look like a SYN.
    let ip = ipv4(C_V4, A_V4, 6, 0x0010, &[], &tcp(50000, 445, SYN));
    assert_eq!(classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)), Classified::Irrelevant);
    // The first fragment of several carries the header: still a SYN.
    let ip = ipv4(C_V4, A_V4, 6, 0x2000, &[], &tcp(50000, 445, SYN));
    assert!(matches!(
        classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)),
        Classified::TcpSyn { wake: true, .. }
    ));
    // IHL is honoured: a header with options.
    let ip = ipv4(C_V4, A_V4, 6, 0, &[1, 1, 1, 0], &tcp(50000, 445, SYN));
    assert!(matches!(
        classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)),
        Classified::TcpSyn { wake: true, .. }
    ));
}

#[test]
fn inconsistent_ip_and_tcp_headers_are_malformed() {
    let good = syn4(C_V4, A_V4, 445, SYN);
    let patch = |at: usize, v: u8| {
        let mut f = good.clone();
        f[at] = v;
        classify(&f)
    };
    assert_eq!(patch(14, 0x44), Classified::Malformed, "IHL 4");
    assert_eq!(patch(14, 0x55), Classified::Malformed, "version 5");
    assert_eq!(patch(14, 0x4F), Classified::Malformed, "IHL past the datagram");
    assert_eq!(patch(17, 200), Classified::Malformed, "total length past the frame");
    assert_eq!(patch(17, 19), Classified::Malformed, "total length below the header");
    assert_eq!(patch(14 + 20 + 12, 0x40), Classified::Malformed, "TCP data offset 4");
    assert_eq!(
        patch(14 + 20 + 12, 0xF0),
        Classified::Malformed,
        "TCP data offset past the segment"
    );
}

#[test]
fn vlan_tag_is_skipped() {
    let f = with_vlan(&syn4(C_V4, A_V4, 445, SYN), 42);
    assert!(matches!(classify(&f), Classified::TcpSyn { sleeper: A_ID, wake: true, .. }));
    let f = with_vlan(&arp_frame(1, C_MAC, C_V4, A_V4), 7);
    assert!(matches!(classify(&f), Classified::ArpRequest { sleeper: A_ID, .. }));
    let f = with_vlan(dad_probe(C_MAC, A_LL).as_slice(), 7);
    assert!(matches!(classify(&f), Classified::NeighborSolicitation { dad: true, .. }));
    assert_eq!(classify(&with_vlan(&[0; 12], 1)), Classified::Malformed, "tag, then nothing");
}

// ---- magic packets ----

#[test]
fn magic_packets_in_every_carrier() {
    let plain = MagicPacket::new(A_MAC);
    let with_pw =
        MagicPacket { target: B_MAC, password: Some(wol::SecureOn::Six([1, 2, 3, 4, 5, 6])) };
    for p in [plain, with_pw] {
        let want = Classified::MagicPacket { target: p.target, password: p.password };
        assert_eq!(classify(&magic_ether(&p)), want);
        assert_eq!(classify(&magic_udp4(&p, WOL_PORT)), want);
        assert_eq!(classify(&magic_udp6(&p)), want);
        assert_eq!(classify(&with_vlan(&magic_udp4(&p, WOL_PORT), 3)), want);
    }
    assert_eq!(classify(&magic_udp4(&plain, 7)), Classified::Irrelevant, "not the WoL port");
    assert_eq!(
        super::classify(&table(), &magic_udp4(&plain, 7), 7),
        Classified::MagicPacket { target: A_MAC, password: None }
    );
}

#[test]
fn magic_packet_traps() {
    // UDP to the port without a magic packet: the discard service, not an error.
    let ip = ipv4(C_V4, A_V4, 17, 0, &[], &udp(1, WOL_PORT, b"hello"));
    assert_eq!(classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)), Classified::Irrelevant);
    // EtherType 0x0842 promises one.
    assert_eq!(
        classify(&ethernet(MacAddr::BROADCAST, C_MAC, 0x0842, &[0xFF; 40])),
        Classified::Malformed
    );
    // A UDP length beyond the datagram.
    let mut f = magic_udp4(&MagicPacket::new(A_MAC), WOL_PORT);
    f[14 + 20 + 5] += 1;
    assert_eq!(classify(&f), Classified::Malformed);
    // Ethernet padding after a short IPv4 datagram is not read as payload.
    let ip = ipv4(C_V4, A_V4, 17, 0, &[], &udp(1, WOL_PORT, &[]));
    let mut f = ethernet(A_MAC, C_MAC, 0x0800, &ip);
    f.extend(MagicPacket::new(A_MAC).payload().0);
    assert_eq!(classify(&f), Classified::Irrelevant);
}

// ---- frames from a sleeper ----

#[test]
fn frames_from_a_sleeper() {
    let from_a = |what| Classified::FromSleeper { sleeper: A_ID, what };
    assert_eq!(classify(&arp_frame(1, A_MAC, A_V4, C_V4)), from_a(FromSleeperKind::ArpRequest));
    assert_eq!(classify(arp_probe(A_MAC, A_V4).as_slice()), from_a(FromSleeperKind::ArpRequest));
    assert_eq!(
        classify(gratuitous_arp(A_MAC, A_V4).as_slice()),
        from_a(FromSleeperKind::ArpAnnouncement)
    );
    assert_eq!(
        classify(&arp_frame(2, A_MAC, A_V4, A_V4)),
        from_a(FromSleeperKind::ArpAnnouncement)
    );
    assert_eq!(
        classify(arp_reply(A_MAC, A_V4, C_MAC, C_V4).as_slice()),
        from_a(FromSleeperKind::ArpReply)
    );
    assert_eq!(
        classify(dad_probe(A_MAC, A_LL).as_slice()),
        from_a(FromSleeperKind::NeighborSolicitation)
    );
    let na = neighbor_advertisement(
        A_MAC,
        A_LL,
        C_MAC,
        C_LL,
        A_LL,
        A_MAC,
        NaFlags { solicited: true, override_: false },
    );
    assert_eq!(classify(na.as_slice()), from_a(FromSleeperKind::NeighborAdvertisement));
    assert_eq!(
        classify(unsolicited_na(A_MAC, A_GUA).as_slice()),
        from_a(FromSleeperKind::NeighborAdvertisement)
    );
    let mut syn = syn4(A_V4, C_V4, 443, SYN);
    syn[6..12].copy_from_slice(&A_MAC.0);
    assert_eq!(classify(&syn), from_a(FromSleeperKind::TcpSyn));
    let mut mdns = ethernet(
        MacAddr([1, 0, 0x5e, 0, 0, 0xfb]),
        A_MAC,
        0x0800,
        &ipv4(A_V4, Ipv4Addr::new(224, 0, 0, 251), 17, 0, &[], &udp(5353, 5353, &[0; 12])),
    );
    assert_eq!(classify(&mdns), from_a(FromSleeperKind::Other));
    mdns.truncate(30);
    assert_eq!(classify(&mdns), from_a(FromSleeperKind::Other), "even malformed");
    let mut magic = magic_ether(&MagicPacket::new(B_MAC));
    magic[6..12].copy_from_slice(&B_MAC.0);
    assert_eq!(
        classify(&magic),
        Classified::FromSleeper { sleeper: B_ID, what: FromSleeperKind::Other }
    );
}

// ---- everything else ----

#[test]
fn irrelevant_traffic() {
    let t = table();
    let frames = [
        syn4(C_V4, Ipv4Addr::new(10, 0, 0, 1), 80, ACK),
        ethernet(A_MAC, C_MAC, 0x88CC, &[0; 40]), // LLDP
        ethernet(A_MAC, C_MAC, 0x0040, &[0; 40]), // 802.3 length field
        ethernet(A_MAC, C_MAC, 0x0800, &ipv4(C_V4, A_V4, 1, 0, &[], &[8, 0, 0, 0])), // ICMP echo
        vec![0; 13],
        vec![],
    ];
    for f in frames {
        assert_eq!(super::classify(&t, &f, WOL_PORT), Classified::Irrelevant, "{f:02x?}");
    }
    assert_eq!(
        super::classify(&SleeperTable::new(), &syn4(C_V4, A_V4, 445, SYN), WOL_PORT),
        Classified::Irrelevant
    );
}

/// Valid frames, each with the length below which a prefix can no longer be complete.
pub(super) fn seed_frames() -> Vec<(&'static str, Vec<u8>, usize)> {
    let group = solicited_node(A_LL);
    let ns = ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &slla(C_MAC));
    let ns_len = ns.len();
    vec![
        ("arp_request", arp_frame(1, C_MAC, C_V4, A_V4), 42),
        ("arp_probe", arp_probe(C_MAC, A_V4).as_slice().to_vec(), 42),
        ("arp_announcement_conflict", gratuitous_arp(C_MAC, A_V4).as_slice().to_vec(), 42),
        ("arp_from_sleeper", arp_reply(A_MAC, A_V4, C_MAC, C_V4).as_slice().to_vec(), 42),
        ("ns", ns, ns_len),
        ("ns_dad", dad_probe(C_MAC, A_LL).as_slice().to_vec(), 78),
        (
            "na_conflict",
            neighbor_advertisement(C_MAC, C_LL, A_MAC, A_LL, A_LL, C_MAC, NaFlags::default())
                .as_slice()
                .to_vec(),
            86,
        ),
        ("tcpv4_syn", syn4(C_V4, A_V4, 445, SYN), 54),
        ("tcpv4_syn_vlan", with_vlan(&syn4(C_V4, A_V4, 445, SYN), 5), 58),
        (
            "tcpv4_syn_options",
            ethernet(
                A_MAC,
                C_MAC,
                0x0800,
                &ipv4(C_V4, A_V4, 6, 0, &[1, 1, 1, 0], &tcp(1, 3389, SYN)),
            ),
            58,
        ),
        ("tcpv6_syn", syn6(C_LL, A_GUA, 22), 74),
        ("tcpv4_ack", syn4(C_V4, A_V4, 445, ACK), 54),
        ("wol_ether", magic_ether(&MagicPacket::new(A_MAC)), 116),
        ("wol_udp4", magic_udp4(&MagicPacket::new(A_MAC), WOL_PORT), 144),
        (
            "wol_udp6_password",
            magic_udp6(&MagicPacket {
                target: A_MAC,
                password: Some(wol::SecureOn::Four([1, 2, 3, 4])),
            }),
            168,
        ),
    ]
}

#[test]
fn every_truncation_is_malformed_or_irrelevant() {
    let t = table();
    for (name, frame, complete) in seed_frames() {
        let full = super::classify(&t, &frame, WOL_PORT);
        assert_ne!(full, Classified::Malformed, "{name}");
        for len in 0..frame.len() {
            let got = super::classify(&t, &frame[..len], WOL_PORT);
            if let Classified::FromSleeper { .. } = full {
                assert!(
                    matches!(got, Classified::FromSleeper { .. } | Classified::Irrelevant),
                    "{name}[..{len}]: {got:?}"
                );
            } else if len < complete {
                assert!(
                    matches!(got, Classified::Malformed | Classified::Irrelevant),
                    "{name}[..{len}]: {got:?}"
                );
            } else {
                assert_eq!(got, full, "{name}[..{len}] (only padding cut)");
            }
        }
    }
}

/// The fuzz seeds in `fuzz/seeds/*/`, by file name.
fn fuzz_seeds() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut out: Vec<(std::path::PathBuf, Vec<u8>)> = seed_frames()
        .into_iter()
        .map(|(name, frame, _)| (root.join(format!("frame_classify/{name}.bin")), frame.to_vec()))
        .collect();
    for (name, p) in [
        ("plain", MagicPacket::new(A_MAC)),
        (
            "password4",
            MagicPacket { target: A_MAC, password: Some(wol::SecureOn::Four([1, 2, 3, 4])) },
        ),
        (
            "password6",
            MagicPacket { target: A_MAC, password: Some(wol::SecureOn::Six([1, 2, 3, 4, 5, 6])) },
        ),
    ] {
        let (b, n) = p.payload();
        out.push((root.join(format!("wol_find/{name}.bin")), b[..n].to_vec()));
    }
    let mut long_sync = vec![0x11, 0xFF, 0xFF];
    long_sync.extend(MagicPacket::new(MacAddr([0xFF, 0, 1, 2, 3, 0xFF])).payload().0);
    out.push((root.join("wol_find/long_sync_group_mac.bin"), long_sync));
    out
}

/// The fuzz seeds on disk are the frames these tests use. After changing `seed_frames`,
/// rewrite them with `WAKEPROXY_BLESS_SEEDS=1 cargo test --lib fuzz_seeds`.
#[test]
fn fuzz_seeds_match_the_test_frames() {
    let bless = std::env::var_os("WAKEPROXY_BLESS_SEEDS").is_some();
    for (path, bytes) in fuzz_seeds() {
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            bytes,
            "{} is stale: rerun with WAKEPROXY_BLESS_SEEDS=1",
            path.display()
        );
    }
}

proptest! {
    #[test]
    fn any_bytes_never_panic(
        frame in proptest::collection::vec(any::<u8>(), 0..200),
        port in any::<u16>(),
    ) {
        let _ = super::classify(&table(), &frame, port);
    }

    /// Random bytes behind a real Ethernet type (and sometimes a VLAN tag), so the parsers
    /// below the Ethernet header see them.
    #[test]
    fn any_payload_never_panics(
        ethertype in prop::sample::select(vec![0x0800u16, 0x86DD, 0x0806, 0x0842, 0x8100]),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let header = [&[0xFFu8; 6][..], &C_MAC.0, &ethertype.to_be_bytes()].concat();
        let _ = classify(&[header, payload].concat());
    }

    /// Every seed frame with one byte changed, then cut anywhere.
    #[test]
    fn mutating_one_byte_never_panics(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        for (_, mut frame, _) in seed_frames() {
            let i = at.index(frame.len());
            frame[i] = byte;
            let _ = classify(&frame);
            let _ = classify(&frame[..cut.index(frame.len() + 1)]);
        }
    }
}

// ---- builders ----

#[test]
fn arp_reply_field_by_field() {
    let f = arp_reply(A_MAC, A_V4, C_MAC, C_V4);
    let b = f.as_slice();
    assert_eq!(b.len(), 60);
    assert_eq!(&b[0..6], &C_MAC.0, "Ethernet destination");
    assert_eq!(&b[6..12], &A_MAC.0, "Ethernet source");
    assert_eq!(&b[12..14], &[0x08, 0x06]);
    assert_eq!(&b[14..22], &[0, 1, 0x08, 0, 6, 4, 0, 2], "htype, ptype, hlen, plen, op");
    assert_eq!(&b[22..28], &A_MAC.0, "sha");
    assert_eq!(&b[28..32], &A_V4.octets(), "spa");
    assert_eq!(&b[32..38], &C_MAC.0, "tha");
    assert_eq!(&b[38..42], &C_V4.octets(), "tpa");
    assert!(b[42..].iter().all(|&x| x == 0), "padding");

    let eth = EthernetPacket::new(b).unwrap();
    assert_eq!(eth.get_ethertype(), EtherTypes::Arp);
    let arp = ArpPacket::new(eth.payload()).unwrap();
    assert_eq!(arp.get_operation(), ArpOperations::Reply);
    assert_eq!(arp.get_sender_hw_addr().octets(), A_MAC.0);
    assert_eq!(arp.get_sender_proto_addr(), A_V4);
    assert_eq!(arp.get_target_hw_addr().octets(), C_MAC.0);
    assert_eq!(arp.get_target_proto_addr(), C_V4);
}

#[test]
fn announcement_and_probe_layout() {
    for (f, spa) in
        [(gratuitous_arp(C_MAC, C_V4), C_V4), (arp_probe(C_MAC, C_V4), Ipv4Addr::UNSPECIFIED)]
    {
        let eth = EthernetPacket::new(f.as_slice()).unwrap();
        assert_eq!(eth.get_destination().octets(), MacAddr::BROADCAST.0);
        assert_eq!(eth.get_source().octets(), C_MAC.0);
        let arp = ArpPacket::new(eth.payload()).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Request);
        assert_eq!(arp.get_sender_hw_addr().octets(), C_MAC.0);
        assert_eq!(arp.get_sender_proto_addr(), spa);
        assert_eq!(arp.get_target_hw_addr().octets(), MacAddr::ZERO.0);
        assert_eq!(arp.get_target_proto_addr(), C_V4);
        assert_eq!(f.len(), 60);
    }
}

/// Checks the IPv6 header of an ND frame and returns the ICMPv6 message.
fn nd_message(f: &FrameBuf, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let eth = EthernetPacket::new(f.as_slice()).unwrap();
    assert_eq!(eth.get_ethertype(), EtherTypes::Ipv6);
    let ip = Ipv6Packet::new(eth.payload()).unwrap();
    assert_eq!(ip.get_version(), 6);
    assert_eq!(ip.get_hop_limit(), 255);
    assert_eq!(ip.get_source(), src);
    assert_eq!(ip.get_destination(), dst);
    assert_eq!(usize::from(ip.get_payload_length()), ip.payload().len());
    let icmp = Icmpv6Packet::new(ip.payload()).unwrap();
    assert_eq!(icmpv6::checksum(&icmp, &src, &dst), icmp.get_checksum(), "checksum");
    ip.payload().to_vec()
}

#[test]
fn neighbor_advertisement_layout() {
    let flags = NaFlags { solicited: true, override_: true };
    let f = neighbor_advertisement(B_MAC, A_LL, C_MAC, C_LL, A_GUA, A_MAC, flags);
    assert_eq!(f.len(), 86);
    let eth = EthernetPacket::new(f.as_slice()).unwrap();
    assert_eq!(eth.get_source().octets(), B_MAC.0);
    assert_eq!(eth.get_destination().octets(), C_MAC.0);
    let m = nd_message(&f, A_LL, C_LL);
    let na = NeighborAdvertPacket::new(&m).unwrap();
    assert_eq!(na.get_icmpv6_type(), Icmpv6Types::NeighborAdvert);
    assert_eq!(na.get_flags(), 0x60);
    assert_eq!(na.get_target_addr(), A_GUA);
    let opts = na.get_options();
    assert_eq!(opts.len(), 1);
    assert_eq!(opts[0].option_type, NdpOptionTypes::TargetLLAddr);
    assert_eq!(opts[0].data, A_MAC.0);

    let f = unsolicited_na(A_MAC, A_GUA);
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    assert_eq!(&f.as_slice()[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    let m = nd_message(&f, A_GUA, all_nodes);
    let na = NeighborAdvertPacket::new(&m).unwrap();
    assert_eq!(na.get_flags(), 0x20, "override, not solicited");
    assert_eq!(na.get_target_addr(), A_GUA);
}

#[test]
fn dad_probe_layout() {
    let target = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0x1234, 0x5678, 0x9abc, 0xdef0);
    let f = dad_probe(C_MAC, target);
    assert_eq!(f.len(), 78);
    assert_eq!(&f.as_slice()[..6], &[0x33, 0x33, 0xff, 0xbc, 0xde, 0xf0]);
    let group: Ipv6Addr = "ff02::1:ffbc:def0".parse().unwrap();
    assert_eq!(solicited_node(target), group);
    let m = nd_message(&f, Ipv6Addr::UNSPECIFIED, group);
    let ns = NeighborSolicitPacket::new(&m).unwrap();
    assert_eq!(ns.get_icmpv6_type(), Icmpv6Types::NeighborSolicit);
    assert_eq!(ns.get_target_addr(), target);
    assert!(ns.get_options().is_empty(), "no source link-layer option from ::");
}

#[test]
fn tcp_syn_layout_checksums_and_class() {
    use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet};
    use pnet_packet::tcp::{self, TcpFlags, TcpPacket};
    let f = tcp_syn(C_MAC, A_MAC, C_V4, A_V4, 50000, 3389);
    assert_eq!(f.len(), 60);
    let eth = EthernetPacket::new(f.as_slice()).unwrap();
    assert_eq!((eth.get_source().octets(), eth.get_destination().octets()), (C_MAC.0, A_MAC.0));
    assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
    let ip = Ipv4Packet::new(eth.payload()).unwrap();
    assert_eq!((ip.get_version(), ip.get_header_length(), ip.get_total_length()), (4, 5, 40));
    assert_eq!((ip.get_flags(), ip.get_ttl()), (Ipv4Flags::DontFragment, 64));
    assert_eq!((ip.get_source(), ip.get_destination()), (C_V4, A_V4));
    assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "IPv4 header checksum");
    let seg = TcpPacket::new(&ip.payload()[..20]).unwrap();
    assert_eq!((seg.get_source(), seg.get_destination()), (50000, 3389));
    assert_eq!((seg.get_flags(), seg.get_data_offset()), (TcpFlags::SYN, 5));
    assert_eq!(seg.get_checksum(), tcp::ipv4_checksum(&seg, &C_V4, &A_V4), "TCP checksum");
    assert_eq!(
        classify(f.as_slice()),
        Classified::TcpSyn {
            sleeper: A_ID,
            src: IpAddr::V4(C_V4),
            src_port: 50000,
            dst: IpAddr::V4(A_V4),
            dst_port: 3389,
            wake: true,
        }
    );
}

#[test]
fn frame_buf_basics() {
    let f = arp_probe(C_MAC, C_V4);
    assert!(!f.is_empty());
    assert_eq!(f.as_ref(), f.as_slice());
    assert!(format!("{f:?}").starts_with("FrameBuf[60](ffffffffffff0200"));
}

#[test]
fn classified_stays_small() {
    // Returned per frame; the largest variants (TcpSyn, NeighborSolicitation) hold a NodeId and
    // two addresses.
    assert!(std::mem::size_of::<Classified>() <= 64, "{}", std::mem::size_of::<Classified>());
}
