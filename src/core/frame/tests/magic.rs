//! Magic packets, however they travel.

use super::*;

#[test]
fn magic_packets_in_every_carrier() {
    let plain = MagicPacket::new(A_MAC);
    let with_pw =
        MagicPacket { target: B_MAC, password: Some(wol::SecureOn::Six([1, 2, 3, 4, 5, 6])) };
    for p in [plain, with_pw] {
        let want = Classified::MagicPacket { target: p.target, password: p.password };
        assert_eq!(classify(&magic_ether(&p)), want);
        assert_eq!(classify(&magic_udp4(&p, WOL_PORT)), want);
        assert_eq!(classify(&magic_udp6(&p)), want);
        assert_eq!(classify(&with_vlan(&magic_udp4(&p, WOL_PORT), 3)), want);
    }
    assert_eq!(classify(&magic_udp4(&plain, 7)), Classified::Irrelevant, "not the WoL port");
    assert_eq!(
        crate::core::frame::classify(&table(), &magic_udp4(&plain, 7), 7),
        Classified::MagicPacket { target: A_MAC, password: None }
    );
}

#[test]
fn magic_packet_traps() {
    // UDP to the port without a magic packet: the discard service, not an error.
    let ip = ipv4(C_V4, A_V4, 17, 0, &[], &udp(1, WOL_PORT, b"hello"));
    assert_eq!(classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)), Classified::Irrelevant);
    // EtherType 0x0842 promises one.
    assert_eq!(
        classify(&ethernet(MacAddr::BROADCAST, C_MAC, 0x0842, &[0xFF; 40])),
        Classified::Malformed
    );
    // A UDP length beyond the datagram.
    let mut f = magic_udp4(&MagicPacket::new(A_MAC), WOL_PORT);
    f[14 + 20 + 5] += 1;
    assert_eq!(classify(&f), Classified::Malformed);
    // Ethernet padding after a short IPv4 datagram is not read as payload.
    let ip = ipv4(C_V4, A_V4, 17, 0, &[], &udp(1, WOL_PORT, &[]));
    let mut f = ethernet(A_MAC, C_MAC, 0x0800, &ip);
    f.extend(MagicPacket::new(A_MAC).payload().0);
    assert_eq!(classify(&f), Classified::Irrelevant);
}
