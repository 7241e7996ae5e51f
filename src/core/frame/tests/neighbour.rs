//! Neighbour discovery: solicitations, DAD, the traps, advertisements.

use super::*;

#[test]
fn neighbor_solicitation_for_a_sleeper() {
    let group = solicited_node(A_GUA);
    let f = ns_frame(C_MAC, C_LL, group, A_GUA, 255, 0, &slla(MacAddr([2, 0, 0, 0, 0, 0x55])));
    assert_eq!(
        classify(&f),
        Classified::NeighborSolicitation {
            sleeper: A_ID,
            requester_mac: MacAddr([2, 0, 0, 0, 0, 0x55]),
            requester_ip: C_LL,
            target: A_GUA,
            dad: false
        },
        "the option wins over the Ethernet source"
    );
    let f = ns_frame(C_MAC, C_LL, A_LL, A_LL, 255, 0, &[]);
    assert!(matches!(
        classify(&f),
        Classified::NeighborSolicitation { requester_mac: C_MAC, target: A_LL, dad: false, .. }
    ));
    let f =
        ns_frame(C_MAC, C_LL, group, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99), 255, 0, &[]);
    assert_eq!(classify(&f), Classified::Irrelevant);
}

#[test]
fn dad_solicitation_is_flagged() {
    assert_eq!(
        classify(dad_probe(C_MAC, A_LL).as_slice()),
        Classified::NeighborSolicitation {
            sleeper: A_ID,
            requester_mac: C_MAC,
            requester_ip: Ipv6Addr::UNSPECIFIED,
            target: A_LL,
            dad: true
        }
    );
}

#[test]
fn neighbor_discovery_traps() {
    let group = solicited_node(A_LL);
    // RFC 4861 §7.1.1: hop limit other than 255 or a non-zero code: discard.
    assert_eq!(classify(&ns_frame(C_MAC, C_LL, group, A_LL, 254, 0, &[])), Classified::Irrelevant);
    assert_eq!(classify(&ns_frame(C_MAC, C_LL, group, A_LL, 255, 1, &[])), Classified::Irrelevant);
    // Inconsistent: zero-length option, option past the end, DAD with a source option, DAD not to
    // the solicited-node group, multicast target, message shorter than 24 bytes.
    for f in [
        ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &[1, 0, 0, 0, 0, 0, 0, 0]),
        ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &[1, 2, 0, 0, 0, 0, 0, 0]),
        ns_frame(C_MAC, Ipv6Addr::UNSPECIFIED, group, A_LL, 255, 0, &slla(C_MAC)),
        ns_frame(C_MAC, Ipv6Addr::UNSPECIFIED, A_LL, A_LL, 255, 0, &[]),
        ns_frame(C_MAC, C_LL, group, group, 255, 0, &[]),
    ] {
        assert_eq!(classify(&f), Classified::Malformed);
    }
    let short = ipv6(C_LL, group, 58, 255, &[135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80]);
    assert_eq!(classify(&ethernet(C_MAC, C_MAC, 0x86DD, &short)), Classified::Malformed);
    // An unknown option is skipped; a later source option is still found.
    let opts = [&[14, 1, 0, 0, 0, 0, 0, 0][..], &slla(MacAddr([2, 0, 0, 0, 0, 0x56]))].concat();
    assert!(matches!(
        classify(&ns_frame(C_MAC, C_LL, group, A_LL, 255, 0, &opts)),
        Classified::NeighborSolicitation { requester_mac: MacAddr([2, 0, 0, 0, 0, 0x56]), .. }
    ));
}

#[test]
fn next_header_other_than_icmpv6_is_not_misparsed() {
    // The same bytes as an NS, behind a hop-by-hop header number: not walked, so not an NS.
    let mut f = ns_frame(C_MAC, C_LL, solicited_node(A_LL), A_LL, 255, 0, &[]);
    f[14 + 6] = 0;
    assert_eq!(classify(&f), Classified::Irrelevant);
}

#[test]
fn advertisement_for_a_sleeper_address() {
    let f = neighbor_advertisement(
        C_MAC,
        C_LL,
        A_MAC,
        A_LL,
        A_GUA,
        C_MAC,
        NaFlags { solicited: true, override_: true },
    );
    assert_eq!(
        classify(f.as_slice()),
        Classified::AddressInUse { sleeper: A_ID, addr: IpAddr::V6(A_GUA), by: C_MAC }
    );
    // Another proxy advertising the sleeper's own MAC: no conflict.
    let f = neighbor_advertisement(C_MAC, C_LL, A_MAC, A_LL, A_GUA, A_MAC, NaFlags::default());
    assert_eq!(classify(f.as_slice()), Classified::Irrelevant);
    // A solicited advertisement to a group contradicts itself.
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let f = neighbor_advertisement(
        C_MAC,
        C_LL,
        MacAddr::BROADCAST,
        all_nodes,
        A_GUA,
        C_MAC,
        NaFlags { solicited: true, override_: false },
    );
    assert_eq!(classify(f.as_slice()), Classified::Malformed);
}
