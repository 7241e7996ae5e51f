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

/// Cases the search found, kept as they were printed (proptest's regression file replays the
/// generator's seed, which a change of the strategies invalidates; these stay meaningful).
#[test]
fn cases_found_by_the_search_hold() {
    use HostileFrame::*;
    use Op::*;
    let cases: Vec<(u64, Vec<Op>)> = vec![
        // A frame its owner sent just before its sleep notice, handled just after it, made
        // the assigned proxy drop its claim for `suspect_after`: the sleeper went unanswered.
        (
            7_524_025_939_501_980_790,
            vec![
                Connect { host: 5 },
                Sleep { host: 1, announce: true },
                Wait(732),
                Wait(11_769),
                Sleep { host: 3, announce: false },
                Wake { host: 3 },
                Wait(1),
                KillDaemon { host: 5 },
            ],
        ),
        // Conflicting ARP from a null MAC around a sleep, a crash and a stateless restart.
        (
            8_752_508_595_778_636_081,
            vec![
                Frame { subnet: 0, frame: ArpConflict { host: 1, mac: [0; 6] } },
                Sleep { host: 0, announce: true },
                Frame { subnet: 0, frame: ArpConflict { host: 0, mac: [0; 6] } },
                Wait(1000),
                Frame { subnet: 0, frame: ArpConflict { host: 0, mac: [0; 6] } },
                Crash { host: 0 },
                Frame { subnet: 0, frame: FromOwner { host: 0 } },
                Loss(220),
                Restart { host: 0, keep_state: false },
                Sleep { host: 0, announce: true },
            ],
        ),
        // A proxy handing over a made-up sleeper (a key holder's SleepNotice carrying another
        // host's addresses) kept answering for the address of that host once it woke.
        (
            1_839_037_322_327_333_033,
            vec![
                Wait(8213),
                Wake { host: 2 },
                Sleep { host: 2, announce: true },
                Wait(10380),
                Wait(3651),
                Replay { pick: 52, to: 4, relayed: false },
                Wait(2867),
                Deaf { host: 1, on: true },
                Loss(280),
                Frame { subnet: 0, frame: FromOwner { host: 1 } },
                Forge(Forgery {
                    to: 1,
                    sender: 8,
                    src: 1,
                    kind: 1,
                    about: 2,
                    values: [16083753232049686857, 15281971553703053299, 2753023529605868171],
                    freshness: 0,
                }),
                Wait(11181),
                Loss(61),
                Forge(Forgery {
                    to: 1,
                    sender: 5,
                    src: 2,
                    kind: 3,
                    about: 0,
                    values: [6219135417810722893, 17651348417383802855, 9874395117715822837],
                    freshness: 0,
                }),
                EchoBlocked { host: 3, on: false },
                Wait(5912),
                Frame {
                    subnet: 1,
                    frame: ArpConflict { host: 1, mac: [11, 204, 171, 90, 47, 242] },
                },
                Sleep { host: 3, announce: true },
                Deaf { host: 5, on: true },
                Wait(3530),
                Wait(5146),
                Forge(Forgery {
                    to: 5,
                    sender: 2,
                    src: 7,
                    kind: 4,
                    about: 3,
                    values: [2452203798526989902, 10143366756477933308, 4825491858151400124],
                    freshness: 1,
                }),
                Wait(2196),
                Restart { host: 5, keep_state: false },
                Crash { host: 0 },
                Wait(8007),
                Connect { host: 4 },
                Forge(Forgery {
                    to: 0,
                    sender: 1,
                    src: 8,
                    kind: 3,
                    about: 2,
                    values: [5958908152597432014, 13064740254819559093, 2743506230899881576],
                    freshness: 2,
                }),
                Wait(9791),
                Wait(4606),
                Forge(Forgery {
                    to: 2,
                    sender: 0,
                    src: 7,
                    kind: 0,
                    about: 2,
                    values: [8383123484343752600, 7784234943636649095, 5316153966490176482],
                    freshness: 1,
                }),
                ClockStep { host: 3, secs: -29584 },
                Forge(Forgery {
                    to: 5,
                    sender: 1,
                    src: 6,
                    kind: 6,
                    about: 0,
                    values: [14096194405456824901, 3687239324627666896, 182934574553845498],
                    freshness: 3,
                }),
                Forge(Forgery {
                    to: 4,
                    sender: 7,
                    src: 2,
                    kind: 1,
                    about: 2,
                    values: [6791866093091449975, 7603064714294189635, 10876059832952618858],
                    freshness: 0,
                }),
                Sleep { host: 2, announce: true },
                Wait(5294),
                Replay { pick: 220, to: 5, relayed: true },
                Frame { subnet: 1, frame: ArpRequest { host: 0 } },
                Replay { pick: 223, to: 1, relayed: true },
                Deaf { host: 0, on: false },
                Forge(Forgery {
                    to: 3,
                    sender: 1,
                    src: 5,
                    kind: 3,
                    about: 2,
                    values: [1954585223336015768, 14319710969626688508, 2165100282464360444],
                    freshness: 0,
                }),
                KillDaemon { host: 1 },
                Forge(Forgery {
                    to: 2,
                    sender: 2,
                    src: 8,
                    kind: 4,
                    about: 4,
                    values: [13717190666355823319, 1838158953700529858, 6496121996799279133],
                    freshness: 3,
                }),
                Replay { pick: 230, to: 0, relayed: false },
                Replay { pick: 158, to: 3, relayed: false },
                Wake { host: 2 },
                Forge(Forgery {
                    to: 3,
                    sender: 0,
                    src: 7,
                    kind: 4,
                    about: 5,
                    values: [15413999371237151615, 17265231918947474933, 12707040678187672505],
                    freshness: 3,
                }),
                Sleep { host: 5, announce: false },
            ],
        ),
    ];
    for (seed, ops) in cases {
        let out = chaos::run(seed, &ops);
        assert!(out.violations.is_empty(), "seed {seed}: {:#?}", out.violations);
    }
}
