//! One interface's LAN as this node sees it: its peers, its election and the sleepers this node
//! answers for there.

use std::net::IpAddr;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::claim::Expected;
use super::hearing::Hearing;
use crate::core::addr::{MacAddr, NodeId};
use crate::core::election::{Outcome, Scratch};
use crate::core::frame::SleeperTable;
use crate::core::node::config::IfaceConfig;
use crate::core::peers::{LivenessConfig, PeerTable};
use crate::core::proto::Role;
use crate::core::time::Instant;

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
    /// Who was last heard claiming each sleeper (their ProxyClaims, and this node's own).
    pub(crate) claims: FxHashMap<NodeId, NodeId>,
    /// When each claim of `claims` was last heard: claims are soft state, repeated every
    /// `claim::REFRESH_EVERY` heartbeats, and forgotten when they stop (`claim::EXPIRE_AFTER`).
    pub(crate) claims_heard: FxHashMap<NodeId, Instant>,
    /// For each assigned sleeper: whom the election names, since when, whether it claimed.
    pub(crate) expected: FxHashMap<NodeId, Expected>,
    /// Nodes passed over for a sleeper (they did not claim it in time), and until when.
    pub(crate) passed_over: FxHashMap<NodeId, Vec<(NodeId, Instant)>>,
    /// No timer of `pending`, `deferred`, `expected` or `passed_over` is due before this. It
    /// may be early (a timer went away), never late: every insertion lowers it
    /// ([`Lan::claim_timer_at`]) and each timeout sets it exactly. This keeps
    /// `Node::poll_timeout`, which the driver calls after every input, from walking every
    /// claim of the LAN.
    pub(crate) claim_due: Option<Instant>,
    /// How long an assignee has to claim a sleeper before it is passed over.
    pub(crate) claim_timeout: Duration,
    /// Sleepers this node keeps answering for until the node the election now names claims
    /// them (make before break), and that node.
    pub(crate) handing_over: FxHashMap<NodeId, NodeId>,
    /// Whether this node hears the LAN.
    pub(crate) hearing: Hearing,
    /// Announce every claim with the next this many heartbeats (a new peer appeared).
    pub(crate) claims_due: u8,
    /// Heartbeats sent since the claims were last announced.
    pub(crate) since_refresh: u32,
    /// Point the LAN's caches at this node again for the sleepers it answers for, with the
    /// next this many heartbeats: another proxy answered for one of them, and the caches it
    /// pointed at itself would keep sending there after it yields.
    pub(crate) repoint_due: u8,
    /// When a forgery in this node's name was last answered.
    pub(crate) last_reannounce: Option<Instant>,
    /// Peers probed only to learn whether their host answers probes, and since when.
    pub(crate) calibrating: FxHashMap<NodeId, Instant>,
    /// When this node last re-sent its claim on a sleeper in answer to another proxy.
    pub(crate) reclaimed: FxHashMap<NodeId, Instant>,
}

impl Lan {
    pub(crate) fn new(
        cfg: IfaceConfig,
        liveness: LivenessConfig,
        claim_timeout: Duration,
        now: Instant,
    ) -> Self {
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
            claims: FxHashMap::default(),
            claims_heard: FxHashMap::default(),
            expected: FxHashMap::default(),
            passed_over: FxHashMap::default(),
            claim_due: None,
            claim_timeout,
            handing_over: FxHashMap::default(),
            hearing: Hearing::new(now),
            claims_due: 0,
            since_refresh: 0,
            repoint_due: 0,
            last_reannounce: None,
            calibrating: FxHashMap::default(),
            reclaimed: FxHashMap::default(),
        }
    }

    /// `node` holds no claim any more (it left, restarted or went deaf): nobody expects a
    /// claim it already made to stand.
    pub(crate) fn forget_claims_of(&mut self, node: NodeId, now: Instant) {
        self.claims.retain(|_, by| *by != node);
        // What this node yielded to it, it takes back (the election decides again).
        let before = self.yielded.len();
        self.yielded.retain(|_, to| *to != node);
        self.dirty |= self.yielded.len() != before;
        let mut expecting = false;
        for e in self.expected.values_mut().filter(|e| e.assignee == node && e.claimed) {
            e.claimed = false;
            e.since = now;
            expecting = true;
        }
        if expecting {
            self.claim_timer_at(now + self.claim_timeout);
        }
    }

    /// A claim timer of this LAN is due at `at`.
    pub(crate) fn claim_timer_at(&mut self, at: Instant) {
        self.claim_due = Some(self.claim_due.map_or(at, |d| d.min(at)));
    }

    /// The earliest timer of `pending`, `deferred`, `expected` (an assignee of another node
    /// that has not claimed yet) and `passed_over`, walking them all.
    pub(crate) fn next_claim_timer(&self, me: NodeId) -> Option<Instant> {
        let timeout = self.claim_timeout;
        let expect = self
            .expected
            .values()
            .filter(|e| !e.claimed && e.assignee != me)
            .map(|e| e.since + timeout);
        let passed = self.passed_over.values().flatten().map(|(_, until)| *until);
        self.pending
            .values()
            .chain(self.deferred.values())
            .copied()
            .chain(expect)
            .chain(passed)
            .min()
    }

    /// `by` no longer answers for `sleeper` (it released it, its heartbeat stopped listing it,
    /// or its claim was not repeated): forget the claim, and expect `by` to claim again like
    /// any assignee, so a sleeper it dropped is passed to the next node in time.
    pub(crate) fn claim_dropped(&mut self, sleeper: NodeId, by: NodeId, now: Instant) {
        if self.claims.get(&sleeper) == Some(&by) {
            self.claims.remove(&sleeper);
            self.claims_heard.remove(&sleeper);
            self.dirty = true;
        }
        if self.yielded.get(&sleeper) == Some(&by) {
            self.yielded.remove(&sleeper);
            self.dirty = true;
        }
        if let Some(e) = self.expected.get_mut(&sleeper).filter(|e| e.assignee == by && e.claimed) {
            e.claimed = false;
            e.since = now;
            self.claim_timer_at(now + self.claim_timeout);
        }
    }

    /// Whether `ip` is on this interface's link: inside one of its prefixes, or IPv6
    /// link-local (scoped to the interface the datagram arrived on).
    pub(crate) fn on_link(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                self.cfg.ipv4.iter().any(|p| same_prefix(&p.addr.octets(), &a.octets(), p.len))
            }
            IpAddr::V6(a) => {
                a.segments()[0] & 0xffc0 == 0xfe80
                    || self
                        .cfg
                        .ipv6
                        .iter()
                        .any(|p| same_prefix(&p.addr.octets(), &a.octets(), p.len))
            }
        }
    }

    /// Whether `ip` is one of this interface's own addresses.
    pub(crate) fn on_own_addr(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.cfg.ipv4.iter().any(|p| p.addr == a),
            IpAddr::V6(a) => self.cfg.ipv6.iter().any(|p| p.addr == a),
        }
    }
}

/// Whether the first `len` bits of `a` and `b` agree (`len` beyond their width: all of them).
fn same_prefix(a: &[u8], b: &[u8], len: u8) -> bool {
    let len = usize::from(len).min(a.len() * 8);
    let (whole, rest) = (len / 8, len % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_compare_bit_by_bit() {
        assert!(same_prefix(&[10, 0, 0, 1], &[10, 0, 0, 200], 24));
        assert!(!same_prefix(&[10, 0, 0, 1], &[10, 0, 1, 1], 24));
        assert!(same_prefix(&[10, 0, 0, 1], &[10, 0, 1, 1], 23));
        assert!(!same_prefix(&[10, 0, 0, 1], &[10, 0, 0, 129], 25));
        assert!(same_prefix(&[10, 0, 0, 1], &[99, 9, 9, 9], 0));
        assert!(!same_prefix(&[10, 0, 0, 1], &[10, 0, 0, 2], 32));
        assert!(!same_prefix(&[10, 0, 0, 1], &[10, 0, 0, 2], 200), "lengths are clamped");
    }
}
