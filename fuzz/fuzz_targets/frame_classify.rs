//! `frame::classify` on arbitrary bytes: it must never panic, and what it reports must agree
//! with the table. Seeds: `fuzz/seeds/frame_classify/`, kept equal to the unit tests' frames by
//! `frame::tests::fuzz_seeds_match_the_test_frames` (same table as below).

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wakeproxy::core::addr::{MacAddr, NodeId};
use wakeproxy::core::frame::{Classified, Sleeper, SleeperTable, classify};

const WOL_PORT: u16 = 9;

fn table() -> &'static SleeperTable {
    static TABLE: OnceLock<SleeperTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        [
            Sleeper {
                id: NodeId([0xA; 16]),
                mac: MacAddr([0x02, 0, 0, 0, 0, 0x0A]),
                ipv4: vec![Ipv4Addr::new(10, 0, 0, 10)],
                ipv6: vec![
                    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xA),
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xA),
                ],
                wake_ports: vec![22, 445, 3389],
            },
            Sleeper {
                id: NodeId([0xB; 16]),
                mac: MacAddr([0x02, 0, 0, 0, 0, 0x0B]),
                ipv4: vec![Ipv4Addr::new(10, 0, 0, 11)],
                ipv6: vec![],
                wake_ports: vec![],
            },
        ]
        .into_iter()
        .collect()
    })
}

fuzz_target!(|frame: &[u8]| {
    let t = table();
    match classify(t, frame, WOL_PORT) {
        Classified::ArpRequest { sleeper, target_ip, .. } => {
            assert_eq!(t.find_by_ip(target_ip.into()).map(|s| s.id), Some(sleeper));
        }
        Classified::NeighborSolicitation { sleeper, target, .. } => {
            assert_eq!(t.find_by_ip(target.into()).map(|s| s.id), Some(sleeper));
        }
        Classified::TcpSyn { sleeper, dst, dst_port, wake, .. } => {
            let s = t.find_by_ip(dst).expect("SYN to a sleeper's address");
            assert_eq!(s.id, sleeper);
            assert_eq!(s.wake_ports.contains(&dst_port), wake);
        }
        Classified::AddressInUse { sleeper, addr, by } => {
            let s = t.find_by_ip(addr).expect("conflict on a sleeper's address");
            assert_eq!(s.id, sleeper);
            assert_ne!(s.mac, by);
        }
        Classified::FromSleeper { sleeper, .. } => {
            let src = MacAddr(frame[6..12].try_into().unwrap());
            assert_eq!(t.find_by_mac(src).map(|s| s.id), Some(sleeper));
        }
        Classified::Irrelevant | Classified::Malformed | Classified::MagicPacket { .. } => {}
    }
});
