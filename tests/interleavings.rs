//! The promises under arbitrary interleavings of faults (issue 11): a stateful property test
//! over the simulator, which runs the real nodes (codec, HMAC, replay window, election) and
//! knows which host is really awake.
//!
//! Each case is a seed and a list of faults — sleeps with and without notice, wakes, crashes,
//! killed and restarted daemons (with and without state), deaf hosts, hosts that drop ICMP
//! echo, clock steps, loss, a key holder's forgeries with arbitrary field values, replays,
//! relays from the other subnet, hostile frames — applied with time passing between them, then
//! a quiet tail. `sim::invariants` checks after every event that no node answers for an awake
//! host it heard, that no node claims a host that was up for the whole probe window, and that
//! in a quiet network no sleeper keeps two proxies; at the end every sleeper some node knows
//! of has exactly one proxy. The test profile has overflow checks on, so any arithmetic on a
//! wire value that overflows fails the case too.

use proptest::prelude::*;
use wakeproxy::sim::chaos::{self, Forgery, HostileFrame, Op};

fn host() -> impl Strategy<Value = u8> {
    0u8..chaos::HOSTS as u8
}

fn frame() -> impl Strategy<Value = HostileFrame> {
    prop_oneof![
        (host(), any::<[u8; 6]>()).prop_map(|(host, mac)| HostileFrame::ArpConflict { host, mac }),
        host().prop_map(|host| HostileFrame::FromOwner { host }),
        host().prop_map(|host| HostileFrame::ArpRequest { host }),
        (host(), prop_oneof![Just(22u16), Just(445), Just(3389), any::<u16>()])
            .prop_map(|(host, port)| HostileFrame::Syn { host, port }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(HostileFrame::Junk),
    ]
}

fn forgery() -> impl Strategy<Value = Forgery> {
    (host(), 0u8..9, 0u8..9, 0u8..7, host(), any::<[u64; 3]>(), 0u8..4).prop_map(
        |(to, sender, src, kind, about, values, freshness)| Forgery {
            to,
            sender,
            src,
            kind,
            about,
            values,
            freshness,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u16..12_000).prop_map(Op::Wait),
        2 => (host(), any::<bool>()).prop_map(|(host, announce)| Op::Sleep { host, announce }),
        1 => host().prop_map(|host| Op::Wake { host }),
        1 => host().prop_map(|host| Op::Connect { host }),
        1 => host().prop_map(|host| Op::Crash { host }),
        1 => host().prop_map(|host| Op::KillDaemon { host }),
        2 => (host(), any::<bool>()).prop_map(|(host, keep_state)| Op::Restart { host, keep_state }),
        1 => (host(), any::<bool>()).prop_map(|(host, on)| Op::Deaf { host, on }),
        1 => (host(), any::<bool>()).prop_map(|(host, on)| Op::EchoBlocked { host, on }),
        1 => (host(), prop_oneof![-90i16..90, any::<i16>()]).prop_map(|(host, secs)| Op::ClockStep { host, secs }),
        1 => (0u16..400).prop_map(Op::Loss),
        3 => forgery().prop_map(Op::Forge),
        2 => (any::<u8>(), host(), any::<bool>()).prop_map(|(pick, to, relayed)| Op::Replay { pick, to, relayed }),
        2 => (0u8..2, frame()).prop_map(|(subnet, frame)| Op::Frame { subnet, frame }),
    ]
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES=N` for a longer search.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn no_interleaving_of_faults_breaks_the_promises(
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let out = chaos::run(seed, &ops);
        prop_assert!(out.violations.is_empty(), "{:#?}", out.violations);
    }
}

/// The fuzz target's decoder turns any bytes into a valid run.
#[test]
fn any_bytes_are_a_run() {
    let ops = chaos::ops_from_bytes(&[
        11, 0, 9, 9, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert_eq!(ops.len(), 1);
    assert!(chaos::run(1, &ops).violations.is_empty());
}
