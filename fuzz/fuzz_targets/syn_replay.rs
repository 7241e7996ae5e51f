//! `frame::replayable_syn` on arbitrary frames: it must never panic, and a frame it returns
//! must be well formed: the new Ethernet addresses, every other byte but the TCP checksum as
//! captured (the Ethernet padding aside), a segment that lies within the captured frame, and a
//! TCP checksum that verifies.
//!
//! Random bytes rarely carry consistent IP lengths, so each input is also tried with its IPv4
//! total length or IPv6 payload length fixed up to the frame's. Seeds: `fuzz/seeds/syn_replay/`,
//! the SYN frames of the frame tests (`frame::syn_replay::tests::fuzz_seeds_are_replayable`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::core::addr::MacAddr;
use wakeproxy::core::frame::replayable_syn;

const PROXY: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);
const ETHERNET_MIN_LEN: usize = 60;

/// Where the IP header starts and the Ethernet type it carries, as the replay must read them.
fn ip_start(frame: &[u8]) -> Option<(usize, u16)> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    if ethertype == 0x8100 {
        return Some((18, u16::from_be_bytes(frame.get(16..18)?.try_into().ok()?)));
    }
    Some((14, ethertype))
}

/// The one's-complement sum of `parts`, as 16-bit big-endian words (odd tail padded).
fn sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut acc: u64 = 0;
    for pair in bytes.chunks(2) {
        acc += u64::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

fn check(frame: &[u8]) {
    let Some(out) = replayable_syn(frame, HOST, PROXY) else { return };
    let out = out.as_slice();
    assert_eq!(out.len(), frame.len().max(ETHERNET_MIN_LEN));
    assert_eq!((&out[..6], &out[6..12]), (&HOST.0[..], &PROXY.0[..]));
    let (ip, ethertype) = ip_start(frame).expect("a replayed frame has an IP header");
    let (segment, pseudo) = match ethertype {
        0x0800 => {
            let header_len = usize::from(frame[ip] & 0x0F) * 4;
            let total_len = usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]));
            assert!(header_len >= 20 && frame[ip + 9] == 6);
            assert!(ip + total_len <= frame.len(), "the segment was captured whole");
            let segment = ip + header_len..ip + total_len;
            let len = (total_len - header_len) as u16;
            let pseudo = [&frame[ip + 12..ip + 20], &[0, 6], &len.to_be_bytes()[..]].concat();
            (segment, pseudo)
        }
        0x86DD => {
            let payload_len = usize::from(u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]));
            assert_eq!(frame[ip + 6], 6);
            assert!(ip + 40 + payload_len <= frame.len(), "the segment was captured whole");
            let len = (payload_len as u32).to_be_bytes();
            let pseudo = [&frame[ip + 8..ip + 40], &len[..], &[0, 0, 0, 6]].concat();
            (ip + 40..ip + 40 + payload_len, pseudo)
        }
        other => panic!("replayed a frame of Ethernet type {other:#06x}"),
    };
    assert!(segment.len() >= 20, "a whole TCP header");
    assert_eq!(sum(&[&pseudo, &out[segment.clone()]]), 0xFFFF, "the TCP checksum verifies");
    let checksum = segment.start + 16..segment.start + 18;
    for (i, (a, b)) in frame.iter().zip(out).enumerate().skip(12) {
        assert!(a == b || checksum.contains(&i), "byte {i} changed");
    }
    assert!(out[frame.len()..].iter().all(|&b| b == 0), "padding is zeros");
}

fuzz_target!(|frame: &[u8]| {
    check(frame);
    // The same bytes with the IP length fields made consistent with the frame.
    let Some((ip, ethertype)) = ip_start(frame) else { return };
    let mut fixed = frame.to_vec();
    match ethertype {
        0x0800 if fixed.len() >= ip + 20 => {
            let total = ((fixed.len() - ip) as u16).to_be_bytes();
            fixed[ip + 2..ip + 4].copy_from_slice(&total);
        }
        0x86DD if fixed.len() >= ip + 40 => {
            let payload = ((fixed.len() - ip - 40) as u16).to_be_bytes();
            fixed[ip + 4..ip + 6].copy_from_slice(&payload);
        }
        _ => return,
    }
    check(&fixed);
});
