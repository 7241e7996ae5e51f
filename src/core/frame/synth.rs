//! Raw frames as a capture shows them, built by hand, layer by layer, for the tests, the benches
//! and the fuzz seeds: one place for the byte layouts of test frames, so they cannot drift apart.
//! IPv4 header checksums are correct (a Linux bridge with `br_netfilter` drops packets whose
//! header checksum is wrong); TCP and UDP checksums are left zero (the classifier never checks
//! them: NICs offload them).
//!
//! Test support, not the core's API: the frames that go on a wire come from `build.rs`, the one
//! frame builder (a simulated caller's SYN too: `tcp_syn`). This module is compiled for the
//! crate's own tests and, with the `testkit` feature (which the integration tests and benches
//! turn on), re-exported as `wakeproxy::testkit::frames`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::core::addr::MacAddr;

/// TCP flag bits.
pub const FIN: u8 = 0x01;
/// TCP SYN.
pub const SYN: u8 = 0x02;
/// TCP RST.
pub const RST: u8 = 0x04;
/// TCP PSH.
pub const PSH: u8 = 0x08;
/// TCP ACK.
pub const ACK: u8 = 0x10;

/// An Ethernet II frame, padded to the 60-byte minimum.
pub fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = [&dst.0[..], &src.0, &ethertype.to_be_bytes(), payload].concat();
    f.resize(f.len().max(60), 0);
    f
}

/// An IPv4 packet: header (with `options`, whose length must be a multiple of 4, and a correct
/// checksum) and `payload`; `frag` is the flags-and-offset field (0x4000: don't fragment).
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    frag: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let header_len = 20 + options.len();
    let total = (header_len + payload.len()) as u16;
    let mut h = vec![0x40 | (header_len / 4) as u8, 0];
    h.extend(total.to_be_bytes());
    h.extend([0x12, 0x34]);
    h.extend(frag.to_be_bytes());
    h.extend([64, proto, 0, 0]);
    h.extend(src.octets());
    h.extend(dst.octets());
    h.extend(options);
    let csum = super::checksum::ones_complement(&h[..header_len]);
    h[10..12].copy_from_slice(&csum.to_be_bytes());
    h.extend(payload);
    h
}

/// An IPv6 packet.
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let len = payload.len() as u16;
    [
        &[0x60, 0, 0, 0][..],
        &len.to_be_bytes(),
        &[next_header, hop_limit],
        &src.octets(),
        &dst.octets(),
        payload,
    ]
    .concat()
}

/// A TCP segment without options and `data` bytes of zero payload.
pub fn tcp(src_port: u16, dst_port: u16, flags: u8, data: usize) -> Vec<u8> {
    let mut t = vec![0; 20 + data];
    t[0..2].copy_from_slice(&src_port.to_be_bytes());
    t[2..4].copy_from_slice(&dst_port.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t
}

/// A UDP datagram.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    [&src_port.to_be_bytes()[..], &dst_port.to_be_bytes(), &len.to_be_bytes(), &[0, 0], payload]
        .concat()
}

/// An Ethernet/IPv4 ARP packet (without the Ethernet header).
pub fn arp(op: u16, sha: MacAddr, spa: Ipv4Addr, tha: MacAddr, tpa: Ipv4Addr) -> Vec<u8> {
    [&[0, 1, 8, 0, 6, 4][..], &op.to_be_bytes(), &sha.0, &spa.octets(), &tha.0, &tpa.octets()]
        .concat()
}
