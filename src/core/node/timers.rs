//! Time passing: liveness deadlines, claims, hearing, heartbeats.

use std::net::IpAddr;

use super::claim::REFRESH_EVERY;
use super::{Action, Destination, Event, Node, PRUNE_EVERY, ProxyMode, StopReason, WAKE_SEEN_HOLD};
use crate::core::addr::NodeId;
use crate::core::peers::Due;
use crate::core::proto::Message;
use crate::core::time::Instant;

impl Node {
    /// Timers: call at (or after) the instant [`Node::poll_timeout`] returned.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.asleep {
            return;
        }
        if !self.grace_done && now >= self.listen_until {
            // The end of the grace period is when the first election may act; peers give this
            // node sleepers from its next heartbeat on (it said it was listening until now), so
            // that heartbeat goes out now.
            self.grace_done = true;
            for lan in &mut self.lans {
                lan.dirty = true;
                lan.next_heartbeat = now;
            }
        }
        let mut dues = std::mem::take(&mut self.dues);
        for li in 0..self.lans.len() {
            dues.clear();
            self.lans[li].peers.poll(now, &mut dues);
            let iface = self.lans[li].cfg.id;
            for due in dues.drain(..) {
                match due {
                    Due::Changed(t) => {
                        self.lans[li].dirty = true;
                        self.transition_event(iface, Some(t));
                    }
                    Due::Probe(id) => self.probe_peer(li, id),
                }
            }
            self.expire_claim_timers(now, li);
            self.finish_claims(now, li);
            let me = self.cfg.id;
            let lan = &mut self.lans[li];
            lan.claim_due = lan.next_claim_timer(me);
            self.judge_hearing(now, li);
            self.lans[li].wake_seen.retain(|_, at| now.saturating_since(*at) < WAKE_SEEN_HOLD);
        }
        self.dues = dues;
        if now >= self.next_prune {
            self.replay.prune(self.unix_ms(now));
            self.next_prune = now + PRUNE_EVERY;
        }
        // Elections first, so that a heartbeat they make due (a new role) goes out now, with
        // the new role, and the next deadline lies in the future.
        self.after_input(now);
        for li in 0..self.lans.len() {
            if !self.leaving && self.lans[li].next_heartbeat <= now {
                self.heartbeat_now(now, li);
            }
        }
    }

    /// Asks the driver whether peer `id`'s host is up.
    fn probe_peer(&mut self, li: usize, id: NodeId) {
        let Some(p) = self.lans[li].peers.get(&id) else {
            return;
        };
        let ip = p
            .host
            .ipv4
            .first()
            .map(|a| IpAddr::V4(a.addr))
            .or_else(|| p.host.ipv6.first().map(|a| IpAddr::V6(a.addr)));
        if let Some(ip) = ip {
            let tcp_ports = super::probe_ports(p);
            self.counters.probes += 1;
            let (iface, timeout) = (self.lans[li].cfg.id, self.cfg.liveness.probe_timeout);
            self.actions.push_back(Action::Probe { iface, ip, timeout, tcp_ports });
        }
    }

    /// Re-judges whether this node hears LAN `li`. Going deaf: let go of every sleeper (this
    /// node can no longer hear them wake, nor their next proxy claim them) and drop the role;
    /// either way, tell peers at once.
    fn judge_hearing(&mut self, now: Instant, li: usize) {
        if self.leaving {
            return;
        }
        let (interval, grace) = (self.cfg.heartbeat_interval(), self.cfg.startup_grace);
        if !self.lans[li].hearing.judge(now, interval, grace) {
            return;
        }
        let deaf = self.lans[li].hearing.deaf;
        if deaf.is_some() {
            self.release_all(now, li, StopReason::Deaf);
        }
        let lan = &mut self.lans[li];
        lan.dirty = true;
        lan.next_heartbeat = now;
        let iface = lan.cfg.id;
        self.emit(Event::HearingChanged { iface, deaf });
    }

    /// Sends LAN `li`'s heartbeat, and with it the claims that are due: all of them after a
    /// new peer appeared or every [`REFRESH_EVERY`] heartbeats, else those being handed over.
    fn heartbeat_now(&mut self, now: Instant, li: usize) {
        let hb = self.heartbeat(li);
        self.send(now, li, Destination::Broadcast, &Message::Heartbeat(hb));
        let interval = self.cfg.heartbeat_interval();
        let next = now + interval - self.jitter(interval / 10);
        let lan = &mut self.lans[li];
        lan.next_heartbeat = next;
        lan.since_refresh += 1;
        let refresh = lan.since_refresh >= REFRESH_EVERY;
        if lan.repoint_due > 0 || refresh {
            lan.repoint_due = lan.repoint_due.saturating_sub(1);
            self.repoint_caches(li);
        }
        let lan = &mut self.lans[li];
        if lan.claims_due > 0 || refresh {
            lan.claims_due = lan.claims_due.saturating_sub(1);
            lan.since_refresh = 0;
            self.announce_claims(now, li);
        } else {
            // A claim lost on its way would leave another proxy answering too until the next
            // refresh: claims made since the last heartbeat are said once more, and so are
            // those being handed over (their new proxy needs them).
            let since = now - (interval + interval / 2);
            let again: Vec<NodeId> = lan
                .proxied
                .iter()
                .map(|s| s.id)
                .filter(|id| {
                    lan.handing_over.contains_key(id)
                        || lan.stats.get(id).is_some_and(|st| st.since >= since)
                })
                .collect();
            for id in again {
                self.send_claim(now, li, id);
            }
        }
        if self.cfg.proxy_mode == ProxyMode::MacTakeover {
            self.refresh_takeover(li);
        }
        if self.acting(now) {
            let me = self.me_as_candidate(li);
            self.calibrate(now, li, me);
        }
    }
}
