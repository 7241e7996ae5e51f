//! What the wire tells besides signed messages: the answers to liveness and calibration
//! probes, frames from a sleeper's own MAC, and a sleeper that did not answer its
//! reconciliation wake.

use std::time::Duration;

use super::{PeerState, PeerTable, Probe, Reason, Transition};
use crate::core::addr::NodeId;
use crate::core::time::Instant;

impl PeerTable {
    /// The answer to a probe sent only to learn whether `id`'s host answers probes at all, while
    /// it is heard (see [`Peer::answers_probes`]).
    /// `answered: false` is only noted: it proves nothing until the peer is heard again soon
    /// enough to show it was awake all along (a peer that fell asleep just before the probe is
    /// still "awake" in this node's view for a while).
    ///
    /// [`Peer::answers_probes`]: super::Peer::answers_probes
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

    /// Marks that a calibration probe of `id` was sent at `now`.
    pub fn calibrating(&mut self, id: NodeId, now: Instant) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.calibrated_at = Some(now);
        }
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
}
