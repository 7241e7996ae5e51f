//! The timing of the liveness states: how long each lasts, what falls due as time passes
//! (silence makes a peer Suspect and probed, a probe that never returns fails, sleepers and
//! gone peers age out), and when the table next has something due.

use std::time::Duration;

use super::{Due, Peer, PeerState, PeerTable, Probe, Reason};
use crate::core::time::Instant;

/// How long the liveness states last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    /// How often peers send heartbeats.
    pub heartbeat_interval: Duration,
    /// Silence after which a peer becomes Suspect and is probed (default 2.5 intervals: two
    /// heartbeats missed in a row).
    pub suspect_after: Duration,
    /// How long a probe may take before it counts as failed.
    pub probe_timeout: Duration,
    /// Silence after which a Suspect peer whose host still answers probes is Gone.
    pub gone_after: Duration,
    /// How long a sleeper is proxied without any sign of life before it is Gone.
    pub sleeper_ttl: Duration,
    /// How long a Gone peer is remembered (for status) before it is dropped.
    pub forget_after: Duration,
}

impl LivenessConfig {
    /// Defaults derived from a heartbeat interval.
    pub fn for_interval(heartbeat_interval: Duration) -> Self {
        Self {
            heartbeat_interval,
            suspect_after: heartbeat_interval * 5 / 2,
            probe_timeout: Duration::from_secs(1).min(heartbeat_interval / 2),
            gone_after: heartbeat_interval * 3,
            sleeper_ttl: Duration::from_secs(7 * 24 * 3600),
            forget_after: Duration::from_secs(3600),
        }
    }
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self::for_interval(Duration::from_secs(5))
    }
}

impl PeerTable {
    /// Advances timers to `now`: appends what is due to `out`.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Due>) {
        if self.hint.is_some_and(|h| h > now) {
            return;
        }
        let cfg = self.cfg;
        let mut forget = Vec::new();
        for p in self.peers.values_mut() {
            let silent = now.saturating_since(p.last_heard);
            match p.state {
                PeerState::Awake if silent >= cfg.suspect_after => {
                    out.extend(
                        p.set_state(PeerState::Suspect, Reason::Silent, now).map(Due::Changed),
                    );
                    p.probe = Probe::Pending(now);
                    out.push(Due::Probe(p.id));
                }
                PeerState::Suspect if silent >= cfg.gone_after => {
                    let why = if p.probe == Probe::Unconfirmed {
                        Reason::Unconfirmed
                    } else {
                        Reason::DaemonSilent
                    };
                    out.extend(p.set_state(PeerState::Gone, why, now).map(Due::Changed));
                }
                PeerState::Suspect => match p.probe {
                    Probe::Idle => {
                        p.probe = Probe::Pending(now);
                        out.push(Due::Probe(p.id));
                    }
                    Probe::Pending(at) if now.saturating_since(at) >= cfg.probe_timeout * 2 => {
                        // The driver must answer every probe within its timeout; if it never
                        // does, count the probe as failed rather than wait forever.
                        if p.answers_probes != Some(false) {
                            out.extend(
                                p.set_state(PeerState::Asleep, Reason::ProbeFailed, now)
                                    .map(Due::Changed),
                            );
                        } else {
                            p.probe = Probe::Unconfirmed;
                        }
                    }
                    _ => {}
                },
                PeerState::Asleep => {
                    if p.state_for(now) >= cfg.sleeper_ttl {
                        out.extend(
                            p.set_state(PeerState::Gone, Reason::AsleepTooLong, now)
                                .map(Due::Changed),
                        );
                    } else if let (Some(seen), Probe::Idle) = (p.owner_seen, p.probe) {
                        if now.saturating_since(seen) >= cfg.suspect_after {
                            p.probe = Probe::Pending(now);
                            out.push(Due::Probe(p.id));
                        }
                    }
                }
                PeerState::Gone if now.saturating_since(p.since) >= cfg.forget_after => {
                    forget.push(p.id)
                }
                _ => {}
            }
        }
        for id in forget {
            self.peers.remove(&id);
        }
        self.hint = self.peers.values().filter_map(|p| deadline(p, &cfg)).min();
    }

    /// The earliest time at which [`PeerTable::poll`] may have something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.hint
    }

    /// This node was deaf (asleep) until `now`: restart the silence clock of every peer believed
    /// awake, so that waking up does not make the whole LAN Suspect at once.
    pub fn refresh_all(&mut self, now: Instant) {
        for p in self.peers.values_mut() {
            if matches!(p.state, PeerState::Awake | PeerState::Suspect) {
                p.last_heard = now;
                p.state = PeerState::Awake;
                p.probe = Probe::Idle;
            }
        }
        let cfg = self.cfg;
        self.hint = self.peers.values().filter_map(|p| deadline(p, &cfg)).min();
    }
}

/// When `p` next has something due.
pub(super) fn deadline(p: &Peer, cfg: &LivenessConfig) -> Option<Instant> {
    match p.state {
        PeerState::Awake => Some(p.last_heard + cfg.suspect_after),
        PeerState::Suspect => match p.probe {
            Probe::Idle => Some(p.since),
            Probe::Pending(at) => {
                let (answer_due, gone) =
                    (at + cfg.probe_timeout * 2, p.last_heard + cfg.gone_after);
                // A probe sent after the peer was already due to be gone (a timer that fired
                // very late: a stopped process, a paused VM) gets its time, so this deadline
                // lies after the poll that sent it and the driver is not called straight back.
                Some(if gone > at { answer_due.min(gone) } else { answer_due })
            }
            Probe::HostUp | Probe::Unconfirmed => Some(p.last_heard + cfg.gone_after),
        },
        PeerState::Asleep => {
            let ttl = p.since + cfg.sleeper_ttl.saturating_sub(p.carried);
            match (p.owner_seen, p.probe) {
                (Some(seen), Probe::Idle) => Some(ttl.min(seen + cfg.suspect_after)),
                _ => Some(ttl),
            }
        }
        PeerState::Gone => Some(p.since + cfg.forget_after),
    }
}
