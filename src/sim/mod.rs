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
//!
//! This file builds the network; beside it, `config.rs` is its shape, `host.rs` the model of a
//! host (its node, its clock, and what happens to it: sleep, crash, restart), `wire.rs` the
//! virtual network (loss, latency, partitions, what the nodes' actions put on it), `events.rs`
//! the event queue on the virtual clock, `observe.rs` what the simulator follows and measures
//! (roles, proxies, convergence, faults, the trace), `report.rs` the report, `scenario.rs` the
//! fault schedule of `wakeproxy simulate`, `invariants.rs` the promises checked after every
//! event, and `chaos.rs` arbitrary interleavings of faults.
//!
//! [`Node`]: crate::core::node::Node

pub mod addressing;
pub mod chaos;
mod config;
mod events;
mod fleet;
mod host;
mod invariants;
mod observe;
mod report;
mod scenario;
mod wire;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rustc_hash::{FxHashMap, FxHashSet};

pub use config::{SimConfig, SimError};
use events::{Ev, Queued};
pub use fleet::{Fleet, Sequential, Windows};
pub use host::{Host, HostState};
pub use invariants::{DUAL_GRACE, Violation};
pub use report::{FaultRecord, Report};
pub use scenario::{ScenarioConfig, run_scenario, run_scenario_with};

use crate::core::addr::NodeId;
use crate::core::node::{IfaceId, NodeConfig};
use crate::core::proto::{Role, SiteKey};
use crate::core::time::Instant;

/// The wall clock of simulated time zero (2027-01-15), in Unix milliseconds.
const EPOCH_UNIX_MS: u64 = 1_800_000_000_000;
/// How often convergence is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The interface every simulated host has.
pub const IFACE: IfaceId = IfaceId(0);

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
    /// Datagrams handed to a running node.
    delivered: u64,
    /// A partition is in force: two managers or proxies are then expected, and counted apart.
    partitioned: bool,
    /// Invariant checks after every event, when enabled (`enable_checks`).
    checks: Option<invariants::Checks>,
    /// Every node event, when tracing (`enable_trace`).
    trace: Option<Vec<String>>,
    /// Probes are never lost (see `set_truthful_probes`).
    truthful_probes: bool,
    /// Datagrams routed to subnets this network does not hold (a part of a [`Fleet`]), until
    /// the fleet hands them over.
    outbox: Vec<fleet::Routed>,
    /// As a part of a [`Fleet`]: the convergence of its subnet at the last sample, and the
    /// samples at which it changed since the fleet last looked.
    convergence: Option<(bool, Vec<(Instant, bool)>)>,
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
        let wire_seed = rng.next_u64();
        let mut sim = Self::empty(cfg.clone(), wire_seed);
        for i in 0..cfg.nodes {
            sim.add_host(&mut rng, i % cfg.subnets, i / cfg.subnets);
        }
        sim.push(Instant::ZERO + SAMPLE_EVERY, Ev::Sample);
        Ok(sim)
    }

    /// Builds subnet `s` of the network `cfg` alone, as a part of a [`Fleet`]: its hosts are
    /// the hosts `k * subnets + s` of the whole network (here numbered `k`), and everything
    /// random in it is drawn from a stream of its own, a function of the seed and `s` only.
    pub(crate) fn new_part(cfg: &SimConfig, s: usize) -> Result<Self, SimError> {
        cfg.validate()?;
        // SplitMix64 of the seed and the subnet: one independent stream per subnet.
        let mut z = cfg.seed ^ (s as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let mut rng = ChaCha8Rng::seed_from_u64(z ^ (z >> 31));
        let wire_seed = rng.next_u64();
        let mut sim = Self::empty(cfg.clone(), wire_seed);
        let count = (cfg.nodes + cfg.subnets - 1 - s) / cfg.subnets;
        for k in 0..count {
            sim.add_host(&mut rng, s, k);
        }
        sim.report.nodes = count;
        sim.convergence = Some((false, Vec::new()));
        sim.push(Instant::ZERO + SAMPLE_EVERY, Ev::Sample);
        Ok(sim)
    }

    fn empty(cfg: SimConfig, wire_seed: u64) -> Self {
        Self {
            key: SiteKey::new(SIM_KEY).expect("32-byte key"),
            hosts: Vec::new(),
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
            delivered: 0,
            partitioned: false,
            checks: None,
            trace: None,
            truthful_probes: false,
            outbox: Vec::new(),
            convergence: None,
            rng: ChaCha8Rng::seed_from_u64(wire_seed),
            cfg,
        }
    }

    /// Adds host `k` of subnet `subnet`, drawing its identity from `rng`, and starts it.
    fn add_host(&mut self, rng: &mut ChaCha8Rng, subnet: usize, k: usize) {
        const PORT_POOL: [u16; 6] = [22, 80, 445, 3389, 5985, 8080];
        let i = self.hosts.len();
        let (ip, mac) = (addressing::host_ip(subnet, k), addressing::host_mac(subnet, k));
        let id = NodeId::from_u128(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
        // Hosts booted some time in the last 30 days: uptimes differ, as on a real LAN.
        let boot_time_s = EPOCH_UNIX_MS / 1000 - rng.next_u64() % (30 * 86_400);
        let mut node_cfg = NodeConfig::new(id, boot_time_s, rng.next_u64())
            .with_heartbeat_interval(self.cfg.heartbeat);
        node_cfg.guardians = self.cfg.guardians;
        let tcp_ports: Vec<u16> =
            PORT_POOL.iter().copied().filter(|_| rng.next_u32() % 2 == 0).collect();
        let skew = self.cfg.clock_skew.as_millis() as i64;
        let skew_ms =
            if skew == 0 { 0 } else { (rng.next_u64() % (2 * skew as u64 + 1)) as i64 - skew };
        let node = Self::boot(&self.key, &node_cfg, Instant::ZERO, skew_ms, ip, mac, &tcp_ports);
        self.by_ip.insert(ip, i);
        self.subnet_hosts[subnet].push(i);
        self.hosts.push(Host {
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
        self.reschedule(i);
    }

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

    /// The site key every simulated node uses (tests forge and replay with it).
    pub fn key(&self) -> &SiteKey {
        &self.key
    }
}
