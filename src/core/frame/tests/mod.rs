//! Classifier and builder tests. Frames are assembled byte by byte here, independently of
//! `build`, so a shared misreading of a format does not cancel out. The fixture is here; the
//! tests, by kind of frame, beside it.

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
    crate::core::frame::classify(&table(), frame, WOL_PORT)
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

mod arp;
mod builders;
mod from_sleeper;
mod magic;
mod neighbour;
mod other;
mod syn_replay_seeds;
mod tcp;
