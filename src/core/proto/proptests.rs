//! Property tests of the codec: every message survives a round trip, and no input, random or
//! authenticated around a random body, makes `decode` panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::envelope::seal_raw;
use super::*;
use crate::core::addr::{MacAddr, NodeId};

fn key() -> SiteKey {
    SiteKey::new(&[0x5a; 32]).unwrap()
}

fn header() -> impl Strategy<Value = Header> {
    (any::<u128>(), any::<u64>(), any::<u64>()).prop_map(|(id, seq, timestamp_ms)| Header {
        sender: NodeId::from_u128(id),
        seq,
        timestamp_ms,
    })
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn node() -> impl Strategy<Value = NodeId> {
    any::<u128>().prop_map(NodeId::from_u128)
}

// Port lists stop short of MAX_TCP_PORTS so that every generated host fits in one datagram
// together with full address lists; the limits themselves have unit tests.
fn host() -> impl Strategy<Value = HostInfo> {
    let v4 =
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Ipv4Prefix { addr: Ipv4Addr::from(a), len });
    let v6 =
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| Ipv6Prefix { addr: Ipv6Addr::from(a), len });
    (
        mac(),
        prop::collection::vec(v4, 0..=MAX_IPV4),
        prop::collection::vec(v6, 0..=MAX_IPV6),
        prop::collection::vec(any::<u16>(), 0..=420),
    )
        .prop_map(|(mac, ipv4, ipv6, tcp_ports)| HostInfo { mac, ipv4, ipv6, tcp_ports })
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Member), Just(Role::Manager), Just(Role::Guardian)]
}

fn message() -> impl Strategy<Value = Message> {
    let heard = prop_oneof![Just(None), (0u16..u16::MAX).prop_map(Some)];
    let claims = (prop::collection::vec(node(), 0..4), any::<bool>());
    let heartbeat = (host(), role(), any::<u64>(), any::<u64>(), any::<u8>(), heard, claims)
        .prop_map(|(host, role, term, boot_time_s, caps, peers_heard, (claims, complete))| {
            Message::Heartbeat(Heartbeat {
                host,
                role,
                term,
                boot_time_s,
                caps: Capabilities(caps),
                peers_heard,
                claims,
                claims_complete: complete,
            })
        });
    let claim = (node(), mac(), any::<u64>(), any::<u32>(), host()).prop_map(
        |(sleeper, sleeper_mac, term, asleep_for_s, host)| {
            Message::ProxyClaim(ProxyClaim { sleeper, sleeper_mac, term, asleep_for_s, host })
        },
    );
    // Reasons come from their wire byte, as the decoder builds them.
    let release = (node(), mac(), any::<u64>(), any::<u8>()).prop_map(
        |(sleeper, sleeper_mac, term, reason)| {
            let reason = ReleaseReason::from_u8(reason);
            Message::ProxyRelease(ProxyRelease { sleeper, sleeper_mac, term, reason })
        },
    );
    let password = prop_oneof![
        Just(WakePassword::None),
        any::<[u8; 4]>().prop_map(WakePassword::Four),
        any::<[u8; 6]>().prop_map(WakePassword::Six),
    ];
    let wake = (mac(), password, any::<u32>(), any::<u8>()).prop_map(
        |(target, password, request_id, reason)| {
            let reason = WakeReason::from_u8(reason);
            Message::WakeRequest(WakeRequest { target, password, request_id, reason })
        },
    );
    prop_oneof![
        heartbeat,
        host().prop_map(Message::SleepNotice),
        host().prop_map(Message::ResumeNotice),
        claim,
        release,
        wake,
        Just(Message::Leave),
    ]
}

/// Decoding must be total; when it succeeds, re-encoding must reproduce the same value.
fn check_decode(key: &SiteKey, datagram: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(Decoded::Message(h, m)) = decode(key, datagram) {
        let mut again = Vec::new();
        prop_assert!(encode(key, &h, &m, &mut again).is_ok(), "decoded {m:?} does not re-encode");
        // A v1.1 encoder adds the v1.1 fields a v1.0 sender left out; otherwise nothing grows.
        if datagram.get(5) == Some(&VERSION_MINOR) {
            prop_assert!(again.len() <= datagram.len());
        }
        prop_assert_eq!(decode(key, &again), Ok(Decoded::Message(h, m)));
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_message_round_trips(h in header(), m in message()) {
        let key = key();
        let mut out = Vec::new();
        encode(&key, &h, &m, &mut out).unwrap();
        prop_assert!(out.len() <= MAX_DATAGRAM);
        prop_assert_eq!(decode(&key, &out), Ok(Decoded::Message(h, m)));
    }

    #[test]
    fn any_bytes_decode_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        check_decode(&key(), &bytes)?;
    }

    // Random bodies under a valid envelope reach the body parser, which random bytes alone
    // almost never do (they would need the tag).
    #[test]
    fn any_authenticated_body_decodes_without_panic(
        h in header(),
        kind in 0u8..=9,
        minor in 0u8..=2,
        flags in prop_oneof![Just(0u8), any::<u8>()],
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        check_decode(&key(), &seal_raw(&key(), [1, minor, kind, flags], &h, &body))?;
    }

    // Random bytes shaped like the start of a real body: valid counts with random contents.
    #[test]
    fn perturbed_bodies_decode_without_panic(
        h in header(),
        m in message(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
        minor in 0u8..=1,
    ) {
        let key = key();
        let mut out = Vec::new();
        encode(&key, &h, &m, &mut out).unwrap();
        let mut body = out[HEADER_LEN..out.len() - TAG_LEN].to_vec();
        if !body.is_empty() {
            let i = at.index(body.len());
            body[i] = value;
        }
        check_decode(&key, &seal_raw(&key, [1, minor, m.kind() as u8, 0], &h, &body))?;
    }

    // During a rollover a node holds two keys: a datagram tagged with either decodes exactly as
    // with that key alone and says which one verified it, and the node still signs as before.
    #[test]
    fn a_second_accepted_key_changes_nothing_but_which_key_verified(
        h in header(),
        m in message(),
        by_accepted in any::<bool>(),
    ) {
        let (a, b) = ([0x5a; 32], [0xa5; 32]);
        let both = SiteKey::new(&a).unwrap().with_accepted(&b).unwrap();
        let signer = SiteKey::new(if by_accepted { &b } else { &a }).unwrap();
        let mut out = Vec::new();
        encode(&signer, &h, &m, &mut out).unwrap();
        let want = if by_accepted { VerifiedWith::Accepted } else { VerifiedWith::Current };
        prop_assert_eq!(decode_verified_with(&both, &out), Ok((Decoded::Message(h, m.clone()), want)));
        let mut signed_by_both = Vec::new();
        encode(&both, &h, &m, &mut signed_by_both).unwrap();
        let mut signed_by_a = Vec::new();
        encode(&key(), &h, &m, &mut signed_by_a).unwrap();
        prop_assert_eq!(signed_by_both, signed_by_a, "the current key signs");
    }

    // Bytes not tagged with the accepted key decode (or fail) exactly as without it.
    #[test]
    fn any_bytes_decode_alike_with_one_key_or_two(
        bytes in prop::collection::vec(any::<u8>(), 0..1500),
    ) {
        let both = key().with_accepted(&[0xa5; 32]).unwrap();
        prop_assert_eq!(decode(&both, &bytes), decode(&key(), &bytes));
    }
}
