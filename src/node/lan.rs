//! One interface's LAN as this node sees it: its peers, its election and the sleepers this node
//! answers for there.

use rustc_hash::FxHashMap;

use crate::addr::{MacAddr, NodeId};
use crate::election::{Outcome, Scratch};
use crate::frame::SleeperTable;
use crate::node::config::IfaceConfig;
use crate::peers::{LivenessConfig, PeerTable};
use crate::proto::Role;
use crate::time::Instant;

/// What this node does for one sleeper it answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxyStats {
    /// When this node started answering for it. Not in JSON (`ProxiedStatus::since_ago` is);
    /// read back, it is [`Instant::ZERO`].
    #[serde(skip)]
    pub since: Instant,
    /// ARP requests answered.
    pub arp_answered: u64,
    /// Neighbour solicitations answered.
    pub ns_answered: u64,
    /// TCP SYNs seen for it (on any port).
    pub syns_seen: u64,
    /// Magic packets sent for it.
    pub wakes_sent: u64,
}

/// Per-interface state.
#[derive(Debug)]
pub(crate) struct Lan {
    pub(crate) cfg: IfaceConfig,
    pub(crate) peers: PeerTable,
    pub(crate) outcome: Outcome,
    pub(crate) scratch: Scratch,
    pub(crate) role: Role,
    pub(crate) term: u64,
    /// The view changed: run the election before the next output.
    pub(crate) dirty: bool,
    pub(crate) next_heartbeat: Instant,
    /// The sleepers this node answers for here, indexed for the frame classifier.
    pub(crate) proxied: SleeperTable,
    pub(crate) stats: FxHashMap<NodeId, ProxyStats>,
    /// Sleepers this node yielded to a closer claimant, and to whom.
    pub(crate) yielded: FxHashMap<NodeId, NodeId>,
    /// When a magic packet for a MAC was last seen on the wire (sent by anyone).
    pub(crate) wake_seen: FxHashMap<MacAddr, Instant>,
    /// Sleepers being probed before the claim (in `proxied`, not yet answered for), and when
    /// their probe window ends.
    pub(crate) pending: FxHashMap<NodeId, Instant>,
    /// Sleepers whose claim a probe blocked, and when to try again.
    pub(crate) deferred: FxHashMap<NodeId, Instant>,
}

impl Lan {
    pub(crate) fn new(cfg: IfaceConfig, liveness: LivenessConfig, now: Instant) -> Self {
        Self {
            cfg,
            peers: PeerTable::new(liveness),
            outcome: Outcome::default(),
            scratch: Scratch::default(),
            role: Role::Member,
            term: 0,
            dirty: true,
            next_heartbeat: now,
            proxied: SleeperTable::new(),
            stats: FxHashMap::default(),
            yielded: FxHashMap::default(),
            wake_seen: FxHashMap::default(),
            pending: FxHashMap::default(),
            deferred: FxHashMap::default(),
        }
    }
}
