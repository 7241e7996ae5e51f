//! The peers of one LAN, side by side in one vector and found by id through an index.
//!
//! The election reads every peer of the LAN after most changes, and the liveness timer walks
//! them all: records next to each other are read at memory speed, where a record boxed
//! behind each hash bucket costs a cache miss apiece (in a simulated fleet, where a subnet's
//! hundreds of nodes each hold hundreds of peers, that was a third of the time). It also saves
//! the allocation per peer.

use rustc_hash::FxHashMap;

use super::Peer;
use crate::core::addr::NodeId;

/// Peers by node id.
#[derive(Debug, Default)]
pub(super) struct Slots {
    /// Where each peer is in `peers`.
    index: FxHashMap<NodeId, u32>,
    peers: Vec<Peer>,
}

impl Slots {
    pub(super) fn get(&self, id: &NodeId) -> Option<&Peer> {
        self.index.get(id).map(|&i| &self.peers[i as usize])
    }

    pub(super) fn get_mut(&mut self, id: &NodeId) -> Option<&mut Peer> {
        self.index.get(id).map(|&i| &mut self.peers[i as usize])
    }

    /// Adds `peer` under `id`, or replaces the peer of that id.
    pub(super) fn insert(&mut self, id: NodeId, peer: Peer) {
        match self.index.get(&id) {
            Some(&i) => self.peers[i as usize] = peer,
            None => {
                // A LAN has far fewer than 2^32 peers: the node bounds it (`MAX_PEERS_PER_LAN`).
                let i = u32::try_from(self.peers.len()).expect("fewer than 2^32 peers");
                self.index.insert(id, i);
                self.peers.push(peer);
            }
        }
    }

    /// The peer of `id`, made by `make` if there is none.
    pub(super) fn get_or_insert_with(&mut self, id: NodeId, make: impl FnOnce() -> Peer) {
        if !self.index.contains_key(&id) {
            self.insert(id, make());
        }
    }

    /// Removes the peer of `id`; the last peer takes its place.
    pub(super) fn remove(&mut self, id: &NodeId) -> Option<Peer> {
        let i = self.index.remove(id)? as usize;
        let peer = self.peers.swap_remove(i);
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.id, i as u32);
        }
        Some(peer)
    }

    pub(super) fn values(&self) -> std::slice::Iter<'_, Peer> {
        self.peers.iter()
    }

    pub(super) fn values_mut(&mut self) -> std::slice::IterMut<'_, Peer> {
        self.peers.iter_mut()
    }

    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::peers::{PeerState, Reason};
    use crate::core::proto::HostInfo;
    use crate::core::time::Instant;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn peer(id: u8, term: u64) -> Peer {
        let id = NodeId::from_u128(u128::from(id));
        let host =
            HostInfo { mac: Default::default(), ipv4: vec![], ipv6: vec![], tcp_ports: vec![] };
        let mut p = Peer::new(id, host, PeerState::Awake, Reason::Heartbeat, Instant::ZERO);
        p.term = term;
        p
    }

    proptest! {
        /// Any sequence of inserts, replacements and removals leaves the same peers as a map.
        #[test]
        fn slots_hold_what_a_map_holds(ops in prop::collection::vec((any::<bool>(), 0u8..16, any::<u64>()), 0..200)) {
            let mut slots = Slots::default();
            let mut model: BTreeMap<NodeId, u64> = BTreeMap::new();
            for (insert, id, term) in ops {
                let p = peer(id, term);
                if insert {
                    model.insert(p.id, term);
                    slots.insert(p.id, p);
                } else {
                    prop_assert_eq!(slots.remove(&p.id).map(|p| p.term), model.remove(&p.id));
                }
                prop_assert_eq!(slots.len(), model.len());
                for (id, term) in &model {
                    prop_assert_eq!(slots.get(id).map(|p| p.term), Some(*term));
                }
                let mut seen: Vec<_> = slots.values().map(|p| (p.id, p.term)).collect();
                seen.sort();
                prop_assert_eq!(seen, model.iter().map(|(i, t)| (*i, *t)).collect::<Vec<_>>());
            }
        }
    }
}
