use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::core::proto::{Capabilities, Heartbeat, HostInfo, Role};

const H: Duration = Duration::from_secs(5);

fn hb(n: u8) -> Heartbeat {
    Heartbeat {
        host: HostInfo { mac: MacAddr([2, 0, 0, 0, 0, n]), ..HostInfo::default() },
        role: Role::Member,
        term: 1,
        boot_time_s: 100,
        caps: Capabilities::CAN_PROXY,
        peers_heard: None,
        claims: Vec::new(),
        claims_complete: true,
    }
}

fn id(n: u8) -> NodeId {
    NodeId::from_u128(u128::from(n))
}

fn poll(t: &mut PeerTable, now: Instant) -> Vec<Due> {
    let mut out = Vec::new();
    t.poll(now, &mut out);
    out
}

#[test]
fn silence_makes_a_peer_suspect_and_probed_then_asleep_when_the_probe_fails() {
    let mut t = PeerTable::new(LivenessConfig::for_interval(H));
    let t0 = Instant::ZERO;
    assert!(t.on_heartbeat(t0, id(1), &hb(1)).1);
    t.on_calibration(id(1), true);
    assert!(poll(&mut t, t0 + H * 2).is_empty(), "two intervals of silence are normal");
    let due = poll(&mut t, t0 + H * 5 / 2);
    assert!(matches!(due[0], Due::Changed(Transition { to: PeerState::Suspect, .. })));
    assert_eq!(due[1], Due::Probe(id(1)));
    assert!(t.get(&id(1)).unwrap().is_candidate(), "a suspect keeps its place");
    let tr = t.on_probe_result(t0 + H * 3, id(1), None).unwrap();
    assert_eq!((tr.to, tr.reason), (PeerState::Asleep, Reason::ProbeFailed));
    assert!(t.get(&id(1)).unwrap().is_proxiable());
}

#[test]
fn a_host_that_answers_probes_but_stays_silent_is_gone_after_gone_after() {
    let cfg = LivenessConfig::for_interval(H);
    let mut t = PeerTable::new(cfg);
    t.on_heartbeat(Instant::ZERO, id(1), &hb(1));
    poll(&mut t, Instant::ZERO + cfg.suspect_after);
    assert!(t.on_probe_result(Instant::ZERO + cfg.suspect_after, id(1), Some(H / 100)).is_none());
    assert_eq!(t.get(&id(1)).unwrap().probe, Probe::HostUp);
    let due = poll(&mut t, Instant::ZERO + cfg.gone_after);
    assert!(matches!(
        due[0],
        Due::Changed(Transition { to: PeerState::Gone, reason: Reason::DaemonSilent, .. })
    ));
    assert!(!t.get(&id(1)).unwrap().is_candidate());
    poll(&mut t, Instant::ZERO + cfg.gone_after + cfg.forget_after);
    assert!(t.is_empty(), "gone peers are forgotten");
}

/// Found by the fuzz target `node_inputs`: a node whose timer fired months late (its process
/// stopped, its VM paused) made a peer heard at 0 s Suspect and probed it, and left the
/// table's deadline at 15 s (when the peer was due to be gone), in the past, so the driver was
/// called straight back. The probe gets its time now, then the peer is gone.
#[test]
fn a_timer_that_fires_very_late_leaves_a_deadline_in_the_future() {
    let cfg = LivenessConfig::for_interval(H);
    let mut t = PeerTable::new(cfg);
    t.on_heartbeat(Instant::ZERO, id(1), &hb(1));
    let late = Instant::from_millis(16_843_522_000);
    let due = poll(&mut t, late);
    assert!(matches!(due[0], Due::Changed(Transition { to: PeerState::Suspect, .. })));
    assert_eq!(due[1], Due::Probe(id(1)));
    assert_eq!(t.next_deadline(), Some(late + cfg.probe_timeout * 2));
    let due = poll(&mut t, late + cfg.probe_timeout * 2);
    assert!(matches!(
        due[0],
        Due::Changed(Transition { to: PeerState::Gone, reason: Reason::DaemonSilent, .. })
    ));
    assert!(t.next_deadline().is_some_and(|d| d > late + cfg.probe_timeout * 2));
}

#[test]
fn a_frame_from_the_owner_stops_proxying_until_a_probe_fails_again() {
    let cfg = LivenessConfig::for_interval(H);
    let mut t = PeerTable::new(cfg);
    let t0 = Instant::ZERO;
    t.on_sleep_notice(t0, id(1), &hb(1).host);
    t.on_calibration(id(1), true);
    assert!(t.on_owner_frame(t0 + H, id(1)));
    assert!(!t.on_owner_frame(t0 + H, id(1)), "only news once");
    assert!(!t.get(&id(1)).unwrap().is_proxiable());
    assert_eq!(poll(&mut t, t0 + H + cfg.suspect_after), vec![Due::Probe(id(1))]);
    t.on_probe_result(t0 + H * 4, id(1), None);
    assert!(t.get(&id(1)).unwrap().is_proxiable());
}

#[test]
fn a_host_that_never_answered_a_probe_is_not_declared_asleep_by_silence() {
    let cfg = LivenessConfig::for_interval(H);
    let mut t = PeerTable::new(cfg);
    let t0 = Instant::ZERO;
    t.on_heartbeat(t0, id(1), &hb(1));
    // Probed while it spoke: no answer. Its firewall drops echo, and no port is open.
    t.calibrating(id(1), t0 + H / 2);
    t.on_calibration(id(1), false);
    assert_eq!(t.get(&id(1)).unwrap().answers_probes, None, "it may have just slept");
    t.on_heartbeat(t0 + H, id(1), &hb(1));
    assert_eq!(t.get(&id(1)).unwrap().answers_probes, Some(false), "awake all along");
    let t0 = t0 + H;
    poll(&mut t, t0 + cfg.suspect_after);
    assert!(t.on_probe_result(t0 + H * 3, id(1), None).is_none(), "not asleep");
    assert_eq!(t.get(&id(1)).unwrap().probe, Probe::Unconfirmed);
    let due = poll(&mut t, t0 + cfg.gone_after);
    assert!(matches!(
        due[0],
        Due::Changed(Transition { to: PeerState::Gone, reason: Reason::Unconfirmed, .. })
    ));
    assert!(!t.get(&id(1)).unwrap().is_proxiable());
    // A proxy that did see it answer probes, and claims it, is believed.
    let t1 = t0 + cfg.gone_after + H;
    let tr = t.on_claimed_sleeper(t1, id(1), &hb(1).host, H).unwrap();
    assert_eq!((tr.to, tr.reason), (PeerState::Asleep, Reason::Claimed));
    assert!(t.get(&id(1)).unwrap().is_proxiable());
}

#[test]
fn an_unanswered_calibration_of_a_peer_that_then_falls_silent_proves_nothing() {
    let cfg = LivenessConfig::for_interval(H);
    let mut t = PeerTable::new(cfg);
    let t0 = Instant::ZERO;
    t.on_heartbeat(t0, id(1), &hb(1));
    t.calibrating(id(1), t0 + H / 2);
    t.on_calibration(id(1), false);
    // It slept just before the probe, and speaks again only much later (woken).
    t.on_heartbeat(t0 + H * 10, id(1), &hb(1));
    assert_eq!(t.get(&id(1)).unwrap().answers_probes, None);
}

#[test]
fn a_claim_never_puts_a_peer_heard_lately_or_seen_up_to_sleep() {
    let mut t = PeerTable::new(LivenessConfig::for_interval(H));
    t.on_heartbeat(Instant::ZERO, id(1), &hb(1));
    assert!(t.on_claimed_sleeper(Instant::ZERO + H, id(1), &hb(1).host, H).is_none());
    assert_eq!(t.get(&id(1)).unwrap().state, PeerState::Awake);
    // Silent, but its host answered the probe: up.
    poll(&mut t, Instant::ZERO + H * 3);
    t.on_probe_result(Instant::ZERO + H * 3, id(1), Some(H / 100));
    assert!(t.on_claimed_sleeper(Instant::ZERO + H * 3, id(1), &hb(1).host, H).is_none());
    assert_eq!(t.get(&id(1)).unwrap().state, PeerState::Suspect);
}

#[test]
fn signed_messages_wake_any_state() {
    let mut t = PeerTable::new(LivenessConfig::for_interval(H));
    t.on_sleep_notice(Instant::ZERO, id(1), &hb(1).host);
    let tr = t.on_resume_notice(Instant::ZERO + H, id(1), &hb(1).host).unwrap();
    assert_eq!((tr.from, tr.to), (Some(PeerState::Asleep), PeerState::Awake));
    t.on_leave(Instant::ZERO + H, id(1));
    assert_eq!(t.on_other_message(Instant::ZERO + H * 2, id(1)).unwrap().to, PeerState::Awake);
}

#[derive(Debug, Clone)]
enum Input {
    Heartbeat(u8),
    Sleep(u8),
    Resume(u8),
    Leave(u8),
    Other(u8),
    Probe(u8, bool),
    OwnerFrame(u8),
    Wait(u16),
}

fn input() -> impl Strategy<Value = Input> {
    let p = 0u8..6;
    prop_oneof![
        p.clone().prop_map(Input::Heartbeat),
        p.clone().prop_map(Input::Sleep),
        p.clone().prop_map(Input::Resume),
        p.clone().prop_map(Input::Leave),
        p.clone().prop_map(Input::Other),
        (p.clone(), any::<bool>()).prop_map(|(n, ok)| Input::Probe(n, ok)),
        p.prop_map(Input::OwnerFrame),
        (0u16..20_000).prop_map(Input::Wait),
    ]
}

proptest! {
    /// Whatever happens, the deadline hint is never late, a proxiable peer is asleep, a
    /// candidate has sent a heartbeat, and a peer is Awake right after a signed message.
    #[test]
    fn invariants_hold_for_any_sequence(inputs in prop::collection::vec(input(), 1..200)) {
        let cfg = LivenessConfig::for_interval(H);
        let mut t = PeerTable::new(cfg);
        let mut now = Instant::ZERO;
        for i in inputs {
            match i {
                Input::Heartbeat(n) => { t.on_heartbeat(now, id(n), &hb(n)); }
                Input::Sleep(n) => { t.on_sleep_notice(now, id(n), &hb(n).host); }
                Input::Resume(n) => { t.on_resume_notice(now, id(n), &hb(n).host); }
                Input::Leave(n) => { t.on_leave(now, id(n)); }
                Input::Other(n) => { t.on_other_message(now, id(n)); }
                Input::Probe(n, ok) => { t.on_probe_result(now, id(n), ok.then_some(H / 10)); }
                Input::OwnerFrame(n) => { t.on_owner_frame(now, id(n)); }
                Input::Wait(ms) => {
                    let next = now + Duration::from_millis(u64::from(ms));
                    // Nothing may be due before the hint says so.
                    if t.next_deadline().is_some_and(|d| d > next) {
                        let before: Vec<Peer> = t.iter().cloned().collect();
                        let mut due = Vec::new();
                        t.poll(next, &mut due);
                        prop_assert!(due.is_empty(), "due {due:?} before the deadline");
                        prop_assert_eq!(before.len(), t.len());
                    }
                    now = next;
                    poll(&mut t, now);
                }
            }
            if let Input::Heartbeat(n) | Input::Resume(n) | Input::Other(n) = i {
                if let Some(p) = t.get(&id(n)) {
                    prop_assert_eq!(p.state, PeerState::Awake);
                }
            }
            for p in t.iter() {
                prop_assert!(!p.is_proxiable() || p.state == PeerState::Asleep);
                prop_assert!(!p.is_candidate() || p.heard_heartbeat);
            }
        }
    }
}
