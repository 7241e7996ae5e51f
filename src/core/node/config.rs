//! What a node is told when it starts: its identity, its timing and its interfaces.

use std::time::Duration;

use crate::core::addr::{MacAddr, NodeId};
use crate::core::peers::LivenessConfig;
use crate::core::proto::{Ipv4Prefix, Ipv6Prefix};

/// An interface, named by the driver. The core only compares ids.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct IfaceId(pub u32);

/// How a proxy answers for a sleeper's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    /// Answer ARP and neighbour solicitations with the proxy's own MAC: no MAC flap, works with
    /// switch port security. The default.
    #[default]
    ArpRedirect,
    /// ConfigMgr's way: send frames with the sleeper's MAC as source so the switch moves the MAC
    /// to the proxy's port, and answer with the sleeper's MAC. Causes MAC flaps; opt-in.
    MacTakeover,
}

impl ProxyMode {
    /// Its name in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ArpRedirect => "arp-redirect",
            Self::MacTakeover => "mac-takeover",
        }
    }
}

impl std::str::FromStr for ProxyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "arp-redirect" => Ok(Self::ArpRedirect),
            "mac-takeover" => Ok(Self::MacTakeover),
            _ => Err(format!("unknown proxy mode `{s}`: use arp-redirect or mac-takeover")),
        }
    }
}

/// A node's configuration. [`NodeConfig::new`] gives ConfigMgr's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's stable id.
    pub id: NodeId,
    /// When this host booted, in Unix seconds (longer uptime ranks higher in the election).
    pub boot_time_s: u64,
    /// This node has a layer-2 backend and may answer for sleepers.
    pub can_proxy: bool,
    /// The administrator wants this node to be a guardian (ranks first in the election).
    pub prefers_guardian: bool,
    /// How long the liveness states last (heartbeat interval, suspect, probe, gone).
    pub liveness: LivenessConfig,
    /// How many guardians each subnet keeps awake.
    pub guardians: usize,
    /// How far a message's timestamp may be from this node's clock.
    pub replay_window: Duration,
    /// The UDP port magic packets go to.
    pub wol_port: u16,
    /// How this node answers for sleepers when it proxies.
    pub proxy_mode: ProxyMode,
    /// Ports whose SYN wakes a sleeper even if it did not listen on them.
    pub wake_allow: Vec<u16>,
    /// Ports whose SYN never wakes a sleeper (noise such as NetBIOS and mDNS).
    pub wake_deny: Vec<u16>,
    /// How long a wake is retried before it is given up.
    pub wake_retry_for: Duration,
    /// Once a sleeper woken by a SYN speaks, send it the SYNs that woke it, so callers need
    /// not wait for their own retransmission (1 s, then 3 s on most stacks).
    pub syn_replay: bool,
    /// How long after start (or resume) this node only listens: it takes no role and claims no
    /// sleeper until it has heard every awake peer's heartbeat at least once.
    pub startup_grace: Duration,
    /// Seeds the jitter of heartbeats and deferred wakes.
    pub seed: u64,
}

/// Ports that never wake a sleeper unless explicitly allowed: NetBIOS and mDNS noise, which
/// scanners and browsing generate all day (see wakeup-proxy research: false wakes).
pub const DEFAULT_WAKE_DENY: &[u16] = &[137, 138, 139, 5353];

impl NodeConfig {
    /// ConfigMgr's defaults: heartbeat every 5 s, 3 guardians, magic packets to UDP 9.
    pub fn new(id: NodeId, boot_time_s: u64, seed: u64) -> Self {
        let liveness = LivenessConfig::default();
        Self {
            id,
            boot_time_s,
            can_proxy: true,
            prefers_guardian: false,
            startup_grace: liveness.heartbeat_interval,
            liveness,
            guardians: 3,
            replay_window: Duration::from_secs(30),
            wol_port: crate::core::wol::DEFAULT_WOL_PORT,
            proxy_mode: ProxyMode::ArpRedirect,
            wake_allow: Vec::new(),
            wake_deny: DEFAULT_WAKE_DENY.to_vec(),
            wake_retry_for: Duration::from_secs(30),
            syn_replay: true,
            seed,
        }
    }

    /// Sets the heartbeat interval and everything derived from it.
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.liveness = LivenessConfig::for_interval(interval);
        self.startup_grace = interval;
        self
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.liveness.heartbeat_interval
    }
}

/// One interface this node manages: one LAN, one election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceConfig {
    /// The driver's id for it.
    pub id: IfaceId,
    /// Its name, for status and logs.
    pub name: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Prefix>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<Ipv6Prefix>,
}
