//! One peer as a node knows it: its record, its liveness state and why, and what the election
//! and the proxy ask of it.

use std::fmt;
use std::time::Duration;

use crate::core::addr::{MacAddr, NodeId};
use crate::core::election::Candidate;
use crate::core::proto::{Capabilities, HostInfo, Role};
use crate::core::time::Instant;

/// A peer's liveness, as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    /// A signed message arrived recently.
    Awake,
    /// Heartbeats lapsed; a probe decides between awake and asleep.
    Suspect,
    /// Announced its sleep, or went silent and did not answer a probe.
    Asleep,
    /// Left, or not seen for so long that it is no longer proxied.
    Gone,
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Awake => "awake",
            Self::Suspect => "suspect",
            Self::Asleep => "asleep",
            Self::Gone => "gone",
        })
    }
}

/// Why a peer changed state: written to logs and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A signed heartbeat arrived.
    Heartbeat,
    /// A signed ResumeNotice arrived.
    Resumed,
    /// Another signed message (claim, release, wake request) arrived.
    Message,
    /// The peer announced it is going to sleep.
    Announced,
    /// No heartbeat for `suspect_after`.
    Silent,
    /// The probe got no answer.
    ProbeFailed,
    /// The peer said it leaves.
    Left,
    /// Silent for `gone_after` although its host answers probes.
    DaemonSilent,
    /// Asleep for longer than `sleeper_ttl`.
    AsleepTooLong,
    /// Did not answer the daily reconciliation wake: no longer treated as asleep.
    NoAnswer,
    /// Silent for `gone_after`, and its host is known not to answer probes, so its sleep could
    /// not be confirmed: nobody answers for a host that may be awake.
    Unconfirmed,
    /// Learned second-hand: another node's signed ProxyClaim said it sleeps (this node never
    /// heard its SleepNotice: it joined later, or restarted without its state).
    Claimed,
    /// Restored from this node's saved registry after a restart.
    Restored,
}

/// Where the probe of a Suspect peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// Not probing.
    Idle,
    /// A probe was asked for at this time. JSON shows only `"pending"` (the instant is on the
    /// node's own clock); read back, the instant is [`Instant::ZERO`].
    Pending(#[serde(skip)] Instant),
    /// The host answered: it is up, but its daemon is silent.
    HostUp,
    /// No answer, but this node saw the host not answer a probe while it was awake (echo
    /// dropped, no open port): silence cannot prove it asleep, so it is not declared so.
    Unconfirmed,
}

/// One peer as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The peer's node id.
    pub id: NodeId,
    /// Its MAC, addresses and listened ports, from its last heartbeat or notice.
    pub host: HostInfo,
    /// The role it announced.
    pub role: Role,
    /// The election term it announced.
    pub term: u64,
    /// When it booted (Unix seconds); 0 if never heard in a heartbeat.
    pub boot_time_s: u64,
    /// Its capabilities.
    pub caps: Capabilities,
    /// Its liveness.
    pub state: PeerState,
    /// Why it is in that state.
    pub reason: Reason,
    /// Since when.
    pub since: Instant,
    /// When the last signed message from it arrived.
    pub last_heard: Instant,
    /// Where its probe stands.
    pub probe: Probe,
    /// Round-trip time of its last answered probe.
    pub rtt: Option<Duration>,
    /// When a frame from its real MAC was last seen while it was asleep: its owner is using it,
    /// so nobody may answer for it until it is proven asleep again.
    pub owner_seen: Option<Instant>,
    /// A heartbeat has been heard since it was last (re)created, so role and rank are known.
    pub heard_heartbeat: bool,
    /// How many peers it said it hears, in its last heartbeat (`None`: a v1.0 node, or no
    /// heartbeat yet). A node that hears nobody is no candidate: it could not do a role's work.
    pub peers_heard: Option<u16>,
    /// Time it spent in its state before `since`, when the state was learned second-hand (a
    /// restored registry, another proxy's claim): a sleeper's age survives restarts.
    pub carried: Duration,
    /// Whether its host answers liveness probes: `Some(true)` once any probe of it answered,
    /// `Some(false)` if one sent while it was awake got no answer (its firewall drops echo and
    /// it has no open port), `None` before either. A host known not to answer probes is never
    /// proven asleep by a failed one.
    pub answers_probes: Option<bool>,
    /// When this node last sent a probe just to learn `answers_probes`.
    pub calibrated_at: Option<Instant>,
    /// A calibration probe got no answer: when it was sent, and when the peer had last been
    /// heard before. It proves the host drops probes only once the peer is heard again soon
    /// enough to have been awake throughout (see [`PeerTable::on_calibration`]).
    ///
    /// [`PeerTable::on_calibration`]: super::PeerTable::on_calibration
    pub unanswered: Option<(Instant, Instant)>,
    /// When a datagram signed in its name last arrived from its own address but had to be
    /// refused (stale: its clock is off): a sign that it is up, though not heard.
    pub sign_of_life: Option<Instant>,
    /// How far its clock was ahead of this node's (negative: behind) when its last signed
    /// message arrived, in milliseconds, network delay included; `None` before one did. Also
    /// kept from messages refused as stale, which is when it matters.
    pub clock_offset_ms: Option<i64>,
    /// The sequence number of its last sleep or resume notice accepted: messages numbered
    /// below it were sent before it and arrive late.
    pub notice_seq: Option<u64>,
    /// The TCP ports its last heartbeat announced (what its liveness probe tries first).
    pub heartbeat_ports: Vec<u16>,
}

/// A change of a peer's state, for logs and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    /// The peer.
    pub peer: NodeId,
    /// Its MAC.
    pub mac: MacAddr,
    /// The state before (`None` for a peer heard for the first time).
    pub from: Option<PeerState>,
    /// The state after.
    pub to: PeerState,
    /// Why.
    pub reason: Reason,
}

impl Peer {
    pub(super) fn new(
        id: NodeId,
        host: HostInfo,
        state: PeerState,
        reason: Reason,
        now: Instant,
    ) -> Self {
        Self {
            id,
            host,
            role: Role::Member,
            term: 0,
            boot_time_s: 0,
            caps: Capabilities(0),
            state,
            reason,
            since: now,
            last_heard: now,
            probe: Probe::Idle,
            rtt: None,
            owner_seen: None,
            heard_heartbeat: false,
            peers_heard: None,
            carried: Duration::ZERO,
            answers_probes: None,
            calibrated_at: None,
            unanswered: None,
            sign_of_life: None,
            clock_offset_ms: None,
            notice_seq: None,
            heartbeat_ports: Vec::new(),
        }
    }

    /// A signed message arrived at `now`: settles a calibration probe left unanswered, if the
    /// peer was heard just before it and now again within 1.5 intervals, so it was awake while
    /// the probe went unanswered.
    pub(super) fn heard_after_calibration(&mut self, now: Instant, interval: Duration) {
        if let Some((sent, before)) = self.unanswered.take() {
            if now >= sent && now.saturating_since(before) <= interval + interval / 2 {
                self.answers_probes = Some(false);
            }
        }
    }

    /// Whether its host may be awake as far as this node knows: heard lately, silent but not
    /// proven asleep (its host answered, or could not be asked), or showing signs of life. The
    /// addresses of such a peer belong to it: nobody answers for them in another's name.
    pub fn may_be_awake(&self, now: Instant, within: Duration) -> bool {
        match self.state {
            PeerState::Awake | PeerState::Suspect => true,
            PeerState::Gone => {
                matches!(self.reason, Reason::DaemonSilent | Reason::Unconfirmed)
                    || self.alive_lately(now, within)
            }
            PeerState::Asleep => false,
        }
    }

    /// Whether it gave a sign of life (a refused but authentic datagram) within `within`.
    pub fn alive_lately(&self, now: Instant, within: Duration) -> bool {
        self.sign_of_life.is_some_and(|t| now.saturating_since(t) < within)
    }

    /// True if the election counts this peer as awake: Awake, or Suspect (benefit of the doubt
    /// until the probe fails or `gone_after` passes), it has sent at least one heartbeat, and it
    /// hears the subnet (a node that hears no peer could not do a role's work).
    pub fn is_candidate(&self) -> bool {
        self.heard_heartbeat
            && matches!(self.state, PeerState::Awake | PeerState::Suspect)
            && self.peers_heard != Some(0)
    }

    /// How long it has been in its state at `now`, second-hand time included.
    pub fn state_for(&self, now: Instant) -> Duration {
        now.saturating_since(self.since).saturating_add(self.carried)
    }

    /// True if this peer is a sleeper someone may answer for: asleep and not seen using its MAC.
    pub fn is_proxiable(&self) -> bool {
        self.state == PeerState::Asleep && self.owner_seen.is_none()
    }

    /// What the election needs to know.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            listening: self.caps.listening(),
            id: self.id,
            prefers_guardian: self.caps.prefers_guardian(),
            can_proxy: self.caps.can_proxy(),
            boot_time_s: self.boot_time_s,
        }
    }

    pub(super) fn set_state(
        &mut self,
        to: PeerState,
        reason: Reason,
        now: Instant,
    ) -> Option<Transition> {
        if self.state == to {
            return None;
        }
        let from = self.state;
        self.state = to;
        self.reason = reason;
        self.since = now;
        self.carried = Duration::ZERO;
        self.probe = Probe::Idle;
        Some(Transition { peer: self.id, mac: self.host.mac, from: Some(from), to, reason })
    }
}
