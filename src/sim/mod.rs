//! An in-process network of many nodes on a virtual clock: `wakeproxy simulate` and the tests.
//!
//! It drives the real [`Node`] state machines (real codec, real HMAC, real election) over a
//! simulated LAN per subnet with seeded loss and latency, partitions, hosts that sleep with or
//! without notice, wake on magic packets, crash and restart. Everything is a function of the seed:
//! the same arguments give the same report.
//!
//! What the simulator models: subnet-directed broadcast within a subnet, a router that forwards
//! routed datagrams (including directed broadcasts) between subnets, ICMP probes (three echo
//! attempts, each lost like any packet), Wake-on-LAN NICs that resume their host a fixed delay
//! after a magic packet with their MAC, and a capture path that hands every frame sent on a
//! subnet to every node on it. What it does not: switches, ARP caches, TCP retransmission.

pub mod addressing;
pub mod chaos;
mod invariants;
mod report;
mod scenario;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rustc_hash::{FxHashMap, FxHashSet};

pub use invariants::{DUAL_GRACE, Violation};
pub use report::{FaultRecord, Report};
pub use scenario::{ScenarioConfig, run_scenario};

use crate::core::addr::{MacAddr, NodeId};
use crate::core::node::{Action, Destination, Event, IfaceConfig, IfaceId, Node, NodeConfig};
use crate::core::proto::{Ipv4Prefix, Role, SiteKey};
use crate::core::time::Instant;

/// The wall clock of simulated time zero (2027-01-15), in Unix milliseconds.
const EPOCH_UNIX_MS: u64 = 1_800_000_000_000;
/// How often convergence is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The interface every simulated host has.
pub const IFACE: IfaceId = IfaceId(0);

/// The shape of a simulated network.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Hosts in all.
    pub nodes: usize,
    /// Subnets they are spread over (round robin).
    pub subnets: usize,
    /// Probability that any one packet is lost (0 ≤ loss < 1).
    pub loss: f64,
    /// One-way latency of every packet.
    pub latency: Duration,
    /// Extra random latency, up to this much.
    pub jitter: Duration,
    /// Heartbeat interval of every node.
    pub heartbeat: Duration,
    /// How long a host takes to resume after its NIC sees a magic packet.
    pub resume_delay: Duration,
    /// Guardians per subnet.
    pub guardians: usize,
    /// Largest clock error of any host (each gets a random one up to this, either way).
    pub clock_skew: Duration,
    /// Seeds everything random.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 12,
            subnets: 2,
            loss: 0.0,
            latency: Duration::from_micros(200),
            jitter: Duration::from_micros(300),
            heartbeat: Duration::from_secs(5),
            resume_delay: Duration::from_secs(2),
            guardians: 3,
            clock_skew: Duration::from_millis(500),
            seed: 1,
        }
    }
}

/// Arguments a simulation cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// No nodes.
    #[error("--nodes must be at least 1")]
    NoNodes,
    /// No subnets, or more subnets than nodes.
    #[error("--subnets must be between 1 and the number of nodes ({nodes}), got {subnets}")]
    Subnets {
        /// Nodes asked for.
        nodes: usize,
        /// Subnets asked for.
        subnets: usize,
    },
    /// Too many nodes for the address plan.
    #[error(
        "at most 250 subnets and 60000 nodes per subnet can be simulated, got {nodes} nodes on {subnets} subnets"
    )]
    TooLarge {
        /// Nodes asked for.
        nodes: usize,
        /// Subnets asked for.
        subnets: usize,
    },
    /// A loss outside [0, 1).
    #[error("--loss must be a fraction from 0 up to (not including) 1, got {0}")]
    Loss(f64),
    /// A zero heartbeat interval.
    #[error("--heartbeat must be longer than zero")]
    Heartbeat,
    /// A share of sleeping hosts outside [0, 1].
    #[error("--asleep must be a fraction from 0 to 1, got {0}")]
    AsleepFraction(f64),
}

impl SimConfig {
    /// Checks that the simulation can run.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.nodes == 0 {
            return Err(SimError::NoNodes);
        }
        if self.subnets == 0 || self.subnets > self.nodes {
            return Err(SimError::Subnets { nodes: self.nodes, subnets: self.subnets });
        }
        if self.subnets > 250 || self.nodes.div_ceil(self.subnets) > 60_000 {
            return Err(SimError::TooLarge { nodes: self.nodes, subnets: self.subnets });
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(SimError::Loss(self.loss));
        }
        if self.heartbeat.is_zero() {
            return Err(SimError::Heartbeat);
        }
        Ok(())
    }
}

/// What a simulated host is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    /// Running its daemon.
    Up,
    /// Asleep; its NIC watches for magic packets.
    Asleep,
    /// Its daemon is dead but the host answers pings.
    DaemonDead,
    /// Powered off or frozen: answers nothing.
    Down,
}

/// One simulated host.
#[derive(Debug)]
pub struct Host {
    /// Its node (replaced on restart).
    pub node: Node,
    /// Its subnet.
    pub subnet: usize,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
    /// What it is doing.
    pub state: HostState,
    /// It holds the OS's sleep (a guardian).
    pub inhibits_sleep: bool,
    /// Its role, as its last ElectionChanged event said.
    pub role: Role,
    /// The sleepers it answers for, as its events said.
    pub proxied: FxHashSet<NodeId>,
    /// The TCP ports it listens on.
    pub tcp_ports: Vec<u16>,
    /// Its firewall drops every inbound peer datagram (its own echoes too).
    pub deaf: bool,
    /// Its firewall drops ICMP echo requests (the Windows default).
    pub echo_blocked: bool,
    /// Since when the host has been up (awake, daemon running or not), if it is.
    pub up_since: Option<Instant>,
    cfg: NodeConfig,
    timer: Option<Instant>,
    resume_at: Option<Instant>,
    mute: bool,
    group: u32,
    skew_ms: i64,
}

enum Ev {
    /// `origin`: the host whose node sent it, `None` for datagrams injected by tests.
    Datagram {
        to: usize,
        from: SocketAddr,
        bytes: Rc<[u8]>,
        origin: Option<usize>,
    },
    Frame {
        to: usize,
        bytes: Rc<[u8]>,
    },
    Timer {
        to: usize,
    },
    Probe {
        to: usize,
        ip: IpAddr,
        rtt: Option<Duration>,
    },
    Resume {
        to: usize,
    },
    Sample,
}

struct Queued {
    at: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// The site key every simulated node starts with (public: tests build the keys of a rollover
/// from it).
pub const SIM_KEY: &[u8; 32] = b"wakeproxy simulated site key 32b";

/// The simulated network.
pub struct Sim {
    cfg: SimConfig,
    key: SiteKey,
    hosts: Vec<Host>,
    subnet_hosts: Vec<Vec<usize>>,
    by_ip: FxHashMap<Ipv4Addr, usize>,
    queue: BinaryHeap<Reverse<Queued>>,
    now: Instant,
    seq: u64,
    rng: ChaCha8Rng,
    managers: Vec<FxHashSet<usize>>,
    sole_manager: Vec<Option<NodeId>>,
    /// When a subnet got a second manager, and whether a partition was in force then.
    dual_manager_since: Vec<Option<(Instant, bool)>>,
    proxies: FxHashMap<NodeId, FxHashSet<usize>>,
    dual_proxy_since: FxHashMap<NodeId, (Instant, bool)>,
    report: Report,
    /// Faults whose convergence is measured until the next fault.
    pending_faults: Vec<usize>,
    /// The network was converged at the last sample.
    converged_now: bool,
    /// When it last became converged.
    last_converged_at: Instant,
    sent: u64,
    /// A partition is in force: two managers or proxies are then expected, and counted apart.
    partitioned: bool,
    /// Invariant checks after every event, when enabled (`enable_checks`).
    checks: Option<invariants::Checks>,
    /// Every node event, when tracing (`enable_trace`).
    trace: Option<Vec<String>>,
    /// Probes are never lost (see `set_truthful_probes`).
    truthful_probes: bool,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Builds the network and starts every node at time zero.
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let key = SiteKey::new(SIM_KEY).expect("32-byte key");
        let mut sim = Self {
            key,
            hosts: Vec::with_capacity(cfg.nodes),
            subnet_hosts: vec![Vec::new(); cfg.subnets],
            by_ip: FxHashMap::default(),
            queue: BinaryHeap::new(),
            now: Instant::ZERO,
            seq: 0,
            managers: vec![FxHashSet::default(); cfg.subnets],
            sole_manager: vec![None; cfg.subnets],
            dual_manager_since: vec![None; cfg.subnets],
            proxies: FxHashMap::default(),
            dual_proxy_since: FxHashMap::default(),
            report: Report { nodes: cfg.nodes, subnets: cfg.subnets, ..Report::default() },
            pending_faults: Vec::new(),
            converged_now: false,
            last_converged_at: Instant::ZERO,
            sent: 0,
            partitioned: false,
            checks: None,
            trace: None,
            truthful_probes: false,
            rng: ChaCha8Rng::seed_from_u64(rng.next_u64()),
            cfg: cfg.clone(),
        };
        const PORT_POOL: [u16; 6] = [22, 80, 445, 3389, 5985, 8080];
        for i in 0..cfg.nodes {
            let subnet = i % cfg.subnets;
            let k = i / cfg.subnets;
            let (ip, mac) = (addressing::host_ip(subnet, k), addressing::host_mac(subnet, k));
            let id =
                NodeId::from_u128(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
            // Hosts booted some time in the last 30 days: uptimes differ, as on a real LAN.
            let boot_time_s = EPOCH_UNIX_MS / 1000 - rng.next_u64() % (30 * 86_400);
            let mut node_cfg = NodeConfig::new(id, boot_time_s, rng.next_u64())
                .with_heartbeat_interval(cfg.heartbeat);
            node_cfg.guardians = cfg.guardians;
            let tcp_ports: Vec<u16> =
                PORT_POOL.iter().copied().filter(|_| rng.next_u32() % 2 == 0).collect();
            let skew = cfg.clock_skew.as_millis() as i64;
            let skew_ms =
                if skew == 0 { 0 } else { (rng.next_u64() % (2 * skew as u64 + 1)) as i64 - skew };
            let node = Self::boot(&sim.key, &node_cfg, Instant::ZERO, skew_ms, ip, mac, &tcp_ports);
            sim.by_ip.insert(ip, i);
            sim.subnet_hosts[subnet].push(i);
            sim.hosts.push(Host {
                node,
                subnet,
                ip,
                mac,
                state: HostState::Up,
                inhibits_sleep: false,
                role: Role::Member,
                proxied: FxHashSet::default(),
                tcp_ports,
                deaf: false,
                echo_blocked: false,
                up_since: Some(Instant::ZERO),
                cfg: node_cfg,
                timer: None,
                resume_at: None,
                mute: false,
                group: 0,
                skew_ms,
            });
            sim.reschedule(i);
        }
        sim.push(Instant::ZERO + SAMPLE_EVERY, Ev::Sample);
        Ok(sim)
    }

    fn boot(
        key: &SiteKey,
        cfg: &NodeConfig,
        now: Instant,
        skew_ms: i64,
        ip: Ipv4Addr,
        mac: MacAddr,
        ports: &[u16],
    ) -> Node {
        let unix = wall(now, skew_ms);
        let mut node = Node::new(cfg.clone(), key.clone(), now, unix);
        let ipv6 = crate::core::proto::Ipv6Prefix { addr: link_local(mac), len: 64 };
        node.add_iface(
            now,
            IfaceConfig {
                id: IFACE,
                name: "eth0".into(),
                mac,
                ipv4: vec![Ipv4Prefix { addr: ip, len: 16 }],
                ipv6: vec![ipv6],
            },
        );
        node.set_tcp_ports(ports.to_vec());
        node
    }

    // ----- inspection ------------------------------------------------------------------------

    /// Simulated time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Every host.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The hosts of subnet `s`.
    pub fn subnet(&self, s: usize) -> &[usize] {
        &self.subnet_hosts[s]
    }

    /// Hosts of subnet `s` that are up and whose node is manager.
    pub fn managers(&self, s: usize) -> Vec<usize> {
        let mut m: Vec<usize> = self.managers[s].iter().copied().collect();
        m.sort_unstable();
        m
    }

    /// Hosts that answer for `sleeper` now.
    pub fn proxies_of(&self, sleeper: &NodeId) -> Vec<usize> {
        let mut p: Vec<usize> =
            self.proxies.get(sleeper).map(|s| s.iter().copied().collect()).unwrap_or_default();
        p.sort_unstable();
        p
    }

    /// True if every subnet has exactly one manager.
    pub fn one_manager_per_subnet(&self) -> bool {
        self.managers.iter().all(|m| m.len() == 1)
    }

    /// True if every subnet has exactly one manager and every running node of the subnet names
    /// it as its manager: the network has converged.
    pub fn converged(&self) -> bool {
        self.one_manager_per_subnet()
            && self.managers.iter().enumerate().all(|(s, m)| {
                let id = m.iter().next().map(|&i| self.hosts[i].node.id());
                self.subnet_hosts[s]
                    .iter()
                    .map(|&i| &self.hosts[i])
                    .filter(|h| h.state == HostState::Up && !h.node.is_asleep())
                    .all(|h| h.node.manager(IFACE) == id)
            })
    }

    /// The report so far.
    pub fn report(&self) -> Report {
        let mut r = self.report.clone();
        Self::settle(&mut r, &self.pending_faults, self.converged(), self.last_converged_at);
        r.duration = self.now.since_origin();
        let secs = r.duration.as_secs_f64().max(1e-9);
        r.messages_per_node_per_s = self.sent as f64 / self.cfg.nodes as f64 / secs;
        r.rejected_messages = self
            .hosts
            .iter()
            .map(|h| {
                let c = h.node.counters();
                c.malformed + c.unauthenticated + c.replayed + c.stale + c.version_mismatch
            })
            .sum();
        r
    }

    /// The site key every simulated node uses (tests forge and replay with it).
    pub fn key(&self) -> &SiteKey {
        &self.key
    }

    // ----- running ---------------------------------------------------------------------------

    /// Runs until simulated time `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > until {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            self.step(q.ev);
        }
        self.now = until;
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until `pred` holds (checked after every event) or `limit` passes; returns the time
    /// it took, or `None`.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        if pred(self) {
            return Some(Duration::ZERO);
        }
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > end {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            self.step(q.ev);
            if pred(self) {
                return Some(self.now.saturating_since(start));
            }
        }
        self.now = end;
        None
    }

    fn step(&mut self, ev: Ev) {
        self.handle(ev);
        if self.checks.is_some() {
            self.check_after_event();
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Datagram { to, from, bytes, origin } => {
                // A deaf host's firewall drops what reaches the peer port, whoever sent it
                // (an injected replay too), and whenever it was sent.
                if self.hosts[to].state == HostState::Up && !self.hosts[to].deaf {
                    let now = self.now;
                    let before = self.hosts[to].node.counters().accepted;
                    self.hosts[to].node.handle_datagram(now, IFACE, from, &bytes);
                    if self.hosts[to].node.counters().accepted > before {
                        self.note_accepted(to, origin);
                    }
                    self.drain(to);
                }
            }
            Ev::Frame { to, bytes } => {
                if self.hosts[to].state == HostState::Up {
                    let now = self.now;
                    self.hosts[to].node.handle_frame(now, IFACE, &bytes);
                    self.drain(to);
                }
            }
            Ev::Timer { to } => {
                let h = &mut self.hosts[to];
                if h.timer == Some(self.now) {
                    h.timer = None;
                    if h.state == HostState::Up {
                        let now = self.now;
                        h.node.handle_timeout(now);
                        if self.checks.is_some() {
                            self.check_timer_advanced(to);
                        }
                        self.drain(to);
                    }
                }
            }
            Ev::Probe { to, ip, rtt } => {
                if self.hosts[to].state == HostState::Up {
                    let now = self.now;
                    self.hosts[to].node.handle_probe_result(now, IFACE, ip, rtt);
                    self.drain(to);
                }
            }
            Ev::Resume { to } => {
                let h = &mut self.hosts[to];
                if h.state == HostState::Asleep && h.resume_at == Some(self.now) {
                    h.state = HostState::Up;
                    h.up_since = Some(self.now);
                    h.resume_at = None;
                    h.mute = false;
                    let (now, unix) = (self.now, wall(self.now, h.skew_ms));
                    h.node.resumed(now, unix);
                    self.drain(to);
                }
            }
            Ev::Sample => {
                if !self.pending_faults.is_empty() {
                    let c = self.converged();
                    if c && !self.converged_now {
                        self.last_converged_at = self.now;
                    }
                    self.converged_now = c;
                }
                self.push(self.now + SAMPLE_EVERY, Ev::Sample);
            }
        }
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { at, seq: self.seq, ev }));
    }

    fn reschedule(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        if let Some(t) = h.node.poll_timeout() {
            // A deadline that does not move past a timeout just handled would spin forever;
            // with checks on it is reported (`check_timer_advanced`) and stepped over.
            let floor = if self.checks.is_some() && t <= self.now {
                self.now + Duration::from_millis(1)
            } else {
                self.now
            };
            let t = t.max(floor);
            if h.timer.is_none_or(|cur| t < cur) {
                h.timer = Some(t);
                self.push(t, Ev::Timer { to: i });
            }
        }
    }

    fn lost(&mut self) -> bool {
        self.cfg.loss > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < self.cfg.loss
    }

    fn delay(&mut self) -> Duration {
        let j = self.cfg.jitter.as_micros() as u64;
        self.cfg.latency + Duration::from_micros(if j == 0 { 0 } else { self.rng.next_u64() % j })
    }

    fn reachable(&self, from: usize, to: usize) -> bool {
        from != to && self.hosts[from].group == self.hosts[to].group
    }

    /// Executes what host `i`'s node asked for.
    fn drain(&mut self, i: usize) {
        while let Some(action) = self.hosts[i].node.poll_action() {
            let mute = self.hosts[i].mute;
            match action {
                Action::SendDatagram { dst, bytes, .. } => {
                    self.sent += 1;
                    if mute {
                        continue;
                    }
                    let bytes: Rc<[u8]> = bytes.into();
                    let from = SocketAddr::new(
                        IpAddr::V4(self.hosts[i].ip),
                        crate::core::proto::DEFAULT_PEER_PORT,
                    );
                    let targets: Vec<usize> = match dst {
                        Destination::Broadcast => self.subnet_hosts[self.hosts[i].subnet].clone(),
                        Destination::Unicast(IpAddr::V4(ip)) => {
                            self.by_ip.get(&ip).copied().into_iter().collect()
                        }
                        Destination::Routed(SocketAddr::V4(a)) => {
                            match addressing::subnet_of(*a.ip()) {
                                Some(s)
                                    if s < self.cfg.subnets
                                        && *a.ip() == addressing::broadcast_ip(s) =>
                                {
                                    self.subnet_hosts[s].clone()
                                }
                                _ => self.by_ip.get(a.ip()).copied().into_iter().collect(),
                            }
                        }
                        _ => Vec::new(),
                    };
                    self.note_sent(i, from, &bytes);
                    for to in targets {
                        // A broadcast comes back to its sender's own socket, as on Linux; that
                        // echo is how a node knows it hears its LAN.
                        let echo = to == i && dst == Destination::Broadcast;
                        if echo || self.reachable(i, to) && !self.lost() {
                            let at = self.now + self.delay();
                            let ev =
                                Ev::Datagram { to, from, bytes: bytes.clone(), origin: Some(i) };
                            self.push(at, ev);
                        }
                    }
                }
                Action::SendFrame { frame, .. } => {
                    if !mute {
                        self.broadcast_frame(i, frame.as_slice().into());
                    }
                }
                Action::SendMagicPacket { packet, .. } => {
                    if mute {
                        continue;
                    }
                    self.report.wakes_sent += 1;
                    let mut buf = [0u8; 128];
                    let n = packet.write_ethernet_frame(
                        self.hosts[i].mac,
                        MacAddr::BROADCAST,
                        &mut buf,
                    );
                    self.broadcast_frame(i, buf[..n].into());
                    let subnet = self.hosts[i].subnet;
                    for k in 0..self.subnet_hosts[subnet].len() {
                        let t = self.subnet_hosts[subnet][k];
                        let h = &self.hosts[t];
                        if h.mac == packet.target
                            && h.state == HostState::Asleep
                            && h.resume_at.is_none()
                            && self.reachable(i, t)
                            && !self.lost()
                        {
                            let at = self.now + self.cfg.resume_delay;
                            self.hosts[t].resume_at = Some(at);
                            self.report.hosts_woken += 1;
                            self.push(at, Ev::Resume { to: t });
                        }
                    }
                }
                Action::Probe { ip, timeout, tcp_ports, .. } => {
                    let target = match ip {
                        IpAddr::V4(v4) => self.by_ip.get(&v4).copied(),
                        IpAddr::V6(v6) => self.hosts.iter().position(|h| link_local(h.mac) == v6),
                    };
                    // An awake host answers the echo, unless its firewall drops echo requests;
                    // then only a TCP connection to a port it listens on (SYN-ACK) tells.
                    let answers = target.is_some_and(|t| {
                        let h = &self.hosts[t];
                        matches!(h.state, HostState::Up | HostState::DaemonDead)
                            && self.reachable(i, t)
                            && (!h.echo_blocked
                                || tcp_ports.iter().any(|p| h.tcp_ports.contains(p)))
                    });
                    // Three echo requests; each needs both directions to get through (unless
                    // probes are taken as truthful: see `set_truthful_probes`).
                    let got = answers
                        && (self.truthful_probes || (0..3).any(|_| !self.lost() && !self.lost()));
                    let (at, rtt) = if got {
                        let rtt = self.delay() + self.delay();
                        (self.now + rtt, Some(rtt))
                    } else {
                        (self.now + timeout, None)
                    };
                    if let Some(t) = &mut self.trace {
                        t.push(format!("{:?} host {i}: probe {ip} answered: {got}", self.now));
                    }
                    self.push(at, Ev::Probe { to: i, ip, rtt });
                }
                Action::InhibitSleep(on) => self.hosts[i].inhibits_sleep = on,
                Action::Event(e) => self.track(i, e),
            }
        }
        self.reschedule(i);
    }

    fn broadcast_frame(&mut self, from: usize, bytes: Rc<[u8]>) {
        let subnet = self.hosts[from].subnet;
        for k in 0..self.subnet_hosts[subnet].len() {
            let to = self.subnet_hosts[subnet][k];
            if self.reachable(from, to) && !self.lost() {
                let at = self.now + self.delay();
                self.push(at, Ev::Frame { to, bytes: bytes.clone() });
            }
        }
    }

    /// Follows roles and proxies through the nodes' events.
    fn track(&mut self, i: usize, e: Event) {
        if let Some(t) = &mut self.trace {
            t.push(format!("{:?} host {i}: {e:?}", self.now));
        }
        match e {
            Event::ElectionChanged { role, .. } => {
                self.hosts[i].role = role;
                self.update_manager(i);
            }
            Event::ProxyStarted { sleeper, .. } => {
                if self.checks.is_some() {
                    self.check_claim(i, sleeper);
                }
                self.hosts[i].proxied.insert(sleeper);
                self.proxies.entry(sleeper).or_default().insert(i);
                self.update_dual_proxy(sleeper);
            }
            Event::ProxyStopped { sleeper, .. } => {
                self.hosts[i].proxied.remove(&sleeper);
                if let Some(set) = self.proxies.get_mut(&sleeper) {
                    set.remove(&i);
                }
                self.update_dual_proxy(sleeper);
            }
            Event::WakeSent { attempt: 1, .. } => self.report.wake_sequences += 1,
            Event::WakeConfirmed { .. } => self.report.wakes_confirmed += 1,
            Event::WakeGaveUp { .. } => self.report.wakes_gave_up += 1,
            _ => {}
        }
    }

    fn update_manager(&mut self, i: usize) {
        let h = &self.hosts[i];
        let s = h.subnet;
        if h.role == Role::Manager && h.state == HostState::Up {
            self.managers[s].insert(i);
        } else {
            self.managers[s].remove(&i);
        }
        let n = self.managers[s].len();
        match (n >= 2, self.dual_manager_since[s]) {
            (true, None) => self.dual_manager_since[s] = Some((self.now, self.partitioned)),
            (false, Some((since, partitioned))) => {
                self.dual_manager_since[s] = None;
                let d = self.now.saturating_since(since);
                let r = &mut self.report;
                if partitioned {
                    r.dual_manager_partitioned += 1;
                } else {
                    r.dual_manager_periods += 1;
                    r.dual_manager_longest = r.dual_manager_longest.max(d);
                }
            }
            _ => {}
        }
        if n == 1 {
            let only = *self.managers[s].iter().next().expect("one");
            let id = self.hosts[only].cfg.id;
            if self.sole_manager[s].is_some_and(|prev| prev != id) {
                self.report.manager_changes += 1;
            }
            self.sole_manager[s] = Some(id);
        }
    }

    fn update_dual_proxy(&mut self, sleeper: NodeId) {
        // Two proxies on one subnet; one on each of two subnets is no conflict (a host on two
        // LANs, or a key holder's forgery that only one subnet believes).
        let n = self.proxies.get(&sleeper).map_or(0, |set| {
            let mut per_subnet = vec![0usize; self.cfg.subnets];
            for &i in set {
                per_subnet[self.hosts[i].subnet] += 1;
            }
            per_subnet.into_iter().max().unwrap_or(0)
        });
        match (n >= 2, self.dual_proxy_since.get(&sleeper).copied()) {
            (true, None) => {
                self.dual_proxy_since.insert(sleeper, (self.now, self.partitioned));
            }
            (false, Some((since, partitioned))) => {
                self.dual_proxy_since.remove(&sleeper);
                let d = self.now.saturating_since(since);
                let r = &mut self.report;
                if partitioned {
                    r.dual_proxy_partitioned += 1;
                } else {
                    r.dual_proxy_periods += 1;
                    r.dual_proxy_longest = r.dual_proxy_longest.max(d);
                }
            }
            _ => {}
        }
    }

    /// The longest time any sleeper has had two proxies so far, counting periods still open.
    pub fn longest_dual_proxy(&self) -> Duration {
        let open = self
            .dual_proxy_since
            .values()
            .filter(|(_, partitioned)| !partitioned)
            .map(|(s, _)| self.now.saturating_since(*s))
            .max()
            .unwrap_or_default();
        self.report.dual_proxy_longest.max(open)
    }

    /// The longest time any subnet has had two managers so far, counting periods still open.
    pub fn longest_dual_manager(&self) -> Duration {
        let open = self
            .dual_manager_since
            .iter()
            .flatten()
            .filter(|(_, partitioned)| !partitioned)
            .map(|(s, _)| self.now.saturating_since(*s))
            .max()
            .unwrap_or_default();
        self.report.dual_manager_longest.max(open)
    }

    /// Forgets what a host's node had claimed: it died without a word.
    fn vanish(&mut self, i: usize) {
        let claimed: Vec<NodeId> = self.hosts[i].proxied.drain().collect();
        for s in claimed {
            if let Some(set) = self.proxies.get_mut(&s) {
                set.remove(&i);
            }
            self.update_dual_proxy(s);
        }
        self.hosts[i].role = Role::Member;
        self.update_manager(i);
    }

    // ----- faults ----------------------------------------------------------------------------

    /// Records a fault whose convergence the report measures: the time from the fault until
    /// the network last became converged before the next fault (`None` if it was not converged
    /// when the next fault came).
    pub fn note_fault(&mut self, what: impl Into<String>) {
        let now = self.now;
        // Judge the previous faults by the last sample, taken before this fault struck; faults
        // that strike at the same instant are judged together.
        let same_instant = self
            .pending_faults
            .last()
            .is_some_and(|&i| self.report.faults[i].at == now.since_origin());
        if !same_instant {
            let pending = std::mem::take(&mut self.pending_faults);
            Self::settle(&mut self.report, &pending, self.converged_now, self.last_converged_at);
        }
        self.converged_now = self.converged();
        self.last_converged_at = now;
        let at = now.since_origin();
        self.report.faults.push(FaultRecord { at, what: what.into(), converged_after: None });
        self.pending_faults.push(self.report.faults.len() - 1);
    }

    fn settle(report: &mut Report, pending: &[usize], converged: bool, at: Instant) {
        for &i in pending {
            let f = &mut report.faults[i];
            f.converged_after = converged.then(|| at.since_origin().saturating_sub(f.at));
        }
    }

    /// Host `i` loses power (or freezes): no notice, answers nothing, its NIC is dead too.
    pub fn crash(&mut self, i: usize) {
        self.hosts[i].state = HostState::Down;
        self.hosts[i].up_since = None;
        self.vanish(i);
    }

    /// Host `i`'s daemon is killed; the host stays up and answers pings.
    pub fn kill_daemon(&mut self, i: usize) {
        self.hosts[i].state = HostState::DaemonDead;
        self.vanish(i);
    }

    /// Host `i` starts again with a fresh daemon (same id, new process).
    pub fn restart(&mut self, i: usize) {
        self.forget_daemon_run(i);
        let h = &mut self.hosts[i];
        h.node = Self::boot(&self.key, &h.cfg, self.now, h.skew_ms, h.ip, h.mac, &h.tcp_ports);
        if h.state != HostState::DaemonDead {
            h.up_since = Some(self.now);
        }
        h.state = HostState::Up;
        h.timer = None;
        h.resume_at = None;
        h.mute = false;
        self.reschedule(i);
    }

    /// Host `i` reloads its key file, which now holds `key` (a step of a key rollover). A
    /// restart boots it with the simulation's key again.
    pub fn set_key(&mut self, i: usize, key: SiteKey) {
        self.hosts[i].node.set_key(key);
    }

    /// Host `i` goes to sleep; with `announce` it sends its SleepNotice first, without it just
    /// goes quiet (a failed hook, a forced suspend).
    pub fn sleep(&mut self, i: usize, announce: bool) {
        if self.hosts[i].state != HostState::Up {
            return;
        }
        self.hosts[i].mute = !announce;
        let now = self.now;
        self.hosts[i].node.going_to_sleep(now);
        self.drain(i);
        self.hosts[i].state = HostState::Asleep;
        self.hosts[i].up_since = None;
        self.hosts[i].mute = true;
        self.vanish(i);
    }

    /// Host `i` announces its sleep but the suspend fails: its daemon hangs (sends nothing more)
    /// while the host stays up, answering pings and ARP. Nobody may answer for it.
    pub fn failed_suspend(&mut self, i: usize) {
        if self.hosts[i].state != HostState::Up {
            return;
        }
        let now = self.now;
        self.hosts[i].node.going_to_sleep(now);
        self.drain(i);
        self.hosts[i].state = HostState::DaemonDead;
        self.vanish(i);
    }

    /// A host on the same subnet as sleeper `i` opens a TCP connection to `port` on it: the SYN
    /// reaches every node's capture path on the subnet.
    pub fn connect(&mut self, i: usize, port: u16) {
        let subnet = self.hosts[i].subnet;
        let Some(&caller) = self.subnet_hosts[subnet]
            .iter()
            .find(|&&c| c != i && self.hosts[c].state == HostState::Up)
        else {
            return;
        };
        let f = crate::core::frame::synth::tcp_syn_v4(
            self.hosts[caller].mac,
            MacAddr::BROADCAST,
            self.hosts[caller].ip,
            self.hosts[i].ip,
            50_000,
            port,
        );
        self.broadcast_frame(caller, f.into());
    }

    /// An operator on host `from` wakes host `target` by MAC: locally if they share a subnet,
    /// otherwise with a WakeRequest to the target subnet's broadcast address.
    pub fn operator_wake(&mut self, from: usize, target: usize) {
        let now = self.now;
        let mac = self.hosts[target].mac;
        let same = self.hosts[from].subnet == self.hosts[target].subnet;
        let to = SocketAddr::new(
            IpAddr::V4(addressing::broadcast_ip(self.hosts[target].subnet)),
            crate::core::proto::DEFAULT_PEER_PORT,
        );
        let node = &mut self.hosts[from].node;
        let _ = if same {
            node.wake(now, crate::core::node::WakeTarget::Mac(mac), None).map(|_| ())
        } else {
            node.request_remote_wake(now, to, mac, None)
        };
        self.drain(from);
    }

    /// Host `i`'s firewall starts (or stops) dropping every inbound peer datagram.
    pub fn set_deaf(&mut self, i: usize, deaf: bool) {
        self.hosts[i].deaf = deaf;
    }

    /// Host `i`'s firewall starts (or stops) dropping ICMP echo requests.
    pub fn set_echo_blocked(&mut self, i: usize, blocked: bool) {
        self.hosts[i].echo_blocked = blocked;
    }

    /// Probes tell the truth from now on: a probe of a host that is up and reachable always
    /// answers, whatever the loss. This is the driver's contract with the core (its probe
    /// retries within the window); without it, a lossy network can make an awake host look
    /// asleep to any prober, which the property tests measure separately.
    pub fn set_truthful_probes(&mut self, on: bool) {
        self.truthful_probes = on;
    }

    /// Records every node event from now on (see [`Sim::trace`]).
    pub fn enable_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    /// The events recorded since [`Sim::enable_trace`], one line each; the caller may add
    /// lines of its own (`note`).
    pub fn trace(&self) -> &[String] {
        self.trace.as_deref().unwrap_or(&[])
    }

    /// Adds a line to the trace, if tracing.
    pub fn note(&mut self, what: impl FnOnce() -> String) {
        let now = self.now;
        if let Some(t) = &mut self.trace {
            t.push(format!("{now:?} {}", what()));
        }
    }

    /// Host `i`'s wall clock is stepped by `ms` (NTP correcting it, an administrator setting
    /// it): its node is told at once, as the daemon tells it before each input it hands over.
    pub fn jump_clock(&mut self, i: usize, ms: i64) {
        let h = &mut self.hosts[i];
        h.skew_ms = h.skew_ms.saturating_add(ms);
        if h.state == HostState::Up {
            let (now, unix) = (self.now, wall(self.now, h.skew_ms));
            h.node.handle_wall_clock(now, unix);
        }
    }

    /// Sets the probability that any one packet is lost from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.cfg.loss = loss.clamp(0.0, 0.99);
    }

    /// Puts a raw frame on subnet `s` as if a station there had sent it (tests: a hostile or
    /// confused station): every node's capture sees it.
    pub fn inject_frame(&mut self, s: usize, bytes: &[u8]) {
        let bytes: Rc<[u8]> = bytes.into();
        for k in 0..self.subnet_hosts[s].len() {
            let to = self.subnet_hosts[s][k];
            let at = self.now + self.delay();
            self.push(at, Ev::Frame { to, bytes: bytes.clone() });
        }
    }

    /// Host `i`'s daemon starts again with the sleeper registry its last run saved, as a
    /// daemon with its state directory does (`restart` is one without it).
    pub fn restart_with_state(&mut self, i: usize) {
        let saved = self.hosts[i].node.known_sleepers(self.now);
        self.restart(i);
        let now = self.now;
        for s in saved {
            self.hosts[i].node.restore_sleeper(now, s.iface, s.id, s.host, s.asleep_for);
        }
        self.drain(i);
    }

    /// Splits the network: hosts in `side` can only reach each other.
    pub fn partition(&mut self, side: &[usize]) {
        for &i in side {
            self.hosts[i].group = 1;
        }
        self.partitioned = true;
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        for h in &mut self.hosts {
            h.group = 0;
        }
        self.partitioned = false;
    }

    /// Hands a raw datagram to host `to` as if `from` had sent it (tests: forgeries, replays).
    pub fn inject_datagram(&mut self, to: usize, from: SocketAddr, bytes: &[u8]) {
        let at = self.now;
        self.push(at, Ev::Datagram { to, from, bytes: bytes.into(), origin: None });
    }

    /// Records every datagram host `i` sends from now on for `d`, and returns them (tests).
    pub fn capture_from(&mut self, i: usize, d: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let end = self.now + d;
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > end {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            if let Ev::Datagram { from, bytes, .. } = &q.ev {
                if from.ip() == IpAddr::V4(self.hosts[i].ip)
                    && !out.iter().any(|b: &Vec<u8>| b[..] == bytes[..])
                {
                    out.push(bytes.to_vec());
                }
            }
            self.step(q.ev);
        }
        self.now = end;
        out
    }
}

fn wall(now: Instant, skew_ms: i64) -> u64 {
    (EPOCH_UNIX_MS as i64 + (now.as_micros() / 1000) as i64 + skew_ms) as u64
}

/// The EUI-64 link-local address of a MAC.
fn link_local(mac: MacAddr) -> std::net::Ipv6Addr {
    let m = mac.octets();
    std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}
