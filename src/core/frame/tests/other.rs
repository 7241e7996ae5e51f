//! Everything else: irrelevant traffic, and properties over arbitrary frames.

use super::*;

#[test]
fn irrelevant_traffic() {
    let t = table();
    let frames = [
        syn4(C_V4, Ipv4Addr::new(10, 0, 0, 1), 80, ACK),
        ethernet(A_MAC, C_MAC, 0x88CC, &[0; 40]), // LLDP
        ethernet(A_MAC, C_MAC, 0x0040, &[0; 40]), // 802.3 length field
        ethernet(A_MAC, C_MAC, 0x0800, &ipv4(C_V4, A_V4, 1, 0, &[], &[8, 0, 0, 0])), // ICMP echo
        vec![0; 13],
        vec![],
    ];
    for f in frames {
        assert_eq!(
            crate::core::frame::classify(&t, &f, WOL_PORT),
            Classified::Irrelevant,
            "{f:02x?}"
        );
    }
    assert_eq!(
        crate::core::frame::classify(&SleeperTable::new(), &syn4(C_V4, A_V4, 445, SYN), WOL_PORT),
        Classified::Irrelevant
    );
}

/// Valid frames, each with the length below which a prefix can no longer be complete.
pub(super) fn seed_frames() -> Vec<(&'static str, Vec<u8>, usize)> {
    let group = solicited_node(A_LL);
    let ns = ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &slla(C_MAC));
    let ns_len = ns.len();
    vec![
        ("arp_request", arp_frame(1, C_MAC, C_V4, A_V4), 42),
        ("arp_probe", arp_probe(C_MAC, A_V4).as_slice().to_vec(), 42),
        ("arp_announcement_conflict", gratuitous_arp(C_MAC, A_V4).as_slice().to_vec(), 42),
        ("arp_from_sleeper", arp_reply(A_MAC, A_V4, C_MAC, C_V4).as_slice().to_vec(), 42),
        ("ns", ns, ns_len),
        ("ns_dad", dad_probe(C_MAC, A_LL).as_slice().to_vec(), 78),
        (
            "na_conflict",
            neighbor_advertisement(C_MAC, C_LL, A_MAC, A_LL, A_LL, C_MAC, NaFlags::default())
                .as_slice()
                .to_vec(),
            86,
        ),
        ("tcpv4_syn", syn4(C_V4, A_V4, 445, SYN), 54),
        ("tcpv4_syn_vlan", with_vlan(&syn4(C_V4, A_V4, 445, SYN), 5), 58),
        (
            "tcpv4_syn_options",
            ethernet(
                A_MAC,
                C_MAC,
                0x0800,
                &ipv4(C_V4, A_V4, 6, 0, &[1, 1, 1, 0], &tcp(1, 3389, SYN)),
            ),
            58,
        ),
        ("tcpv6_syn", syn6(C_LL, A_GUA, 22), 74),
        ("tcpv4_ack", syn4(C_V4, A_V4, 445, ACK), 54),
        ("wol_ether", magic_ether(&MagicPacket::new(A_MAC)), 116),
        ("wol_udp4", magic_udp4(&MagicPacket::new(A_MAC), WOL_PORT), 144),
        (
            "wol_udp6_password",
            magic_udp6(&MagicPacket {
                target: A_MAC,
                password: Some(wol::SecureOn::Four([1, 2, 3, 4])),
            }),
            168,
        ),
    ]
}

#[test]
fn every_truncation_is_malformed_or_irrelevant() {
    let t = table();
    for (name, frame, complete) in seed_frames() {
        let full = crate::core::frame::classify(&t, &frame, WOL_PORT);
        assert_ne!(full, Classified::Malformed, "{name}");
        for len in 0..frame.len() {
            let got = crate::core::frame::classify(&t, &frame[..len], WOL_PORT);
            if let Classified::FromSleeper { .. } = full {
                assert!(
                    matches!(got, Classified::FromSleeper { .. } | Classified::Irrelevant),
                    "{name}[..{len}]: {got:?}"
                );
            } else if len < complete {
                assert!(
                    matches!(got, Classified::Malformed | Classified::Irrelevant),
                    "{name}[..{len}]: {got:?}"
                );
            } else {
                assert_eq!(got, full, "{name}[..{len}] (only padding cut)");
            }
        }
    }
}

/// The fuzz seeds in `fuzz/seeds/*/`, by file name.
fn fuzz_seeds() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut out: Vec<(std::path::PathBuf, Vec<u8>)> = seed_frames()
        .into_iter()
        .map(|(name, frame, _)| (root.join(format!("frame_classify/{name}.bin")), frame.to_vec()))
        .collect();
    for (name, p) in [
        ("plain", MagicPacket::new(A_MAC)),
        (
            "password4",
            MagicPacket { target: A_MAC, password: Some(wol::SecureOn::Four([1, 2, 3, 4])) },
        ),
        (
            "password6",
            MagicPacket { target: A_MAC, password: Some(wol::SecureOn::Six([1, 2, 3, 4, 5, 6])) },
        ),
    ] {
        let (b, n) = p.payload();
        out.push((root.join(format!("wol_find/{name}.bin")), b[..n].to_vec()));
    }
    let mut long_sync = vec![0x11, 0xFF, 0xFF];
    long_sync.extend(MagicPacket::new(MacAddr([0xFF, 0, 1, 2, 3, 0xFF])).payload().0);
    out.push((root.join("wol_find/long_sync_group_mac.bin"), long_sync));
    out
}

/// The fuzz seeds on disk are the frames these tests use. After changing `seed_frames`,
/// rewrite them with `WAKEPROXY_BLESS_SEEDS=1 cargo test --lib fuzz_seeds`.
#[test]
fn fuzz_seeds_match_the_test_frames() {
    let bless = std::env::var_os("WAKEPROXY_BLESS_SEEDS").is_some();
    for (path, bytes) in fuzz_seeds() {
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            bytes,
            "{} is stale: rerun with WAKEPROXY_BLESS_SEEDS=1",
            path.display()
        );
    }
}

proptest! {
    #[test]
    fn any_bytes_never_panic(
        frame in proptest::collection::vec(any::<u8>(), 0..200),
        port in any::<u16>(),
    ) {
        let _ = crate::core::frame::classify(&table(), &frame, port);
    }

    /// Random bytes behind a real Ethernet type (and sometimes a VLAN tag), so the parsers
    /// below the Ethernet header see them.
    #[test]
    fn any_payload_never_panics(
        ethertype in prop::sample::select(vec![0x0800u16, 0x86DD, 0x0806, 0x0842, 0x8100]),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let header = [&[0xFFu8; 6][..], &C_MAC.0, &ethertype.to_be_bytes()].concat();
        let _ = classify(&[header, payload].concat());
    }

    /// Every seed frame with one byte changed, then cut anywhere.
    #[test]
    fn mutating_one_byte_never_panics(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        for (_, mut frame, _) in seed_frames() {
            let i = at.index(frame.len());
            frame[i] = byte;
            let _ = classify(&frame);
            let _ = classify(&frame[..cut.index(frame.len() + 1)]);
        }
    }
}
