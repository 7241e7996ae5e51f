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

use std::fmt;
use std::time::Duration;

use rustc_hash::FxHashMap;

use crate::core::addr::{MacAddr, NodeId};
use crate::core::election::Candidate;
use crate::core::proto::{Capabilities, Heartbeat, HostInfo, Role};
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
    pub unanswered: Option<(Instant, Instant)>,
    /// When a datagram signed in its name last arrived from its own address but had to be
    /// refused (stale: its clock is off): a sign that it is up, though not heard.
    pub sign_of_life: Option<Instant>,
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
    fn new(id: NodeId, host: HostInfo, state: PeerState, reason: Reason, now: Instant) -> Self {
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
            notice_seq: None,
            heartbeat_ports: Vec::new(),
        }
    }

    /// A signed message arrived at `now`: settles a calibration probe left unanswered, if the
    /// peer was heard just before it and now again within 1.5 intervals, so it was awake while
    /// the probe went unanswered.
    fn heard_after_calibration(&mut self, now: Instant, interval: Duration) {
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

    fn set_state(&mut self, to: PeerState, reason: Reason, now: Instant) -> Option<Transition> {
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
    peers: FxHashMap<NodeId, Peer>,
    cfg: LivenessConfig,
    /// No peer has anything due before this. It may be early (a heartbeat pushed a deadline
    /// back), never late: an early wake-up just finds nothing to do. This keeps
    /// [`PeerTable::next_deadline`] O(1) on the per-datagram path.
    hint: Option<Instant>,
}

impl PeerTable {
    /// An empty table.
    pub fn new(cfg: LivenessConfig) -> Self {
        Self { peers: FxHashMap::default(), cfg, hint: None }
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

    fn note_deadline(&mut self, id: &NodeId) {
        if let Some(d) = self.peers.get(id).and_then(|p| deadline(p, &self.cfg)) {
            self.hint = Some(self.hint.map_or(d, |h| h.min(d)));
        }
    }

    /// A signed heartbeat arrived. Returns the transition, if any, and whether anything the
    /// election looks at (state, capabilities, boot time) changed.
    pub fn on_heartbeat(
        &mut self,
        now: Instant,
        id: NodeId,
        hb: &Heartbeat,
    ) -> (Option<Transition>, bool) {
        let interval = self.cfg.heartbeat_interval;
        let out = match self.peers.get_mut(&id) {
            Some(p) => {
                let hearing_changed = (p.peers_heard == Some(0)) != (hb.peers_heard == Some(0))
                    || p.caps.listening() != hb.caps.listening();
                let rank_changed = !p.heard_heartbeat
                    || p.caps != hb.caps
                    || p.boot_time_s != hb.boot_time_s
                    || hearing_changed;
                if p.host != hb.host {
                    p.host.clone_from(&hb.host);
                }
                p.role = hb.role;
                p.term = hb.term;
                p.caps = hb.caps;
                p.boot_time_s = hb.boot_time_s;
                p.heard_heartbeat = true;
                p.peers_heard = hb.peers_heard;
                if p.heartbeat_ports != hb.host.tcp_ports {
                    p.heartbeat_ports.clone_from(&hb.host.tcp_ports);
                }
                p.last_heard = now;
                p.heard_after_calibration(now, interval);
                p.owner_seen = None;
                let t = p.set_state(PeerState::Awake, Reason::Heartbeat, now);
                p.probe = Probe::Idle;
                // An Awake peer's deadline only moved later: the hint stays valid.
                if t.is_none() {
                    return (None, rank_changed);
                }
                (t, true)
            }
            None => {
                let mut p =
                    Peer::new(id, hb.host.clone(), PeerState::Awake, Reason::Heartbeat, now);
                p.role = hb.role;
                p.term = hb.term;
                p.caps = hb.caps;
                p.boot_time_s = hb.boot_time_s;
                p.heard_heartbeat = true;
                p.peers_heard = hb.peers_heard;
                p.heartbeat_ports.clone_from(&hb.host.tcp_ports);
                let t = Transition {
                    peer: id,
                    mac: p.host.mac,
                    from: None,
                    to: PeerState::Awake,
                    reason: Reason::Heartbeat,
                };
                self.peers.insert(id, p);
                (Some(t), true)
            }
        };
        self.note_deadline(&id);
        out
    }

    /// A signed message other than a heartbeat or notice arrived from a known peer: proof that
    /// it is awake, but it carries no host information.
    pub fn on_other_message(&mut self, now: Instant, id: NodeId) -> Option<Transition> {
        let interval = self.cfg.heartbeat_interval;
        let p = self.peers.get_mut(&id)?;
        p.last_heard = now;
        p.heard_after_calibration(now, interval);
        p.owner_seen = None;
        let t = p.set_state(PeerState::Awake, Reason::Message, now);
        self.note_deadline(&id);
        t
    }

    /// A signed SleepNotice arrived.
    pub fn on_sleep_notice(
        &mut self,
        now: Instant,
        id: NodeId,
        host: &HostInfo,
    ) -> Option<Transition> {
        self.on_notice(now, id, host, PeerState::Asleep, Reason::Announced)
    }

    /// A signed ResumeNotice arrived. A peer first heard this way is awake but not yet a
    /// candidate: its rank arrives with its first heartbeat.
    pub fn on_resume_notice(
        &mut self,
        now: Instant,
        id: NodeId,
        host: &HostInfo,
    ) -> Option<Transition> {
        self.on_notice(now, id, host, PeerState::Awake, Reason::Resumed)
    }

    /// A notice carries the sender's host information and its new state.
    fn on_notice(
        &mut self,
        now: Instant,
        id: NodeId,
        host: &HostInfo,
        to: PeerState,
        reason: Reason,
    ) -> Option<Transition> {
        let interval = self.cfg.heartbeat_interval;
        let t = match self.peers.get_mut(&id) {
            Some(p) => {
                if p.host != *host {
                    p.host.clone_from(host);
                }
                p.last_heard = now;
                p.heard_after_calibration(now, interval);
                p.owner_seen = None;
                p.set_state(to, reason, now)
            }
            None => {
                self.peers.insert(id, Peer::new(id, host.clone(), to, reason, now));
                Some(Transition { peer: id, mac: host.mac, from: None, to, reason })
            }
        };
        self.note_deadline(&id);
        t
    }

    /// The answer to a probe sent only to learn whether `id`'s host answers probes at all, while
    /// it is heard (see [`Peer::answers_probes`]).
    /// `answered: false` is only noted: it proves nothing until the peer is heard again soon
    /// enough to show it was awake all along (a peer that fell asleep just before the probe is
    /// still "awake" in this node's view for a while).
    pub fn on_calibration(&mut self, id: NodeId, answered: bool) {
        if let Some(p) = self.peers.get_mut(&id) {
            if answered {
                p.answers_probes = Some(true);
                p.unanswered = None;
            } else if let Some(sent) = p.calibrated_at {
                p.unanswered = Some((sent, p.last_heard.min(sent)));
            }
        }
    }

    /// Whether a message numbered `seq` from `id` was sent before its last sleep or resume
    /// notice (UDP reordered them): its news is older than the notice's, and must not undo it.
    pub fn before_notice(&self, id: &NodeId, seq: u64) -> bool {
        self.peers.get(id).is_some_and(|p| p.notice_seq.is_some_and(|n| seq < n))
    }

    /// The sleep or resume notice of `id` just accepted was numbered `seq`.
    pub fn noticed(&mut self, id: &NodeId, seq: u64) {
        if let Some(p) = self.peers.get_mut(id) {
            p.notice_seq = Some(seq);
        }
    }

    /// A datagram signed in `id`'s name came from its address but was refused as stale. It
    /// counts only while `id` is believed awake or suspect: after its SleepNotice (or a failed
    /// probe) a stale datagram is more likely a replay than a sign of life.
    pub fn on_sign_of_life(&mut self, now: Instant, id: NodeId) {
        if let Some(p) = self.peers.get_mut(&id) {
            if matches!(p.state, PeerState::Awake | PeerState::Suspect) {
                p.sign_of_life = Some(now);
            }
        }
    }

    /// Marks that a calibration probe of `id` was sent at `now`.
    pub fn calibrating(&mut self, id: NodeId, now: Instant) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.calibrated_at = Some(now);
        }
    }

    /// A signed Leave arrived.
    pub fn on_leave(&mut self, now: Instant, id: NodeId) -> Option<Transition> {
        let p = self.peers.get_mut(&id)?;
        p.last_heard = now;
        let t = p.set_state(PeerState::Gone, Reason::Left, now);
        self.note_deadline(&id);
        t
    }

    /// The answer to a probe of `id`: `Some(rtt)` if its host answered.
    pub fn on_probe_result(
        &mut self,
        now: Instant,
        id: NodeId,
        rtt: Option<Duration>,
    ) -> Option<Transition> {
        let p = self.peers.get_mut(&id)?;
        if rtt.is_some() {
            p.answers_probes = Some(true);
        }
        let Probe::Pending(_) = p.probe else {
            return None;
        };
        // Only a host known to answer probes, and that shows no other sign of life, is proven
        // asleep by a probe that gets no answer.
        let provable =
            p.answers_probes != Some(false) && !p.alive_lately(now, self.cfg.suspect_after);
        let t = match (p.state, rtt) {
            (PeerState::Suspect, Some(rtt)) => {
                // Up, but its daemon is silent.
                p.rtt = Some(rtt);
                p.probe = Probe::HostUp;
                None
            }
            (PeerState::Asleep, Some(rtt)) => {
                // Its owner was seen using it and it still answers: look again later (it may
                // have been on its way to sleep), and answer for nobody meanwhile.
                p.rtt = Some(rtt);
                p.owner_seen = Some(now);
                p.probe = Probe::Idle;
                None
            }
            (PeerState::Suspect, None) if provable => {
                p.set_state(PeerState::Asleep, Reason::ProbeFailed, now)
            }
            (PeerState::Suspect, None) => {
                // A host that never answered a probe may just be one that drops them.
                p.probe = Probe::Unconfirmed;
                None
            }
            (PeerState::Asleep, None) => {
                // Seen on the wire, then nothing from it for `suspect_after`, and no answer:
                // asleep again, answer for it again.
                p.owner_seen = None;
                p.probe = Probe::Idle;
                None
            }
            _ => {
                p.probe = Probe::Idle;
                None
            }
        };
        self.note_deadline(&id);
        t
    }

    /// A frame from `id`'s real MAC was seen while it is asleep: its owner is using the address,
    /// so nobody may answer for it until `suspect_after` passes without another such frame
    /// and a probe fails. Returns true if this is news.
    ///
    /// Frames handled within a quarter of the probe window after its own sleep notice are
    /// ignored: they are what it sent on its way to sleep. Captured frames and peer datagrams
    /// reach the node through separate queues (and the daemon serves peer traffic first), so
    /// a frame sent before the notice may be handled after it. A host that stays up is still
    /// seen by its later frames, within the probe window too, and by the claim's probe.
    pub fn on_owner_frame(&mut self, now: Instant, id: NodeId) -> bool {
        let settle = self.cfg.probe_timeout / 4;
        let news = match self.peers.get_mut(&id) {
            Some(p)
                if p.state == PeerState::Asleep
                    && p.reason == Reason::Announced
                    && now.saturating_since(p.since) < settle =>
            {
                false
            }
            Some(p) if p.state == PeerState::Asleep => {
                let news = p.owner_seen.is_none();
                p.owner_seen = Some(now);
                news
            }
            _ => false,
        };
        if news {
            self.note_deadline(&id);
        }
        news
    }

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

    /// A sleeper did not answer its reconciliation wake: it is no longer treated as asleep.
    pub fn mark_gone(&mut self, now: Instant, id: NodeId, reason: Reason) -> Option<Transition> {
        let p = self.peers.get_mut(&id)?;
        if p.state != PeerState::Asleep {
            return None;
        }
        let t = p.set_state(PeerState::Gone, reason, now);
        self.note_deadline(&id);
        t
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

    /// Removes a peer (e.g. when its interface goes away).
    pub fn remove(&mut self, id: &NodeId) -> Option<Peer> {
        self.peers.remove(id)
    }

    /// Inserts a peer as restored from saved state: asleep for `asleep_for` already, to be
    /// proxied again after a restart. A peer heard since start is left as it is.
    pub fn restore_sleeper(
        &mut self,
        now: Instant,
        id: NodeId,
        host: HostInfo,
        asleep_for: Duration,
    ) {
        self.peers.entry(id).or_insert_with(|| {
            let mut p = Peer::new(id, host, PeerState::Asleep, Reason::Restored, now);
            p.carried = asleep_for;
            p
        });
        self.note_deadline(&id);
    }

    /// Another node's signed ProxyClaim (or SleeperInfo) says `id` sleeps, with its host
    /// information. First-hand knowledge wins: a peer unknown here is created (asleep for
    /// `asleep_for` already), a peer asleep here has its host information refreshed, and a peer
    /// that fell silent here without this node being able to confirm its sleep (it never saw
    /// its host answer a probe; the claimant, which probed it, did) is taken as asleep. A peer
    /// heard lately, or whose host answered this node's probe, is left alone.
    pub fn on_claimed_sleeper(
        &mut self,
        now: Instant,
        id: NodeId,
        host: &HostInfo,
        asleep_for: Duration,
    ) -> Option<Transition> {
        let t = match self.peers.get_mut(&id) {
            Some(p) if p.state == PeerState::Asleep => {
                if p.host != *host {
                    p.host.clone_from(host);
                }
                None
            }
            Some(p)
                if (p.state == PeerState::Suspect && p.probe != Probe::HostUp)
                    || (p.state == PeerState::Gone && p.reason == Reason::Unconfirmed) =>
            {
                p.set_state(PeerState::Asleep, Reason::Claimed, now)
            }
            Some(_) => return None,
            None => {
                let mut p = Peer::new(id, host.clone(), PeerState::Asleep, Reason::Claimed, now);
                p.carried = asleep_for;
                self.peers.insert(id, p);
                Some(Transition {
                    peer: id,
                    mac: host.mac,
                    from: None,
                    to: PeerState::Asleep,
                    reason: Reason::Claimed,
                })
            }
        };
        self.note_deadline(&id);
        t
    }
}

/// When `p` next has something due.
fn deadline(p: &Peer, cfg: &LivenessConfig) -> Option<Instant> {
    match p.state {
        PeerState::Awake => Some(p.last_heard + cfg.suspect_after),
        PeerState::Suspect => match p.probe {
            Probe::Idle => Some(p.since),
            Probe::Pending(at) => {
                Some((at + cfg.probe_timeout * 2).min(p.last_heard + cfg.gone_after))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: Duration = Duration::from_secs(5);

    fn hb(n: u8) -> Heartbeat {
        Heartbeat {
            host: HostInfo { mac: MacAddr([2, 0, 0, 0, 0, n]), ..HostInfo::default() },
            role: Role::Member,
            term: 1,
            boot_time_s: 100,
            caps: Capabilities::CAN_PROXY,
            peers_heard: None,
            claims: Vec::new(),
            claims_complete: true,
        }
    }

    fn id(n: u8) -> NodeId {
        NodeId::from_u128(u128::from(n))
    }

    fn poll(t: &mut PeerTable, now: Instant) -> Vec<Due> {
        let mut out = Vec::new();
        t.poll(now, &mut out);
        out
    }

    #[test]
    fn silence_makes_a_peer_suspect_and_probed_then_asleep_when_the_probe_fails() {
        let mut t = PeerTable::new(LivenessConfig::for_interval(H));
        let t0 = Instant::ZERO;
        assert!(t.on_heartbeat(t0, id(1), &hb(1)).1);
        t.on_calibration(id(1), true);
        assert!(poll(&mut t, t0 + H * 2).is_empty(), "two intervals of silence are normal");
        let due = poll(&mut t, t0 + H * 5 / 2);
        assert!(matches!(due[0], Due::Changed(Transition { to: PeerState::Suspect, .. })));
        assert_eq!(due[1], Due::Probe(id(1)));
        assert!(t.get(&id(1)).unwrap().is_candidate(), "a suspect keeps its place");
        let tr = t.on_probe_result(t0 + H * 3, id(1), None).unwrap();
        assert_eq!((tr.to, tr.reason), (PeerState::Asleep, Reason::ProbeFailed));
        assert!(t.get(&id(1)).unwrap().is_proxiable());
    }

    #[test]
    fn a_host_that_answers_probes_but_stays_silent_is_gone_after_gone_after() {
        let cfg = LivenessConfig::for_interval(H);
        let mut t = PeerTable::new(cfg);
        t.on_heartbeat(Instant::ZERO, id(1), &hb(1));
        poll(&mut t, Instant::ZERO + cfg.suspect_after);
        assert!(
            t.on_probe_result(Instant::ZERO + cfg.suspect_after, id(1), Some(H / 100)).is_none()
        );
        assert_eq!(t.get(&id(1)).unwrap().probe, Probe::HostUp);
        let due = poll(&mut t, Instant::ZERO + cfg.gone_after);
        assert!(matches!(
            due[0],
            Due::Changed(Transition { to: PeerState::Gone, reason: Reason::DaemonSilent, .. })
        ));
        assert!(!t.get(&id(1)).unwrap().is_candidate());
        poll(&mut t, Instant::ZERO + cfg.gone_after + cfg.forget_after);
        assert!(t.is_empty(), "gone peers are forgotten");
    }

    #[test]
    fn a_frame_from_the_owner_stops_proxying_until_a_probe_fails_again() {
        let cfg = LivenessConfig::for_interval(H);
        let mut t = PeerTable::new(cfg);
        let t0 = Instant::ZERO;
        t.on_sleep_notice(t0, id(1), &hb(1).host);
        t.on_calibration(id(1), true);
        assert!(t.on_owner_frame(t0 + H, id(1)));
        assert!(!t.on_owner_frame(t0 + H, id(1)), "only news once");
        assert!(!t.get(&id(1)).unwrap().is_proxiable());
        assert_eq!(poll(&mut t, t0 + H + cfg.suspect_after), vec![Due::Probe(id(1))]);
        t.on_probe_result(t0 + H * 4, id(1), None);
        assert!(t.get(&id(1)).unwrap().is_proxiable());
    }

    #[test]
    fn a_host_that_never_answered_a_probe_is_not_declared_asleep_by_silence() {
        let cfg = LivenessConfig::for_interval(H);
        let mut t = PeerTable::new(cfg);
        let t0 = Instant::ZERO;
        t.on_heartbeat(t0, id(1), &hb(1));
        // Probed while it spoke: no answer. Its firewall drops echo, and no port is open.
        t.calibrating(id(1), t0 + H / 2);
        t.on_calibration(id(1), false);
        assert_eq!(t.get(&id(1)).unwrap().answers_probes, None, "it may have just slept");
        t.on_heartbeat(t0 + H, id(1), &hb(1));
        assert_eq!(t.get(&id(1)).unwrap().answers_probes, Some(false), "awake all along");
        let t0 = t0 + H;
        poll(&mut t, t0 + cfg.suspect_after);
        assert!(t.on_probe_result(t0 + H * 3, id(1), None).is_none(), "not asleep");
        assert_eq!(t.get(&id(1)).unwrap().probe, Probe::Unconfirmed);
        let due = poll(&mut t, t0 + cfg.gone_after);
        assert!(matches!(
            due[0],
            Due::Changed(Transition { to: PeerState::Gone, reason: Reason::Unconfirmed, .. })
        ));
        assert!(!t.get(&id(1)).unwrap().is_proxiable());
        // A proxy that did see it answer probes, and claims it, is believed.
        let t1 = t0 + cfg.gone_after + H;
        let tr = t.on_claimed_sleeper(t1, id(1), &hb(1).host, H).unwrap();
        assert_eq!((tr.to, tr.reason), (PeerState::Asleep, Reason::Claimed));
        assert!(t.get(&id(1)).unwrap().is_proxiable());
    }

    #[test]
    fn an_unanswered_calibration_of_a_peer_that_then_falls_silent_proves_nothing() {
        let cfg = LivenessConfig::for_interval(H);
        let mut t = PeerTable::new(cfg);
        let t0 = Instant::ZERO;
        t.on_heartbeat(t0, id(1), &hb(1));
        t.calibrating(id(1), t0 + H / 2);
        t.on_calibration(id(1), false);
        // It slept just before the probe, and speaks again only much later (woken).
        t.on_heartbeat(t0 + H * 10, id(1), &hb(1));
        assert_eq!(t.get(&id(1)).unwrap().answers_probes, None);
    }

    #[test]
    fn a_claim_never_puts_a_peer_heard_lately_or_seen_up_to_sleep() {
        let mut t = PeerTable::new(LivenessConfig::for_interval(H));
        t.on_heartbeat(Instant::ZERO, id(1), &hb(1));
        assert!(t.on_claimed_sleeper(Instant::ZERO + H, id(1), &hb(1).host, H).is_none());
        assert_eq!(t.get(&id(1)).unwrap().state, PeerState::Awake);
        // Silent, but its host answered the probe: up.
        poll(&mut t, Instant::ZERO + H * 3);
        t.on_probe_result(Instant::ZERO + H * 3, id(1), Some(H / 100));
        assert!(t.on_claimed_sleeper(Instant::ZERO + H * 3, id(1), &hb(1).host, H).is_none());
        assert_eq!(t.get(&id(1)).unwrap().state, PeerState::Suspect);
    }

    #[test]
    fn signed_messages_wake_any_state() {
        let mut t = PeerTable::new(LivenessConfig::for_interval(H));
        t.on_sleep_notice(Instant::ZERO, id(1), &hb(1).host);
        let tr = t.on_resume_notice(Instant::ZERO + H, id(1), &hb(1).host).unwrap();
        assert_eq!((tr.from, tr.to), (Some(PeerState::Asleep), PeerState::Awake));
        t.on_leave(Instant::ZERO + H, id(1));
        assert_eq!(t.on_other_message(Instant::ZERO + H * 2, id(1)).unwrap().to, PeerState::Awake);
    }

    #[derive(Debug, Clone)]
    enum Input {
        Heartbeat(u8),
        Sleep(u8),
        Resume(u8),
        Leave(u8),
        Other(u8),
        Probe(u8, bool),
        OwnerFrame(u8),
        Wait(u16),
    }

    fn input() -> impl Strategy<Value = Input> {
        let p = 0u8..6;
        prop_oneof![
            p.clone().prop_map(Input::Heartbeat),
            p.clone().prop_map(Input::Sleep),
            p.clone().prop_map(Input::Resume),
            p.clone().prop_map(Input::Leave),
            p.clone().prop_map(Input::Other),
            (p.clone(), any::<bool>()).prop_map(|(n, ok)| Input::Probe(n, ok)),
            p.prop_map(Input::OwnerFrame),
            (0u16..20_000).prop_map(Input::Wait),
        ]
    }

    proptest! {
        /// Whatever happens, the deadline hint is never late, a proxiable peer is asleep, a
        /// candidate has sent a heartbeat, and a peer is Awake right after a signed message.
        #[test]
        fn invariants_hold_for_any_sequence(inputs in prop::collection::vec(input(), 1..200)) {
            let cfg = LivenessConfig::for_interval(H);
            let mut t = PeerTable::new(cfg);
            let mut now = Instant::ZERO;
            for i in inputs {
                match i {
                    Input::Heartbeat(n) => { t.on_heartbeat(now, id(n), &hb(n)); }
                    Input::Sleep(n) => { t.on_sleep_notice(now, id(n), &hb(n).host); }
                    Input::Resume(n) => { t.on_resume_notice(now, id(n), &hb(n).host); }
                    Input::Leave(n) => { t.on_leave(now, id(n)); }
                    Input::Other(n) => { t.on_other_message(now, id(n)); }
                    Input::Probe(n, ok) => { t.on_probe_result(now, id(n), ok.then_some(H / 10)); }
                    Input::OwnerFrame(n) => { t.on_owner_frame(now, id(n)); }
                    Input::Wait(ms) => {
                        let next = now + Duration::from_millis(u64::from(ms));
                        // Nothing may be due before the hint says so.
                        if t.next_deadline().is_some_and(|d| d > next) {
                            let before: Vec<Peer> = t.iter().cloned().collect();
                            let mut due = Vec::new();
                            t.poll(next, &mut due);
                            prop_assert!(due.is_empty(), "due {due:?} before the deadline");
                            prop_assert_eq!(before.len(), t.len());
                        }
                        now = next;
                        poll(&mut t, now);
                    }
                }
                if let Input::Heartbeat(n) | Input::Resume(n) | Input::Other(n) = i {
                    if let Some(p) = t.get(&id(n)) {
                        prop_assert_eq!(p.state, PeerState::Awake);
                    }
                }
                for p in t.iter() {
                    prop_assert!(!p.is_proxiable() || p.state == PeerState::Asleep);
                    prop_assert!(!p.is_candidate() || p.heard_heartbeat);
                }
            }
        }
    }
}
