//! What one node knows about each peer on one LAN, and each peer's liveness state.
//!
//! ```text
//!            signed message (heartbeat, notice, claim…)            ┌──────────────┐
//!   ┌──────────────────────────────────────────────────────────────│ any state    │
//!   ▼                                                              └──────────────┘
//! Awake ──silent for suspect_after──▶ Suspect ──probe failed──▶ Asleep ──asleep for sleeper_ttl──▶ Gone
//!   │                                    │                         ▲
//!   └──────────SleepNotice───────────────┼─────────────────────────┘
//!                                        └──silent for gone_after, or Leave──▶ Gone
//! ```
//!
//! "Awake" is proven only by a message signed with the site key. An ARP reply is no proof: a
//! sleeping NIC answers ARP by power offload. A probe that answers proves only that the host is
//! up, not that its daemon is: such a peer stays Suspect (it keeps its place in the election, so
//! a few lost heartbeats never reshuffle roles) until it speaks again or `gone_after` passes.
//!
//! This file is the table of one LAN's peers; beside it, `peer.rs` is one peer (its record and
//! states), `messages.rs` what signed messages tell (heartbeats, notices, claims, a restored
//! registry), `probes.rs` what probes and the owner's frames tell, and `liveness.rs` the timing
//! of the states (silence, probe timeouts, ages) and the table's next deadline.

mod liveness;
mod messages;
mod peer;
mod probes;
mod slots;

use crate::core::addr::{MacAddr, NodeId};
use crate::core::time::Instant;
pub use liveness::LivenessConfig;
use liveness::deadline;
pub use peer::{Peer, PeerState, Probe, Reason, Transition};
use slots::Slots;

/// Something the table wants done after [`PeerTable::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// A peer changed state.
    Changed(Transition),
    /// Probe this peer (its address is in its `host`).
    Probe(NodeId),
}

/// All peers heard on one LAN.
#[derive(Debug)]
pub struct PeerTable {
    /// Side by side, found through an index (`slots.rs`): the election reads them all.
    peers: Slots,
    cfg: LivenessConfig,
    /// No peer has anything due before this. It may be early (a heartbeat pushed a deadline
    /// back), never late: an early wake-up just finds nothing to do. This keeps
    /// [`PeerTable::next_deadline`] O(1) on the per-datagram path.
    hint: Option<Instant>,
}

impl PeerTable {
    /// An empty table.
    pub fn new(cfg: LivenessConfig) -> Self {
        Self { peers: Slots::default(), cfg, hint: None }
    }

    /// The timing this table runs with.
    pub fn config(&self) -> &LivenessConfig {
        &self.cfg
    }

    /// The peer with this id.
    pub fn get(&self, id: &NodeId) -> Option<&Peer> {
        self.peers.get(id)
    }

    /// The peer whose MAC this is.
    pub fn by_mac(&self, mac: MacAddr) -> Option<&Peer> {
        self.peers.values().find(|p| p.host.mac == mac)
    }

    /// Every peer, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// How many peers are known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True if no peer is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Removes a peer (e.g. when its interface goes away).
    pub fn remove(&mut self, id: &NodeId) -> Option<Peer> {
        self.peers.remove(id)
    }

    fn note_deadline(&mut self, id: &NodeId) {
        if let Some(d) = self.peers.get(id).and_then(|p| deadline(p, &self.cfg)) {
            self.hint = Some(self.hint.map_or(d, |h| h.min(d)));
        }
    }
}

#[cfg(test)]
mod tests;
