//! One regression test for each finding of issue 11 ("never impersonate a live host, never
//! orphan a sleeper"), named after the behaviour it protects. They run the real nodes in the
//! simulator (`wakeproxy::sim`), which knows which host is really awake; the end-to-end
//! versions with real daemons are in `tests/safety.rs`, and `tests/interleavings.rs` searches
//! arbitrary interleavings of all of them. `docs/security.md` maps each finding to its tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use wakeproxy::core::addr::{MacAddr, NodeId};
use wakeproxy::core::node::{MAX_PEERS_PER_LAN, MAX_WAKES};
use wakeproxy::core::peers::{PeerState, Reason};
use wakeproxy::core::proto::{
    self, Capabilities, Header, Heartbeat, HostInfo, Ipv4Prefix, Message, Role, WakePassword,
    WakeReason, WakeRequest,
};
use wakeproxy::sim::{HostState, IFACE, Sim, SimConfig};

const H: Duration = Duration::from_secs(5);
/// The simulator's wall clock at time zero.
const EPOCH_MS: u64 = 1_800_000_000_000;

fn sim(nodes: usize, subnets: usize, seed: u64) -> Sim {
    let mut sim = Sim::new(SimConfig { nodes, subnets, seed, ..SimConfig::default() }).unwrap();
    sim.enable_checks();
    sim.run_for(H * 3);
    sim
}

fn now_ms(sim: &Sim) -> u64 {
    EPOCH_MS + sim.now().as_micros() / 1000
}

/// `message` signed with the site key in `sender`'s name, stamped now: what a key holder forges.
fn signed(sim: &Sim, sender: NodeId, seq: u64, message: Message) -> Vec<u8> {
    let header = Header { sender, seq, timestamp_ms: now_ms(sim) };
    let mut bytes = Vec::new();
    proto::encode(sim.key(), &header, &message, &mut bytes).unwrap();
    bytes
}

fn addr(sim: &Sim, i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(sim.hosts()[i].ip), proto::DEFAULT_PEER_PORT)
}

/// `viewer`'s view of `of`.
fn view(sim: &Sim, viewer: usize, of: usize) -> Option<(PeerState, Reason)> {
    let id = sim.hosts()[of].node.id();
    let st = sim.hosts()[viewer].node.status(sim.now());
    st.ifaces[0].peers.iter().find(|p| p.id == id).map(|p| (p.state, p.reason))
}

/// A host of `subnet` that holds no role, so it may sleep without changing the election.
fn ordinary(sim: &Sim, subnet: usize) -> usize {
    (0..sim.hosts().len())
        .find(|&i| sim.hosts()[i].subnet == subnet && !sim.hosts()[i].inhibits_sleep)
        .expect("a host without a role")
}

fn no_violations(sim: &Sim) {
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

// 1. Orphaned sleepers ---------------------------------------------------------------------

#[test]
fn a_sleeper_handed_to_nodes_that_never_heard_it_sleep_stays_answered() {
    let mut sim = sim(4, 1, 3);
    let s = ordinary(&sim, 0);
    sim.sleep(s, true);
    let sleeper = sim.hosts()[s].node.id();
    sim.run_until_true(H, |sim| sim.proxies_of(&sleeper).len() == 1).expect("claimed");
    // Every other node restarts without its state directory, one after the other: none of
    // them heard the SleepNotice any more. Sampled every 50 ms, the sleeper is never left
    // without a proxy, and every node learns it from the others' claims.
    // (Not the node answering for it at that moment: a proxy that dies stops answering at once,
    // which no handover can bridge; tests/safety.rs times that case.)
    let others: Vec<usize> = (0..4).filter(|&i| i != s).collect();
    for &i in &others {
        if sim.proxies_of(&sleeper).contains(&i) {
            continue;
        }
        sim.kill_daemon(i);
        sim.restart(i);
        for _ in 0..(H * 3).as_millis() / 50 {
            sim.run_for(Duration::from_millis(50));
            assert!(!sim.proxies_of(&sleeper).is_empty(), "orphaned after host {i} restarted");
        }
    }
    for &i in &others {
        assert_eq!(view(&sim, i, s).map(|v| v.0), Some(PeerState::Asleep), "host {i}");
    }
    assert_eq!(sim.proxies_of(&sleeper).len(), 1);
    let restarted = others.iter().filter(|i| sim.hosts()[**i].node.counters().datagrams > 0);
    assert!(restarted.count() >= 2, "at least two nodes restarted without state");
    no_violations(&sim);
}

#[test]
fn a_proxy_hands_its_sleeper_over_before_it_lets_go() {
    // Whoever the election names next, the old proxy keeps answering until the new one has
    // claimed: with a new node joining every few heartbeats, sampled every 50 ms, the sleeper
    // is never unanswered. Over twelve seeds the newcomers took it in most.
    let mut moves = 0;
    for seed in 1..=12 {
        let mut sim =
            Sim::new(SimConfig { nodes: 6, subnets: 1, seed, ..SimConfig::default() }).unwrap();
        sim.enable_checks();
        sim.run_for(H * 3);
        let s = ordinary(&sim, 0);
        let sleeper = sim.hosts()[s].node.id();
        let late: Vec<usize> = (0..6).filter(|&i| i != s).skip(2).collect();
        for &i in &late {
            sim.crash(i);
        }
        sim.run_for(H * 4);
        sim.sleep(s, true);
        sim.run_until_true(H, |sim| sim.proxies_of(&sleeper).len() == 1).expect("claimed");
        let first = sim.proxies_of(&sleeper);
        let mut moved = false;
        for &i in &late {
            sim.restart(i);
            for _ in 0..(H * 4).as_millis() / 50 {
                sim.run_for(Duration::from_millis(50));
                let now = sim.proxies_of(&sleeper);
                assert!(!now.is_empty(), "seed {seed}: unanswered while host {i} joined");
                moved |= now != first;
            }
        }
        moves += usize::from(moved);
        assert_eq!(sim.proxies_of(&sleeper).len(), 1, "seed {seed}");
        no_violations(&sim);
    }
    assert!(moves >= 6, "newcomers took the sleeper in only {moves} of 12 runs");
}

#[test]
fn a_sleeper_its_proxy_lets_go_of_is_taken_by_the_next_node() {
    let mut sim = sim(4, 1, 21);
    let s = ordinary(&sim, 0);
    sim.sleep(s, true);
    let sleeper = sim.hosts()[s].node.id();
    sim.run_until_true(H, |sim| sim.proxies_of(&sleeper).len() == 1).expect("claimed");
    let proxy = sim.proxies_of(&sleeper)[0];
    // A key holder tells the proxy alone that the sleeper left (a Leave in its name, from its
    // address): the proxy lets go and says so. The other nodes still believe the sleeper
    // asleep; they must not go on counting on a claim that was released.
    let bytes = signed(&sim, sleeper, now_ms(&sim) * 1000, Message::Leave);
    sim.inject_datagram(proxy, addr(&sim, s), &bytes);
    sim.run_for(Duration::from_millis(10));
    assert!(sim.proxies_of(&sleeper).is_empty(), "the proxy believed the Leave");
    // Two intervals and two probe windows for the claim it expects, a probe window to claim.
    sim.run_until_true(H * 4, |sim| sim.proxies_of(&sleeper).len() == 1)
        .expect("another node takes the sleeper");
    assert_ne!(sim.proxies_of(&sleeper), vec![proxy]);
    no_violations(&sim);
}

// 2. A deaf node -----------------------------------------------------------------------------

#[test]
fn a_node_whose_inbound_peer_traffic_is_dropped_takes_no_role_and_is_given_no_sleeper() {
    let mut sim =
        Sim::new(SimConfig { nodes: 5, subnets: 1, seed: 4, ..SimConfig::default() }).unwrap();
    sim.enable_checks();
    sim.set_deaf(0, true);
    sim.run_for(H * 3);
    let st = sim.hosts()[0].node.status(sim.now());
    assert!(st.ifaces[0].deaf.is_some(), "not told deaf: {:?}", st.ifaces[0]);
    assert_eq!(st.ifaces[0].role, Role::Member);
    assert!(!st.inhibiting_sleep, "a deaf node must not block its own sleep");
    let deaf = sim.hosts()[0].node.id();
    let s = (1..5).find(|&i| !sim.hosts()[i].inhibits_sleep).unwrap();
    sim.sleep(s, true);
    sim.run_for(H * 4);
    let sleeper = sim.hosts()[s].node.id();
    assert_eq!(sim.proxies_of(&sleeper).len(), 1);
    for i in (1..5).filter(|&i| i != s) {
        let st = sim.hosts()[i].node.status(sim.now());
        let p = st.ifaces[0].peers.iter().find(|p| p.id == sleeper).unwrap();
        assert_ne!(p.proxied_by, Some(deaf), "host {i} gives the sleeper to the deaf node");
        assert_ne!(st.ifaces[0].manager, Some(deaf));
    }
    no_violations(&sim);
}

// 3. Relayed heartbeats ----------------------------------------------------------------------

#[test]
fn heartbeats_relayed_from_another_subnet_change_nothing() {
    let mut sim = sim(8, 2, 5);
    let b: Vec<usize> = sim.subnet(1).to_vec();
    let a0 = sim.subnet(0)[0];
    let s = ordinary(&sim, 1);
    sim.sleep(s, true);
    sim.run_for(H);
    let sleeper = sim.hosts()[s].node.id();
    let before: Vec<_> = b.iter().map(|&i| sim.hosts()[i].node.manager(IFACE)).collect();
    let proxy = sim.proxies_of(&sleeper);
    assert_eq!(proxy.len(), 1);
    // Subnet A's datagrams, as a keyless station on both links records them ...
    let captured = sim.capture_from(a0, H * 2);
    assert!(!captured.is_empty());
    let off_before: u64 = b.iter().map(|&i| sim.hosts()[i].node.counters().off_link).sum();
    // ... and sends them to every B host: from its own address on B, from the A sender's
    // address (spoofed), and from the address of a B host (spoofed, on-link).
    let sources = [
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 250)), 25536),
        addr(&sim, a0),
        addr(&sim, b[0]),
    ];
    for source in sources {
        for bytes in &captured {
            for &to in &b {
                sim.inject_datagram(to, source, bytes);
            }
        }
        sim.run_for(H);
    }
    let after: Vec<_> = b.iter().map(|&i| sim.hosts()[i].node.manager(IFACE)).collect();
    assert_eq!(before, after, "the relay moved B's manager");
    assert_eq!(sim.proxies_of(&sleeper), proxy, "the relay moved B's sleeper");
    let a_ids: Vec<NodeId> = sim.subnet(0).iter().map(|&i| sim.hosts()[i].node.id()).collect();
    for &i in &b {
        let st = sim.hosts()[i].node.status(sim.now());
        assert!(st.ifaces[0].peers.iter().all(|p| !a_ids.contains(&p.id)), "host {i}");
    }
    let off_after: u64 = b.iter().map(|&i| sim.hosts()[i].node.counters().off_link).sum();
    assert!(off_after >= off_before + (captured.len() * b.len()) as u64, "refusals counted");
    no_violations(&sim);
}

// 4. Proxies fighting a live owner; `since` across restarts ---------------------------------

#[test]
fn an_address_an_awake_peer_announces_as_its_own_is_never_answered_for() {
    // DHCP gives a sleeper's address to another wakeproxy host, which announces it in its
    // heartbeats: the sleeper's proxy stops answering for that address.
    let mut sim = sim(4, 1, 6);
    let s = ordinary(&sim, 0);
    sim.sleep(s, true);
    sim.run_for(H);
    let sleeper = sim.hosts()[s].node.id();
    let p = sim.proxies_of(&sleeper)[0];
    let taker = (0..4).find(|&i| i != s && i != p).unwrap();
    let taken = sim.hosts()[s].ip;
    let answered = |sim: &Sim| -> Vec<IpAddr> {
        sim.hosts()[p].node.answered_addresses(IFACE).into_iter().flat_map(|(_, a)| a).collect()
    };
    assert!(answered(&sim).contains(&IpAddr::V4(taken)));
    // The taker's node now announces the address too (a second address on its interface).
    let forged = Heartbeat {
        host: HostInfo {
            mac: sim.hosts()[taker].mac,
            ipv4: vec![
                Ipv4Prefix { addr: sim.hosts()[taker].ip, len: 16 },
                Ipv4Prefix { addr: taken, len: 16 },
            ],
            ..HostInfo::default()
        },
        role: Role::Member,
        term: 0,
        boot_time_s: 1,
        caps: Capabilities::CAN_PROXY,
        peers_heard: Some(2),
        claims: Vec::new(),
        claims_complete: true,
    };
    let taker_id = sim.hosts()[taker].node.id();
    let bytes = signed(&sim, taker_id, now_ms(&sim) * 1000 + 999, Message::Heartbeat(forged));
    sim.inject_datagram(p, addr(&sim, taker), &bytes);
    sim.run_for(Duration::from_millis(10));
    assert!(!answered(&sim).contains(&IpAddr::V4(taken)), "answers for an address in use");
}

#[test]
fn a_conflict_from_a_station_that_is_no_proxy_for_the_sleeper_makes_the_proxy_stand_down() {
    // A gratuitous ARP for the sleeper's address from a MAC no awake proxy has (a stranger, a
    // peer long gone): the proxy stands down.
    let mut sim = sim(4, 1, 7);
    let s = ordinary(&sim, 0);
    sim.sleep(s, true);
    sim.run_for(H);
    let sleeper = sim.hosts()[s].node.id();
    let p = sim.proxies_of(&sleeper)[0];
    let garp =
        wakeproxy::core::frame::gratuitous_arp(MacAddr([2, 0x5a, 0, 0, 0, 9]), sim.hosts()[s].ip);
    sim.inject_frame(0, garp.as_slice());
    sim.run_for(Duration::from_millis(10));
    assert!(sim.proxies_of(&sleeper).is_empty(), "host {p} races the address's new owner");
    assert!(sim.hosts()[p].node.counters().claims_blocked >= 1);
}

#[test]
fn a_sleepers_age_survives_a_restart_so_it_still_expires_after_seven_days() {
    let key = proto::SiteKey::new(&[7; 32]).unwrap();
    let t0 = wakeproxy::core::time::Instant::ZERO;
    let mut node = wakeproxy::core::node::Node::new(
        wakeproxy::core::node::NodeConfig::new(NodeId::from_u128(1), 1, 1),
        key,
        t0,
        EPOCH_MS,
    );
    node.add_iface(
        t0,
        wakeproxy::core::node::IfaceConfig {
            id: IFACE,
            name: "eth0".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, 1), len: 24 }],
            ipv6: vec![],
        },
    );
    let host = HostInfo {
        mac: MacAddr([2, 0, 0, 0, 0, 2]),
        ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, 2), len: 24 }],
        ..HostInfo::default()
    };
    let six_days = Duration::from_secs(6 * 86_400);
    node.restore_sleeper(t0, IFACE, NodeId::from_u128(2), host, six_days);
    let saved = node.known_sleepers(t0);
    assert_eq!(saved[0].asleep_for, six_days, "the age is what the registry said");
    // A day and a minute later it has slept longer than seven days: no longer proxied.
    let later = t0 + Duration::from_secs(86_400 + 60);
    node.handle_timeout(later);
    let st = node.status(later);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(2)).unwrap();
    assert_eq!((p.state, p.reason), (PeerState::Gone, Reason::AsleepTooLong));
}

// 5. An awake host that blocks ping ---------------------------------------------------------

#[test]
fn an_awake_host_that_blocks_ping_and_whose_daemon_died_is_never_claimed() {
    let mut sim = sim(4, 1, 9);
    // With a port open (the TCP probe gets a SYN-ACK) and without (no probe can tell, but it
    // was seen not to answer while awake): either way it is never claimed.
    let h = ordinary(&sim, 0);
    sim.set_echo_blocked(h, true);
    sim.run_for(H * 2);
    sim.kill_daemon(h);
    sim.run_for(Duration::from_secs(60));
    assert!(sim.proxies_of(&sim.hosts()[h].node.id()).is_empty());
    for i in (0..4).filter(|&i| i != h) {
        let (state, _) = view(&sim, i, h).unwrap();
        assert_ne!(state, PeerState::Asleep, "host {i} takes the silent host for asleep");
    }
    no_violations(&sim);
}

// 6. A stale replay of a node's own datagram -------------------------------------------------

#[test]
fn a_stale_replay_of_a_nodes_own_datagram_raises_no_alarm_and_sends_nothing() {
    let mut sim = sim(3, 1, 10);
    let captured = sim.capture_from(0, H + Duration::from_millis(100));
    sim.run_for(Duration::from_secs(76));
    let before = sim.hosts()[0].node.counters();
    for _ in 0..500 {
        sim.inject_datagram(0, addr(&sim, 0), &captured[0]);
    }
    sim.run_for(Duration::from_millis(100));
    let after = sim.hosts()[0].node.counters();
    assert_eq!(after.impersonated, before.impersonated, "a replay is no impersonation");
    assert_eq!(after.stale - before.stale, 500);
    assert!(after.sent - before.sent <= 2, "answered replays: {}", after.sent - before.sent);
    // Replayed while fresh, its own datagrams are its own echo: nothing either.
    let fresh = sim.capture_from(0, H + Duration::from_millis(100));
    let before = sim.hosts()[0].node.counters();
    for _ in 0..500 {
        sim.inject_datagram(0, addr(&sim, 0), &fresh[0]);
    }
    sim.run_for(Duration::from_millis(100));
    let after = sim.hosts()[0].node.counters();
    assert_eq!(after.impersonated, before.impersonated);
    assert!(after.sent - before.sent <= 2);
}

// 8. A sequence number of u64::MAX ---------------------------------------------------------

fn forged_heartbeat(sim: &Sim, victim: usize, seq: u64) -> Vec<u8> {
    let host = HostInfo {
        mac: sim.hosts()[victim].mac,
        ipv4: vec![Ipv4Prefix { addr: sim.hosts()[victim].ip, len: 16 }],
        ..HostInfo::default()
    };
    let hb =
        Heartbeat { host, term: 1, boot_time_s: 1, peers_heard: Some(2), ..Heartbeat::default() };
    signed(sim, sim.hosts()[victim].node.id(), seq, Message::Heartbeat(hb))
}

#[test]
fn a_forged_sequence_number_cannot_mute_a_node() {
    let mut sim = sim(3, 1, 11);
    let (victim, peer) = (0, 1);
    // u64::MAX: beyond any clock, refused; the victim's own heartbeats go on being accepted.
    let bytes = forged_heartbeat(&sim, victim, u64::MAX);
    sim.inject_datagram(peer, addr(&sim, victim), &bytes);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.hosts()[peer].node.counters().seq_ahead, 1);
    // As far ahead as the receiver's clock allows, sent only to a peer (the victim never sees
    // it, so cannot jump above it): the victim's numbers follow its clock and overtake it
    // within the replay window, so the peer hears it again and never takes it for asleep.
    let ahead = (now_ms(&sim) + 29_000) * 1000;
    let bytes = forged_heartbeat(&sim, victim, ahead);
    sim.inject_datagram(peer, addr(&sim, victim), &bytes);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(view(&sim, peer, victim).map(|v| v.0), Some(PeerState::Awake));
    assert!(sim.proxies_of(&sim.hosts()[victim].node.id()).is_empty());
    no_violations(&sim);
}

// 9. A term of u64::MAX ------------------------------------------------------------------------

#[test]
fn a_manager_heartbeat_with_the_largest_term_overflows_nothing() {
    let mut sim = sim(3, 1, 12);
    let manager = sim.managers(0)[0];
    let forger = (0..3).find(|&i| i != manager).unwrap();
    let host = HostInfo {
        mac: sim.hosts()[forger].mac,
        ipv4: vec![Ipv4Prefix { addr: sim.hosts()[forger].ip, len: 16 }],
        ..HostInfo::default()
    };
    let hb = Heartbeat {
        host,
        role: Role::Manager,
        term: u64::MAX,
        boot_time_s: 1,
        caps: Capabilities::CAN_PROXY,
        peers_heard: Some(2),
        claims: Vec::new(),
        claims_complete: true,
    };
    let forger_id = sim.hosts()[forger].node.id();
    let bytes = signed(&sim, forger_id, now_ms(&sim) * 1000 + 500, Message::Heartbeat(hb));
    // Overflow checks are on in test builds: a `+ 1` on the wire's term would panic here.
    sim.inject_datagram(manager, addr(&sim, forger), &bytes);
    sim.run_for(H * 2);
    assert_eq!(sim.managers(0).len(), 1);
    assert_eq!(sim.hosts()[manager].node.status(sim.now()).ifaces[0].term, u64::MAX);
}

// 10. Unbounded tables --------------------------------------------------------------------------

#[test]
fn tables_fed_by_the_network_stay_bounded() {
    let mut sim = sim(3, 1, 13);
    let m = sim.managers(0)[0];
    let other = (0..3).find(|&i| i != m).unwrap();
    let base = now_ms(&sim) * 1000;
    // A key holder asks the manager to wake 2,000 distinct MACs.
    for n in 0..2_000u32 {
        let b = n.to_be_bytes();
        let req = WakeRequest {
            target: MacAddr([2, 0x77, b[0], b[1], b[2], b[3]]),
            password: WakePassword::None,
            request_id: n,
            reason: WakeReason::Operator,
        };
        let other_id = sim.hosts()[other].node.id();
        let bytes = signed(&sim, other_id, base + u64::from(n), Message::WakeRequest(req));
        sim.inject_datagram(m, addr(&sim, other), &bytes);
    }
    sim.run_for(Duration::from_millis(50));
    let st = sim.hosts()[m].node.status(sim.now());
    assert!(st.wakes_in_flight.len() <= MAX_WAKES);
    assert!(st.counters.wakes_refused >= (2_000 - MAX_WAKES) as u64);
    // ... and invents 5,000 peers, each heartbeat from the address it announces.
    for n in 0..5_000u32 {
        let b = n.to_be_bytes();
        let ip = Ipv4Addr::new(10, 0, b[2], b[3].max(1));
        let hb = Heartbeat {
            host: HostInfo {
                mac: MacAddr([2, 0x66, b[0], b[1], b[2], b[3]]),
                ipv4: vec![Ipv4Prefix { addr: ip, len: 16 }],
                ..HostInfo::default()
            },
            peers_heard: Some(1),
            ..Heartbeat::default()
        };
        let invented = NodeId::from_u128(0x6666 << 96 | u128::from(n));
        let bytes = signed(&sim, invented, base, Message::Heartbeat(hb));
        sim.inject_datagram(m, SocketAddr::new(IpAddr::V4(ip), 25536), &bytes);
    }
    sim.run_for(Duration::from_millis(50));
    let st = sim.hosts()[m].node.status(sim.now());
    assert!(st.ifaces[0].peers.len() <= MAX_PEERS_PER_LAN);
    assert!(st.counters.peer_table_full > 0, "{:?}", st.counters);
    assert_eq!(sim.hosts()[m].state, HostState::Up);
}

// 11. Key rotation without a flag day ------------------------------------------------------------

#[test]
fn during_a_key_rollover_the_site_stays_one_site_and_the_progress_is_counted() {
    // Phase 2 on one node: it signs with the next key B and still accepts A; the others are in
    // phase 1 (sign with A, accept B). Every node goes on hearing every other, and the nodes
    // count the messages signed with the key they only accept.
    let mut sim = sim(4, 1, 14);
    let next = [0x42u8; 32];
    for i in 1..4 {
        sim.set_key(
            i,
            proto::SiteKey::new(wakeproxy::sim::SIM_KEY).unwrap().with_accepted(&next).unwrap(),
        );
    }
    sim.set_key(
        0,
        proto::SiteKey::new(&next).unwrap().with_accepted(wakeproxy::sim::SIM_KEY).unwrap(),
    );
    sim.run_for(H * 4);
    assert_eq!(sim.managers(0).len(), 1);
    for i in 0..4 {
        let c = sim.hosts()[i].node.counters();
        assert_eq!(c.unauthenticated, 0, "host {i} refused a peer");
        assert!(c.accepted_other_key > 0, "host {i} counted no message of the other key");
        for j in (0..4).filter(|&j| j != i) {
            assert_eq!(view(&sim, i, j).map(|v| v.0), Some(PeerState::Awake), "{i} sees {j}");
        }
    }
    no_violations(&sim);
}
