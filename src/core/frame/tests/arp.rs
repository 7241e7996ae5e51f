//! ARP: requests, probes, replies, conflicts, malformed and oversized frames.

use super::*;

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
