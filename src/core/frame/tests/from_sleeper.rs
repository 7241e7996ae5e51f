//! Frames from a sleeper's own MAC.

use super::*;

#[test]
fn frames_from_a_sleeper() {
    let from_a = |what| Classified::FromSleeper { sleeper: A_ID, what };
    assert_eq!(classify(&arp_frame(1, A_MAC, A_V4, C_V4)), from_a(FromSleeperKind::ArpRequest));
    assert_eq!(classify(arp_probe(A_MAC, A_V4).as_slice()), from_a(FromSleeperKind::ArpRequest));
    assert_eq!(
        classify(gratuitous_arp(A_MAC, A_V4).as_slice()),
        from_a(FromSleeperKind::ArpAnnouncement)
    );
    assert_eq!(
        classify(&arp_frame(2, A_MAC, A_V4, A_V4)),
        from_a(FromSleeperKind::ArpAnnouncement)
    );
    assert_eq!(
        classify(arp_reply(A_MAC, A_V4, C_MAC, C_V4).as_slice()),
        from_a(FromSleeperKind::ArpReply)
    );
    assert_eq!(
        classify(dad_probe(A_MAC, A_LL).as_slice()),
        from_a(FromSleeperKind::NeighborSolicitation)
    );
    let na = neighbor_advertisement(
        A_MAC,
        A_LL,
        C_MAC,
        C_LL,
        A_LL,
        A_MAC,
        NaFlags { solicited: true, override_: false },
    );
    assert_eq!(classify(na.as_slice()), from_a(FromSleeperKind::NeighborAdvertisement));
    assert_eq!(
        classify(unsolicited_na(A_MAC, A_GUA).as_slice()),
        from_a(FromSleeperKind::NeighborAdvertisement)
    );
    let mut syn = syn4(A_V4, C_V4, 443, SYN);
    syn[6..12].copy_from_slice(&A_MAC.0);
    assert_eq!(classify(&syn), from_a(FromSleeperKind::TcpSyn));
    let mut mdns = ethernet(
        MacAddr([1, 0, 0x5e, 0, 0, 0xfb]),
        A_MAC,
        0x0800,
        &ipv4(A_V4, Ipv4Addr::new(224, 0, 0, 251), 17, 0, &[], &udp(5353, 5353, &[0; 12])),
    );
    assert_eq!(classify(&mdns), from_a(FromSleeperKind::Other));
    mdns.truncate(30);
    assert_eq!(classify(&mdns), from_a(FromSleeperKind::Other), "even malformed");
    let mut magic = magic_ether(&MagicPacket::new(B_MAC));
    magic[6..12].copy_from_slice(&B_MAC.0);
    assert_eq!(
        classify(&magic),
        Classified::FromSleeper { sleeper: B_ID, what: FromSleeperKind::Other }
    );
}
