//! What signed messages tell about their sender: a heartbeat (its host, role, rank and
//! hearing), a sleep or resume notice, any other message, a leave; and what is learned
//! second-hand: another node's claim that a peer sleeps, and this node's restored registry.

use std::time::Duration;

use super::{Peer, PeerState, PeerTable, Probe, Reason, Transition};
use crate::core::addr::NodeId;
use crate::core::proto::{Heartbeat, HostInfo};
use crate::core::time::Instant;

impl PeerTable {
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

    /// A signed message from `id` said its clock read `sent_ms` when this node's read `now_ms`.
    pub fn note_clock(&mut self, id: NodeId, sent_ms: u64, now_ms: u64) {
        if let Some(p) = self.peers.get_mut(&id) {
            let offset = i128::from(sent_ms) - i128::from(now_ms);
            // Saturates: a forged timestamp of any value is still just "very far off".
            p.clock_offset_ms =
                Some(i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX }));
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

    /// Inserts a peer as restored from saved state: asleep for `asleep_for` already, to be
    /// proxied again after a restart. A peer heard since start is left as it is.
    pub fn restore_sleeper(
        &mut self,
        now: Instant,
        id: NodeId,
        host: HostInfo,
        asleep_for: Duration,
    ) {
        self.peers.get_or_insert_with(id, || {
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
