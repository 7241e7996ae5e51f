//! The node: the state machine that ties protocol, peers, election, frames and wakes together.
//!
//! It is deterministic and does no I/O. Inputs are `handle_*` calls and local events, each with
//! the current [`Instant`]; outputs are pulled with [`Node::poll_action`] and
//! [`Node::poll_timeout`]. The driver (the daemon, or the simulator) calls `handle_timeout` at
//! the instant `poll_timeout` named, and drains `poll_action` after every input.
//!
//! Heartbeats go out every interval minus up to 10 % jitter, so nodes started together drift
//! apart instead of bursting. After it starts or resumes a node only listens for
//! `startup_grace` (one heartbeat interval): by then it has heard every awake peer, so it never
//! claims a role or a sleeper from a partial view.

mod action;
mod claim;
mod config;
mod lan;
mod registry;
mod status;
mod wake;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

pub use action::{Action, Destination, Event, MAX_PROBE_PORTS, StopReason, WakeCause};
pub use claim::ClaimBlocked;
pub use config::{DEFAULT_WAKE_DENY, IfaceConfig, IfaceId, NodeConfig, ProxyMode};
pub use lan::ProxyStats;
pub use registry::KnownSleeper;
pub use status::{Counters, IfaceStatus, PeerStatus, ProxiedStatus, Status, WakeRecord};
pub use wake::{WakeError, WakeTarget};

use crate::addr::{MacAddr, NodeId};
use crate::election::{self, Candidate, proxy_distance};
use crate::frame::{self, Classified, FromSleeperKind, NaFlags, Sleeper};
use crate::peers::{Due, PeerState, Transition};
use crate::proto::{
    self, Capabilities, Decoded, ErrorClass, Header, Heartbeat, HostInfo, Message, ProxyClaim,
    ProxyRelease, ReleaseReason, ReplayError, ReplayGuard, Role, SiteKey,
};
use crate::time::Instant;
use crate::wol;
use lan::Lan;
use wake::WakeJob;

/// How many of our own recent sequence numbers we remember, to tell our broadcasts echoed back
/// to us from a forgery carrying our id.
const RECENT_SENT: usize = 64;
/// How long a magic packet seen on the wire suppresses our own for the same MAC.
const WAKE_SEEN_HOLD: Duration = Duration::from_secs(2);
/// How often the replay table drops senders silent for a whole window.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// One wakeproxy node.
pub struct Node {
    cfg: NodeConfig,
    key: SiteKey,
    replay: ReplayGuard,
    rng: ChaCha8Rng,
    /// Unix milliseconds minus monotonic milliseconds: the wall clock, as last told.
    wall_offset_ms: i128,
    seq: u64,
    recent_sent: [u64; RECENT_SENT],
    recent_next: usize,
    tcp_ports: Vec<u16>,
    lans: Vec<Lan>,
    actions: VecDeque<Action>,
    counters: Counters,
    asleep: bool,
    leaving: bool,
    /// Until then the node only listens (start and resume).
    listen_until: Instant,
    /// The grace period has ended and the first election ran.
    grace_done: bool,
    wakes: Vec<WakeJob>,
    wake_log: VecDeque<WakeRecord>,
    inhibiting: bool,
    next_prune: Instant,
    buf: Vec<u8>,
    dues: Vec<Due>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.cfg.id)
            .field("lans", &self.lans.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node that starts at `now`, when the wall clock reads `unix_ms`.
    pub fn new(cfg: NodeConfig, key: SiteKey, now: Instant, unix_ms: u64) -> Self {
        let wall_offset_ms = i128::from(unix_ms) - i128::from(now.as_micros() / 1000);
        Self {
            replay: ReplayGuard::new(cfg.replay_window),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            wall_offset_ms,
            // Sequence numbers start at the wall clock in microseconds, so a restarted node's
            // numbers keep rising and peers never take them for replays.
            seq: unix_ms.saturating_mul(1000),
            recent_sent: [0; RECENT_SENT],
            recent_next: 0,
            tcp_ports: Vec::new(),
            lans: Vec::new(),
            actions: VecDeque::new(),
            counters: Counters::default(),
            asleep: false,
            leaving: false,
            listen_until: now + cfg.startup_grace,
            grace_done: false,
            wakes: Vec::new(),
            wake_log: VecDeque::new(),
            inhibiting: false,
            next_prune: now + PRUNE_EVERY,
            buf: Vec::with_capacity(proto::MAX_DATAGRAM),
            dues: Vec::new(),
            key,
            cfg,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// This node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// True between [`Node::going_to_sleep`] and [`Node::resumed`].
    pub fn is_asleep(&self) -> bool {
        self.asleep
    }

    // ----- configuration changes -------------------------------------------------------------

    /// Starts managing an interface (or updates its addresses if it is already managed).
    pub fn add_iface(&mut self, now: Instant, iface: IfaceConfig) {
        if let Some(lan) = self.lans.iter_mut().find(|l| l.cfg.id == iface.id) {
            if lan.cfg != iface {
                lan.cfg = iface;
                // Tell peers about the new addresses now rather than at the next interval.
                lan.next_heartbeat = now;
            }
            return;
        }
        let mut lan = Lan::new(iface, self.cfg.liveness, now);
        lan.next_heartbeat = now + self.jitter(self.cfg.heartbeat_interval() / 10);
        self.lans.push(lan);
    }

    /// Stops managing an interface (it vanished): stops answering for its sleepers.
    pub fn remove_iface(&mut self, now: Instant, iface: IfaceId) {
        let Some(li) = self.lan_index(iface) else {
            return;
        };
        let ids: Vec<NodeId> = self.lans[li].proxied.iter().map(|s| s.id).collect();
        for id in ids {
            self.stop_proxy(now, li, id, StopReason::Leaving, false);
        }
        self.lans.remove(li);
        self.wakes.retain(|w| w.iface != iface);
        self.update_inhibit();
    }

    /// Whether this node can answer for sleepers (its layer-2 backend works). Announced in the
    /// next heartbeat; the election then gives or takes sleepers accordingly.
    pub fn set_can_proxy(&mut self, can: bool) {
        if self.cfg.can_proxy != can {
            self.cfg.can_proxy = can;
            for lan in &mut self.lans {
                lan.dirty = true;
            }
        }
    }

    /// Replaces the site key (a key rollover: the file now holds a new current key, or one more
    /// accepted key). Messages from now on are signed and verified with it.
    pub fn set_key(&mut self, key: SiteKey) {
        self.key = key;
    }

    /// The TCP ports this host listens on (announced in heartbeats: a SYN to one wakes it).
    pub fn set_tcp_ports(&mut self, mut ports: Vec<u16>) {
        ports.sort_unstable();
        ports.dedup();
        ports.truncate(proto::MAX_TCP_PORTS);
        self.tcp_ports = ports;
    }

    /// The wall clock now reads `unix_ms` (call after the clock was stepped, or periodically).
    pub fn handle_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.wall_offset_ms = i128::from(unix_ms) - i128::from(now.as_micros() / 1000);
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        let v = i128::from(now.as_micros() / 1000) + self.wall_offset_ms;
        v.clamp(0, i128::from(u64::MAX)) as u64
    }

    // ----- inputs ----------------------------------------------------------------------------

    /// A UDP datagram arrived on the peer port of `iface`.
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
        let (header, msg) = match proto::decode(&self.key, bytes) {
            Ok(Decoded::Message(h, m)) => (h, m),
            Ok(Decoded::Unknown { .. }) => {
                self.counters.unknown_kind += 1;
                return;
            }
            Err(e) => {
                match e.class() {
                    ErrorClass::Malformed => self.counters.malformed += 1,
                    ErrorClass::Unauthenticated => self.counters.unauthenticated += 1,
                    ErrorClass::Version => self.counters.version_mismatch += 1,
                }
                return;
            }
        };
        if header.sender == self.cfg.id {
            if self.recent_sent.contains(&header.seq) {
                self.counters.own_echo += 1;
            } else {
                self.counters.impersonated += 1;
                self.emit(Event::Impersonated { iface, from });
                // Peers took the forgery's sequence number as our newest: continue above it, or
                // they would refuse the truth as a replay.
                self.seq = self.seq.max(header.seq);
                // Whatever the forgery said, say the truth again at once.
                self.lans[li].next_heartbeat = now;
                if !self.leaving {
                    let host = self.host_info(li);
                    self.send(now, li, Destination::Broadcast, &Message::ResumeNotice(host));
                }
            }
            return;
        }
        if let Err(e) = self.replay.check(&header, self.unix_ms(now)) {
            match e {
                ReplayError::Stale { .. } => self.counters.stale += 1,
                ReplayError::Replayed { .. } => self.counters.replayed += 1,
            }
            return;
        }
        self.counters.accepted += 1;
        self.apply(now, li, &header, msg);
        self.after_input(now);
    }

    fn apply(&mut self, now: Instant, li: usize, header: &Header, msg: Message) {
        let sender = header.sender;
        let iface = self.lans[li].cfg.id;
        match msg {
            Message::Heartbeat(hb) => {
                let lan = &mut self.lans[li];
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
                    lan.term = hb.term + 1;
                    lan.next_heartbeat = now;
                }
                self.transition_event(iface, t);
                self.confirm_wake(now, hb.host.mac);
            }
            Message::SleepNotice(host) => {
                let t = self.lans[li].peers.on_sleep_notice(now, sender, &host);
                self.lans[li].dirty |= t.is_some();
                self.transition_event(iface, t);
            }
            Message::ResumeNotice(host) => {
                let t = self.lans[li].peers.on_resume_notice(now, sender, &host);
                self.lans[li].dirty |= t.is_some();
                self.transition_event(iface, t);
                self.confirm_wake(now, host.mac);
            }
            Message::ProxyClaim(claim) => {
                self.heard_from(now, li, sender);
                self.on_claim(now, li, sender, &claim);
            }
            Message::ProxyRelease(release) => {
                self.heard_from(now, li, sender);
                let lan = &mut self.lans[li];
                if lan.yielded.get(&release.sleeper) == Some(&sender) {
                    lan.yielded.remove(&release.sleeper);
                    lan.dirty = true;
                }
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
                self.transition_event(iface, t);
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

    fn on_claim(&mut self, now: Instant, li: usize, claimant: NodeId, claim: &ProxyClaim) {
        if self.lans[li].proxied.get(&claim.sleeper).is_none() {
            return;
        }
        let pending = self.is_pending(li, &claim.sleeper);
        // Two nodes answer for one sleeper: their views differ. The one closer on the ring
        // keeps it; both sides compute the same answer without agreeing on a view first.
        let me = proxy_distance(claim.sleeper, self.cfg.id);
        let them = proxy_distance(claim.sleeper, claimant);
        if (them, claimant) < (me, self.cfg.id) {
            self.lans[li].yielded.insert(claim.sleeper, claimant);
            self.stop_proxy(now, li, claim.sleeper, StopReason::Yielded, false);
        } else if !pending {
            let mac = self.lans[li].proxied.get(&claim.sleeper).map(|s| s.mac).unwrap_or_default();
            let term = self.lans[li].term;
            let msg =
                Message::ProxyClaim(ProxyClaim { sleeper: claim.sleeper, sleeper_mac: mac, term });
            self.send(now, li, Destination::Broadcast, &msg);
        }
    }

    /// An Ethernet frame arrived on `iface` from the capture backend.
    pub fn handle_frame(&mut self, now: Instant, iface: IfaceId, bytes: &[u8]) {
        let Some(li) = self.lan_index(iface) else {
            return;
        };
        if self.asleep {
            return;
        }
        self.counters.frames += 1;
        let lan = &self.lans[li];
        match frame::classify(&lan.proxied, bytes, self.cfg.wol_port) {
            Classified::Irrelevant => {}
            Classified::Malformed => self.counters.frames_malformed += 1,
            Classified::ArpRequest { sleeper, .. }
            | Classified::NeighborSolicitation { sleeper, .. }
                if self.is_pending(li, &sleeper) => {}
            Classified::ArpRequest { sleeper, requester_mac, requester_ip, target_ip, .. } => {
                let answer_mac = self.answer_mac(li, &sleeper);
                let reply = frame::arp_reply(answer_mac, target_ip, requester_mac, requester_ip);
                self.bump(li, &sleeper, |s| s.arp_answered += 1);
                self.counters.arp_answered += 1;
                self.actions.push_back(Action::SendFrame { iface, frame: reply });
            }
            Classified::NeighborSolicitation {
                sleeper,
                requester_mac,
                requester_ip,
                target,
                dad,
            } => {
                let answer_mac = self.answer_mac(li, &sleeper);
                let src_mac = self.lans[li].cfg.mac;
                let na = if dad {
                    // Defending the address against someone else's duplicate address detection:
                    // the answer goes to all nodes (RFC 4861 7.2.4).
                    frame::unsolicited_na(answer_mac, target)
                } else {
                    frame::neighbor_advertisement(
                        src_mac,
                        target,
                        requester_mac,
                        requester_ip,
                        target,
                        answer_mac,
                        NaFlags { solicited: true, override_: true },
                    )
                };
                self.bump(li, &sleeper, |s| s.ns_answered += 1);
                self.counters.ns_answered += 1;
                self.actions.push_back(Action::SendFrame { iface, frame: na });
            }
            Classified::TcpSyn { sleeper, src, src_port, dst_port, wake, .. } => {
                self.counters.syns_seen += 1;
                self.bump(li, &sleeper, |s| s.syns_seen += 1);
                if wake && !self.is_pending(li, &sleeper) {
                    let (mac, unicast) = match self.lans[li].proxied.get(&sleeper) {
                        Some(s) => (s.mac, s.ipv4.first().copied()),
                        None => return,
                    };
                    let cause = WakeCause::TcpSyn { src, port: dst_port };
                    self.start_wake(now, li, mac, unicast, None, cause, Duration::ZERO);
                    if self.cfg.syn_replay {
                        self.hold_syn(li, mac, (src, src_port), bytes);
                    }
                    self.after_input(now);
                }
            }
            Classified::MagicPacket { target, .. } => self.magic_seen(now, li, target),
            // Another station announces or answers for a sleeper's address: the answer to our
            // probe (don't claim), or a conflict while claimed. Another wakeproxy peer answering
            // with its own MAC is a proxy that has not let go yet; ProxyClaims settle that.
            Classified::AddressInUse { sleeper, addr, by } => {
                self.counters.address_conflicts += 1;
                if self.is_pending(li, &sleeper) || self.lans[li].peers.by_mac(by).is_none() {
                    self.block_claim(now, li, sleeper, ClaimBlocked::AddressInUse { addr, by });
                    self.after_input(now);
                }
            }
            Classified::FromSleeper { sleeper, what } => match what {
                // A sleeping NIC answers ARP and neighbour solicitations itself (power offload):
                // those frames prove nothing.
                FromSleeperKind::ArpReply | FromSleeperKind::NeighborAdvertisement => {
                    self.counters.offload_frames += 1;
                }
                _ => {
                    if self.lans[li].peers.on_owner_frame(now, sleeper) {
                        self.stop_proxy(now, li, sleeper, StopReason::OwnerSeen, false);
                        self.lans[li].dirty = true;
                        self.after_input(now);
                    }
                }
            },
        }
    }

    /// A UDP datagram arrived on the Wake-on-LAN port: if it is a magic packet, a wake for that
    /// MAC is already on its way and this node need not send its own.
    pub fn handle_wol_payload(&mut self, now: Instant, iface: IfaceId, payload: &[u8]) {
        let Some(li) = self.lan_index(iface) else {
            return;
        };
        if let Some(m) = wol::find_magic(payload) {
            self.magic_seen(now, li, m.target);
        }
    }

    fn magic_seen(&mut self, now: Instant, li: usize, target: MacAddr) {
        self.counters.magic_seen += 1;
        self.lans[li].wake_seen.insert(target, now);
    }

    /// The answer to an [`Action::Probe`]: `Some(rtt)` if `ip` answered, `None` on timeout.
    pub fn handle_probe_result(
        &mut self,
        now: Instant,
        iface: IfaceId,
        ip: IpAddr,
        rtt: Option<Duration>,
    ) {
        let Some(li) = self.lan_index(iface) else {
            return;
        };
        let Some(id) = self.lans[li].peers.iter().find(|p| host_has_ip(&p.host, ip)).map(|p| p.id)
        else {
            return;
        };
        if self.is_pending(li, &id) {
            // The ping of a probe before a claim: an answer means the host is still up.
            if rtt.is_some() {
                self.block_claim(now, li, id, ClaimBlocked::PingAnswered);
                self.after_input(now);
            }
            return;
        }
        let proxiable = |n: &Self| n.lans[li].peers.get(&id).map(|p| p.is_proxiable());
        let before = proxiable(self);
        let t = self.lans[li].peers.on_probe_result(now, id, rtt);
        // A sleeper whose owner was seen becomes proxiable again without a state change.
        self.lans[li].dirty |= t.is_some() || proxiable(self) != before;
        self.transition_event(iface, t);
        self.after_input(now);
    }

    /// Timers: call at (or after) the instant [`Node::poll_timeout`] returned.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.asleep {
            return;
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
                    Due::Probe(id) => {
                        let Some(p) = self.lans[li].peers.get(&id) else {
                            continue;
                        };
                        let ip = p
                            .host
                            .ipv4
                            .first()
                            .map(|a| IpAddr::V4(a.addr))
                            .or_else(|| p.host.ipv6.first().map(|a| IpAddr::V6(a.addr)));
                        if let Some(ip) = ip {
                            self.counters.probes += 1;
                            let timeout = self.cfg.liveness.probe_timeout;
                            let tcp_ports = probe_ports(&p.host);
                            self.actions.push_back(Action::Probe { iface, ip, timeout, tcp_ports });
                        }
                    }
                }
            }
            self.expire_deferrals(now, li);
            self.finish_claims(now, li);
            if !self.leaving && self.lans[li].next_heartbeat <= now {
                let hb = self.heartbeat(li);
                self.send(now, li, Destination::Broadcast, &Message::Heartbeat(hb));
                let interval = self.cfg.heartbeat_interval();
                let next = now + interval - self.jitter(interval / 10);
                self.lans[li].next_heartbeat = next;
                if self.cfg.proxy_mode == ProxyMode::MacTakeover {
                    self.refresh_takeover(li);
                }
            }
            self.lans[li].wake_seen.retain(|_, at| now.saturating_since(*at) < WAKE_SEEN_HOLD);
        }
        self.dues = dues;
        if now >= self.next_prune {
            self.replay.prune(self.unix_ms(now));
            self.next_prune = now + PRUNE_EVERY;
        }
        if !self.grace_done && now >= self.listen_until {
            // The end of the grace period is when the first election may act.
            self.grace_done = true;
            for lan in &mut self.lans {
                lan.dirty = true;
            }
        }
        self.after_input(now);
    }

    // ----- local events ----------------------------------------------------------------------

    /// This host is about to sleep: announce it and hand over every sleeper this node answers
    /// for. Until [`Node::resumed`], the node sends and handles nothing.
    pub fn going_to_sleep(&mut self, now: Instant) {
        if self.asleep {
            return;
        }
        for li in 0..self.lans.len() {
            let host = self.host_info(li);
            self.send(now, li, Destination::Broadcast, &Message::SleepNotice(host));
            self.release_all(now, li);
        }
        self.asleep = true;
        self.wakes.clear();
        self.update_inhibit();
    }

    /// This host resumed from sleep: announce it, and listen for one interval before taking a
    /// role again (the view is as old as the sleep).
    pub fn resumed(&mut self, now: Instant, unix_ms: u64) {
        if !self.asleep {
            return;
        }
        self.asleep = false;
        self.handle_wall_clock(now, unix_ms);
        self.listen_until = now + self.cfg.startup_grace;
        self.grace_done = false;
        for li in 0..self.lans.len() {
            let lan = &mut self.lans[li];
            // Peers were not silent, we were deaf: start their clocks again.
            lan.peers.refresh_all(now);
            lan.dirty = true;
            self.demote(li);
            let host = self.host_info(li);
            self.send(now, li, Destination::Broadcast, &Message::ResumeNotice(host));
            let hb = self.heartbeat(li);
            self.send(now, li, Destination::Broadcast, &Message::Heartbeat(hb));
            let interval = self.cfg.heartbeat_interval();
            self.lans[li].next_heartbeat = now + interval - self.jitter(interval / 10);
            self.announce_self(li);
        }
    }

    /// The daemon is stopping: tell peers this node leaves, and hand over its sleepers.
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        for li in 0..self.lans.len() {
            self.release_all(now, li);
            self.send(now, li, Destination::Broadcast, &Message::Leave);
        }
        self.leaving = true;
        self.update_inhibit();
    }

    // ----- outputs ---------------------------------------------------------------------------

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Node::handle_timeout`] must next be called. Changes after any input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.asleep {
            return None;
        }
        let lans = self.lans.iter().flat_map(|l| {
            let hb = (!self.leaving).then_some(l.next_heartbeat);
            hb.into_iter().chain(l.peers.next_deadline())
        });
        let wakes = self.wakes.iter().map(|w| w.next_at);
        let grace = (!self.grace_done).then_some(self.listen_until);
        let claims = self.next_claim_deadline();
        lans.chain(wakes).chain(grace).chain(claims).chain(std::iter::once(self.next_prune)).min()
    }

    // ----- internals -------------------------------------------------------------------------

    fn lan_index(&self, iface: IfaceId) -> Option<usize> {
        self.lans.iter().position(|l| l.cfg.id == iface)
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros() as u64;
        if micros == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.rng.next_u64() % micros)
    }

    fn emit(&mut self, e: Event) {
        self.actions.push_back(Action::Event(e));
    }

    fn transition_event(&mut self, iface: IfaceId, t: Option<Transition>) {
        if let Some(transition) = t {
            self.emit(Event::PeerChanged { iface, transition });
        }
    }

    fn host_info(&self, li: usize) -> HostInfo {
        let lan = &self.lans[li];
        HostInfo {
            mac: lan.cfg.mac,
            ipv4: lan.cfg.ipv4.iter().take(proto::MAX_IPV4).copied().collect(),
            ipv6: lan.cfg.ipv6.iter().take(proto::MAX_IPV6).copied().collect(),
            tcp_ports: self.tcp_ports.clone(),
        }
    }

    fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::NONE;
        if self.cfg.can_proxy {
            caps = caps.union(Capabilities::CAN_PROXY);
        }
        if self.cfg.prefers_guardian {
            caps = caps.union(Capabilities::PREFERS_GUARDIAN);
        }
        caps
    }

    fn heartbeat(&self, li: usize) -> Heartbeat {
        Heartbeat {
            host: self.host_info(li),
            role: self.lans[li].role,
            term: self.lans[li].term,
            boot_time_s: self.cfg.boot_time_s,
            caps: self.caps(),
        }
    }

    fn send(&mut self, now: Instant, li: usize, dst: Destination, msg: &Message) {
        self.seq = self.seq.saturating_add(1);
        self.recent_sent[self.recent_next] = self.seq;
        self.recent_next = (self.recent_next + 1) % RECENT_SENT;
        let header = Header { sender: self.cfg.id, seq: self.seq, timestamp_ms: self.unix_ms(now) };
        match proto::encode(&self.key, &header, msg, &mut self.buf) {
            Ok(()) => {
                self.counters.sent += 1;
                let iface = self.lans[li].cfg.id;
                self.actions.push_back(Action::SendDatagram {
                    iface,
                    dst,
                    bytes: self.buf.clone(),
                });
            }
            // Only an interface with absurdly many addresses gets here; the lists are capped.
            Err(_) => self.counters.encode_errors += 1,
        }
    }

    /// The MAC this node answers with for `sleeper`, by proxy mode.
    fn answer_mac(&self, li: usize, sleeper: &NodeId) -> MacAddr {
        match self.cfg.proxy_mode {
            ProxyMode::ArpRedirect => self.lans[li].cfg.mac,
            ProxyMode::MacTakeover => {
                self.lans[li].proxied.get(sleeper).map_or(self.lans[li].cfg.mac, |s| s.mac)
            }
        }
    }

    fn bump(&mut self, li: usize, sleeper: &NodeId, f: impl FnOnce(&mut ProxyStats)) {
        if let Some(s) = self.lans[li].stats.get_mut(sleeper) {
            f(s);
        }
    }

    fn acting(&self, now: Instant) -> bool {
        !self.asleep && !self.leaving && now >= self.listen_until
    }

    /// Runs pending elections and wake timers, and updates the sleep inhibition.
    fn after_input(&mut self, now: Instant) {
        for li in 0..self.lans.len() {
            if self.lans[li].dirty && self.acting(now) {
                self.lans[li].dirty = false;
                self.run_election(now, li);
            }
        }
        self.process_wakes(now);
        self.update_inhibit();
    }

    fn run_election(&mut self, now: Instant, li: usize) {
        let me = Candidate {
            id: self.cfg.id,
            prefers_guardian: self.cfg.prefers_guardian,
            can_proxy: self.cfg.can_proxy,
            boot_time_s: self.cfg.boot_time_s,
        };
        let guardians = self.cfg.guardians;
        let lan = &mut self.lans[li];
        let candidates: Vec<Candidate> = lan
            .peers
            .iter()
            .filter(|p| p.is_candidate())
            .map(|p| p.candidate())
            .chain(std::iter::once(me))
            .collect();
        let sleepers: Vec<NodeId> =
            lan.peers.iter().filter(|p| p.is_proxiable()).map(|p| p.id).collect();
        let before_manager = lan.outcome.manager;
        let before_guardians = lan.outcome.guardians.clone();
        let mut outcome = std::mem::take(&mut lan.outcome);
        election::elect_into(&mut lan.scratch, &candidates, &sleepers, guardians, &mut outcome);
        lan.outcome = outcome;

        let role = if lan.outcome.manager == Some(me.id) {
            Role::Manager
        } else if lan.outcome.is_guardian(&me.id) {
            Role::Guardian
        } else {
            Role::Member
        };
        if role == Role::Manager && lan.role != Role::Manager {
            let highest = lan.peers.iter().map(|p| p.term).max().unwrap_or(0);
            lan.term = lan.term.max(highest) + 1;
        }
        let changed = role != lan.role
            || lan.outcome.manager != before_manager
            || lan.outcome.guardians != before_guardians;
        lan.role = role;
        if changed {
            lan.next_heartbeat = now;
            let e = Event::ElectionChanged {
                iface: lan.cfg.id,
                role,
                manager: lan.outcome.manager,
                term: lan.term,
                guardians: lan.outcome.guardians.clone(),
            };
            self.emit(e);
        }
        self.apply_assignment(now, li);
    }

    /// Starts and stops answering for sleepers so that this node answers for exactly those the
    /// election gave it (minus those it yielded to a closer claimant that is still alive).
    fn apply_assignment(&mut self, now: Instant, li: usize) {
        let me = self.cfg.id;
        let lan = &mut self.lans[li];
        let peers = &lan.peers;
        lan.yielded.retain(|_, to| peers.get(to).is_some_and(|p| p.is_candidate()));
        let want: Vec<NodeId> = lan
            .outcome
            .assignment
            .iter()
            .filter(|(s, p)| {
                *p == me && !lan.yielded.contains_key(s) && !lan.deferred.contains_key(s)
            })
            .map(|(s, _)| *s)
            .collect();
        let stop: Vec<NodeId> =
            lan.proxied.iter().map(|s| s.id).filter(|id| !want.contains(id)).collect();
        for id in stop {
            let reason = match lan_peer_state(&self.lans[li], &id) {
                Some((PeerState::Awake | PeerState::Suspect, _)) => StopReason::Woken,
                Some((PeerState::Asleep, true)) => StopReason::OwnerSeen,
                Some((PeerState::Asleep, false)) if self.lans[li].yielded.contains_key(&id) => {
                    StopReason::Yielded
                }
                Some((PeerState::Asleep, false)) => StopReason::Reassigned,
                _ => StopReason::Forgotten,
            };
            self.stop_proxy(now, li, id, reason, reason == StopReason::Woken);
        }
        for id in want {
            if self.lans[li].proxied.get(&id).is_none() {
                self.start_proxy(now, li, id);
            }
        }
    }

    fn start_proxy(&mut self, now: Instant, li: usize, id: NodeId) {
        let Some(peer) = self.lans[li].peers.get(&id) else {
            return;
        };
        let host = peer.host.clone();
        let mut wake_ports: Vec<u16> = host
            .tcp_ports
            .iter()
            .chain(&self.cfg.wake_allow)
            .copied()
            .filter(|p| !self.cfg.wake_deny.contains(p) || self.cfg.wake_allow.contains(p))
            .collect();
        wake_ports.sort_unstable();
        wake_ports.dedup();
        let sleeper = Sleeper {
            id,
            mac: host.mac,
            ipv4: host.ipv4.iter().map(|p| p.addr).collect(),
            ipv6: host.ipv6.iter().map(|p| p.addr).collect(),
            wake_ports,
        };
        self.begin_claim(now, li, sleeper);
    }

    /// Stops answering for `id`. `hand_back`: give its addresses back to its own MAC on the LAN
    /// (it woke up), so caches that pointed at this proxy point at the owner again.
    fn stop_proxy(
        &mut self,
        now: Instant,
        li: usize,
        id: NodeId,
        reason: StopReason,
        hand_back: bool,
    ) {
        let Some(s) = self.lans[li].proxied.remove(&id) else {
            return;
        };
        if self.lans[li].pending.remove(&id).is_some() {
            // Never claimed: nothing to release, nothing to hand back.
            return;
        }
        self.lans[li].stats.remove(&id);
        let (iface, term) = (self.lans[li].cfg.id, self.lans[li].term);
        if hand_back {
            let src = self.lans[li].cfg.mac;
            for ip in &s.ipv4 {
                let f = frame::gratuitous_arp_for(src, s.mac, *ip);
                self.actions.push_back(Action::SendFrame { iface, frame: f });
            }
            for ip in &s.ipv6 {
                let f = frame::unsolicited_na_for(src, s.mac, *ip);
                self.actions.push_back(Action::SendFrame { iface, frame: f });
            }
        }
        let wire_reason = match reason {
            StopReason::Woken => ReleaseReason::Woken,
            StopReason::OwnerSeen => ReleaseReason::OwnerSeen,
            StopReason::Reassigned
            | StopReason::Yielded
            | StopReason::Forgotten
            | StopReason::AddressInUse => ReleaseReason::Reassigned,
            StopReason::Leaving => ReleaseReason::Leaving,
        };
        if !self.asleep && !self.leaving {
            let msg = Message::ProxyRelease(ProxyRelease {
                sleeper: id,
                sleeper_mac: s.mac,
                term,
                reason: wire_reason,
            });
            self.send(now, li, Destination::Broadcast, &msg);
        }
        self.counters.proxy_stopped += 1;
        self.emit(Event::ProxyStopped { iface, sleeper: id, mac: s.mac, reason });
    }

    fn release_all(&mut self, now: Instant, li: usize) {
        self.lans[li].deferred.clear();
        let ids: Vec<NodeId> = self.lans[li].proxied.iter().map(|s| s.id).collect();
        for id in ids {
            self.stop_proxy(now, li, id, StopReason::Leaving, false);
        }
        self.demote(li);
    }

    /// Drops this node's role on LAN `li` (it sleeps, leaves or resumes with a stale view).
    fn demote(&mut self, li: usize) {
        let lan = &mut self.lans[li];
        lan.outcome = election::Outcome::default();
        if lan.role != Role::Member {
            lan.role = Role::Member;
            let e = Event::ElectionChanged {
                iface: lan.cfg.id,
                role: Role::Member,
                manager: None,
                term: lan.term,
                guardians: Vec::new(),
            };
            self.emit(e);
        }
    }

    /// MAC takeover: once per heartbeat, a gratuitous ARP / unsolicited NA from each sleeper's own
    /// MAC, so the switch keeps its MAC on this port (tables age out after ~5 min) and every ARP
    /// cache keeps pointing its addresses at it.
    fn refresh_takeover(&mut self, li: usize) {
        let lan = &self.lans[li];
        let iface = lan.cfg.id;
        let frames: Vec<_> = lan
            .proxied
            .iter()
            .flat_map(|s| {
                let v4 = s.ipv4.iter().map(|ip| frame::gratuitous_arp(s.mac, *ip));
                v4.chain(s.ipv6.iter().map(|ip| frame::unsolicited_na(s.mac, *ip)))
            })
            .collect();
        self.actions.extend(frames.into_iter().map(|frame| Action::SendFrame { iface, frame }));
    }

    /// Gratuitous ARP and unsolicited NA for this node's own addresses (after resume).
    fn announce_self(&mut self, li: usize) {
        let lan = &self.lans[li];
        let (iface, mac) = (lan.cfg.id, lan.cfg.mac);
        let frames: Vec<_> = lan
            .cfg
            .ipv4
            .iter()
            .map(|p| frame::gratuitous_arp(mac, p.addr))
            .chain(lan.cfg.ipv6.iter().map(|p| frame::unsolicited_na(mac, p.addr)))
            .collect();
        self.actions.extend(frames.into_iter().map(|frame| Action::SendFrame { iface, frame }));
    }

    fn update_inhibit(&mut self) {
        let guardian = !self.asleep
            && !self.leaving
            && self.lans.iter().any(|l| matches!(l.role, Role::Manager | Role::Guardian));
        if guardian != self.inhibiting {
            self.inhibiting = guardian;
            self.actions.push_back(Action::InhibitSleep(guardian));
        }
    }
}

fn lan_peer_state(lan: &Lan, id: &NodeId) -> Option<(PeerState, bool)> {
    lan.peers.get(id).map(|p| (p.state, p.owner_seen.is_some()))
}

/// The TCP ports a liveness probe tries on `host`: ports it announced, those most often let
/// through a host firewall first (SMB, RDP, SSH, WinRM, HTTP(S)), at most [`MAX_PROBE_PORTS`].
fn probe_ports(host: &HostInfo) -> Vec<u16> {
    const PREFERRED: [u16; 7] = [445, 3389, 22, 5985, 443, 80, 135];
    let mut ports: Vec<u16> = host.tcp_ports.clone();
    ports.sort_by_key(|p| (PREFERRED.iter().position(|q| q == p).unwrap_or(PREFERRED.len()), *p));
    ports.truncate(MAX_PROBE_PORTS);
    ports
}

fn host_has_ip(host: &HostInfo, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => host.ipv4.iter().any(|p| p.addr == v4),
        IpAddr::V6(v6) => host.ipv6.iter().any(|p| p.addr == v6),
    }
}

#[cfg(test)]
mod tests;
