//! Addresses and frames of the simulated network.

use std::net::Ipv4Addr;

use crate::core::addr::MacAddr;

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
