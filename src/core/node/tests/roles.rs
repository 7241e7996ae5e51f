//! Roles and liveness: the election, the startup grace, a silent peer, a dead manager, a
//! guardian's sleep inhibition, the daily reconciliation, an announced sleeper proxied.

use super::*;

#[test]
fn three_nodes_elect_one_manager_and_two_guardians() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    // Node 1 booted first: it ranks highest.
    assert_eq!(lan.managers(), vec![0]);
    assert_eq!(lan.nodes[1].role(IfaceId(1)), Some(Role::Guardian));
    assert_eq!(lan.nodes[2].role(IfaceId(1)), Some(Role::Member));
    for n in &lan.nodes {
        let s = n.status(lan.now);
        assert_eq!(s.ifaces[0].manager, Some(NodeId::from_u128(1)));
        assert_eq!(s.ifaces[0].peers.len(), 2);
        assert!(s.ifaces[0].peers.iter().all(|p| p.state == PeerState::Awake));
    }
}

#[test]
fn nobody_takes_a_role_during_the_startup_grace() {
    let mut lan = Lan::new(3);
    lan.run(H / 2);
    assert!(lan.managers().is_empty());
    assert!(lan.nodes.iter().all(|n| n.status(lan.now).listening));
}

#[test]
fn an_announced_sleeper_is_proxied_and_a_syn_wakes_it() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    // The proxy probes the sleeper's addresses for one probe window before it claims it.
    lan.run(Duration::from_secs(1));
    let now = lan.now;
    let sleeper = NodeId::from_u128(3);
    let proxies: Vec<usize> =
        (0..2).filter(|&i| lan.nodes[i].proxied(IfaceId(1)) == vec![sleeper]).collect();
    assert_eq!(proxies.len(), 1, "exactly one node answers for the sleeper");
    let p = proxies[0];

    // The proxy answers ARP for the sleeper with its own MAC (arp-redirect).
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), arp.as_slice());
    let Some(Action::SendFrame { frame, .. }) = lan.nodes[p].poll_action() else {
        panic!("no ARP reply")
    };
    assert_eq!(
        &frame.as_slice()[6..12],
        &mac(p as u8 + 1).octets(),
        "answered with the proxy's MAC"
    );

    // A SYN to a port it did not listen on wakes nothing; one to 3389 wakes it, once.
    let syn_other = crate::core::frame::tcp_syn(
        mac(9),
        mac(p as u8 + 1),
        Ipv4Addr::new(10, 0, 0, 9),
        ip(3),
        40000,
        8443,
    );
    lan.nodes[p].handle_frame(now, IfaceId(1), syn_other.as_slice());
    lan.drain();
    assert!(lan.magic.is_empty());
    let syn = crate::core::frame::tcp_syn(
        mac(9),
        mac(p as u8 + 1),
        Ipv4Addr::new(10, 0, 0, 9),
        ip(3),
        40000,
        3389,
    );
    for _ in 0..50 {
        lan.nodes[p].handle_frame(now, IfaceId(1), syn.as_slice());
    }
    lan.drain();
    assert_eq!(lan.magic, vec![(p, mac(3))], "a SYN flood sends one wake");

    // The sleeper resumes: the wake is confirmed and the proxy hands the address back.
    lan.asleep[2] = false;
    lan.now += Duration::from_secs(3);
    let now = lan.now;
    lan.nodes[2].resumed(now, UNIX0 + now.as_micros() / 1000);
    lan.drain();
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    let st = lan.nodes[p].status(now);
    assert_eq!(st.recent_wakes.len(), 1);
    assert_eq!(st.recent_wakes[0].to_awake, Some(Duration::from_secs(3)));
    let handback = lan
        .frames
        .iter()
        .any(|(from, f)| *from == p && f[12..14] == [0x08, 0x06] && f[22..28] == mac(3).octets());
    assert!(handback, "a gratuitous ARP gives the address back to the owner's MAC");
}

#[test]
fn a_silent_peer_becomes_suspect_then_asleep_when_the_probe_fails() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    lan.asleep[2] = true; // crashed: no notice
    let t0 = lan.now;
    let id = NodeId::from_u128(3);
    let state = |lan: &Lan| {
        lan.nodes[0].status(lan.now).ifaces[0].peers.iter().find(|p| p.id == id).unwrap().state
    };
    while state(&lan) == PeerState::Awake {
        lan.run(Duration::from_millis(100));
    }
    assert_eq!(state(&lan), PeerState::Asleep, "the probe fails at once here");
    assert!(lan.now.saturating_since(t0) <= H * 3 + Duration::from_secs(1));
}

#[test]
fn a_manager_that_dies_is_replaced() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    assert_eq!(lan.managers(), vec![0]);
    lan.asleep[0] = true;
    lan.run(H * 3 + Duration::from_secs(1));
    assert_eq!(lan.managers(), vec![1]);
}

#[test]
fn a_guardian_inhibits_sleep_and_releases_it_when_demoted() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    let inhibit = |n: &Node| n.status(Instant::ZERO).inhibiting_sleep;
    assert!(inhibit(&lan.nodes[0]) && inhibit(&lan.nodes[1]) && !inhibit(&lan.nodes[2]));
    let now = lan.now;
    lan.nodes[1].leave(now);
    lan.drain();
    assert!(!inhibit(&lan.nodes[1]));
    assert!(inhibit(&lan.nodes[2]), "the next node in rank becomes guardian");
}

#[test]
fn the_daily_reconciliation_spreads_wakes_and_forgets_sleepers_that_never_answer() {
    let mut lan = Lan::new(4);
    lan.run(H * 2);
    let now = lan.now;
    for i in [2, 3] {
        lan.nodes[i].going_to_sleep(now);
        lan.asleep[i] = true;
    }
    lan.drain();
    let window = Duration::from_secs(600);
    assert_eq!(lan.nodes[1].reconcile(now, window), 0, "only the manager reconciles");
    assert_eq!(lan.nodes[0].reconcile(now, window), 2);
    assert_eq!(lan.nodes[0].reconcile(now, window), 0, "not twice");
    // Host 3 answers its wake (it resumes); host 4 never does.
    let mut first_packet = Vec::new();
    while lan.now < now + window + Duration::from_secs(40) {
        lan.run(Duration::from_secs(1));
        for (_, target) in lan.magic.drain(..) {
            if !first_packet.iter().any(|(m, _)| *m == target) {
                first_packet.push((target, lan.now));
            }
            if target == mac(3) && lan.asleep[2] {
                lan.asleep[2] = false;
                let t = lan.now;
                lan.nodes[2].resumed(t, UNIX0 + t.as_micros() / 1000);
            }
        }
    }
    assert_eq!(first_packet.len(), 2);
    assert_ne!(first_packet[0].1, first_packet[1].1, "not at one instant");
    let st = lan.nodes[0].status(lan.now);
    let state =
        |n: u128| st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(n)).unwrap().state;
    assert_eq!(state(3), PeerState::Awake);
    assert_eq!(state(4), PeerState::Gone, "no answer: no longer treated as asleep");
}

/// The fuzz target `node_inputs`'s finding, on a node: its timer fires months late (its
/// process was stopped); after that `handle_timeout` its next deadline must lie in the future,
/// or the daemon is called straight back.
#[test]
fn a_timer_that_fires_months_late_leaves_the_next_deadline_in_the_future() {
    let mut lan = Lan::new(2);
    lan.run(Duration::from_secs(2));
    let late = lan.now + Duration::from_secs(16_843_520);
    lan.nodes[0].handle_timeout(late);
    assert!(
        lan.nodes[0].poll_timeout().is_some_and(|t| t > late),
        "{:?}",
        lan.nodes[0].poll_timeout()
    );
}
