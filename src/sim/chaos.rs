//! Arbitrary interleavings of faults against the simulator, with the promises checked after
//! every event: the engine of the stateful property test (`tests/interleavings.rs`) and of the
//! `node_interleavings` fuzz target.
//!
//! A run is a small network (two subnets of three hosts), a list of [`Op`]s applied one after
//! the other with simulated time passing between them (faults: sleeps with and without notice,
//! wakes, crashes, killed daemons, restarts with and without state, deaf hosts, hosts that drop
//! echo, clock steps, loss, a key holder's forgeries with arbitrary field values, replays and
//! relays of genuine datagrams from the other subnet, hostile frames), then a quiet tail in
//! which nothing is injected. The promises of [`super::invariants`] are checked after every
//! event, and at the end of the tail every sleeper must have exactly one proxy.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{HostState, Sim, SimConfig, Violation, addressing};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::proto::{
    self, Capabilities, Header, Heartbeat, HostInfo, Ipv4Prefix, Message, ProxyClaim, ProxyRelease,
    ReleaseReason, Role, WakePassword, WakeReason, WakeRequest,
};

/// Hosts in a chaos run, and subnets.
pub const HOSTS: usize = 6;
const SUBNETS: usize = 2;
/// Simulated wall clock at time zero (as `sim::EPOCH_UNIX_MS`).
const EPOCH_UNIX_MS: u64 = 1_800_000_000_000;

/// One step of a chaos run. Host numbers are taken modulo [`HOSTS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Let simulated time pass (milliseconds, up to 65 s).
    Wait(u16),
    /// A host goes to sleep, announcing it or not.
    Sleep { host: u8, announce: bool },
    /// An operator on another subnet wakes a host by MAC.
    Wake { host: u8 },
    /// Someone on its subnet connects to a host's first listening port.
    Connect { host: u8 },
    /// A host loses power.
    Crash { host: u8 },
    /// A host's daemon is killed -9; the host stays up.
    KillDaemon { host: u8 },
    /// A host's daemon starts again, with or without its state directory.
    Restart { host: u8, keep_state: bool },
    /// A host's firewall starts or stops dropping inbound peer datagrams.
    Deaf { host: u8, on: bool },
    /// A host's firewall starts or stops dropping ICMP echo.
    EchoBlocked { host: u8, on: bool },
    /// A host's wall clock is stepped (seconds, either way).
    ClockStep { host: u8, secs: i16 },
    /// Packet loss from now on, in per mille (capped at 500).
    Loss(u16),
    /// A key holder sends a signed message with arbitrary field values to a host.
    Forge(Forgery),
    /// A genuine recent datagram is sent again to a host: replayed from its own source, or
    /// relayed from another address (another subnet's heartbeats unicast into this one).
    Replay { pick: u8, to: u8, relayed: bool },
    /// A station on a host's subnet sends a frame.
    Frame { subnet: u8, frame: HostileFrame },
}

/// A message a key holder forges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgery {
    /// To which host.
    pub to: u8,
    /// In whose name: a host's id (impersonation) or, above [`HOSTS`], an invented one.
    pub sender: u8,
    /// From which address: a host's own, or, above [`HOSTS`], one off every link.
    pub src: u8,
    /// Which kind (modulo 7).
    pub kind: u8,
    /// About whom (claims, releases, wake requests, notices): a host, modulo [`HOSTS`].
    pub about: u8,
    /// Arbitrary values for terms, sequence numbers and the like.
    pub values: [u64; 3],
    /// How the sequence number and timestamp are chosen (modulo 4): plausible, the largest
    /// number, stale, far in the future.
    pub freshness: u8,
}

/// A frame from a station on the LAN, keyless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostileFrame {
    /// An ARP reply claiming a host's address with some MAC (a conflict).
    ArpConflict { host: u8, mac: [u8; 6] },
    /// A frame from a host's own MAC (as if it were awake).
    FromOwner { host: u8 },
    /// An ARP request for a host's address.
    ArpRequest { host: u8 },
    /// A SYN to a host's port.
    Syn { host: u8, port: u16 },
    /// Bytes.
    Junk(Vec<u8>),
}

/// What a chaos run found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every broken promise, the first ones first.
    pub violations: Vec<Violation>,
    /// Faults applied.
    pub ops: usize,
}

/// How long the quiet tail lasts, in heartbeat intervals: long enough for every liveness
/// timer to run out and the network to settle — the longest being a claim that is no longer
/// repeated (its claimant restarted and nobody heard it restart) forgotten after 13 intervals,
/// then its node passed over after two more and two probe windows.
pub const QUIET_HEARTBEATS: u32 = 18;

/// Runs `ops` against a fresh network seeded with `seed`.
pub fn run(seed: u64, ops: &[Op]) -> Outcome {
    run_with(seed, ops, false).0
}

/// [`run`], also returning the trace of every node event and every op (to explain a failure).
pub fn run_traced(seed: u64, ops: &[Op]) -> (Outcome, Vec<String>) {
    run_with(seed, ops, true)
}

fn run_with(seed: u64, ops: &[Op], traced: bool) -> (Outcome, Vec<String>) {
    let cfg = SimConfig { nodes: HOSTS, subnets: SUBNETS, seed, ..SimConfig::default() };
    let mut sim = Sim::new(cfg).expect("a valid chaos network");
    if traced {
        sim.enable_trace();
    }
    let h = sim.config().heartbeat;
    sim.set_truthful_probes(true);
    sim.enable_checks();
    sim.run_for(h * 2);
    let mut deafened: Option<crate::core::time::Instant> = None;
    for op in ops {
        sim.note(|| format!("op {op:?}"));
        apply(&mut sim, op);
        if let Some(lasts) = deafens(op) {
            let until = sim.now() + lasts;
            deafened = Some(deafened.map_or(until, |d| d.max(until)));
        }
    }
    // The quiet tail: every fault stops (loss, dead daemons restarted; deafness, blocked echo
    // and stepped clocks stay: they are misconfigurations, which the promises must survive).
    sim.set_loss(0.0);
    for i in 0..HOSTS {
        if sim.hosts()[i].state == HostState::DaemonDead {
            sim.restart(i);
        }
    }
    sim.note(|| "quiet from here".to_owned());
    sim.quiet_from_now(deafened);
    sim.run_for(h * QUIET_HEARTBEATS);
    let mut violations = sim.violations().to_vec();
    violations.extend(sim.liveness_violations());
    if traced {
        // Every node's final view, to explain a liveness violation.
        for i in 0..HOSTS {
            let st = sim.hosts()[i].node.status(sim.now());
            for iface in &st.ifaces {
                let peers: Vec<String> = iface
                    .peers
                    .iter()
                    .map(|p| format!("{} {} {:?} by {:?}", p.id, p.state, p.reason, p.proxied_by))
                    .collect();
                sim.note(|| format!("host {i} ({:?}) sees {}", iface.role, peers.join("; ")));
            }
        }
    }
    (Outcome { violations, ops: ops.len() }, sim.trace().to_vec())
}

/// Whether `op` can leave a node unable to hear its peers or be heard by them, and for how
/// long from the op on: a firewall (until it notices), or a clock step. A clock stepped back by
/// `d` mutes the node for up to `d` at peers that still take its timestamps: its sequence
/// numbers lie below those they hold until its clock passes where it stood — after a restart
/// for a step within the replay window, at once for a larger one (`docs/security.md`, limits).
/// A step forward beyond the window makes it stale to its peers, which it notices as deafness.
fn deafens(op: &Op) -> Option<Duration> {
    match *op {
        Op::Deaf { on: true, .. } => Some(Duration::ZERO),
        Op::ClockStep { secs, .. } if secs < 0 => {
            Some(Duration::from_secs(u64::from(secs.unsigned_abs())))
        }
        Op::ClockStep { secs, .. } if secs > 0 => {
            Some(Duration::from_secs(u64::from(secs.unsigned_abs()).min(31)))
        }
        _ => None,
    }
}

fn host(n: u8) -> usize {
    usize::from(n) % HOSTS
}

fn apply(sim: &mut Sim, op: &Op) {
    match *op {
        Op::Wait(ms) => sim.run_for(Duration::from_millis(u64::from(ms))),
        Op::Sleep { host: n, announce } => sim.sleep(host(n), announce),
        Op::Wake { host: n } => {
            let target = host(n);
            let other = (0..HOSTS).find(|&i| {
                sim.hosts()[i].subnet != sim.hosts()[target].subnet
                    && sim.hosts()[i].state == HostState::Up
            });
            if let Some(from) = other {
                sim.operator_wake(from, target);
            }
        }
        Op::Connect { host: n } => {
            let i = host(n);
            if let Some(&port) = sim.hosts()[i].tcp_ports.first() {
                sim.connect(i, port);
            }
        }
        Op::Crash { host: n } => sim.crash(host(n)),
        Op::KillDaemon { host: n } => {
            if sim.hosts()[host(n)].state == HostState::Up {
                sim.kill_daemon(host(n));
            }
        }
        Op::Restart { host: n, keep_state } => {
            let i = host(n);
            if matches!(sim.hosts()[i].state, HostState::DaemonDead | HostState::Down) {
                if keep_state {
                    sim.restart_with_state(i);
                } else {
                    sim.restart(i);
                }
            }
        }
        Op::Deaf { host: n, on } => sim.set_deaf(host(n), on),
        Op::EchoBlocked { host: n, on } => sim.set_echo_blocked(host(n), on),
        Op::ClockStep { host: n, secs } => sim.jump_clock(host(n), i64::from(secs) * 1000),
        Op::Loss(permille) => sim.set_loss(f64::from(permille.min(500)) / 1000.0),
        Op::Forge(ref f) => forge(sim, f),
        Op::Replay { pick, to, relayed } => {
            let recent = sim.recent_datagrams();
            if recent.is_empty() {
                return;
            }
            let (_, from, bytes) = recent[usize::from(pick) % recent.len()].clone();
            let to = host(to);
            let from = if relayed { off_link(&from) } else { from };
            sim.inject_datagram(to, from, &bytes);
        }
        Op::Frame { subnet, ref frame } => {
            let s = usize::from(subnet) % SUBNETS;
            if let Some(bytes) = hostile_frame(sim, frame) {
                sim.inject_frame(s, &bytes);
            }
        }
    }
}

/// An address on no simulated link: the relay's own, across a router.
fn off_link(from: &SocketAddr) -> SocketAddr {
    let ip = match from.ip() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(172, 31, o[2], o[3]))
        }
        v6 => v6,
    };
    SocketAddr::new(ip, from.port())
}

fn forge(sim: &mut Sim, f: &Forgery) {
    let to = host(f.to);
    let about = host(f.about);
    let now = sim.now();
    let target = &sim.hosts()[about];
    let (about_id, about_mac, about_ip) = (target.node.id(), target.mac, target.ip);
    let sender = if usize::from(f.sender) < HOSTS {
        sim.hosts()[usize::from(f.sender)].node.id()
    } else {
        NodeId::from_u128(u128::from(f.values[0]) << 64 | u128::from(f.sender))
    };
    let src = if usize::from(f.src) < HOSTS {
        let h = &sim.hosts()[usize::from(f.src)];
        SocketAddr::new(IpAddr::V4(h.ip), proto::DEFAULT_PEER_PORT)
    } else {
        SocketAddr::new(
            IpAddr::V4(std::net::Ipv4Addr::new(172, 31, 0, f.src)),
            proto::DEFAULT_PEER_PORT,
        )
    };
    let now_ms = EPOCH_UNIX_MS + now.as_micros() / 1000;
    let (seq, timestamp_ms) = match f.freshness % 4 {
        0 => (now_ms * 1000 + f.values[1] % 1_000_000, now_ms),
        1 => (u64::MAX, now_ms),
        2 => (now_ms * 1000, now_ms.saturating_sub(76_000)),
        _ => (f.values[1], now_ms.saturating_add(f.values[2] % 100_000_000)),
    };
    let host_info = |ip, mac| HostInfo {
        mac,
        ipv4: vec![Ipv4Prefix { addr: ip, len: 16 }],
        ipv6: vec![],
        tcp_ports: vec![(f.values[2] & 0xffff) as u16, 445],
    };
    let (v0, v1, v2) = (f.values[0], f.values[1], f.values[2]);
    let msg = match f.kind % 7 {
        0 => Message::Heartbeat(Heartbeat {
            host: host_info(about_ip, about_mac),
            role: [Role::Member, Role::Manager, Role::Guardian][(v0 % 3) as usize],
            term: v1,
            boot_time_s: v2,
            caps: Capabilities((v0 >> 8) as u8),
            peers_heard: Some((v0 >> 16) as u16),
            // A key holder may list any sleeper as its own, or none.
            claims: if v2 & 1 == 0 { vec![about_id] } else { Vec::new() },
            claims_complete: v2 & 2 == 0,
        }),
        1 => Message::SleepNotice(host_info(about_ip, about_mac)),
        2 => Message::ResumeNotice(host_info(about_ip, about_mac)),
        3 => Message::ProxyClaim(ProxyClaim {
            sleeper: about_id,
            sleeper_mac: about_mac,
            term: v1,
            asleep_for_s: v2 as u32,
            host: host_info(about_ip, MacAddr([2, 0, 0, 0, 0, v0 as u8])),
        }),
        4 => Message::ProxyRelease(ProxyRelease {
            sleeper: about_id,
            sleeper_mac: about_mac,
            term: v1,
            reason: ReleaseReason::from_u8(v2 as u8),
        }),
        5 => Message::WakeRequest(WakeRequest {
            target: MacAddr([2, 0, (v0 >> 8) as u8, 0, 0, v0 as u8]),
            password: WakePassword::None,
            request_id: v1 as u32,
            reason: WakeReason::Operator,
        }),
        _ => Message::Leave,
    };
    let header = Header { sender, seq, timestamp_ms };
    let mut bytes = Vec::new();
    if proto::encode(sim.key(), &header, &msg, &mut bytes).is_ok() {
        sim.inject_datagram(to, src, &bytes);
    }
}

fn hostile_frame(sim: &Sim, f: &HostileFrame) -> Option<Vec<u8>> {
    let h = |n: u8| &sim.hosts()[host(n)];
    let stranger = MacAddr([0x02, 0x5a, 0x5a, 0, 0, 1]);
    Some(match f {
        HostileFrame::ArpConflict { host: n, mac } => {
            crate::core::frame::gratuitous_arp(MacAddr(*mac), h(*n).ip).as_slice().to_vec()
        }
        HostileFrame::FromOwner { host: n } => {
            let target =
                sim.hosts().iter().find(|x| x.subnet == h(*n).subnet && x.ip != h(*n).ip)?;
            crate::core::frame::tcp_syn(h(*n).mac, target.mac, h(*n).ip, target.ip, 40_000, 22)
                .as_slice()
                .to_vec()
        }
        HostileFrame::ArpRequest { host: n } => {
            let ip = h(*n).ip;
            let asker = addressing::host_ip(h(*n).subnet, 200);
            crate::core::frame::arp_request(stranger, asker, ip).as_slice().to_vec()
        }
        HostileFrame::Syn { host: n, port } => {
            let asker = addressing::host_ip(h(*n).subnet, 200);
            crate::core::frame::tcp_syn(
                stranger,
                MacAddr::BROADCAST,
                asker,
                h(*n).ip,
                40_001,
                *port,
            )
            .as_slice()
            .to_vec()
        }
        HostileFrame::Junk(bytes) => bytes.clone(),
    })
}

/// Decodes a fuzzer's bytes into ops: every byte string is a valid run.
pub fn ops_from_bytes(mut data: &[u8]) -> Vec<Op> {
    let mut take = |n: usize| -> Option<Vec<u8>> {
        if data.len() < n {
            return None;
        }
        let (head, rest) = data.split_at(n);
        data = rest;
        Some(head.to_vec())
    };
    let mut ops = Vec::new();
    while let Some(b) = take(4) {
        let (kind, a, c, d) = (b[0], b[1], b[2], b[3]);
        let op = match kind % 14 {
            0 => Op::Wait(u16::from_be_bytes([c, d])),
            1 => Op::Sleep { host: a, announce: c & 1 == 0 },
            2 => Op::Wake { host: a },
            3 => Op::Connect { host: a },
            4 => Op::Crash { host: a },
            5 => Op::KillDaemon { host: a },
            6 => Op::Restart { host: a, keep_state: c & 1 == 0 },
            7 => Op::Deaf { host: a, on: c & 1 == 0 },
            8 => Op::EchoBlocked { host: a, on: c & 1 == 0 },
            9 => Op::ClockStep { host: a, secs: i16::from_be_bytes([c, d]) },
            10 => Op::Loss(u16::from_be_bytes([c, d])),
            11 => {
                let Some(v) = take(24) else { break };
                let word = |i: usize| {
                    u64::from_be_bytes(v[i * 8..i * 8 + 8].try_into().unwrap_or_default())
                };
                Op::Forge(Forgery {
                    to: a,
                    sender: c,
                    src: d,
                    kind: v[0],
                    about: v[1],
                    values: [word(0), word(1), word(2)],
                    freshness: v[2],
                })
            }
            12 => Op::Replay { pick: a, to: c, relayed: d & 1 == 0 },
            _ => {
                let frame = match c % 5 {
                    0 => HostileFrame::ArpConflict { host: a, mac: [2, d, 0, 0, 0, a] },
                    1 => HostileFrame::FromOwner { host: a },
                    2 => HostileFrame::ArpRequest { host: a },
                    3 => HostileFrame::Syn { host: a, port: u16::from(d) * 8 },
                    _ => HostileFrame::Junk(take(usize::from(d % 64)).unwrap_or_default()),
                };
                Op::Frame { subnet: a, frame }
            }
        };
        ops.push(op);
    }
    ops
}
