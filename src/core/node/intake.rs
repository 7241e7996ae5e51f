//! Peer datagrams in: what a datagram must pass before it may change anything.
//!
//! In this order, each failure counted by reason and nothing else done:
//!
//! 1. **Decode**: length, magic, version, the HMAC tag; only then the body (`proto::decode`).
//! 2. **Fresh**: the timestamp within the replay window of this node's clock, the sequence
//!    number below what any clock allows (`ReplayGuard::check_fresh`). A stale capture of this
//!    node's own datagram stops here, before anything could take it for an impersonation.
//! 3. **Own id**: a datagram carrying this node's id is its own broadcast heard back if it
//!    sent that number (`SentLog`), else a forgery by a key holder: counted, answered by
//!    re-announcing the truth at most once a second, never more.
//! 4. **On-link** (every kind but `WakeRequest`, which crosses routers by design): the source
//!    address is inside one of the receiving interface's prefixes *and* is one of the addresses
//!    the sender announces (its heartbeat or notice, or its last heartbeat for kinds that carry
//!    none). A keyless station relaying another subnet's heartbeats cannot meet both: their
//!    signed contents announce the other subnet's addresses.
//! 5. **Once**: the replay window (`ReplayGuard::check`), which records the number.
//! 6. **Room**: a sender this LAN never heard needs room in the peer table.
//!
//! Checks 4 to 6 come after 3 and before the number is recorded, so a relayed or refused copy
//! of a datagram can never burn the number its genuine copy needs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::hearing::Refusal;
use super::{Destination, Event, IfaceId, MAX_PEERS_PER_LAN, Node};
use crate::core::addr::NodeId;
use crate::core::proto::{
    self, DecodeError, Decoded, ErrorClass, Header, HostInfo, Message, ReplayError, Role,
};
use crate::core::time::Instant;

/// At most one re-announcement a second answers forgeries in this node's name, however many
/// arrive.
const REANNOUNCE_EVERY: Duration = Duration::from_secs(1);

impl Node {
    /// A UDP datagram arrived on the peer port of `iface`, from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        iface: IfaceId,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let Some(li) = self.lan_index(iface) else {
            return;
        };
        if self.asleep {
            return;
        }
        self.counters.datagrams += 1;
        let (header, msg, with) = match proto::decode_verified_with(&self.key, bytes) {
            Ok((Decoded::Message(h, m), with)) => (h, m, with),
            Ok((Decoded::Unknown { .. }, _)) => {
                self.counters.unknown_kind += 1;
                return;
            }
            Err(e) => {
                self.refused(now, li, &e);
                return;
            }
        };
        let now_ms = self.unix_ms(now);
        if let Err(e) = self.replay.check_fresh(&header, now_ms) {
            match e {
                ReplayError::Stale { .. } => {
                    self.counters.stale += 1;
                    if header.sender != self.cfg.id {
                        let lan = &mut self.lans[li];
                        lan.hearing.refused = Some((now, Refusal::Stale));
                        // Authentic, from the sender's own address: it is up, its clock is off.
                        // Silence from it proves no sleep.
                        let from_it = lan
                            .peers
                            .get(&header.sender)
                            .is_some_and(|p| host_has_addr(&p.host, from.ip()));
                        if from_it {
                            lan.peers.on_sign_of_life(now, header.sender);
                            lan.peers.note_clock(header.sender, header.timestamp_ms, now_ms);
                        }
                    }
                }
                _ => self.counters.seq_ahead += 1,
            }
            return;
        }
        if header.sender == self.cfg.id {
            self.own_id(now, li, &header, from);
            return;
        }
        if !matches!(msg, Message::WakeRequest(_)) && !self.on_link(li, &header, &msg, from.ip()) {
            self.counters.off_link += 1;
            return;
        }
        let known = self.lans[li].peers.get(&header.sender).is_some();
        if !known && self.lans[li].peers.len() >= MAX_PEERS_PER_LAN {
            self.counters.peer_table_full += 1;
            return;
        }
        if let Err(e) = self.replay.check(&header, now_ms) {
            match e {
                ReplayError::Replayed { .. } => self.counters.replayed += 1,
                ReplayError::TooManySenders { .. } => self.counters.too_many_senders += 1,
                ReplayError::Stale { .. } | ReplayError::SeqAhead { .. } => {
                    self.counters.seq_ahead += 1
                }
            }
            return;
        }
        self.lans[li].hearing.peer = Some(now);
        if self.lans[li].peers.before_notice(&header.sender, header.seq) {
            // Sent before the sender's sleep (or resume) notice, arrived after it.
            self.counters.reordered += 1;
            return;
        }
        self.counters.accepted += 1;
        if with == proto::VerifiedWith::Accepted {
            // A key rollover in progress: this peer signs with the key this node only accepts.
            self.counters.accepted_other_key += 1;
        }
        let notice = matches!(msg, Message::SleepNotice(_) | Message::ResumeNotice(_));
        self.apply(now, li, &header, msg);
        self.lans[li].peers.note_clock(header.sender, header.timestamp_ms, now_ms);
        if notice {
            self.lans[li].peers.noticed(&header.sender, header.seq);
        }
        self.after_input(now);
    }

    /// Counts a datagram `decode` refused; one that looks like the peer protocol but cannot be
    /// understood is evidence for `hearing`.
    fn refused(&mut self, now: Instant, li: usize, e: &DecodeError) {
        let why = match e.class() {
            ErrorClass::Malformed => {
                self.counters.malformed += 1;
                return;
            }
            ErrorClass::Unauthenticated => {
                self.counters.unauthenticated += 1;
                Refusal::BadTag
            }
            ErrorClass::Version => {
                self.counters.version_mismatch += 1;
                Refusal::Version
            }
        };
        self.lans[li].hearing.refused = Some((now, why));
    }

    /// A fresh, authentic datagram carrying this node's id.
    fn own_id(&mut self, now: Instant, li: usize, header: &Header, from: SocketAddr) {
        if self.sent.contains(header.seq) {
            // Our own broadcast heard back (or a replay of one: it says what we said).
            self.counters.own_echo += 1;
            self.lans[li].hearing.own_echo = Some(now);
            return;
        }
        // Someone holding the key speaks in our name. Replays of the same forgery are dropped
        // by the window like any other.
        if self.replay.check(header, self.unix_ms(now)).is_err() {
            self.counters.replayed += 1;
            return;
        }
        self.counters.impersonated += 1;
        // Peers took the forgery's number as our newest: continue above it, or they would
        // refuse the truth as a replay. `check_fresh` bounded it by the clock, so this can
        // never run the counter into its ceiling.
        self.seq = self.seq.max(header.seq);
        let lan = &mut self.lans[li];
        if lan.last_reannounce.is_some_and(|t| now.saturating_since(t) < REANNOUNCE_EVERY) {
            return;
        }
        lan.last_reannounce = Some(now);
        let iface = lan.cfg.id;
        self.emit(Event::Impersonated { iface, from });
        // Whatever the forgery said, say the truth again at once.
        self.lans[li].next_heartbeat = now;
        if !self.leaving {
            let host = self.host_info(li);
            self.send(now, li, Destination::Broadcast, &Message::ResumeNotice(host));
        }
    }

    /// Whether `src` may have sent `msg` from this LAN's own link: inside one of the
    /// interface's prefixes, and one of the addresses the sender announces.
    fn on_link(&self, li: usize, header: &Header, msg: &Message, src: IpAddr) -> bool {
        let lan = &self.lans[li];
        // Another node's message from one of this node's own addresses was spoofed.
        if !lan.on_link(src) || lan.on_own_addr(src) {
            return false;
        }
        let announced = match msg {
            Message::Heartbeat(hb) => &hb.host,
            Message::SleepNotice(host) | Message::ResumeNotice(host) => host,
            // Kinds without host information: the sender's last heartbeat says where it is.
            _ => match lan.peers.get(&header.sender) {
                Some(p) => &p.host,
                None => return false,
            },
        };
        host_has_addr(announced, src)
    }

    fn apply(&mut self, now: Instant, li: usize, header: &Header, msg: Message) {
        let sender = header.sender;
        let iface = self.lans[li].cfg.id;
        match msg {
            Message::Heartbeat(hb) => {
                let lan = &mut self.lans[li];
                // A peer heard for the first time, or one that (re)started (listening again:
                // a restarted daemon, a resumed host) or went deaf (`peers_heard` 0): it holds
                // no claim any more, and may not know the sleepers.
                let fresh = match lan.peers.get(&sender) {
                    Some(p) if p.heard_heartbeat => {
                        (hb.peers_heard == Some(0) && p.peers_heard != Some(0))
                            || (hb.caps.listening() && !p.caps.listening())
                    }
                    _ => true,
                };
                if fresh {
                    lan.forget_claims_of(sender, now);
                }
                // A peer heard again after this node had given it up (gone, or taken for
                // asleep) missed what was said meanwhile, and this node missed what it said:
                // both sides re-announce their claims, so two proxies of one sleeper meet.
                let returning = lan.peers.get(&sender).is_some_and(|p| {
                    matches!(
                        p.state,
                        crate::core::peers::PeerState::Gone | crate::core::peers::PeerState::Asleep
                    )
                });
                let (t, changed) = lan.peers.on_heartbeat(now, sender, &hb);
                lan.dirty |= changed;
                if hb.role == Role::Manager && hb.term > lan.term {
                    lan.term = hb.term;
                } else if hb.role == Role::Manager
                    && lan.role == Role::Manager
                    && hb.term >= lan.term
                {
                    // Two managers with the same view can't happen; with different views the
                    // rank decides. Raise the term so the other side sees a newer manager.
                    lan.term = hb.term.saturating_add(1);
                    lan.next_heartbeat = now;
                }
                if fresh || returning {
                    self.greet(now, li);
                }
                self.claims_in_heartbeat(now, li, sender, &hb.claims, hb.claims_complete);
                self.transition_event(iface, t);
                self.confirm_wake(now, hb.host.mac);
            }
            Message::SleepNotice(host) => {
                let t = self.lans[li].peers.on_sleep_notice(now, sender, &host);
                // Even without a change of state (it was believed asleep already), a notice
                // clears a sighting of its owner and may bring new addresses: elect again.
                self.lans[li].dirty = true;
                self.transition_event(iface, t);
            }
            Message::ResumeNotice(host) => {
                let t = self.lans[li].peers.on_resume_notice(now, sender, &host);
                self.lans[li].dirty = true;
                self.lans[li].claims.remove(&sender);
                self.transition_event(iface, t);
                self.confirm_wake(now, host.mac);
            }
            Message::ProxyClaim(claim) => {
                self.heard_from(now, li, sender);
                self.on_claim(now, li, sender, &claim);
            }
            Message::ProxyRelease(release) => {
                self.heard_from(now, li, sender);
                self.lans[li].claim_dropped(release.sleeper, sender, now);
            }
            Message::WakeRequest(req) => {
                self.heard_from(now, li, sender);
                self.counters.wake_requests += 1;
                self.on_wake_request(now, li, sender, &req);
            }
            Message::Leave => {
                let lan = &mut self.lans[li];
                let t = lan.peers.on_leave(now, sender);
                lan.dirty |= t.is_some();
                lan.yielded.retain(|_, to| *to != sender);
                lan.forget_claims_of(sender, now);
                self.transition_event(iface, t);
            }
            Message::SleeperInfo(info) => {
                self.heard_from(now, li, sender);
                if info.sleeper != self.cfg.id && info.sleeper != sender {
                    self.learn_sleeper(now, li, info.sleeper, &info.host, info.asleep_for_s);
                }
            }
        }
    }

    /// Any signed message proves its sender awake.
    fn heard_from(&mut self, now: Instant, li: usize, sender: NodeId) {
        let t = self.lans[li].peers.on_other_message(now, sender);
        self.lans[li].dirty |= t.is_some();
        let iface = self.lans[li].cfg.id;
        self.transition_event(iface, t);
    }

    /// A peer was heard for the first time (or restarted): heartbeat soon (so it counts this
    /// node before its grace ends) and announce every sleeper this node answers for (the
    /// manager: every sleeper it knows) with that heartbeat, so the newcomer learns the
    /// sleepers it never heard go to sleep.
    fn greet(&mut self, now: Instant, li: usize) {
        let soon = now + self.jitter(GREET_JITTER);
        let lan = &mut self.lans[li];
        lan.next_heartbeat = lan.next_heartbeat.min(soon);
        // Twice: at the next heartbeat and the one after, so one lost datagram loses nothing.
        lan.claims_due = 2;
    }
}

/// How soon, at most, after hearing a new peer a node sends its heartbeat: spread so that a
/// subnet greeting one newcomer does not answer in one burst.
const GREET_JITTER: Duration = Duration::from_millis(200);

/// True if `host` announces `ip` as one of its own addresses.
pub(super) fn host_has_addr(host: &HostInfo, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => host.ipv4.iter().any(|p| p.addr == v4),
        IpAddr::V6(v6) => host.ipv6.iter().any(|p| p.addr == v6),
    }
}
