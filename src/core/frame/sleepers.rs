//! The hosts the proxy answers for, indexed the ways the classifier looks them up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustc_hash::FxHashMap;

use crate::core::addr::{MacAddr, NodeId};

/// A sleeping host the proxy answers for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sleeper {
    /// Its node id.
    pub id: NodeId,
    /// Its NIC's own MAC: the one magic packets name and the one it sends from when awake.
    pub mac: MacAddr,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// Its IPv6 addresses, link-local included.
    pub ipv6: Vec<Ipv6Addr>,
    /// The TCP ports whose SYN wakes it, allow and deny lists already applied. The table keeps
    /// them sorted and without duplicates.
    pub wake_ports: Vec<u16>,
}

/// The sleepers, with hash indexes from MAC, IPv4 and IPv6 address to entry.
///
/// Lookups hash a fixed-width integer with `FxHash` and never allocate. If two sleepers claim the
/// same MAC or address, the one inserted last answers for it; removing it hands the key back to a
/// remaining claimant.
#[derive(Clone, Debug, Default)]
pub struct SleeperTable {
    /// Dense, so iteration is a slice walk; `remove` swaps the last entry in.
    sleepers: Vec<Sleeper>,
    by_id: FxHashMap<NodeId, usize>,
    index: Index,
}

/// MAC and addresses → position in `sleepers`, as integers so hashing is one multiply.
#[derive(Clone, Debug, Default)]
struct Index {
    by_mac: FxHashMap<u64, usize>,
    by_ipv4: FxHashMap<u32, usize>,
    by_ipv6: FxHashMap<u128, usize>,
}

fn mac_key(mac: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

/// One key of [`Index`], so that re-indexing is written once for all three maps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Mac(u64),
    V4(u32),
    V6(u128),
}

fn keys(s: &Sleeper) -> impl Iterator<Item = Key> + '_ {
    std::iter::once(Key::Mac(mac_key(s.mac.0)))
        .chain(s.ipv4.iter().map(|&a| Key::V4(a.into())))
        .chain(s.ipv6.iter().map(|&a| Key::V6(a.into())))
}

impl Index {
    fn get(&self, key: Key) -> Option<usize> {
        match key {
            Key::Mac(k) => self.by_mac.get(&k),
            Key::V4(k) => self.by_ipv4.get(&k),
            Key::V6(k) => self.by_ipv6.get(&k),
        }
        .copied()
    }

    fn set(&mut self, key: Key, slot: usize) {
        match key {
            Key::Mac(k) => self.by_mac.insert(k, slot),
            Key::V4(k) => self.by_ipv4.insert(k, slot),
            Key::V6(k) => self.by_ipv6.insert(k, slot),
        };
    }

    fn remove(&mut self, key: Key) {
        match key {
            Key::Mac(k) => self.by_mac.remove(&k),
            Key::V4(k) => self.by_ipv4.remove(&k),
            Key::V6(k) => self.by_ipv6.remove(&k),
        };
    }

    fn clear(&mut self) {
        self.by_mac.clear();
        self.by_ipv4.clear();
        self.by_ipv6.clear();
    }
}

impl SleeperTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `s`, replacing the sleeper with the same id if there is one.
    pub fn insert(&mut self, mut s: Sleeper) {
        s.wake_ports.sort_unstable();
        s.wake_ports.dedup();
        if let Some(&slot) = self.by_id.get(&s.id) {
            let old = std::mem::replace(&mut self.sleepers[slot], s);
            self.unindex(&old, slot);
            self.reclaim(&old, slot);
            self.index_slot(slot);
        } else {
            let slot = self.sleepers.len();
            self.by_id.insert(s.id, slot);
            self.sleepers.push(s);
            self.index_slot(slot);
        }
    }

    /// Removes and returns the sleeper with id `id`.
    pub fn remove(&mut self, id: &NodeId) -> Option<Sleeper> {
        let slot = self.by_id.remove(id)?;
        let gone = self.sleepers.swap_remove(slot);
        self.unindex(&gone, slot);
        if let Some(moved) = self.sleepers.get(slot) {
            // The former last entry now lives at `slot`: point its keys there.
            let from = self.sleepers.len();
            self.by_id.insert(moved.id, slot);
            for key in keys(moved) {
                if self.index.get(key) == Some(from) {
                    self.index.set(key, slot);
                }
            }
        }
        self.reclaim(&gone, usize::MAX);
        Some(gone)
    }

    /// The sleeper with id `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Sleeper> {
        self.by_id.get(id).map(|&slot| &self.sleepers[slot])
    }

    /// The sleeper whose NIC has `mac`.
    pub fn find_by_mac(&self, mac: MacAddr) -> Option<&Sleeper> {
        self.by_mac(mac.0)
    }

    /// The sleeper that owns `addr`.
    pub fn find_by_ip(&self, addr: IpAddr) -> Option<&Sleeper> {
        match addr {
            IpAddr::V4(a) => self.by_ipv4(a.octets()),
            IpAddr::V6(a) => self.by_ipv6(a.octets()),
        }
    }

    /// How many sleepers there are.
    pub fn len(&self) -> usize {
        self.sleepers.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.sleepers.is_empty()
    }

    /// The sleepers, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Sleeper> + Clone {
        self.sleepers.iter()
    }

    /// Removes every sleeper, keeping the allocations.
    pub fn clear(&mut self) {
        self.sleepers.clear();
        self.by_id.clear();
        self.index.clear();
    }

    #[inline]
    pub(crate) fn by_mac(&self, mac: [u8; 6]) -> Option<&Sleeper> {
        self.index.by_mac.get(&mac_key(mac)).map(|&slot| &self.sleepers[slot])
    }

    #[inline]
    pub(crate) fn by_ipv4(&self, addr: [u8; 4]) -> Option<&Sleeper> {
        let key = u32::from_be_bytes(addr);
        self.index.by_ipv4.get(&key).map(|&slot| &self.sleepers[slot])
    }

    #[inline]
    pub(crate) fn by_ipv6(&self, addr: [u8; 16]) -> Option<&Sleeper> {
        let key = u128::from_be_bytes(addr);
        self.index.by_ipv6.get(&key).map(|&slot| &self.sleepers[slot])
    }

    /// Points every key of the sleeper at `slot` to it: the last inserted wins.
    fn index_slot(&mut self, slot: usize) {
        for key in keys(&self.sleepers[slot]) {
            self.index.set(key, slot);
        }
    }

    /// Drops the keys of `s` that point to `slot` (others belong to a later claimant).
    fn unindex(&mut self, s: &Sleeper, slot: usize) {
        for key in keys(s) {
            if self.index.get(key) == Some(slot) {
                self.index.remove(key);
            }
        }
    }

    /// Hands each key of `gone` left unindexed to a remaining claimant other than `skip`.
    ///
    /// A scan of the table: removal is rare (a sleeper woke), lookups are not.
    fn reclaim(&mut self, gone: &Sleeper, skip: usize) {
        for key in keys(gone) {
            if self.index.get(key).is_some() {
                continue;
            }
            let claimant = (0..self.sleepers.len())
                .rev()
                .find(|&slot| slot != skip && keys(&self.sleepers[slot]).any(|k| k == key));
            if let Some(slot) = claimant {
                self.index.set(key, slot);
            }
        }
    }
}

impl Extend<Sleeper> for SleeperTable {
    fn extend<I: IntoIterator<Item = Sleeper>>(&mut self, iter: I) {
        for s in iter {
            self.insert(s);
        }
    }
}

impl FromIterator<Sleeper> for SleeperTable {
    fn from_iter<I: IntoIterator<Item = Sleeper>>(iter: I) -> Self {
        let mut t = Self::new();
        t.extend(iter);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sleeper(n: u8, v4: &[u8], ports: &[u16]) -> Sleeper {
        Sleeper {
            id: NodeId([n; 16]),
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            ipv4: v4.iter().map(|&h| Ipv4Addr::new(10, 0, 0, h)).collect(),
            ipv6: vec![Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n))],
            wake_ports: ports.to_vec(),
        }
    }

    fn v4(h: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, h))
    }

    #[test]
    fn insert_get_remove() {
        let mut t = SleeperTable::new();
        t.insert(sleeper(1, &[1], &[445, 22, 445]));
        t.insert(sleeper(2, &[2, 3], &[]));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&NodeId([1; 16])).unwrap().wake_ports, vec![22, 445]);
        assert_eq!(t.find_by_ip(v4(3)).unwrap().id, NodeId([2; 16]));
        assert_eq!(t.find_by_mac(MacAddr([2, 0, 0, 0, 0, 1])).unwrap().id, NodeId([1; 16]));
        let ll = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));
        assert_eq!(t.find_by_ip(ll).unwrap().id, NodeId([2; 16]));

        let gone = t.remove(&NodeId([1; 16])).unwrap();
        assert_eq!(gone.id, NodeId([1; 16]));
        assert!(t.find_by_ip(v4(1)).is_none());
        assert_eq!(t.find_by_ip(v4(2)).unwrap().id, NodeId([2; 16]), "moved entry re-indexed");
        assert!(t.remove(&NodeId([1; 16])).is_none());
        t.clear();
        assert!(t.is_empty() && t.find_by_ip(v4(2)).is_none());
    }

    #[test]
    fn replacing_reindexes() {
        let mut t = SleeperTable::new();
        t.insert(sleeper(1, &[1], &[]));
        t.insert(sleeper(1, &[9], &[]));
        assert_eq!(t.len(), 1);
        assert!(t.find_by_ip(v4(1)).is_none());
        assert_eq!(t.find_by_ip(v4(9)).unwrap().id, NodeId([1; 16]));
    }

    #[test]
    fn shared_address_goes_back_to_remaining_claimant() {
        let mut t = SleeperTable::new();
        t.insert(sleeper(1, &[5], &[]));
        t.insert(sleeper(2, &[5], &[]));
        assert_eq!(t.find_by_ip(v4(5)).unwrap().id, NodeId([2; 16]), "last insert wins");
        t.remove(&NodeId([2; 16]));
        assert_eq!(t.find_by_ip(v4(5)).unwrap().id, NodeId([1; 16]));
    }

    proptest! {
        /// After any sequence of inserts and removes, every index agrees with a naive model.
        #[test]
        fn indexes_match_model(
            ops in proptest::collection::vec(
                (any::<bool>(), 0u8..6, proptest::collection::vec(0u8..8, 0..3)),
                0..40,
            ),
        ) {
            let mut t = SleeperTable::new();
            let mut model: Vec<Sleeper> = Vec::new();
            for (insert, n, addrs) in ops {
                let id = NodeId([n; 16]);
                if insert {
                    let s = sleeper(n, &addrs, &[]);
                    model.retain(|m| m.id != id);
                    model.push(s.clone());
                    t.insert(s);
                } else {
                    let expected = model.iter().position(|m| m.id == id).map(|i| model.remove(i));
                    prop_assert_eq!(t.remove(&id), expected);
                }
                prop_assert_eq!(t.len(), model.len());
                for h in 0u8..8 {
                    let addr = Ipv4Addr::new(10, 0, 0, h);
                    let claimants: Vec<NodeId> =
                        model.iter().filter(|m| m.ipv4.contains(&addr)).map(|m| m.id).collect();
                    match t.find_by_ip(v4(h)) {
                        None => prop_assert!(claimants.is_empty()),
                        Some(s) => prop_assert!(claimants.contains(&s.id)),
                    }
                }
                for m in &model {
                    prop_assert_eq!(t.get(&m.id), Some(m));
                    prop_assert_eq!(t.find_by_mac(m.mac).map(|s| s.id), Some(m.id));
                }
            }
        }
    }
}
