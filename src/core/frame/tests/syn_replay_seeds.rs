//! The seeds of the fuzz target `syn_replay` (`fuzz/seeds/syn_replay/`): the TCP frames of the
//! frame tests (`frame_classify`'s seeds), and SYNs Linux sent on a loopback in a network
//! namespace, captured by a packet socket with only the pseudo-header's sum in the checksum
//! field (offload). Each is replayed, with the checksum pnet computes.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use pnet_packet::tcp::{TcpPacket, ipv4_checksum, ipv6_checksum};

use crate::core::addr::MacAddr;
use crate::core::frame::replayable_syn;

const PROXY: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(name)).unwrap()
}

fn checksum_of(segment: &[u8]) -> u16 {
    u16::from_be_bytes([segment[16], segment[17]])
}

#[test]
fn fuzz_seeds_are_replayable() {
    for name in ["tcpv4_ack", "tcpv4_syn", "tcpv4_syn_options", "tcpv4_syn_vlan", "tcpv6_syn"] {
        let frame = seed(&format!("syn_replay/{name}.bin"));
        assert_eq!(
            frame,
            seed(&format!("frame_classify/{name}.bin")),
            "{name} is frame_classify's"
        );
        assert!(replayable_syn(&frame, HOST, PROXY).is_some(), "{name}");
    }
    let v4 = seed("syn_replay/kernel_syn4.bin");
    let out = replayable_syn(&v4, HOST, PROXY).unwrap();
    let segment = &out.as_slice()[34..v4.len()];
    let lo = Ipv4Addr::LOCALHOST;
    assert_ne!(checksum_of(&v4[34..]), checksum_of(segment), "captured offloaded");
    assert_eq!(checksum_of(segment), ipv4_checksum(&TcpPacket::new(segment).unwrap(), &lo, &lo));
    let v6 = seed("syn_replay/kernel_syn6.bin");
    let out = replayable_syn(&v6, HOST, PROXY).unwrap();
    let segment = &out.as_slice()[54..v6.len()];
    let lo = Ipv6Addr::LOCALHOST;
    assert_ne!(checksum_of(&v6[54..]), checksum_of(segment), "captured offloaded");
    assert_eq!(checksum_of(segment), ipv6_checksum(&TcpPacket::new(segment).unwrap(), &lo, &lo));
}
