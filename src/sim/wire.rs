//! Addresses and frames of the simulated network.

use std::net::Ipv4Addr;

use crate::addr::MacAddr;

/// The IPv4 address of host `k` on subnet `s`: `10.s.(k / 250).(k % 250 + 1)`, in `10.s.0.0/16`.
pub fn host_ip(subnet: usize, k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, subnet as u8, (k / 250) as u8, (k % 250 + 1) as u8)
}

/// The subnet-directed broadcast address of subnet `s`.
pub fn broadcast_ip(subnet: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, subnet as u8, 255, 255)
}

/// Which subnet an address belongs to, if it is one of the simulation's.
pub fn subnet_of(ip: Ipv4Addr) -> Option<usize> {
    let o = ip.octets();
    (o[0] == 10).then_some(o[1] as usize)
}

/// The MAC of host `k` on subnet `s` (locally administered).
pub fn host_mac(subnet: usize, k: usize) -> MacAddr {
    MacAddr([0x02, 0x57, 0x50, subnet as u8, (k >> 8) as u8, k as u8])
}

/// A TCP SYN from `src` to `dst:port`, as the proxy's capture backend would hand it in.
pub fn tcp_syn(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    port: u16,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54);
    f.extend_from_slice(&dst_mac.octets());
    f.extend_from_slice(&src_mac.octets());
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let csum = ipv4_checksum(&f[ip_start..ip_start + 20]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes()); // sequence
    f.extend_from_slice(&0u32.to_be_bytes()); // acknowledgement
    f.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]); // offset 5, SYN, window, csum, urg
    f
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
