//! The words of every kind of event, and lines that do not read as an event.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use serde::Deserialize as _;
use serde_json::{Value, json};

use super::{one_of_each, render_event};
use crate::core::node::{Event, WakeCause};
use crate::core::peers::{PeerState, Reason};
use crate::core::proto::Role;
use crate::ctl::tests::{id, mac};

#[test]
fn every_event_kind_renders_on_one_line() {
    use crate::core::node::{Event, StopReason};
    use crate::core::peers::Transition;
    let sleeper = id(0x5566_7788 << 96 | 3);
    let events = [
        Event::PeerChanged {
            iface: crate::core::node::IfaceId(1),
            transition: Transition {
                peer: sleeper,
                mac: mac(3),
                from: Some(PeerState::Awake),
                to: PeerState::Asleep,
                reason: Reason::Announced,
            },
        },
        Event::ElectionChanged {
            iface: crate::core::node::IfaceId(1),
            role: Role::Manager,
            manager: Some(sleeper),
            term: 7,
            guardians: vec![sleeper, id(1)],
        },
        Event::ProxyStarted { iface: crate::core::node::IfaceId(1), sleeper, mac: mac(3) },
        Event::ProxyStopped {
            iface: crate::core::node::IfaceId(1),
            sleeper,
            mac: mac(3),
            reason: StopReason::OwnerSeen,
        },
        Event::WakeSent {
            iface: crate::core::node::IfaceId(1),
            mac: mac(3),
            cause: WakeCause::TcpSyn { src: "10.0.0.9".parse().unwrap(), port: 22 },
            attempt: 1,
        },
        Event::WakeRequested { mac: mac(3), to: "10.1.0.5:25536".parse().unwrap() },
        Event::WakeConfirmed {
            mac: mac(3),
            to_packet: Duration::from_millis(3),
            to_awake: Duration::from_millis(4200),
        },
        Event::WakeGaveUp { mac: mac(3), attempts: 10 },
        Event::Impersonated {
            iface: crate::core::node::IfaceId(1),
            from: "10.0.0.66:25536".parse().unwrap(),
        },
    ];
    let want = [
        "peer-changed     if1 55667788 52:54:00:12:34:03 awake -> asleep (announced)",
        "election-changed if1 role manager, manager 55667788, term 7, guardians 55667788 00000000",
        "proxy-started    if1 55667788 52:54:00:12:34:03",
        "proxy-stopped    if1 55667788 52:54:00:12:34:03 (owner-seen)",
        "wake-sent        if1 52:54:00:12:34:03 tcp-syn from 10.0.0.9 port 22, attempt 1",
        "wake-requested   52:54:00:12:34:03 to 10.1.0.5:25536",
        "wake-confirmed   52:54:00:12:34:03 packet after 3ms, awake after 4.2s",
        "wake-gave-up     52:54:00:12:34:03 no answer after 10 packets",
        "impersonated     if1 from 10.0.0.66:25536: someone holding the site key uses this node's id",
    ];
    for (e, want) in events.iter().zip(want) {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(render_event(&v), want, "{v}");
    }
}

#[test]
fn unknown_and_odd_events_never_panic() {
    use serde_json::json;
    let first_seen = json!({"event":"peer-changed","iface":1,"peer":"x","mac":"m","from":null,"to":"awake","reason":"heartbeat","seq":9});
    assert_eq!(
        render_event(&first_seen),
        "peer-changed     if1 x m new -> awake (heartbeat) seq=9"
    );
    assert_eq!(
        render_event(&json!({"event":"brand-new","a":1,"b":"x\ny"})),
        "brand-new        a=1 b=x?y"
    );
    assert_eq!(render_event(&json!({"event":"wake-sent"})), "wake-sent        if? ? ?, attempt ?");
    assert_eq!(
        render_event(&json!({"event":"wake-confirmed","mac":"m","to_packet":5})),
        "wake-confirmed   m packet after ?, awake after ?"
    );
    assert_eq!(render_event(&json!(42)), "event 42");
    assert_eq!(render_event(&json!({})), "event");
    assert_eq!(render_event(&json!({"event": 5})), "event");
}

/// The kinds serde's derive knows, by their names on the wire: what it tells a line of an unknown
/// kind it expected.
fn kinds_serde_knows() -> BTreeSet<String> {
    #[derive(Debug)]
    struct Expected(&'static [&'static str]);
    impl std::fmt::Display for Expected {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "expected one of {:?}", self.0)
        }
    }
    impl std::error::Error for Expected {}
    impl serde::de::Error for Expected {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Self(&[])
        }
        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            Self(expected)
        }
    }
    let line = serde::de::value::MapDeserializer::<_, Expected>::new(std::iter::once((
        "event",
        "no such kind",
    )));
    Event::deserialize(line).unwrap_err().0.iter().map(|&k| k.to_owned()).collect()
}

/// The event's JSON form with the fields the daemon adds beside it.
fn as_published(e: &Event) -> Value {
    let mut v = serde_json::to_value(e).unwrap();
    let m = v.as_object_mut().unwrap();
    m.insert("unix_ms".into(), 1_700_000_000_000_u64.into());
    m.insert("seq".into(), 5.into());
    v
}

#[test]
fn every_kind_reads_back_as_itself_and_has_its_own_words() {
    let samples = one_of_each();
    let names: BTreeSet<String> =
        samples.iter().map(|e| super::kind_of(e).unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(names, kinds_serde_knows(), "one sample per kind, no kind without one");
    for e in &samples {
        let v = as_published(e);
        let back: Event = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&back, e);
        let line = render_event(&v);
        let kind = v["event"].as_str().unwrap();
        // Its kind, then words (not the fallback's `key=value` of its own fields), then the
        // fields the daemon adds.
        assert!(line.starts_with(&format!("{kind:<16} ")), "{line}");
        assert!(line.ends_with(" seq=5 unix_ms=1700000000000"), "{line}");
        let words = &line[17..line.len() - " seq=5 unix_ms=1700000000000".len()];
        assert!(!words.contains('=') && !words.contains('?'), "{line}");
        for key in v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !["event", "seq", "unix_ms"].contains(&k.as_str()))
        {
            assert!(!line.contains(&format!(" {key}=")), "{line}");
        }
    }
}

#[test]
fn a_field_that_does_not_read_keeps_its_kinds_words() {
    for e in one_of_each() {
        let v = serde_json::to_value(&e).unwrap();
        let kind = v["event"].as_str().unwrap().to_owned();
        let typed = render_event(&v);
        for key in v.as_object().unwrap().keys().filter(|k| *k != "event") {
            // A value of a shape no field has: the key the words look it up by is serde's.
            let mut odd = v.clone();
            odd[key.as_str()] = json!("from-the-future");
            let line = render_event(&odd);
            assert!(line.starts_with(&format!("{kind:<16} ")), "{line}");
            assert!(!line.contains('='), "{key}: not the fallback: {line}");
            assert_ne!(line, typed, "{key} is shown from the line");
            // Missing: `?`, unless the field is optional (then it reads as none).
            let mut missing = v.clone();
            missing.as_object_mut().unwrap().remove(key);
            let line = render_event(&missing);
            assert!(line.starts_with(&format!("{kind:<16} ")) && !line.contains('='), "{line}");
        }
    }
    assert_eq!(
        render_event(&json!({"event": "wake-sent", "iface": 2, "mac": "52:54:00:12:34:03",
            "cause": {"kind": "telepathy"}, "attempt": 3})),
        "wake-sent        if2 52:54:00:12:34:03 ?, attempt 3"
    );
    assert_eq!(
        render_event(&json!({"event": "hearing-changed", "iface": 1, "deaf": {"kind": "new"}})),
        "hearing-changed  if1 DEAF: cannot hear its peers"
    );
}

#[test]
fn a_blocked_claim_says_why() {
    use crate::core::node::{ClaimBlocked, IfaceId};
    let blocked = |why| Event::ClaimBlocked {
        iface: IfaceId(1),
        sleeper: id(0x5566_7788 << 96 | 3),
        mac: mac(3),
        why,
    };
    let v = serde_json::to_value(blocked(ClaimBlocked::PingAnswered)).unwrap();
    assert_eq!(
        render_event(&v),
        "claim-blocked    if1 55667788 52:54:00:12:34:03 not answered for now: it answered its probe"
    );
    let why = ClaimBlocked::AddressInUse { addr: "10.0.0.3".parse().unwrap(), by: mac(9) };
    let v = serde_json::to_value(blocked(why)).unwrap();
    assert_eq!(
        render_event(&v),
        "claim-blocked    if1 55667788 52:54:00:12:34:03 not answered for now: 52:54:00:12:34:09 \
         answers for 10.0.0.3"
    );
}

/// Any JSON: scalars, and arrays and objects of them a few levels deep, with keys that are
/// often the names of event fields.
fn any_json() -> impl Strategy<Value = Value> {
    let names: Vec<String> = one_of_each()
        .iter()
        .flat_map(|e| {
            serde_json::to_value(e)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let key = prop_oneof![prop::sample::select(names), ".{0,6}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}|[[:cntrl:]]{0,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event of a known kind with some fields replaced by any JSON, some removed.
fn mangled_event() -> impl Strategy<Value = Value> {
    let samples: Vec<Value> =
        one_of_each().iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    (
        prop::sample::select(samples),
        prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(any_json())), 0..4),
    )
        .prop_map(|(mut v, changes)| {
            let m = v.as_object_mut().unwrap();
            let keys: Vec<String> = m.keys().cloned().collect();
            for (i, to) in changes {
                let key = i.get(&keys).clone();
                match to {
                    Some(to) => m.insert(key, to),
                    None => m.remove(&key),
                };
            }
            v
        })
}

proptest! {
    #[test]
    fn no_json_makes_render_event_panic_or_break_the_line(v in prop_oneof![any_json(), mangled_event()]) {
        let line = render_event(&v);
        prop_assert!(!line.chars().any(char::is_control), "{line:?}");
    }
}
