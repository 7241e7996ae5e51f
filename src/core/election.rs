//! Election: manager, guardians and proxy assignment, as a pure function of one node's view.
//!
//! Every node runs [`elect`] over the peers it believes awake (plus itself) and the peers it
//! believes asleep. Nodes that see the same view compute the same outcome, so no message has to
//! carry the result: a lost packet can delay agreement but never makes two nodes disagree for
//! longer than their views differ. The function is part of the protocol (`docs/election.md`): two
//! versions of wakeproxy on one subnet must compute it identically.
//!
//! - **Rank** (best first): administrator preference to be a guardian, then the ability to act as
//!   a layer-2 proxy, then the longest uptime (earliest boot time), then the lowest node id.
//! - **Manager**: the best-ranked candidate. **Guardians**: the best `k` (default 3; fewer only
//!   when fewer candidates exist); the manager is always the first guardian.
//! - **Proxy of each sleeper**: consistent hashing over the candidates that can proxy. Each proxy
//!   owns [`VNODES`] points on a 64-bit ring; a sleeper goes to the owner of the first point at or
//!   after its own hash. When a proxy leaves only its sleepers move, when one joins only the
//!   sleepers it takes move, and [`proxy_distance`] lets two claimants settle a conflict without
//!   sharing a view.

use std::cmp::Reverse;

use crate::core::addr::NodeId;

/// Points each proxy owns on the ring. More points spread sleepers more evenly but cost a larger
/// sort. With 4, a proxy's share ranges from about 0.4 to 2.7 times the mean (20 proxies,
/// 2,000 sleepers), which costs nothing that matters (answering ARP for a few more sleepers),
/// and one election over 1,000 peers stays well inside its 100 µs budget.
pub const VNODES: u32 = 4;

/// What the election needs to know about a node that is (believed) awake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub id: NodeId,
    /// The administrator asked for this node to be a guardian.
    pub prefers_guardian: bool,
    /// The node can answer for sleepers (has a working layer-2 backend).
    pub can_proxy: bool,
    /// The node is still in its startup (or resume) grace, listening only: it ranks as usual
    /// (it is about to act) but owns no point on the ring yet, so nobody expects it to answer
    /// for a sleeper before it could.
    pub listening: bool,
    /// When the node booted, in Unix seconds: earlier ranks higher.
    pub boot_time_s: u64,
}

impl Candidate {
    /// The sort key: smaller is better.
    fn rank_key(&self) -> (Reverse<bool>, Reverse<bool>, u64, NodeId) {
        (Reverse(self.prefers_guardian), Reverse(self.can_proxy), self.boot_time_s, self.id)
    }

    /// True if `self` ranks above `other`.
    pub fn outranks(&self, other: &Self) -> bool {
        self.rank_key() < other.rank_key()
    }
}

/// The result of one election over one view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The best-ranked candidate, if there is any.
    pub manager: Option<NodeId>,
    /// The best-ranked candidates that must stay awake, best first (the manager first).
    pub guardians: Vec<NodeId>,
    /// `(sleeper, proxy)` for every sleeper that has a proxy, sorted by sleeper.
    pub assignment: Vec<(NodeId, NodeId)>,
}

impl Outcome {
    /// The proxy assigned to `sleeper`.
    pub fn proxy_of(&self, sleeper: &NodeId) -> Option<NodeId> {
        self.assignment.binary_search_by(|(s, _)| s.cmp(sleeper)).ok().map(|i| self.assignment[i].1)
    }

    /// True if `id` is one of the guardians.
    pub fn is_guardian(&self, id: &NodeId) -> bool {
        self.guardians.contains(id)
    }
}

/// Reusable scratch space, so that a node re-running the election does not allocate, and does
/// not sort the ring again while the set of proxies stays the same.
#[derive(Debug, Default)]
pub struct Scratch {
    ranked: Vec<Candidate>,
    /// The proxies that own the ring's points, sorted by id.
    owners: Vec<NodeId>,
    /// Ring points and the index of their owner in `owners`, sorted: by point, then (as the
    /// owners are sorted) by owner id, so equal points go to the lower id as
    /// [`proxy_distance`] says. 16 bytes an entry, so a sort moves little memory.
    ring: Vec<(u64, u32)>,
    /// The proxies of the last election in the order of its candidates: the same list again
    /// means the same ring, and costs no sort at all.
    last_order: Vec<NodeId>,
    sleepers: Vec<NodeId>,
}

/// Up to this many proxies joining or leaving since the last election are applied to the ring
/// in place (each a pass over it); more, and the ring is built and sorted again.
const RING_EDITS: usize = 8;

impl Scratch {
    /// Makes the ring that of the candidates that own points on it (those that can proxy and
    /// are not listening).
    fn update_ring(&mut self, candidates: &[Candidate]) {
        let proxies = candidates.iter().filter(|c| c.can_proxy && !c.listening).map(|c| c.id);
        if proxies.clone().eq(self.last_order.iter().copied()) {
            return;
        }
        self.last_order.clear();
        self.last_order.extend(proxies);
        // Allocated only when the proxies changed: a node keeps no more than it must (a
        // simulated fleet holds thousands of these).
        let mut now = self.last_order.clone();
        now.sort_unstable();
        let was = &self.owners;
        let removed = was.iter().filter(|id| now.binary_search(id).is_err()).count();
        let added: Vec<NodeId> =
            now.iter().copied().filter(|id| was.binary_search(id).is_err()).collect();
        if was.is_empty() || removed + added.len() > RING_EDITS {
            self.rebuild_ring(now);
            return;
        }
        for i in (0..self.owners.len()).rev() {
            if now.binary_search(&self.owners[i]).is_err() {
                self.remove_owner(i);
            }
        }
        for id in added {
            self.add_owner(id);
        }
    }

    fn rebuild_ring(&mut self, owners: Vec<NodeId>) {
        self.owners = owners;
        self.ring.clear();
        for (i, &id) in self.owners.iter().enumerate() {
            self.ring.extend((0..VNODES).map(|v| (ring_point(id, v), i as u32)));
        }
        self.ring.sort_unstable();
    }

    fn remove_owner(&mut self, i: usize) {
        let i = i as u32;
        self.ring.retain(|&(_, o)| o != i);
        for (_, o) in &mut self.ring {
            *o -= u32::from(*o > i);
        }
        self.owners.remove(i as usize);
    }

    fn add_owner(&mut self, id: NodeId) {
        let at = self.owners.partition_point(|o| *o < id);
        self.owners.insert(at, id);
        let at = at as u32;
        for (_, o) in &mut self.ring {
            *o += u32::from(*o >= at);
        }
        for v in 0..VNODES {
            let point = (ring_point(id, v), at);
            let j = self.ring.partition_point(|e| *e < point);
            self.ring.insert(j, point);
        }
    }
}

/// Runs the election. Candidate ids must be unique (a node's view holds each peer once); the
/// outcome does not depend on the order of `candidates` or `sleepers`.
pub fn elect(candidates: &[Candidate], sleepers: &[NodeId], guardians: usize) -> Outcome {
    let mut out = Outcome::default();
    elect_into(&mut Scratch::default(), candidates, sleepers, guardians, &mut out);
    out
}

/// [`elect`] writing into `out` and reusing `scratch`.
pub fn elect_into(
    scratch: &mut Scratch,
    candidates: &[Candidate],
    sleepers: &[NodeId],
    guardians: usize,
    out: &mut Outcome,
) {
    // Only the best `guardians` need an order: select them, then sort just those.
    let ranked = &mut scratch.ranked;
    ranked.clear();
    ranked.extend_from_slice(candidates);
    let k = guardians.clamp(1, ranked.len().max(1)).min(ranked.len());
    if k > 0 && k < ranked.len() {
        ranked.select_nth_unstable_by_key(k - 1, Candidate::rank_key);
    }
    ranked[..k].sort_unstable_by_key(Candidate::rank_key);
    out.manager = ranked.first().map(|c| c.id);
    out.guardians.clear();
    out.guardians.extend(ranked.iter().take(guardians.min(k)).map(|c| c.id));

    scratch.update_ring(candidates);

    let sorted_sleepers = &mut scratch.sleepers;
    sorted_sleepers.clear();
    sorted_sleepers.extend_from_slice(sleepers);
    sorted_sleepers.sort_unstable();
    sorted_sleepers.dedup();

    out.assignment.clear();
    let (ring, owners) = (&scratch.ring, &scratch.owners);
    if ring.is_empty() {
        return;
    }
    let owner = |j: usize| owners[ring[j % ring.len()].1 as usize];
    for &s in sorted_sleepers.iter() {
        let h = sleeper_point(s);
        let i = ring.partition_point(|&(p, _)| p < h);
        // A node never proxies itself; it only meets itself here if it is both asleep and a
        // candidate in a confused view. Take the next owner on the ring.
        let Some(proxy) = (i..i + ring.len()).map(owner).find(|&p| p != s) else {
            continue;
        };
        out.assignment.push((s, proxy));
    }
}

/// How far `proxy` is from `sleeper` on the ring: the proxy with the smaller distance is the one
/// the sleeper belongs to. Two nodes that both claim a sleeper compare this to settle it.
pub fn proxy_distance(sleeper: NodeId, proxy: NodeId) -> u64 {
    let h = sleeper_point(sleeper);
    (0..VNODES).map(|v| ring_point(proxy, v).wrapping_sub(h)).min().unwrap_or(u64::MAX)
}

/// Folds a node id to 64 bits.
fn fold(id: NodeId) -> u64 {
    let v = id.as_u128();
    (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
}

/// The SplitMix64 finaliser: a fixed, well-mixing permutation of `u64` (part of the protocol, so
/// it must never change, which rules out `std`'s unspecified hashers).
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where point `v` of proxy `id` sits on the ring.
fn ring_point(id: NodeId, v: u32) -> u64 {
    mix64(fold(id) ^ (u64::from(v) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Where a sleeper sits on the ring.
fn sleeper_point(id: NodeId) -> u64 {
    mix64(fold(id) ^ 0x5bd1_e995_0c1f_35a7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn cand(id: u128) -> Candidate {
        Candidate {
            id: NodeId::from_u128(id),
            prefers_guardian: false,
            can_proxy: true,
            listening: false,
            boot_time_s: 1000,
        }
    }

    #[test]
    fn rank_orders_preference_then_capability_then_uptime_then_id() {
        let base = cand(5);
        let preferred = Candidate { prefers_guardian: true, boot_time_s: 9999, ..cand(9) };
        let no_proxy = Candidate { can_proxy: false, boot_time_s: 1, ..cand(1) };
        let older = Candidate { boot_time_s: 10, ..cand(8) };
        let lower_id = cand(2);
        let out = elect(&[base, no_proxy, older, lower_id, preferred], &[], 10);
        let ids: Vec<u128> = out.guardians.iter().map(|g| g.as_u128()).collect();
        assert_eq!(ids, vec![9, 8, 2, 5, 1]);
        assert_eq!(out.manager, Some(NodeId::from_u128(9)));
    }

    #[test]
    fn fewer_guardians_only_when_fewer_candidates() {
        let c: Vec<_> = (1..=5).map(cand).collect();
        assert_eq!(elect(&c, &[], 3).guardians.len(), 3);
        assert_eq!(elect(&c[..2], &[], 3).guardians.len(), 2);
        let empty = elect(&[], &[NodeId::from_u128(1)], 3);
        assert_eq!(empty.manager, None);
        assert!(empty.assignment.is_empty());
    }

    #[test]
    fn nodes_that_cannot_proxy_get_no_sleepers() {
        let c = [Candidate { can_proxy: false, ..cand(1) }, cand(2)];
        let sleepers: Vec<_> = (100..200).map(NodeId::from_u128).collect();
        let out = elect(&c, &sleepers, 3);
        assert_eq!(out.assignment.len(), 100);
        assert!(out.assignment.iter().all(|(_, p)| p.as_u128() == 2));
    }

    #[test]
    fn load_is_spread() {
        let c: Vec<_> = (1..=20).map(cand).collect();
        let sleepers: Vec<_> = (1000..3000).map(NodeId::from_u128).collect();
        let out = elect(&c, &sleepers, 3);
        let mut per: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (_, p) in &out.assignment {
            *per.entry(*p).or_default() += 1;
        }
        assert_eq!(per.len(), 20, "every proxy gets some sleepers");
        // 100 each on average; with 4 points per proxy this seed gives 39 to 266.
        assert!(per.values().all(|&n| (25..=300).contains(&n)), "{per:?}");
    }

    fn ids() -> impl Strategy<Value = Vec<u128>> {
        prop::collection::btree_set(any::<u128>(), 1..40).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn outcome_does_not_depend_on_order(cands in ids(), sleepers in ids(), seed in any::<u64>()) {
            let c: Vec<_> = cands.iter().map(|&i| Candidate { boot_time_s: (i % 7) as u64, ..cand(i) }).collect();
            let s: Vec<_> = sleepers.iter().copied().map(NodeId::from_u128).collect();
            let a = elect(&c, &s, 3);
            let mut c2 = c.clone();
            let mut s2 = s.clone();
            // A deterministic shuffle.
            let n = c2.len();
            for i in 0..n { c2.swap(i, (seed as usize).wrapping_mul(i + 7) % n); }
            s2.reverse();
            prop_assert_eq!(a, elect(&c2, &s2, 3));
        }

        #[test]
        fn a_scratch_reused_over_changing_views_gives_what_a_fresh_one_gives(
            views in prop::collection::vec((ids(), ids(), any::<u64>()), 1..12),
        ) {
            // Views that share most of their candidates (the ring is edited in place) and
            // views that share none (it is built again), in any order.
            let mut scratch = Scratch::default();
            let mut out = Outcome::default();
            let mut base: Vec<u128> = Vec::new();
            for (cands, sleepers, pick) in views {
                let view: Vec<u128> = if pick % 3 == 0 {
                    cands.clone()
                } else {
                    let keep = base.iter().copied().filter(|i| (*i ^ u128::from(pick)) % 5 != 0);
                    let mut v: Vec<u128> = keep.chain(cands.iter().copied().take((pick % 4) as usize)).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                };
                base = view.clone();
                let c: Vec<_> = view.iter().map(|&i| Candidate { listening: i % 11 == 0, can_proxy: i % 13 != 0, ..cand(i) }).collect();
                let s: Vec<_> = sleepers.iter().copied().map(NodeId::from_u128).collect();
                elect_into(&mut scratch, &c, &s, 3, &mut out);
                prop_assert_eq!(&out, &elect(&c, &s, 3));
            }
        }

        #[test]
        fn a_sleeper_goes_to_the_proxy_at_the_smallest_distance(cands in ids(), sleepers in ids()) {
            let c: Vec<_> = cands.iter().copied().map(cand).collect();
            let s: Vec<_> = sleepers.iter().copied().map(NodeId::from_u128).filter(|s| !cands.contains(&s.as_u128())).collect();
            let out = elect(&c, &s, 3);
            prop_assert_eq!(out.assignment.len(), s.len());
            for (sleeper, proxy) in &out.assignment {
                let best = c.iter().map(|c| (proxy_distance(*sleeper, c.id), c.id)).min().unwrap().1;
                prop_assert_eq!(best, *proxy);
            }
        }

        #[test]
        fn a_leaving_proxy_moves_only_its_own_sleepers(cands in ids(), sleepers in ids(), leave in any::<prop::sample::Index>()) {
            prop_assume!(cands.len() >= 2);
            let c: Vec<_> = cands.iter().copied().map(cand).collect();
            let s: Vec<_> = sleepers.iter().copied().map(NodeId::from_u128).filter(|s| !cands.contains(&s.as_u128())).collect();
            let before = elect(&c, &s, 3);
            let gone = c[leave.index(c.len())].id;
            let rest: Vec<_> = c.iter().copied().filter(|c| c.id != gone).collect();
            let after = elect(&rest, &s, 3);
            for (sleeper, proxy) in &before.assignment {
                if *proxy != gone {
                    prop_assert_eq!(after.proxy_of(sleeper), Some(*proxy));
                }
            }
        }

        #[test]
        fn a_joining_proxy_takes_sleepers_only_for_itself(cands in ids(), sleepers in ids(), newcomer in any::<u128>()) {
            prop_assume!(!cands.contains(&newcomer));
            let c: Vec<_> = cands.iter().copied().map(cand).collect();
            let s: Vec<_> = sleepers.iter().copied().map(NodeId::from_u128).filter(|s| !cands.contains(&s.as_u128()) && s.as_u128() != newcomer).collect();
            let before = elect(&c, &s, 3);
            let mut more = c.clone();
            more.push(cand(newcomer));
            let after = elect(&more, &s, 3);
            for (sleeper, proxy) in &after.assignment {
                if proxy.as_u128() != newcomer {
                    prop_assert_eq!(before.proxy_of(sleeper), Some(*proxy));
                }
            }
        }
    }
}
