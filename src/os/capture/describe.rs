//! One line per captured frame, for `wakeproxy capture`: what the proxy's filter let through.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::core::addr::MacAddr;
use crate::core::wol::find_magic;

fn mac(b: &[u8]) -> MacAddr {
    MacAddr(b[..6].try_into().unwrap_or_default())
}

fn v4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// A short description of an Ethernet frame (never panics; unknown or short frames say so).
pub fn describe(f: &[u8]) -> String {
    if f.len() < 14 {
        return format!("short frame ({} bytes)", f.len());
    }
    let (src, ethertype, p) = (mac(&f[6..]), u16::from_be_bytes([f[12], f[13]]), &f[14..]);
    if let Some(m) = find_magic(p) {
        let how =
            if ethertype == crate::core::wol::ETHERTYPE_WOL { "ethertype 0x0842" } else { "udp" };
        return format!("magic packet ({how}) for {} from {src}", m.target);
    }
    match ethertype {
        0x0806 if p.len() >= 28 => {
            let op = u16::from_be_bytes([p[6], p[7]]);
            let (sha, spa, tpa) = (mac(&p[8..]), v4(&p[14..]), v4(&p[24..]));
            match op {
                1 => format!("arp who-has {tpa} tell {spa} ({sha})"),
                2 => format!("arp reply {spa} is-at {sha}"),
                _ => format!("arp op {op}"),
            }
        }
        0x0800 if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let (proto, s, d) = (p[9], v4(&p[12..]), v4(&p[16..]));
            match (proto, p.get(ihl..ihl + 14)) {
                (6, Some(t)) => {
                    let (sp, dp) =
                        (u16::from_be_bytes([t[0], t[1]]), u16::from_be_bytes([t[2], t[3]]));
                    format!("tcp syn {s}:{sp} -> {d}:{dp}")
                }
                (17, Some(u)) => format!("udp {s} -> {d}:{}", u16::from_be_bytes([u[2], u[3]])),
                _ => format!("ipv4 proto {proto} {s} -> {d}"),
            }
        }
        0x86dd if p.len() >= 40 => {
            let addr =
                |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).unwrap_or_default());
            let (nh, s, d) = (p[6], addr(&p[8..]), addr(&p[24..]));
            match (nh, p.get(40..)) {
                (58, Some(icmp)) if icmp.len() >= 24 && icmp[0] == 135 => {
                    format!("ns who-has {} from {s}", addr(&icmp[8..]))
                }
                (58, Some(icmp)) if icmp.len() >= 24 && icmp[0] == 136 => {
                    format!("na {} is-at {src} from {s}", addr(&icmp[8..]))
                }
                (6, Some(t)) if t.len() >= 4 => format!(
                    "tcp syn [{s}]:{} -> [{d}]:{}",
                    u16::from_be_bytes([t[0], t[1]]),
                    u16::from_be_bytes([t[2], t[3]])
                ),
                _ => format!("ipv6 next-header {nh} {s} -> {d}"),
            }
        }
        _ => format!("ethertype {ethertype:#06x} from {src}, {} bytes", f.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_described_and_nothing_panics() {
        let a = MacAddr([2, 0, 0, 0, 0, 1]);
        let syn = crate::core::frame::tcp_syn(
            a,
            MacAddr::BROADCAST,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            4000,
            3389,
        );
        let syn = syn.as_slice();
        assert_eq!(describe(syn), "tcp syn 10.0.0.1:4000 -> 10.0.0.2:3389");
        let arp = crate::core::frame::arp_request(
            a,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 9),
        );
        assert_eq!(
            describe(arp.as_slice()),
            "arp who-has 10.0.0.9 tell 10.0.0.1 (02:00:00:00:00:01)"
        );
        for n in 0..syn.len() {
            let _ = describe(&syn[..n]);
        }
    }
}
