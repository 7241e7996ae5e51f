//! The simulator's claims about the whole protocol: convergence, failover, loss, forgeries.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use wakeproxy::core::addr::{MacAddr, NodeId};
use wakeproxy::core::proto::{
    self, Capabilities, Header, Heartbeat, HostInfo, Message, Role, SiteKey,
};
use wakeproxy::sim::{HostState, Sim, SimConfig};

const H: Duration = Duration::from_secs(5);

fn big() -> SimConfig {
    SimConfig { nodes: 1000, subnets: 4, seed: 7, ..SimConfig::default() }
}

#[test]
fn a_thousand_nodes_elect_one_manager_per_subnet_within_three_heartbeats_of_a_cold_start() {
    let mut sim = Sim::new(big()).unwrap();
    let took = sim.run_until_true(H * 3, Sim::one_manager_per_subnet);
    assert!(took.is_some(), "no single manager per subnet after 3 heartbeat intervals");
    // And it stays that way.
    sim.run_for(H * 2);
    assert!(sim.one_manager_per_subnet());
    assert_eq!(sim.longest_dual_manager(), Duration::ZERO, "never two managers in a subnet");
    // Every node of a subnet names the same manager.
    for s in 0..4 {
        let m = sim.managers(s)[0];
        let id = sim.hosts()[m].node.id();
        for &i in sim.subnet(s) {
            assert_eq!(sim.hosts()[i].node.status(sim.now()).ifaces[0].manager, Some(id));
        }
    }
}

#[test]
fn a_thousand_nodes_replace_crashed_managers_within_three_heartbeats() {
    let mut sim = Sim::new(big()).unwrap();
    sim.run_for(H * 3);
    assert!(sim.one_manager_per_subnet());
    let old: Vec<usize> = (0..4).map(|s| sim.managers(s)[0]).collect();
    for &m in &old {
        sim.crash(m);
    }
    let took = sim.run_until_true(H * 3, Sim::one_manager_per_subnet);
    assert!(took.is_some(), "no new manager in every subnet within 3 heartbeat intervals");
    for (s, old) in old.iter().enumerate() {
        assert_ne!(sim.managers(s)[0], *old);
    }
}

#[test]
fn with_five_percent_loss_no_sleeper_has_two_proxies_for_longer_than_a_heartbeat() {
    let cfg = SimConfig { nodes: 200, subnets: 2, loss: 0.05, seed: 11, ..SimConfig::default() };
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_for(H * 3);
    // Half of each subnet goes to sleep, a fifth of them without notice.
    for i in 0..200 {
        if i % 2 == 1 && !sim.hosts()[i].inhibits_sleep {
            sim.sleep(i, i % 5 != 1);
        }
    }
    sim.run_for(Duration::from_secs(600));
    let sleepers: Vec<usize> =
        (0..200).filter(|&i| sim.hosts()[i].state == HostState::Asleep).collect();
    assert!(sleepers.len() > 80);
    let proxied =
        sleepers.iter().filter(|&&i| sim.proxies_of(&sim.hosts()[i].node.id()).len() == 1).count();
    assert_eq!(proxied, sleepers.len(), "every sleeper has exactly one proxy");
    assert!(
        sim.longest_dual_proxy() <= H,
        "a sleeper had two proxies for {:?}",
        sim.longest_dual_proxy()
    );
}

#[test]
fn forged_wrong_key_and_replayed_messages_change_nothing_but_counters() {
    let cfg = SimConfig { nodes: 6, subnets: 1, seed: 3, ..SimConfig::default() };
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_for(H * 3);
    let target = 0;
    let manager_before = sim.managers(0);
    let view_before = sim.hosts()[target].node.status(sim.now()).ifaces[0].clone();
    let counters_before = sim.hosts()[target].node.counters();

    // A heartbeat from a stranger that claims to be the best-ranked manager, with the wrong key.
    let now_ms = 1_800_000_000_000 + sim.now().as_micros() / 1000;
    let liar = Heartbeat {
        host: HostInfo { mac: MacAddr([2, 0, 0, 0, 0, 0x66]), ..HostInfo::default() },
        role: Role::Manager,
        term: 1_000,
        boot_time_s: 1,
        caps: Capabilities::CAN_PROXY.union(Capabilities::PREFERS_GUARDIAN),
        peers_heard: Some(3),
        claims: Vec::new(),
        claims_complete: true,
    };
    let header = Header { sender: NodeId::from_u128(0x66), seq: 1, timestamp_ms: now_ms };
    let mut forged = Vec::new();
    proto::encode(
        &SiteKey::new(&[0xee; 32]).unwrap(),
        &header,
        &Message::Heartbeat(liar.clone()),
        &mut forged,
    )
    .unwrap();
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 9, 9)), 25536);
    sim.inject_datagram(target, from, &forged);

    // The same heartbeat with one bit flipped after signing with the right key.
    let mut altered = Vec::new();
    proto::encode(sim.key(), &header, &Message::Heartbeat(liar), &mut altered).unwrap();
    altered[50] ^= 1;
    sim.inject_datagram(target, from, &altered);

    // A genuine message from another node, replayed from its own address (from anywhere else
    // it would not even be on-link).
    let genuine = sim.capture_from(1, H + Duration::from_millis(100));
    assert!(!genuine.is_empty());
    sim.run_for(Duration::from_millis(10));
    let from1 = SocketAddr::new(IpAddr::V4(sim.hosts()[1].ip), 25536);
    for bytes in &genuine {
        sim.inject_datagram(target, from1, bytes);
    }
    sim.run_for(Duration::from_millis(10));

    let c = sim.hosts()[target].node.counters();
    assert_eq!(c.unauthenticated - counters_before.unauthenticated, 2);
    assert!(c.replayed - counters_before.replayed >= genuine.len() as u64);
    let view_after = sim.hosts()[target].node.status(sim.now()).ifaces[0].clone();
    assert_eq!(sim.managers(0), manager_before);
    assert_eq!(view_after.manager, view_before.manager);
    assert_eq!(view_after.term, view_before.term);
    assert_eq!(view_after.peers.len(), view_before.peers.len(), "the stranger is not a peer");
}

#[test]
fn a_wake_request_from_another_subnet_wakes_the_sleeper() {
    let cfg = SimConfig { nodes: 8, subnets: 2, seed: 5, ..SimConfig::default() };
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_for(H * 3);
    let sleeper =
        (0..8).find(|&i| sim.hosts()[i].subnet == 1 && !sim.hosts()[i].inhibits_sleep).unwrap();
    sim.sleep(sleeper, true);
    sim.run_for(H);
    let requester = sim.subnet(0)[0];
    sim.operator_wake(requester, sleeper);
    let woke =
        sim.run_until_true(Duration::from_secs(10), |s| s.hosts()[sleeper].state == HostState::Up);
    let woke = woke.expect("the sleeper on the other subnet was not woken");
    assert!(woke <= sim.config().resume_delay + Duration::from_millis(50));
    sim.run_for(H);
    let r = sim.report();
    assert_eq!(
        r.wake_sequences, 1,
        "one wake: the sleeper's proxy sends, the others stand by\n{r}"
    );
    assert_eq!(r.wakes_confirmed, 1, "{r}");
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let run = || {
        let cfg = wakeproxy::sim::ScenarioConfig {
            sim: SimConfig { nodes: 40, subnets: 2, loss: 0.02, seed: 9, ..SimConfig::default() },
            duration: Duration::from_secs(600),
            fault_every: Duration::from_secs(30),
            asleep_fraction: 0.4,
        };
        wakeproxy::sim::run_scenario(&cfg).unwrap()
    };
    let a = run();
    assert_eq!(a, run());
    assert!(a.faults.len() > 10);
    // Every fault is healed before the next one, except a split subnet (two managers, one per
    // side, until it heals).
    let split_at = |at| a.faults.iter().any(|g| g.at == at && g.what.contains("split"));
    let healed = a.faults.iter().filter(|f| !split_at(f.at)).all(|f| f.converged_after.is_some());
    assert!(healed, "{a}");
    assert!(a.faults.iter().filter_map(|f| f.converged_after).all(|d| d <= H * 3), "{a}");
}

#[test]
fn a_host_whose_suspend_failed_is_never_answered_for_while_real_sleepers_are() {
    let cfg = SimConfig { nodes: 12, subnets: 1, seed: 5, ..SimConfig::default() };
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_for(H * 3);
    let members: Vec<usize> = (0..12).filter(|&i| !sim.hosts()[i].inhibits_sleep).collect();
    assert!(members.len() >= 6);
    // Half announce their sleep and really sleep; the others announce it, but the suspend
    // fails: the host stays up (answers pings and ARP) with its daemon hung.
    let (asleep, failed): (Vec<usize>, Vec<usize>) =
        members.iter().take(6).partition(|&&i| i % 2 == 0);
    for &i in &asleep {
        sim.sleep(i, true);
    }
    for &i in &failed {
        sim.failed_suspend(i);
    }
    // Sampled often: a proxy for a host that is up would show at any point of the run.
    for _ in 0..120 {
        sim.run_for(Duration::from_millis(500));
        for &i in &failed {
            let id = sim.hosts()[i].node.id();
            assert!(sim.proxies_of(&id).is_empty(), "host {i} is up but answered for");
        }
    }
    for &i in &asleep {
        assert_eq!(sim.proxies_of(&sim.hosts()[i].node.id()).len(), 1, "sleeper {i}");
    }
    let refused: u64 = sim.hosts().iter().map(|h| h.node.counters().claims_blocked).sum();
    assert!(refused >= failed.len() as u64, "the probes found the hosts awake: {refused}");
}

/// The keys a node holds in each phase of rolling the simulation's key A to `b`: before, after
/// phase 1 (sign A, accept B), 2 (sign B, accept A) and 3 (B alone).
fn rollover_keys(b: &[u8]) -> [SiteKey; 4] {
    let a = wakeproxy::sim::SIM_KEY;
    [
        SiteKey::new(a).unwrap(),
        SiteKey::new(a).unwrap().with_accepted(b).unwrap(),
        SiteKey::new(b).unwrap().with_accepted(a).unwrap(),
        SiteKey::new(b).unwrap(),
    ]
}

fn unauthenticated(sim: &Sim) -> u64 {
    sim.hosts().iter().map(|h| h.node.counters().unauthenticated).sum()
}

/// A small seeded generator for orders and gaps (no dependency on a rand API).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_key_rollover_one_node_at_a_time_in_any_order_keeps_every_subnet_one_site() {
    let keys = rollover_keys(&[0xbb; 32]);
    for seed in 1..=4u64 {
        let cfg = SimConfig { nodes: 60, subnets: 2, seed, ..SimConfig::default() };
        let mut sim = Sim::new(cfg).unwrap();
        sim.run_for(H * 3);
        assert!(sim.one_manager_per_subnet());
        let managers: Vec<Vec<usize>> = (0..2).map(|s| sim.managers(s)).collect();
        let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for key in &keys[1..] {
            // Every node in its own order, at its own moment, each a heartbeat's fraction apart.
            let mut order: Vec<usize> = (0..60).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (next(&mut rng) % (i as u64 + 1)) as usize);
            }
            for i in order {
                sim.set_key(i, key.clone());
                sim.run_for(Duration::from_millis(next(&mut rng) % 2500));
            }
            sim.run_for(H);
        }
        sim.run_for(H * 2);
        assert_eq!(unauthenticated(&sim), 0, "seed {seed}: a message was refused");
        assert_eq!(sim.longest_dual_manager(), Duration::ZERO, "seed {seed}: two managers");
        let after: Vec<Vec<usize>> = (0..2).map(|s| sim.managers(s)).collect();
        assert_eq!(after, managers, "seed {seed}: the roles never moved");
        for h in sim.hosts() {
            assert_eq!(
                h.node.status(sim.now()).ifaces[0].peers.len(),
                29,
                "everyone hears everyone"
            );
        }
    }
}

#[test]
fn a_node_two_phases_ahead_is_refused_by_its_peers() {
    // The control for the test above: skipping phase 1 on one node splits it off.
    let keys = rollover_keys(&[0xbb; 32]);
    let cfg = SimConfig { nodes: 10, subnets: 1, seed: 3, ..SimConfig::default() };
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_for(H * 3);
    sim.set_key(0, keys[2].clone());
    sim.run_for(H * 4);
    assert!(unauthenticated(&sim) > 0, "its messages are refused");
    let peers = |i: usize| sim.hosts()[i].node.status(sim.now()).ifaces[0].peers.clone();
    assert!(
        peers(1).iter().all(|p| p.id != sim.hosts()[0].node.id()
            || p.state != wakeproxy::core::peers::PeerState::Awake),
        "nobody takes it for awake any more"
    );
}

/// Runs each window's parts in reverse order, as another schedule of threads might.
struct Backwards;

impl wakeproxy::sim::Windows for Backwards {
    fn run(&mut self, parts: &mut Vec<Box<Sim>>, until: wakeproxy::core::time::Instant) {
        for p in parts.iter_mut().rev() {
            p.run_until(until);
        }
    }
}

#[test]
fn a_fleet_s_report_does_not_depend_on_the_order_its_parts_run_in() {
    let cfg = wakeproxy::sim::ScenarioConfig {
        sim: SimConfig { nodes: 60, subnets: 3, loss: 0.02, seed: 4, ..SimConfig::default() },
        duration: Duration::from_secs(300),
        fault_every: Duration::from_secs(15),
        asleep_fraction: 0.4,
    };
    let a = wakeproxy::sim::run_scenario(&cfg).unwrap();
    let b = wakeproxy::sim::run_scenario_with(&cfg, &mut Backwards, &mut |_| {}).unwrap();
    assert_eq!(a, b);
    // The routed WakeRequests crossed between parts and woke their sleepers.
    assert!(a.faults.iter().any(|f| f.what.starts_with("operator")), "{a}");
    assert!(a.wakes_confirmed > 0, "{a}");
}
