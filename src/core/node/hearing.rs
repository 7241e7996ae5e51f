//! Whether this node hears its LAN: a node that cannot hear must take no role.
//!
//! A local firewall that drops inbound UDP 25536, or a site key that differs from its peers',
//! leaves a node sending heartbeats that everyone hears while it hears nobody. Before this
//! module such a node advertised that it could proxy (and was given sleepers it never claimed),
//! and, alone in its own view, elected itself manager and blocked its own sleep.
//!
//! The evidence, per LAN, over the last [`DEAF_AFTER`] heartbeat intervals:
//!
//! - a peer's message is accepted: the node hears;
//! - none is, while datagrams from others that look like ours are refused (wrong key, another
//!   major version, a clock out of the window): it hears the subnet but understands nobody;
//! - none is and nothing is refused, but its own broadcasts come back (Linux loops a broadcast
//!   back to the sender's own sockets, so a firewall that drops inbound peer traffic drops
//!   those too): it is alone, and hears;
//! - nothing at all: it hears nothing.
//!
//! A keyless station can make a node that hears no peer count as deaf by sending it
//! datagrams with a bad tag (or replaying stale ones): the node then stands down, as it does
//! when a station claims a sleeper's address in ARP. Neither makes it answer for anyone.
//!
//! Right after start (or resume) the node only listens for one interval; its first heartbeat
//! goes out within a tenth of it, so by the end of the grace its echo is back: a node that has
//! heard nothing by then is deaf at once, before it could take a role.
//!
//! A deaf node is no candidate in its own election (it takes no role, so it never blocks its
//! sleep), stops answering for sleepers, announces that it cannot proxy and that it hears no
//! peer (`peers_heard = 0`, which makes it no candidate for its peers either), and `status`
//! says why.

use std::time::Duration;

use crate::core::time::Instant;

/// Heartbeat intervals without hearing anything before a node counts as deaf.
pub const DEAF_AFTER: u32 = 2;

/// Why a node counts as deaf on a LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Deafness {
    /// Neither its own broadcasts nor any peer's message arrived: inbound UDP on the peer port
    /// is blocked (a firewall), or the interface receives nothing.
    NothingHeard,
    /// Peers' datagrams arrive but every one is refused.
    PeersRefused {
        /// Why the last one was refused.
        why: Refusal,
    },
}

impl Deafness {
    /// What an administrator should read in `status`.
    pub fn explain(&self, peer_port: u16) -> String {
        match self {
            Self::NothingHeard => format!(
                "none of this node's own broadcasts came back and no peer was heard: inbound \
                 UDP {peer_port} is blocked (check the firewall: `wakeproxy firewall apply`)"
            ),
            Self::PeersRefused { why } => format!(
                "every datagram from peers is refused ({}): this node takes no role until it \
                 understands them",
                why.explain()
            ),
        }
    }
}

/// Why datagrams that look like the peer protocol were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// The tag did not verify: the peers use another site key.
    BadTag,
    /// Another major protocol version.
    Version,
    /// Their timestamps are out of the replay window: the clocks disagree.
    Stale,
}

impl Refusal {
    /// In an administrator's words.
    pub fn explain(&self) -> &'static str {
        match self {
            Self::BadTag => "their tags do not verify: the peers use another site key",
            Self::Version => "the peers speak another major protocol version: upgrade",
            Self::Stale => {
                "their timestamps are outside the replay window: synchronise the clocks (NTP)"
            }
        }
    }
}

/// What one LAN has heard lately.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hearing {
    /// When this node started listening here (start, resume, new interface).
    pub(crate) since: Instant,
    /// The last time one of its own broadcasts came back.
    pub(crate) own_echo: Option<Instant>,
    /// The last time a peer's message was accepted.
    pub(crate) peer: Option<Instant>,
    /// The last datagram from others that was refused, and why.
    pub(crate) refused: Option<(Instant, Refusal)>,
    /// The verdict of the last [`Hearing::judge`].
    pub(crate) deaf: Option<Deafness>,
}

impl Hearing {
    pub(crate) fn new(now: Instant) -> Self {
        Self { since: now, own_echo: None, peer: None, refused: None, deaf: None }
    }

    /// Starts listening afresh (after a resume): what was heard before the sleep says nothing.
    pub(crate) fn restart(&mut self, now: Instant) {
        *self = Self::new(now);
    }

    /// The verdict at `now`, given the heartbeat interval and the startup grace. Returns true
    /// if it changed.
    pub(crate) fn judge(&mut self, now: Instant, interval: Duration, grace: Duration) -> bool {
        let window = interval * DEAF_AFTER;
        let recent = |t: Option<Instant>| t.is_some_and(|t| now.saturating_since(t) < window);
        let refused = self.refused.filter(|(at, _)| recent(Some(*at))).map(|(_, why)| why);
        let listened = now.saturating_since(self.since);
        let ever = self.own_echo.is_some() || self.peer.is_some();
        let verdict = if recent(self.peer) {
            None
        } else if let Some(why) = refused {
            // Peers speak, and this node understands none of them (its own echo, with its own
            // key and clock, proves nothing about that).
            Some(Deafness::PeersRefused { why })
        } else if recent(self.own_echo) {
            // Alone on the LAN, but hearing it.
            None
        } else if !ever && listened < grace {
            // Still in the first interval: no verdict yet.
            self.deaf
        } else {
            Some(Deafness::NothingHeard)
        };
        let changed = verdict != self.deaf;
        self.deaf = verdict;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(5);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_node_whose_echo_returns_hears() {
        let mut h = Hearing::new(at(0));
        h.own_echo = Some(at(300));
        assert!(!h.judge(at(5_000), H, H));
        assert_eq!(h.deaf, None);
        // Echoes keep coming with every heartbeat.
        h.own_echo = Some(at(9_800));
        h.judge(at(15_000), H, H);
        assert_eq!(h.deaf, None);
    }

    #[test]
    fn nothing_heard_by_the_end_of_the_grace_is_deaf_at_once() {
        let mut h = Hearing::new(at(0));
        assert!(!h.judge(at(4_999), H, H), "no verdict inside the grace");
        assert!(h.judge(at(5_000), H, H));
        assert_eq!(h.deaf, Some(Deafness::NothingHeard));
    }

    #[test]
    fn refused_peers_make_it_deaf_with_the_reason_and_hearing_again_clears_it() {
        let mut h = Hearing::new(at(0));
        h.refused = Some((at(2_000), Refusal::BadTag));
        h.judge(at(5_000), H, H);
        assert_eq!(h.deaf, Some(Deafness::PeersRefused { why: Refusal::BadTag }));
        h.peer = Some(at(6_000));
        assert!(h.judge(at(6_000), H, H));
        assert_eq!(h.deaf, None);
    }

    #[test]
    fn a_node_that_stops_hearing_is_deaf_after_two_intervals() {
        let mut h = Hearing::new(at(0));
        h.own_echo = Some(at(100));
        h.judge(at(5_000), H, H);
        assert_eq!(h.deaf, None);
        h.judge(at(10_099), H, H);
        assert_eq!(h.deaf, None);
        h.judge(at(10_100), H, H);
        assert_eq!(h.deaf, Some(Deafness::NothingHeard));
    }
}
