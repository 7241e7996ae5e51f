//! Replay protection: a per-sender sliding window over sequence numbers, bounded in time by a
//! timestamp window.
//!
//! The tag proves a key holder built a datagram, not that it is fresh: anyone on the LAN can
//! record one and send it again. A [`ReplayGuard`] accepts each `(sender, seq)` at most once:
//!
//! - a header whose timestamp is more than `window` away from the receiver's wall clock is
//!   [`ReplayError::Stale`], so old captures are refused without remembering them;
//! - otherwise a `seq` above the highest seen from that sender is accepted, and so is one of the
//!   63 below it not seen yet (an IPsec-style 64-bit bitmap, RFC 4303 §3.4.3), which tolerates
//!   a little UDP reordering; anything else is [`ReplayError::Replayed`].
//!
//! Senders start their sequence at their wall clock in microseconds when they start and count
//! up from there, so a restarted sender's numbers keep rising above its previous life's
//! without any persisted state. The guard relies on it: a restarted sender that counted from
//! zero would be refused until [`ReplayGuard::prune`] or [`ReplayGuard::forget`] dropped it.
//!
//! A sequence number is also bounded by time: one beyond the receiver's clock plus the window
//! (in µs) cannot come from a real sender, and adopting it would make the real sender's numbers
//! look like replays until it caught up, which at one a datagram is never
//! ([`ReplayError::SeqAhead`]). The guard remembers at most [`MAX_SENDERS`] senders; beyond
//! that, new senders are refused until entries age out ([`ReplayError::TooManySenders`]).
//!
//! Limits: the guarantee holds while the receiver's clock does not step backwards by more than
//! the slack between a pruned sender's last timestamp and the window; a clock stepped back far
//! can let a pruned sender's old datagrams in again. Memory is one small entry per sender
//! accepted within the last window (only key holders can create entries).

use std::time::Duration;

use rustc_hash::FxHashMap;

use super::message::Header;
use crate::core::addr::NodeId;

/// The default timestamp window: wide enough for NTP-synchronised LAN clocks and delivery
/// delay, narrow enough that remembering one window of senders is cheap.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(30);

/// How many sequence numbers below the highest are still accepted once.
const BITMAP_BITS: u64 = 64;

/// Why [`ReplayGuard::check`] refused a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The timestamp is outside the window around the receiver's clock.
    #[error(
        "message timestamp is {skew_ms} ms off this node's clock, outside the replay window: \
         an old datagram replayed, or the clocks disagree; synchronise both nodes' clocks (NTP)"
    )]
    Stale {
        /// Sender's timestamp minus the receiver's clock, in milliseconds (positive: the
        /// sender is ahead).
        skew_ms: i64,
    },
    /// This sequence number from this sender was already accepted, or is too far behind.
    #[error(
        "sequence number {seq} was already accepted from this sender or is too old: a \
         duplicated or replayed datagram, dropped"
    )]
    Replayed {
        /// The refused sequence number.
        seq: u64,
    },
    /// The sequence number is above any a sender could have reached by now: senders start at
    /// their clock in microseconds and count one per datagram, so a number beyond the
    /// receiver's clock plus the window (in µs) was made up. Adopting it would refuse the real
    /// sender's datagrams as replays until it caught up: never.
    #[error(
        "sequence number {seq} is ahead of every clock (at most {bound} now): a forged \
         datagram, dropped"
    )]
    SeqAhead {
        /// The refused sequence number.
        seq: u64,
        /// The highest acceptable now.
        bound: u64,
    },
    /// The guard already remembers as many senders as it may, all heard within one window: a
    /// key holder inventing node ids. Known senders are still served.
    #[error(
        "more than {max} senders within one replay window: a key holder is inventing node \
         ids; datagrams from new senders are dropped until the window passes"
    )]
    TooManySenders {
        /// The limit.
        max: usize,
    },
}

/// What the guard remembers about one sender.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// The highest sequence number accepted.
    highest: u64,
    /// Bit `i` set: `highest - i` was accepted.
    seen: u64,
    /// The newest timestamp accepted, to know when the entry may be forgotten.
    newest_ms: u64,
}

/// The most senders a guard remembers (all within one window): far more nodes than a subnet
/// holds, few enough that a key holder inventing ids cannot grow memory without bound.
pub const MAX_SENDERS: usize = 8192;

/// Accepts each `(sender, seq)` at most once; see the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    window_ms: u64,
    senders: FxHashMap<NodeId, Window>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_WINDOW)
    }
}

impl ReplayGuard {
    /// A guard refusing timestamps more than `window` away from the receiver's clock.
    pub fn new(window: Duration) -> Self {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Self { window_ms, senders: FxHashMap::default() }
    }

    /// The timestamp window.
    pub const fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    /// Accepts a header at most once. `now_unix_ms` is the receiver's wall clock.
    ///
    /// Only success records anything, so a refused header leaves the guard unchanged. Call it
    /// after [`decode`](super::decode) succeeded: unauthenticated headers must not move the
    /// window.
    pub fn check(&mut self, header: &Header, now_unix_ms: u64) -> Result<(), ReplayError> {
        self.check_fresh(header, now_unix_ms)?;
        let (seq, ts) = (header.seq, header.timestamp_ms);
        let Some(w) = self.senders.get_mut(&header.sender) else {
            if self.senders.len() >= MAX_SENDERS {
                return Err(ReplayError::TooManySenders { max: MAX_SENDERS });
            }
            // The only allocation: a sender seen for the first time in this window.
            self.senders.insert(header.sender, Window { highest: seq, seen: 1, newest_ms: ts });
            return Ok(());
        };
        if seq > w.highest {
            let shift = seq - w.highest;
            w.seen = if shift >= BITMAP_BITS { 1 } else { (w.seen << shift) | 1 };
            w.highest = seq;
        } else {
            let behind = w.highest - seq;
            if behind >= BITMAP_BITS || w.seen & (1 << behind) != 0 {
                return Err(ReplayError::Replayed { seq });
            }
            w.seen |= 1 << behind;
        }
        w.newest_ms = w.newest_ms.max(ts);
        Ok(())
    }

    /// The checks that need no memory: the timestamp is within the window of `now_unix_ms`,
    /// and the sequence number is not beyond what any sender's clock allows (a sender starts at
    /// its wall clock in µs and counts up by one a datagram; the bound is the receiver's clock
    /// plus the window, in µs). Records nothing; [`check`](Self::check) runs it first.
    pub fn check_fresh(&self, header: &Header, now_unix_ms: u64) -> Result<(), ReplayError> {
        let ts = header.timestamp_ms;
        if ts.abs_diff(now_unix_ms) > self.window_ms {
            let skew = i128::from(ts) - i128::from(now_unix_ms);
            let skew_ms = i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX });
            return Err(ReplayError::Stale { skew_ms });
        }
        let bound = now_unix_ms.saturating_add(self.window_ms).saturating_mul(1000);
        if header.seq > bound {
            return Err(ReplayError::SeqAhead { seq: header.seq, bound });
        }
        Ok(())
    }

    /// Whether `sender` was accepted within the window and is remembered.
    pub fn knows(&self, sender: &NodeId) -> bool {
        self.senders.contains_key(sender)
    }

    /// Forgets a sender, e.g. after its `Leave`. Its next header is accepted as if it were new,
    /// but the timestamp window still refuses old captures.
    pub fn forget(&mut self, sender: &NodeId) {
        self.senders.remove(sender);
    }

    /// How many senders are remembered.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// True if no sender is remembered.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Drops senders whose newest accepted timestamp is older than the window: any replay of
    /// their datagrams is refused as stale anyway, so memory stays bounded by the senders
    /// active in one window.
    pub fn prune(&mut self, now_unix_ms: u64) {
        let window_ms = self.window_ms;
        self.senders.retain(|_, w| now_unix_ms.saturating_sub(w.newest_ms) <= window_ms);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn h(sender: u128, seq: u64, ts: u64) -> Header {
        Header { sender: NodeId::from_u128(sender), seq, timestamp_ms: ts }
    }

    #[test]
    fn timestamps_outside_the_window_are_stale() {
        let mut g = ReplayGuard::default();
        assert_eq!(
            g.check(&h(1, 1, NOW - 30_001), NOW),
            Err(ReplayError::Stale { skew_ms: -30_001 })
        );
        assert_eq!(
            g.check(&h(1, 1, NOW + 30_001), NOW),
            Err(ReplayError::Stale { skew_ms: 30_001 })
        );
        assert!(g.is_empty(), "refusals record nothing");
        assert_eq!(g.check(&h(1, 1, NOW - 30_000), NOW), Ok(()));
        assert_eq!(g.check(&h(1, 2, NOW + 30_000), NOW), Ok(()));
        let far = g.check(&h(1, 3, u64::MAX), 0);
        assert_eq!(far, Err(ReplayError::Stale { skew_ms: i64::MAX }));
    }

    #[test]
    fn duplicates_are_refused_and_reordering_within_64_is_tolerated() {
        let mut g = ReplayGuard::default();
        assert_eq!(g.check(&h(1, 1000, NOW), NOW), Ok(()));
        assert_eq!(g.check(&h(1, 1000, NOW), NOW), Err(ReplayError::Replayed { seq: 1000 }));
        assert_eq!(g.check(&h(1, 1005, NOW), NOW), Ok(()));
        // Late arrivals within the bitmap, once each.
        assert_eq!(g.check(&h(1, 1003, NOW), NOW), Ok(()));
        assert_eq!(g.check(&h(1, 1003, NOW), NOW), Err(ReplayError::Replayed { seq: 1003 }));
        assert_eq!(g.check(&h(1, 1005 - 63, NOW), NOW), Ok(()));
        assert_eq!(g.check(&h(1, 1005 - 64, NOW), NOW), Err(ReplayError::Replayed { seq: 941 }));
        // A big jump clears the bitmap but still refuses everything far behind.
        assert_eq!(g.check(&h(1, 5000, NOW), NOW), Ok(()));
        assert_eq!(g.check(&h(1, 1004, NOW), NOW), Err(ReplayError::Replayed { seq: 1004 }));
        assert_eq!(g.check(&h(1, 4999, NOW), NOW), Ok(()));
        // Senders are independent.
        assert_eq!(g.check(&h(2, 1000, NOW), NOW), Ok(()));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn a_restarted_sender_continues_from_its_clock() {
        let mut g = ReplayGuard::default();
        let start = NOW * 1000; // wall clock in µs at start
        assert_eq!(g.check(&h(1, start + 5, NOW), NOW), Ok(()));
        let restarted = (NOW + 2_000) * 1000;
        assert_eq!(g.check(&h(1, restarted, NOW + 2_000), NOW + 2_000), Ok(()));
    }

    #[test]
    fn prune_and_forget() {
        let mut g = ReplayGuard::new(Duration::from_secs(10));
        g.check(&h(1, 1, NOW), NOW).unwrap();
        g.check(&h(2, 1, NOW + 5_000), NOW + 5_000).unwrap();
        g.prune(NOW + 10_000);
        assert_eq!(g.len(), 2);
        g.prune(NOW + 10_001);
        assert_eq!(g.len(), 1);
        // What pruning forgot is stale anyway.
        assert!(matches!(g.check(&h(1, 1, NOW), NOW + 10_001), Err(ReplayError::Stale { .. })));
        g.forget(&NodeId::from_u128(2));
        assert!(g.is_empty());
    }

    proptest! {
        // Without pruning, a (sender, seq) is accepted once whatever the timestamps.
        #[test]
        fn never_accepts_the_same_sender_and_seq_twice(
            ops in prop::collection::vec((0u128..3, 0u64..200, 0u64..40_000, 0u64..3_000), 1..400)
        ) {
            let mut g = ReplayGuard::new(Duration::from_secs(10));
            let mut accepted = HashSet::new();
            let mut now = NOW;
            for (sender, seq, age, tick) in ops {
                now += tick;
                let ts = now + 20_000 - age; // around `now`, some outside the window
                if g.check(&h(sender, seq, ts), now).is_ok() {
                    prop_assert!(accepted.insert((sender, seq)), "accepted {sender}/{seq} twice");
                }
            }
        }

        // With pruning, a captured datagram (the same header) is still accepted at most once.
        #[test]
        fn pruning_never_readmits_a_replay(
            ops in prop::collection::vec(
                (0u128..3, 0u64..200, 0u64..40_000, 0u64..3_000, 0usize..4, any::<usize>()),
                1..400,
            )
        ) {
            let mut g = ReplayGuard::new(Duration::from_secs(10));
            let mut sent: Vec<Header> = Vec::new();
            let mut accepted = HashSet::new();
            let mut now = NOW;
            for (sender, seq, age, tick, action, pick) in ops {
                now += tick;
                let header = match action {
                    0 => {
                        g.prune(now);
                        continue;
                    }
                    1 if !sent.is_empty() => sent[pick % sent.len()],
                    _ => h(sender, seq, now + 20_000 - age),
                };
                sent.push(header);
                if g.check(&header, now).is_ok() {
                    let key = (header.sender, header.seq, header.timestamp_ms);
                    prop_assert!(accepted.insert(key), "accepted {header:?} twice");
                }
            }
        }
    }
}
