//! The interfaces the daemon manages, read from the operating system (`netdev`) and re-read
//! periodically so that addresses added or removed and links going down or up are picked up
//! without a restart.
//!
//! An interface has the name people know it by — `eth0` on Linux, the friendly name such as
//! `Ethernet` or `Wi-Fi` on Windows — and the name the OS opens it by (`device`: the same on
//! Linux, the adapter GUID on Windows). Configuration may name it either way, or by its index.

use std::net::{IpAddr, Ipv4Addr};

use crate::core::addr::MacAddr;
use crate::core::proto::{Ipv4Prefix, Ipv6Prefix};

/// One interface as the operating system reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// OS interface index.
    pub index: u32,
    /// The name people know it by: `eth0`, `enp3s0` on Linux; `Ethernet`, `Wi-Fi` on Windows.
    pub name: String,
    /// The name the OS opens it by: the same on Linux; the adapter GUID (`{…}`) on Windows,
    /// which Npcap's device name is made of.
    pub device: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Prefix>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<Ipv6Prefix>,
    /// Administratively up and running.
    pub up: bool,
    /// The loopback interface.
    pub loopback: bool,
}

impl Link {
    /// The subnet-directed broadcast address of its first IPv4 address (255.255.255.255 for a
    /// /31 or /32, which have none).
    pub fn broadcast_v4(&self) -> Option<Ipv4Addr> {
        self.ipv4.first().map(|p| directed_broadcast(p.addr, p.len))
    }

    /// Its first address of `peer`'s family (what a socket binds to, to leave through this
    /// interface where there is no `SO_BINDTODEVICE`).
    pub fn local_addr(&self, peer: IpAddr) -> Option<IpAddr> {
        match peer {
            IpAddr::V4(_) => self.ipv4.first().map(|p| IpAddr::V4(p.addr)),
            IpAddr::V6(_) => self.ipv6.first().map(|p| IpAddr::V6(p.addr)),
        }
    }

    /// Whether configuration's `wanted` names this interface: its name, its device name or its
    /// index (compared without regard to case, as Windows compares adapter names; a GUID with
    /// or without its braces).
    pub fn is_named(&self, wanted: &str) -> bool {
        let wanted = wanted.trim();
        let bare = |s: &str| s.trim_start_matches('{').trim_end_matches('}').to_ascii_lowercase();
        self.name.eq_ignore_ascii_case(wanted)
            || self.device.eq_ignore_ascii_case(wanted)
            || (wanted.starts_with('{') || self.device.starts_with('{'))
                && bare(&self.device) == bare(wanted)
            || wanted.parse::<u32>().is_ok_and(|i| i == self.index)
    }
}

/// The subnet-directed broadcast address of `addr/len`.
pub fn directed_broadcast(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    if len >= 31 {
        return Ipv4Addr::BROADCAST;
    }
    let host_bits = u32::MAX >> len;
    Ipv4Addr::from(u32::from(addr) | host_bits)
}

/// Every interface the OS reports.
pub fn scan() -> Vec<Link> {
    netdev::get_interfaces()
        .into_iter()
        .map(|i| Link {
            index: i.index,
            // Windows: netdev's `name` is the adapter GUID, `friendly_name` what people see.
            name: i
                .friendly_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| i.name.clone()),
            up: i.is_up() && i.is_running(),
            loopback: i.is_loopback(),
            mac: MacAddr(i.mac_addr.map(|m| m.octets()).unwrap_or_default()),
            ipv4: i
                .ipv4
                .iter()
                .map(|n| Ipv4Prefix { addr: n.addr(), len: n.prefix_len() })
                .collect(),
            ipv6: i
                .ipv6
                .iter()
                .map(|n| Ipv6Prefix { addr: n.addr(), len: n.prefix_len() })
                .collect(),
            device: i.name,
        })
        .collect()
}

/// The interfaces to manage: the named ones if `wanted` is not empty (those that exist and are
/// up with an IPv4 address), otherwise every up, non-loopback Ethernet interface with IPv4.
/// Also returns the wanted names that are missing or unusable, with the reason.
pub fn select(links: &[Link], wanted: &[String]) -> (Vec<Link>, Vec<(String, &'static str)>) {
    let usable = |l: &Link| -> Result<(), &'static str> {
        if !l.up {
            Err("is down")
        } else if l.loopback {
            Err("is the loopback interface")
        } else if !l.mac.is_unicast() {
            Err("has no Ethernet MAC address")
        } else if l.ipv4.is_empty() {
            Err("has no IPv4 address")
        } else {
            Ok(())
        }
    };
    if wanted.is_empty() {
        let mut chosen: Vec<Link> = links.iter().filter(|l| usable(l).is_ok()).cloned().collect();
        // A deterministic order, whatever the OS lists first.
        chosen.sort_by_key(|l| l.index);
        return (chosen, Vec::new());
    }
    let mut chosen = Vec::new();
    let mut missing = Vec::new();
    for name in wanted {
        // An exact name wins; otherwise any way of naming it (case, GUID braces, index).
        let exact: Vec<&Link> =
            links.iter().filter(|l| l.name == *name || l.device == *name).collect();
        let matching: Vec<&Link> = if exact.is_empty() {
            links.iter().filter(|l| l.is_named(name)).collect()
        } else {
            exact
        };
        if matching.len() > 1 {
            missing.push((name.clone(), "names more than one interface (give its index)"));
            continue;
        }
        if chosen.iter().any(|c: &Link| matching.iter().any(|m| m.index == c.index)) {
            continue;
        }
        match matching.first() {
            None => missing.push((name.clone(), "does not exist")),
            Some(l) => match usable(l) {
                Ok(()) => chosen.push((*l).clone()),
                Err(why) => missing.push((name.clone(), why)),
            },
        }
    }
    (chosen, missing)
}

/// The loopback interface, for tests.
#[cfg(all(test, target_os = "linux"))]
pub(in crate::daemon) fn lo_link() -> Link {
    Link {
        index: 1,
        name: "lo".into(),
        device: "lo".into(),
        mac: MacAddr([0; 6]),
        ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::LOCALHOST, len: 8 }],
        ipv6: vec![Ipv6Prefix { addr: "fe80::1".parse().unwrap(), len: 64 }],
        up: true,
        loopback: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, up: bool, v4: bool) -> Link {
        Link {
            index,
            name: name.into(),
            device: name.into(),
            mac: MacAddr([2, 0, 0, 0, 0, index as u8]),
            ipv4: if v4 {
                vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, index as u8), len: 24 }]
            } else {
                vec![]
            },
            ipv6: vec![],
            up,
            loopback: false,
        }
    }

    #[test]
    fn broadcast_addresses() {
        assert_eq!(
            directed_broadcast(Ipv4Addr::new(10, 1, 2, 3), 24),
            Ipv4Addr::new(10, 1, 2, 255)
        );
        assert_eq!(
            directed_broadcast(Ipv4Addr::new(10, 1, 2, 3), 16),
            Ipv4Addr::new(10, 1, 255, 255)
        );
        assert_eq!(directed_broadcast(Ipv4Addr::new(10, 1, 2, 3), 0), Ipv4Addr::BROADCAST);
        assert_eq!(directed_broadcast(Ipv4Addr::new(10, 1, 2, 3), 32), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn auto_selects_up_ethernet_with_ipv4() {
        let mut lo = link(1, "lo", true, true);
        lo.loopback = true;
        let links = [
            lo,
            link(3, "eth1", true, true),
            link(2, "eth0", true, true),
            link(4, "down", false, true),
            link(5, "nov4", true, false),
        ];
        let (chosen, missing) = select(&links, &[]);
        assert_eq!(chosen.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["eth0", "eth1"]);
        assert!(missing.is_empty());
    }

    #[test]
    fn named_interfaces_report_what_is_wrong() {
        let links = [link(2, "eth0", true, true), link(4, "eth1", false, true)];
        let wanted = ["eth0".to_string(), "eth1".to_string(), "wlan9".to_string()];
        let (chosen, missing) = select(&links, &wanted);
        assert_eq!(chosen.len(), 1);
        assert_eq!(
            missing,
            vec![("eth1".to_string(), "is down"), ("wlan9".to_string(), "does not exist")]
        );
    }

    /// As Windows reports them: a friendly name and a GUID.
    fn windows_link(index: u32, name: &str, guid: &str) -> Link {
        Link { device: guid.into(), ..link(index, name, true, true) }
    }

    #[test]
    fn an_interface_is_named_by_its_name_its_device_or_its_index() {
        let guid = "{4D36E972-E325-11CE-BFC1-08002BE10318}";
        let links = [windows_link(7, "Ethernet", guid), windows_link(9, "Wi-Fi", "{1}")];
        for wanted in ["Ethernet", "ethernet", guid, &guid.to_lowercase(), &guid[1..37], "7"] {
            let (chosen, missing) = select(&links, &[wanted.to_string()]);
            assert_eq!(chosen.len(), 1, "{wanted}: {missing:?}");
            assert_eq!(chosen[0].name, "Ethernet", "{wanted}");
        }
        // Named twice (by name and by index): managed once.
        let (chosen, _) = select(&links, &["Ethernet".into(), "7".into()]);
        assert_eq!(chosen.len(), 1);
        let (chosen, missing) = select(&links, &["Ethernet 2".into()]);
        assert!(chosen.is_empty());
        assert_eq!(missing, vec![("Ethernet 2".to_string(), "does not exist")]);
    }

    #[test]
    fn a_name_two_interfaces_share_is_refused_rather_than_guessed() {
        let links = [windows_link(7, "LAN", "{a}"), windows_link(8, "lan", "{b}")];
        let (chosen, _) = select(&links, &["LAN".into()]);
        assert_eq!(chosen[0].device, "{a}", "an exact name wins");
        let (chosen, missing) = select(&links, &["Lan".into()]);
        assert!(chosen.is_empty());
        assert_eq!(missing[0].1, "names more than one interface (give its index)");
        let (chosen, _) = select(&links, &["8".into()]);
        assert_eq!(chosen[0].device, "{b}");
    }

    #[test]
    fn this_host_can_be_scanned() {
        assert!(scan().iter().any(|l| l.loopback) || cfg!(not(target_os = "linux")));
    }
}
