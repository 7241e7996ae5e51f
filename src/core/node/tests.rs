//! Node unit tests: two or three nodes wired by hand, on a hand-driven clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;
use crate::core::proto::{Ipv4Prefix, Ipv6Prefix};

const H: Duration = Duration::from_secs(5);
const UNIX0: u64 = 1_800_000_000_000;

fn key() -> SiteKey {
    SiteKey::new(&[7u8; 32]).unwrap()
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn node(n: u8, now: Instant) -> Node {
    let mut cfg =
        NodeConfig::new(NodeId::from_u128(u128::from(n)), 1000 + u64::from(n), u64::from(n));
    cfg.guardians = 2;
    let mut node = Node::new(cfg, key(), now, UNIX0 + now.as_micros() / 1000);
    node.add_iface(
        now,
        IfaceConfig {
            id: IfaceId(1),
            name: "eth0".into(),
            mac: mac(n),
            ipv4: vec![Ipv4Prefix { addr: ip(n), len: 24 }],
            ipv6: vec![Ipv6Prefix { addr: format!("fd00::{n}").parse().unwrap(), len: 64 }],
        },
    );
    node.set_tcp_ports(vec![22, 3389]);
    node
}

/// A tiny lossless LAN: every datagram a node sends reaches every other node at once.
struct Lan {
    nodes: Vec<Node>,
    asleep: Vec<bool>,
    now: Instant,
    frames: Vec<(usize, Vec<u8>)>,
    magic: Vec<(usize, MacAddr)>,
    /// When each magic packet of `magic` was sent.
    magic_at: Vec<Instant>,
    /// Probes of sleeping hosts fail (awake ones always answer).
    probes_fail: bool,
}

impl Lan {
    fn new(n: u8) -> Self {
        let now = Instant::ZERO;
        Self {
            nodes: (1..=n).map(|i| node(i, now)).collect(),
            asleep: vec![false; n as usize],
            now,
            frames: Vec::new(),
            magic: Vec::new(),
            magic_at: Vec::new(),
            probes_fail: true,
        }
    }

    fn from(i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(ip(i as u8 + 1)), 25536)
    }

    fn drain(&mut self) {
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..self.nodes.len() {
                while let Some(a) = self.nodes[i].poll_action() {
                    progress = true;
                    match a {
                        Action::SendDatagram { bytes, .. } => {
                            for j in 0..self.nodes.len() {
                                if j != i && !self.asleep[j] {
                                    let now = self.now;
                                    self.nodes[j].handle_datagram(
                                        now,
                                        IfaceId(1),
                                        Self::from(i),
                                        &bytes,
                                    );
                                }
                            }
                        }
                        Action::SendFrame { frame, .. } => {
                            self.frames.push((i, frame.as_slice().to_vec()))
                        }
                        Action::SendMagicPacket { packet, .. } => {
                            self.magic.push((i, packet.target));
                            self.magic_at.push(self.now);
                        }
                        Action::Probe { ip: probed, .. } => {
                            let now = self.now;
                            // Awake hosts answer; sleeping ones too unless `probes_fail`.
                            let target = match probed {
                                IpAddr::V4(v4) => usize::from(v4.octets()[3]).checked_sub(1),
                                IpAddr::V6(_) => None,
                            };
                            let awake =
                                target.is_some_and(|t| t < self.asleep.len() && !self.asleep[t]);
                            let rtt =
                                (awake || !self.probes_fail).then_some(Duration::from_millis(1));
                            let ip = probed;
                            self.nodes[i].handle_probe_result(now, IfaceId(1), ip, rtt);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Advances the clock in 100 ms steps to `now + d`, firing timers on time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(100);
            for i in 0..self.nodes.len() {
                if !self.asleep[i] && self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    let now = self.now;
                    self.nodes[i].handle_timeout(now);
                }
            }
            self.drain();
        }
    }

    fn managers(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.asleep[i] && self.nodes[i].role(IfaceId(1)) == Some(Role::Manager))
            .collect()
    }
}

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
fn forged_and_replayed_messages_change_only_counters() {
    let mut lan = Lan::new(2);
    lan.run(H * 2);
    let before = lan.nodes[0].status(lan.now).ifaces[0].clone();
    let now = lan.now;

    // A heartbeat signed with another key.
    let other = SiteKey::new(&[8u8; 32]).unwrap();
    let hb = Heartbeat {
        host: HostInfo { mac: mac(66), ..Default::default() },
        role: Role::Manager,
        term: 99,
        boot_time_s: 1,
        caps: Capabilities::CAN_PROXY,
        peers_heard: None,
        claims: Vec::new(),
        claims_complete: true,
    };
    let header = Header {
        sender: NodeId::from_u128(66),
        seq: 1,
        timestamp_ms: UNIX0 + now.as_micros() / 1000,
    };
    let mut forged = Vec::new();
    proto::encode(&other, &header, &Message::Heartbeat(hb), &mut forged).unwrap();
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(5), &forged);

    // Garbage, and a replay of a real message.
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(5), b"not a wakeproxy message at all");
    let now2 = lan.now;
    lan.nodes[1].handle_timeout(now2 + H);
    let real = loop {
        match lan.nodes[1].poll_action() {
            Some(Action::SendDatagram { bytes, .. }) => break bytes,
            Some(_) => continue,
            None => panic!("node 2 sent no heartbeat"),
        }
    };
    lan.nodes[0].handle_datagram(now2, IfaceId(1), Lan::from(1), &real);
    lan.nodes[0].handle_datagram(now2, IfaceId(1), Lan::from(1), &real);
    while lan.nodes[0].poll_action().is_some() {}

    let c = lan.nodes[0].counters();
    assert_eq!(c.unauthenticated, 1);
    assert_eq!(c.malformed, 1);
    assert_eq!(c.replayed, 1);
    let after = lan.nodes[0].status(lan.now).ifaces[0].clone();
    assert_eq!(before.manager, after.manager);
    assert_eq!(before.term, after.term);
    assert_eq!(before.peers.len(), after.peers.len());
}

#[test]
fn a_forged_message_in_our_name_is_answered_with_the_truth() {
    let mut lan = Lan::new(2);
    lan.run(H * 2);
    let now = lan.now;
    // Someone with the key says node 1 is going to sleep.
    let header = Header {
        sender: NodeId::from_u128(1),
        seq: 42,
        timestamp_ms: UNIX0 + now.as_micros() / 1000,
    };
    let mut bytes = Vec::new();
    let host = HostInfo { mac: mac(1), ..Default::default() };
    proto::encode(&key(), &header, &Message::SleepNotice(host), &mut bytes).unwrap();
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(5), &bytes);
    lan.nodes[1].handle_datagram(now, IfaceId(1), Lan::from(5), &bytes);
    lan.drain();
    assert_eq!(lan.nodes[0].counters().impersonated, 1);
    let st = lan.nodes[1].status(lan.now);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(1)).unwrap();
    assert_eq!(p.state, PeerState::Awake, "the real node's ResumeNotice wins");
}

#[test]
fn a_forgery_as_far_ahead_in_our_sequence_as_the_clock_allows_does_not_silence_the_truth() {
    let mut lan = Lan::new(2);
    lan.run(H * 2);
    let now = lan.now;
    let now_ms = UNIX0 + now.as_micros() / 1000;
    // The highest number a receiver accepts: its clock plus the replay window, in µs.
    let header = Header {
        sender: NodeId::from_u128(1),
        seq: (now_ms + 30_000) * 1000,
        timestamp_ms: now_ms,
    };
    let mut bytes = Vec::new();
    let ipv4 = vec![Ipv4Prefix { addr: ip(1), len: 24 }];
    let host = HostInfo { mac: mac(1), ipv4, ..Default::default() };
    proto::encode(&key(), &header, &Message::SleepNotice(host), &mut bytes).unwrap();
    lan.nodes[1].handle_datagram(now, IfaceId(1), Lan::from(0), &bytes);
    let st = lan.nodes[1].status(lan.now);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(1)).unwrap();
    assert_eq!(p.state, PeerState::Asleep, "the forgery was believed");
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(0), &bytes);
    lan.drain();
    lan.run(H * 3);
    let st = lan.nodes[1].status(lan.now);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(1)).unwrap();
    assert_eq!(p.state, PeerState::Awake, "the real node's messages are still accepted");
    assert!(lan.nodes[1].proxied(IfaceId(1)).is_empty());
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

#[test]
fn mac_takeover_answers_with_the_sleepers_mac_and_refreshes_it_every_heartbeat() {
    let mut lan = Lan::new(3);
    for n in &mut lan.nodes {
        n.cfg.proxy_mode = ProxyMode::MacTakeover;
    }
    lan.run(H * 2);
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    lan.run(Duration::from_secs(1));
    let now = lan.now;
    let sleeper = NodeId::from_u128(3);
    let p = (0..2).find(|&i| lan.nodes[i].proxied(IfaceId(1)) == vec![sleeper]).expect("a proxy");

    // The ARP answer carries the sleeper's own MAC, as Ethernet source and sender address.
    while lan.nodes[p].poll_action().is_some() {}
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), arp.as_slice());
    let Some(Action::SendFrame { frame, .. }) = lan.nodes[p].poll_action() else {
        panic!("no ARP reply")
    };
    assert_eq!(&frame.as_slice()[6..12], &mac(3).octets());
    assert_eq!(&frame.as_slice()[22..28], &mac(3).octets());

    // Every heartbeat, an announcement from the sleeper's MAC keeps the switch and the caches.
    lan.frames.clear();
    lan.run(H * 3);
    let refreshes = lan
        .frames
        .iter()
        .filter(|(from, f)| {
            *from == p
                && f[6..12] == mac(3).octets()
                && f[12..14] == [0x08, 0x06]
                && f[28..32] == ip(3).octets()
                && f[38..42] == ip(3).octets()
        })
        .count();
    assert!((2..=4).contains(&refreshes), "{refreshes} announcements in 3 heartbeats");
    let na = lan
        .frames
        .iter()
        .any(|(from, f)| *from == p && f[6..12] == mac(3).octets() && f[12..14] == [0x86, 0xdd]);
    assert!(na, "an unsolicited NA for the sleeper's IPv6 address too");
}

/// Three nodes; node 3 announces its sleep. Returns the node the election gave it to, which is
/// now probing (pending), and clears the frames sent so far.
fn sleeping_third(lan: &mut Lan) -> usize {
    lan.run(H * 2);
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    let sleeper = NodeId::from_u128(3);
    (0..2).find(|&i| lan.nodes[i].lans[0].pending.contains_key(&sleeper)).expect("a pending claim")
}

fn arp_reply_from(mac_: MacAddr, ip_: Ipv4Addr) -> Vec<u8> {
    crate::core::frame::arp_reply(mac_, ip_, mac(9), Ipv4Addr::new(10, 0, 0, 9)).as_slice().to_vec()
}

#[test]
fn a_claim_probes_the_sleepers_addresses_and_waits_one_quiet_window() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    let sleeper = NodeId::from_u128(3);
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty(), "not answered for while probing");
    let probe = lan.frames.iter().any(|(from, f)| {
        *from == p
            && f[12..14] == [0x08, 0x06]
            && f[28..32] == [0; 4]
            && f[38..42] == ip(3).octets()
    });
    assert!(probe, "an RFC 5227 ARP probe for the sleeper's address");
    let dad = lan
        .frames
        .iter()
        .any(|(from, f)| *from == p && f[12..14] == [0x86, 0xdd] && f[22..38] == [0; 16]);
    assert!(dad, "a DAD probe (from ::) for its IPv6 address");
    lan.run(Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![sleeper]);
}

#[test]
fn while_probing_nothing_is_answered_and_no_syn_wakes() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    let now = lan.now;
    while lan.nodes[p].poll_action().is_some() {}
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), arp.as_slice());
    let syn = crate::core::frame::tcp_syn(
        mac(9),
        mac(p as u8 + 1),
        Ipv4Addr::new(10, 0, 0, 9),
        ip(3),
        40000,
        3389,
    );
    lan.nodes[p].handle_frame(now, IfaceId(1), syn.as_slice());
    assert!(lan.nodes[p].poll_action().is_none(), "no ARP answer, no magic packet");
}

#[test]
fn an_answer_to_the_probe_from_another_station_defers_the_claim_until_it_is_quiet() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    let now = lan.now;
    // DHCP gave 10.0.0.3 to someone else, who answers the probe.
    let other = MacAddr([0x02, 0x99, 0, 0, 0, 1]);
    lan.nodes[p].handle_frame(now, IfaceId(1), &arp_reply_from(other, ip(3)));
    lan.drain();
    lan.run(Duration::from_secs(2));
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    assert_eq!(lan.nodes[p].counters().claims_blocked, 1);
    // One heartbeat later it probes again; nobody answers this time: claimed.
    lan.run(H + Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

#[test]
fn a_sleeper_that_still_answers_pings_is_never_answered_for() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    // The "sleeper" still answers pings: its host is up (still suspending, or its daemon hung).
    lan.probes_fail = false;
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    // Probed again every heartbeat, never answered for while it answers.
    for _ in 0..30 {
        lan.run(Duration::from_millis(500));
        for i in 0..2 {
            assert!(lan.nodes[i].proxied(IfaceId(1)).is_empty(), "node {} answers for it", i + 1);
        }
    }
    // A probe per heartbeat by its proxy, each blocked; once the proxy has not claimed it for
    // two heartbeats, the other node passes it over and tries too, and is blocked the same way.
    let blocked: u64 = (0..2).map(|i| lan.nodes[i].counters().claims_blocked).sum();
    assert!((3..=6).contains(&blocked), "a probe per heartbeat, each blocked: {blocked}");
    let tried_by_both = (0..2).all(|i| lan.nodes[i].counters().claims_blocked > 0);
    assert!(tried_by_both, "the node passed over tries as well");
    let now = lan.now;
    for i in 0..2 {
        while lan.nodes[i].poll_action().is_some() {}
        let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
        lan.nodes[i].handle_frame(now, IfaceId(1), arp.as_slice());
        assert!(lan.nodes[i].poll_action().is_none(), "node {} answered ARP", i + 1);
    }
}

#[test]
fn a_frame_from_the_owner_while_probing_stops_the_claim_until_it_is_quiet() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    // Half a probe window after its notice, the owner asks for its gateway: it is awake,
    // whatever its notice said.
    let now = lan.now + Duration::from_millis(500);
    let own = crate::core::frame::arp_request(mac(3), ip(3), Ipv4Addr::new(10, 0, 0, 254));
    lan.nodes[p].handle_frame(now, IfaceId(1), own.as_slice());
    lan.drain();
    lan.run(Duration::from_secs(2));
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    // It was on its way to sleep: 2.5 heartbeats later its ping fails, and it is answered for.
    lan.run(H * 3);
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

#[test]
fn a_frame_the_owner_sent_before_its_notice_and_handled_just_after_it_changes_nothing() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    // Captured frames and peer datagrams come through separate queues: a frame sent just
    // before the SleepNotice can be handled just after it.
    let now = lan.now + Duration::from_millis(1);
    let own = crate::core::frame::arp_request(mac(3), ip(3), Ipv4Addr::new(10, 0, 0, 254));
    lan.nodes[p].handle_frame(now, IfaceId(1), own.as_slice());
    lan.drain();
    lan.run(Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

#[test]
fn a_sleeper_answered_for_only_by_ipv6_is_probed_over_ipv6_before_the_claim() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    // Another peer announces the sleeper's IPv4 address as its own (a forgery, or DHCP
    // reuse): only its IPv6 address is left to answer for, and that is what the probe asks.
    let hb = crate::core::proto::Heartbeat {
        host: crate::core::proto::HostInfo {
            mac: mac(9),
            ipv4: vec![Ipv4Prefix { addr: ip(3), len: 24 }],
            ..Default::default()
        },
        peers_heard: Some(2),
        ..Default::default()
    };
    let header = crate::core::proto::Header {
        sender: NodeId::from_u128(9),
        seq: (UNIX0 + lan.now.as_micros() / 1000) * 1000,
        timestamp_ms: UNIX0 + lan.now.as_micros() / 1000,
    };
    let mut bytes = Vec::new();
    crate::core::proto::encode(&key(), &header, &Message::Heartbeat(hb), &mut bytes).unwrap();
    let now = lan.now;
    for i in 0..2 {
        lan.nodes[i].handle_datagram(now, IfaceId(1), Lan::from(2), &bytes);
    }
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    let mut probed = Vec::new();
    let mut progress = true;
    while progress {
        progress = false;
        for i in 0..2 {
            while let Some(a) = lan.nodes[i].poll_action() {
                progress = true;
                if let Action::Probe { ip, .. } = a {
                    probed.push(ip);
                }
            }
        }
        let notices: Vec<_> = std::iter::from_fn(|| lan.nodes[2].poll_action()).collect();
        for a in notices {
            if let Action::SendDatagram { bytes, .. } = a {
                for i in 0..2 {
                    lan.nodes[i].handle_datagram(now, IfaceId(1), Lan::from(2), &bytes);
                }
                progress = true;
            }
        }
    }
    let v6: IpAddr = "fd00::3".parse().unwrap();
    assert!(probed.contains(&v6), "the claim probes fd00::3: {probed:?}");
}

#[test]
fn a_proxy_that_sees_its_sleepers_address_taken_by_a_stranger_stands_down() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
    let now = lan.now;
    let stranger = MacAddr([0x02, 0x99, 0, 0, 0, 2]);
    let garp = crate::core::frame::gratuitous_arp(stranger, ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), garp.as_slice());
    lan.drain();
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    // A peer's own MAC answering (another proxy that has not let go) is not a stranger.
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let now = lan.now;
    let q = 1 - p;
    lan.nodes[p].handle_frame(now, IfaceId(1), &arp_reply_from(mac(q as u8 + 1), ip(3)));
    lan.drain();
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

/// A SYN from `caller`:`port` to the third node's 3389, as captured by proxy `p`.
fn syn_from(p: usize, caller: u8, port: u16) -> Vec<u8> {
    crate::core::frame::tcp_syn(
        mac(caller),
        mac(p as u8 + 1),
        Ipv4Addr::new(10, 0, 0, caller),
        ip(3),
        port,
        3389,
    )
    .as_slice()
    .to_vec()
}

/// A SYN from 10.0.0.9:40000 to the sleeping third node's port 3389, handed to its proxy `p`.
fn syn_to_third(lan: &mut Lan, p: usize) {
    let now = lan.now;
    lan.nodes[p].handle_frame(now, IfaceId(1), &syn_from(p, 9, 40000));
    lan.drain();
}

fn caller() -> WakeCause {
    WakeCause::TcpSyn { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), port: 3389 }
}

#[test]
fn a_wake_that_gets_no_answer_is_retried_with_back_off_and_given_up_after_30_s() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let t0 = lan.now;
    syn_to_third(&mut lan, p);
    lan.run(Duration::from_secs(40));
    let sent: Vec<u64> = lan.magic_at.iter().map(|t| t.saturating_since(t0).as_secs()).collect();
    assert_eq!(sent, [0, 1, 3, 7, 15, 23], "doubling, capped at 8 s apart, for 30 s");
    assert!(lan.magic.iter().all(|m| *m == (p, mac(3))), "only the proxy wakes: {:?}", lan.magic);
    let st = lan.nodes[p].status(lan.now);
    assert!(st.wakes_in_flight.is_empty());
    assert_eq!(
        st.recent_wakes,
        [WakeRecord {
            mac: mac(3),
            cause: caller(),
            attempts: 6,
            to_packet: Some(Duration::ZERO),
            to_awake: None,
            syns_replayed: 0,
        }]
    );
    assert_eq!(st.ifaces[0].proxied[0].stats.wakes_sent, 6);
}

#[test]
fn a_wake_ends_with_the_sleepers_first_signed_message_and_records_caller_port_and_latencies() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let t0 = lan.now;
    syn_to_third(&mut lan, p);
    // The NIC misses the first two packets; the third (at 3 s) wakes the host, which speaks
    // 1.5 s later.
    lan.run(Duration::from_millis(4500));
    lan.asleep[2] = false;
    let now = lan.now;
    lan.nodes[2].resumed(now, UNIX0 + now.as_micros() / 1000);
    lan.drain();
    lan.run(Duration::from_secs(30));
    assert_eq!(lan.magic.len(), 3, "no packet after the host spoke");
    let st = lan.nodes[p].status(lan.now);
    assert_eq!(
        st.recent_wakes,
        [WakeRecord {
            mac: mac(3),
            cause: caller(),
            attempts: 3,
            to_packet: Some(Duration::ZERO),
            to_awake: Some(now.saturating_since(t0)),
            syns_replayed: 1,
        }]
    );
    assert_eq!(now.saturating_since(t0), Duration::from_millis(4500));
}

/// The frames proxy `p` sent that carry a TCP segment (the replayed SYNs).
fn replayed(lan: &Lan, p: usize) -> Vec<Vec<u8>> {
    lan.frames
        .iter()
        .filter(|(i, f)| *i == p && f[12..14] == [8, 0] && f[23] == 6)
        .map(|(_, f)| f.clone())
        .collect()
}

#[test]
fn once_the_sleeper_speaks_the_proxy_replays_each_callers_first_syn_to_it_from_its_own_mac() {
    for replay in [true, false] {
        let mut lan = Lan::new(3);
        for n in &mut lan.nodes {
            n.cfg.syn_replay = replay;
        }
        let p = sleeping_third(&mut lan);
        lan.run(Duration::from_secs(1));
        lan.frames.clear();
        let now = lan.now;
        // Three callers; the first retransmits (same caller, same port).
        let syns = [
            syn_from(p, 9, 40000),
            syn_from(p, 9, 40000),
            syn_from(p, 8, 40000),
            syn_from(p, 9, 40001),
        ];
        for s in &syns {
            lan.nodes[p].handle_frame(now, IfaceId(1), s);
        }
        lan.drain();
        lan.run(Duration::from_millis(2000));
        assert!(replayed(&lan, p).is_empty(), "nothing is replayed while it sleeps");
        lan.asleep[2] = false;
        let now = lan.now;
        lan.nodes[2].resumed(now, UNIX0 + now.as_micros() / 1000);
        lan.drain();
        let sent = replayed(&lan, p);
        if !replay {
            assert!(sent.is_empty());
            continue;
        }
        assert_eq!(sent.len(), 3, "one per caller");
        for (got, want) in sent.iter().zip([&syns[0], &syns[2], &syns[3]]) {
            assert_eq!(&got[..6], &mac(3).octets(), "to the sleeper's own MAC");
            assert_eq!(
                &got[6..12],
                &mac(p as u8 + 1).octets(),
                "from the proxy's, never the caller's"
            );
            let fresh = crate::core::frame::replayable_syn(want, mac(3), mac(p as u8 + 1)).unwrap();
            assert_eq!(got, fresh.as_slice(), "the caller's SYN, with a fresh checksum");
        }
        let st = lan.nodes[p].status(lan.now);
        assert_eq!(st.counters.syns_replayed, 3);
        assert_eq!(st.recent_wakes[0].syns_replayed, 3);
    }
}

#[test]
fn truncated_oversized_and_malformed_frames_are_counted_and_dropped() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    lan.frames.clear();
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    let syn = syn_from(p, 9, 40000);
    let mut lying = syn.clone();
    lying[16..18].copy_from_slice(&9000u16.to_be_bytes()); // IPv4 total length past the frame
    let mut bad: Vec<Vec<u8>> = vec![
        arp.as_slice()[..30].to_vec(), // ARP cut in its addresses
        syn[..40].to_vec(),            // SYN cut in its TCP header
        lying,
        vec![0xff; 65_535], // an oversized broadcast of garbage (EtherType 0xffff)
    ];
    let mut huge = syn.clone();
    huge.resize(crate::core::frame::MAX_FRAME_LEN + 1, 0); // a SYN longer than any jumbo frame
    bad.push(huge);
    let before = lan.nodes[p].status(lan.now).counters;
    let now = lan.now;
    for f in &bad {
        lan.nodes[p].handle_frame(now, IfaceId(1), f);
    }
    lan.drain();
    let after = lan.nodes[p].status(lan.now).counters;
    assert_eq!(after.frames - before.frames, bad.len() as u64);
    assert_eq!(after.frames_malformed - before.frames_malformed, 5, "{after:?}");
    assert_eq!((after.arp_answered, after.syns_seen), (before.arp_answered, before.syns_seen));
    assert!(lan.frames.is_empty(), "nothing answered: {} frames", lan.frames.len());
    assert!(lan.magic.is_empty(), "nothing woken: {:?}", lan.magic);
}
