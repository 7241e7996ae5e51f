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
mod assignment;
mod claim;
mod config;
mod frames;
mod hearing;
mod intake;
mod lan;
mod latency;
mod registry;
mod sent;
mod status;
mod timers;
mod wake;

use std::collections::VecDeque;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

pub use action::{Action, Destination, Event, MAX_PROBE_PORTS, StopReason, WakeCause};
pub use claim::ClaimBlocked;
pub use config::{DEFAULT_WAKE_DENY, IfaceConfig, IfaceId, NodeConfig, ProxyMode};
pub use hearing::{DEAF_AFTER, Deafness, Refusal};
pub use lan::ProxyStats;
pub use latency::{LATENCY_BOUNDS_MS, LatencyHistogram, WakeLatencies};
pub use registry::KnownSleeper;
pub use status::{Counters, IfaceStatus, PeerStatus, ProxiedStatus, Status, WakeRecord};
pub use wake::{MAX_WAKES, WakeError, WakeTarget};

use crate::core::addr::{MacAddr, NodeId};
use crate::core::frame;
use crate::core::peers::{Due, PeerState, Transition};
use crate::core::proto::{
    self, Capabilities, Header, Heartbeat, HostInfo, Message, ReplayGuard, Role, SiteKey,
};
use crate::core::time::Instant;
use lan::Lan;
use sent::SentLog;
use wake::WakeJob;

/// How long a magic packet seen on the wire suppresses our own for the same MAC.
const WAKE_SEEN_HOLD: Duration = Duration::from_secs(2);
/// How often (at most) the replay table drops senders silent for a whole window; it is done
/// at the first timeout after that, with no deadline of its own.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// Bytes of a heartbeat's body before the host info: role, caps, term, boot time.
const HEARTBEAT_FIXED: usize = 1 + 1 + 8 + 8;
/// Bytes of a heartbeat's body after the host info before the claims (v1.1): peers heard,
/// the claims flag, the claim count.
const HEARTBEAT_V1_1: usize = 2 + 1 + 2;
/// The most peers one LAN remembers: more hosts than a /22 holds. Only key holders create
/// peers; beyond this, new senders are refused and counted (`peer_table_full`).
pub const MAX_PEERS_PER_LAN: usize = 4096;

/// One wakeproxy node.
pub struct Node {
    cfg: NodeConfig,
    key: SiteKey,
    replay: ReplayGuard,
    rng: ChaCha8Rng,
    /// Unix milliseconds minus monotonic milliseconds: the wall clock, as last told.
    wall_offset_ms: i128,
    seq: u64,
    /// The sequence numbers this node sent (to tell its echo from a forgery in its name).
    sent: SentLog,
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
    latency: WakeLatencies,
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
            sent: SentLog::new(),
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
            latency: WakeLatencies::default(),
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
        if let Some(li) = self.lan_index(iface.id) {
            let lan = &mut self.lans[li];
            if lan.cfg != iface {
                lan.cfg = iface;
                // Tell peers about the new addresses now rather than at the next interval.
                lan.next_heartbeat = now;
                lan.dirty = true;
                // An address this host now has (DHCP gave it one a sleeper had) is its own: no
                // longer answered for a sleeper, at once.
                let ids: Vec<NodeId> = lan.proxied.iter().map(|s| s.id).collect();
                for id in ids {
                    self.drop_owned_addresses(now, li, &id);
                }
            }
            return;
        }
        let mut lan = Lan::new(iface, self.cfg.liveness, self.claim_timeout(), now);
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

    // ----- local events ----------------------------------------------------------------------

    /// This host is about to sleep: announce it and hand over every sleeper this node answers
    /// for. Until [`Node::resumed`], the node sends and handles nothing.
    pub fn going_to_sleep(&mut self, now: Instant) {
        if self.asleep {
            return;
        }
        for li in 0..self.lans.len() {
            // The sleepers it held go first, its own notice last: any message after the notice
            // would tell the peers it is awake after all.
            self.release_all(now, li, StopReason::Leaving);
            let host = self.host_info(li);
            self.send(now, li, Destination::Broadcast, &Message::SleepNotice(host));
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
            lan.hearing.restart(now);
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
            self.release_all(now, li, StopReason::Leaving);
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
        // The replay window's pruning has no deadline of its own: it rides on the next timeout
        // (a heartbeat at the latest), so an idle node is not woken for it.
        lans.chain(wakes).chain(grace).chain(claims).min()
    }

    // ----- internals -------------------------------------------------------------------------

    pub(super) fn lan_index(&self, iface: IfaceId) -> Option<usize> {
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

    /// What this node announces it can do on LAN `li`: a deaf node cannot proxy there.
    fn caps(&self, li: usize) -> Capabilities {
        let mut caps = Capabilities::NONE;
        if self.cfg.can_proxy && self.lans[li].hearing.deaf.is_none() {
            caps = caps.union(Capabilities::CAN_PROXY);
        }
        if self.cfg.prefers_guardian {
            caps = caps.union(Capabilities::PREFERS_GUARDIAN);
        }
        if !self.grace_done {
            caps = caps.union(Capabilities::LISTENING);
        }
        caps
    }

    fn heartbeat(&self, li: usize) -> Heartbeat {
        let host = self.host_info(li);
        // The sleepers this node answers for, as many as fit beside its host information.
        let lan = &self.lans[li];
        let mut claims: Vec<NodeId> =
            lan.proxied.iter().map(|s| s.id).filter(|id| !lan.pending.contains_key(id)).collect();
        claims.sort_unstable();
        let used = proto::MIN_DATAGRAM
            + HEARTBEAT_FIXED
            + host.encoded_len_without_ports()
            + 2 * host.tcp_ports.len()
            + HEARTBEAT_V1_1;
        let room = (proto::MAX_DATAGRAM.saturating_sub(used) / 16).min(proto::MAX_CLAIMS);
        let claims_complete = claims.len() <= room;
        claims.truncate(room);
        Heartbeat {
            host,
            role: lan.role,
            term: lan.term,
            boot_time_s: self.cfg.boot_time_s,
            caps: self.caps(li),
            peers_heard: Some(self.peers_heard(li)),
            claims,
            claims_complete,
        }
    }

    /// How many peers this node hears on LAN `li` (accepted a signed message from within
    /// `suspect_after`); 0 while it is deaf there, which makes it no candidate for its peers.
    fn peers_heard(&self, li: usize) -> u16 {
        let lan = &self.lans[li];
        if lan.hearing.deaf.is_some() {
            return 0;
        }
        let n = lan.peers.iter().filter(|p| p.state == PeerState::Awake && p.id != self.cfg.id);
        u16::try_from(n.count()).unwrap_or(u16::MAX)
    }

    /// The header of the next datagram.
    /// The header of the next datagram. The sequence number follows the wall clock in µs
    /// (one more than the last if the clock has not moved on), so it stays within the bound
    /// receivers enforce, and a forgery that pushed a receiver's window ahead of this node's
    /// numbers (one this node never saw) is overtaken within the replay window.
    fn next_header(&mut self, now: Instant) -> Header {
        let timestamp_ms = self.unix_ms(now);
        let clock = timestamp_ms.saturating_mul(1000);
        let window_us = u64::try_from(self.cfg.replay_window.as_micros()).unwrap_or(u64::MAX);
        if self.seq > clock.saturating_add(window_us) {
            // The clock was stepped back by more than the replay window: the numbers it made
            // while it ran ahead were refused as stale by every peer with a right clock, so
            // nobody holds them. Numbers beyond the bound would be refused now: follow the clock.
            self.seq = clock;
        }
        self.seq = self.seq.saturating_add(1).max(clock);
        self.sent.record(self.seq);
        Header { sender: self.cfg.id, seq: self.seq, timestamp_ms }
    }

    fn send(&mut self, now: Instant, li: usize, dst: Destination, msg: &Message) {
        let header = self.next_header(now);
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

    /// ARP redirect: a gratuitous ARP / unsolicited NA with this node's MAC for every address
    /// of every sleeper it answers for (not those still being probed), so a cache another proxy
    /// or a stale entry points elsewhere comes back (found by `lab chaos`: a router kept sending
    /// a sleeper's traffic to a proxy that had yielded). MAC takeover refreshes every heartbeat
    /// on its own.
    fn repoint_caches(&mut self, li: usize) {
        if self.cfg.proxy_mode != ProxyMode::ArpRedirect {
            return;
        }
        let lan = &self.lans[li];
        let (iface, mac) = (lan.cfg.id, lan.cfg.mac);
        let frames: Vec<_> = lan
            .proxied
            .iter()
            .filter(|s| !lan.pending.contains_key(&s.id))
            .flat_map(|s| {
                let v4 = s.ipv4.iter().map(move |ip| frame::gratuitous_arp(mac, *ip));
                v4.chain(s.ipv6.iter().map(move |ip| frame::unsolicited_na(mac, *ip)))
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

/// The TCP ports a liveness probe tries on `peer`: ports it announced, those most often let
/// through a host firewall first (SMB, RDP, SSH, WinRM, HTTP(S)), at most [`MAX_PROBE_PORTS`].
/// The ports a peer announced in its own heartbeats come first: a notice (which a key holder
/// can forge in its name) can add ports but not hide those.
fn probe_ports(peer: &crate::core::peers::Peer) -> Vec<u16> {
    const PREFERRED: [u16; 7] = [445, 3389, 22, 5985, 443, 80, 135];
    let rank = |p: &u16| PREFERRED.iter().position(|q| q == p).unwrap_or(PREFERRED.len());
    let mut heard = peer.heartbeat_ports.clone();
    heard.sort_by_key(|p| (rank(p), *p));
    let mut announced: Vec<u16> =
        peer.host.tcp_ports.iter().copied().filter(|p| !heard.contains(p)).collect();
    announced.sort_by_key(|p| (rank(p), *p));
    heard.extend(announced);
    heard.truncate(MAX_PROBE_PORTS);
    heard
}

#[cfg(test)]
mod tests;
