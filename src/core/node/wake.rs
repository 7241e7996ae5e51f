//! Wakes: magic packets with bounded retries, one in flight per target, deduplicated across
//! proxies, and confirmed by the target's own signed message.
//!
//! Retries follow 0, 1, 3, 7, 15, 23 s … (doubling, capped at 8 s apart) until the target speaks
//! or `wake_retry_for` (30 s) passes, as Apple's sleep proxy does: NICs sometimes miss a packet
//! and hosts take 3–10 s to resume.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{Action, Destination, Event, Node, WakeCause, WakeRecord};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::frame::FrameBuf;
use crate::core::node::config::IfaceId;
use crate::core::proto::{Message, Role, WakePassword, WakeReason, WakeRequest};
use crate::core::time::Instant;
use crate::core::wol::{MagicPacket, SecureOn};

/// The most wake records `status` keeps.
const WAKE_LOG_LEN: usize = 32;
/// The longest pause between two magic packets for one target.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The most SYNs held for replay per wake: one per caller, for the first few callers.
const MAX_HELD_SYNS: usize = 4;
/// How long a guardian waits before acting on a WakeRequest the manager should have served.
const GUARDIAN_DEFER: Duration = Duration::from_millis(250);
/// The most wakes in flight at once. A wake lasts `wake_retry_for` (30 s); a key holder asking
/// for wakes of made-up MACs could otherwise grow the list without bound. Beyond it, wakes
/// are refused and counted (`wakes_refused`).
pub const MAX_WAKES: usize = 256;

/// A wake in flight.
#[derive(Debug, Clone)]
pub(crate) struct WakeJob {
    pub(crate) mac: MacAddr,
    pub(crate) iface: IfaceId,
    pub(crate) unicast: Option<Ipv4Addr>,
    pub(crate) password: Option<SecureOn>,
    pub(crate) cause: WakeCause,
    /// When the cause happened (the SYN, the request, the operator's command).
    pub(crate) started: Instant,
    pub(crate) first_sent: Option<Instant>,
    pub(crate) attempts: u32,
    pub(crate) next_at: Instant,
    /// Waiting to see whether another node sends it first.
    pub(crate) deferred: bool,
    /// A reconciliation wake: if the target never answers, it is no longer treated as asleep.
    pub(crate) reconcile: bool,
    /// Callers' SYNs (by source address and port), readdressed to the target's MAC, to send it
    /// once it is awake.
    pub(crate) held: Vec<((IpAddr, u16), FrameBuf)>,
}

/// Whom an operator wants woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeTarget {
    /// By MAC: works for any host, known or not.
    Mac(MacAddr),
    /// By an address a peer announced.
    Ip(IpAddr),
    /// By node id.
    Node(NodeId),
}

/// Why an operator's wake could not be sent from here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WakeError {
    /// No peer on any managed interface announced this address or id.
    #[error(
        "no peer on this node's networks has announced {0}: wake it by MAC, or from a node on its subnet"
    )]
    UnknownHost(String),
    /// The node manages no interface.
    #[error("this node manages no interface yet: check `interfaces` in the configuration")]
    NoInterface,
    /// The node is asleep or leaving.
    #[error("this node is going to sleep or shutting down")]
    NotRunning,
    /// Too many wakes are in flight.
    #[error(
        "{MAX_WAKES} wakes are already in flight (each is retried for up to 30 s): try again \
         in a moment"
    )]
    TooManyWakes,
}

impl From<WakePassword> for Option<SecureOn> {
    fn from(p: WakePassword) -> Self {
        match p {
            WakePassword::None => None,
            WakePassword::Four(b) => Some(SecureOn::Four(b)),
            WakePassword::Six(b) => Some(SecureOn::Six(b)),
        }
    }
}

fn to_wire(p: Option<SecureOn>) -> WakePassword {
    match p {
        None => WakePassword::None,
        Some(SecureOn::Four(b)) => WakePassword::Four(b),
        Some(SecureOn::Six(b)) => WakePassword::Six(b),
    }
}

impl Node {
    /// An operator asks to wake `target` (`wakeproxy wake`). A target known on one of this node's
    /// LANs is woken there; an unknown MAC is woken on every LAN. Returns the MAC being woken.
    /// A target on another subnet needs [`Node::request_remote_wake`].
    pub fn wake(
        &mut self,
        now: Instant,
        target: WakeTarget,
        password: Option<SecureOn>,
    ) -> Result<MacAddr, WakeError> {
        if self.asleep || self.leaving {
            return Err(WakeError::NotRunning);
        }
        if self.lans.is_empty() {
            return Err(WakeError::NoInterface);
        }
        if self.wakes.len() >= MAX_WAKES {
            return Err(WakeError::TooManyWakes);
        }
        let found = self.lans.iter().enumerate().find_map(|(li, lan)| {
            lan.peers
                .iter()
                .find(|p| match target {
                    WakeTarget::Mac(m) => p.host.mac == m,
                    WakeTarget::Ip(ip) => super::intake::host_has_addr(&p.host, ip),
                    WakeTarget::Node(id) => p.id == id,
                })
                .map(|p| (li, p.host.mac, p.host.ipv4.first().map(|a| a.addr)))
        });
        let mac = match (found, target) {
            (Some((li, mac, unicast)), _) => {
                self.start_wake(
                    now,
                    li,
                    mac,
                    unicast,
                    password,
                    WakeCause::Operator,
                    Duration::ZERO,
                );
                mac
            }
            (None, WakeTarget::Mac(mac)) => {
                for li in 0..self.lans.len() {
                    self.start_wake(
                        now,
                        li,
                        mac,
                        None,
                        password,
                        WakeCause::Operator,
                        Duration::ZERO,
                    );
                }
                mac
            }
            (None, WakeTarget::Ip(ip)) => return Err(WakeError::UnknownHost(ip.to_string())),
            (None, WakeTarget::Node(id)) => return Err(WakeError::UnknownHost(id.to_string())),
        };
        self.after_input(now);
        Ok(mac)
    }

    /// Asks the nodes at `to` (a node, or a subnet's broadcast address, on another subnet) to
    /// wake `mac` there, with a signed WakeRequest.
    pub fn request_remote_wake(
        &mut self,
        now: Instant,
        to: SocketAddr,
        mac: MacAddr,
        password: Option<SecureOn>,
    ) -> Result<(), WakeError> {
        if self.asleep || self.leaving {
            return Err(WakeError::NotRunning);
        }
        if self.lans.is_empty() {
            return Err(WakeError::NoInterface);
        }
        let request_id = self.rng_u32();
        let req = WakeRequest {
            target: mac,
            password: to_wire(password),
            request_id,
            reason: WakeReason::Operator,
        };
        self.send(now, 0, Destination::Routed(to), &Message::WakeRequest(req));
        self.emit(Event::WakeRequested { mac, to });
        Ok(())
    }

    fn rng_u32(&mut self) -> u32 {
        use rand_chacha::rand_core::RngCore;
        self.rng.next_u32()
    }

    /// A signed WakeRequest arrived on LAN `li`. The sleeper's proxy and the manager act at once;
    /// guardians act a moment later unless they saw the packet go out; members leave it to them.
    pub(crate) fn on_wake_request(
        &mut self,
        now: Instant,
        li: usize,
        from: crate::core::addr::NodeId,
        req: &WakeRequest,
    ) {
        if !self.acting(now) {
            return;
        }
        let lan = &self.lans[li];
        let target = lan.peers.iter().find(|p| p.host.mac == req.target);
        let proxy_is_me = target.is_some_and(|p| lan.outcome.proxy_of(&p.id) == Some(self.cfg.id));
        let defer = match lan.role {
            _ if proxy_is_me => Duration::ZERO,
            Role::Manager => Duration::ZERO,
            Role::Guardian => {
                let rank = lan.outcome.guardians.iter().position(|g| *g == self.cfg.id).unwrap_or(1)
                    as u32;
                GUARDIAN_DEFER * rank.max(1)
            }
            Role::Member if lan.outcome.manager.is_none() => GUARDIAN_DEFER * 4,
            Role::Member => return,
        };
        let unicast = target.and_then(|p| p.host.ipv4.first().map(|a| a.addr));
        self.start_wake(
            now,
            li,
            req.target,
            unicast,
            req.password.into(),
            WakeCause::Request { from },
            defer,
        );
    }

    /// Queues a wake unless one for `mac` is already in flight (a SYN flood, several proxies, a
    /// request repeated: one wake sequence).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_wake(
        &mut self,
        now: Instant,
        li: usize,
        mac: MacAddr,
        unicast: Option<Ipv4Addr>,
        password: Option<SecureOn>,
        cause: WakeCause,
        defer: Duration,
    ) {
        let iface = self.lans[li].cfg.id;
        if self.wakes.iter().any(|w| w.mac == mac && w.iface == iface) {
            self.counters.wakes_deduplicated += 1;
            return;
        }
        if self.wakes.len() >= MAX_WAKES {
            self.counters.wakes_refused += 1;
            return;
        }
        self.wakes.push(WakeJob {
            mac,
            iface,
            unicast,
            password,
            cause,
            started: now,
            first_sent: None,
            attempts: 0,
            next_at: now + defer,
            deferred: !defer.is_zero(),
            reconcile: false,
            held: Vec::new(),
        });
    }

    /// Keeps a caller's SYN to the target of the wake in flight on `li`, to replay it once the
    /// target is awake: the first SYN of each of the first [`MAX_HELD_SYNS`] callers (a
    /// caller's retransmissions carry the same sequence number; the first is as good).
    pub(crate) fn hold_syn(&mut self, li: usize, target: MacAddr, from: (IpAddr, u16), syn: &[u8]) {
        let (iface, own) = (self.lans[li].cfg.id, self.lans[li].cfg.mac);
        let Some(job) = self.wakes.iter_mut().find(|w| w.mac == target && w.iface == iface) else {
            return;
        };
        if job.held.len() >= MAX_HELD_SYNS || job.held.iter().any(|(f, _)| *f == from) {
            return;
        }
        // From our MAC, not the caller's: a frame with the caller's MAC as source would move
        // the caller's MAC to our switch port.
        if let Some(frame) = crate::core::frame::replayable_syn(syn, target, own) {
            job.held.push((from, frame));
        }
    }

    /// The daily reconciliation (ConfigMgr wakes every sleeper at 2 P.M.; wakeproxy spreads it):
    /// on every LAN this node manages, wakes each sleeper once at a random moment within
    /// `window`, so the subnet never wakes at one instant. A sleeper that does not answer within
    /// `wake_retry_for` is no longer treated as asleep (Gone). Returns how many were scheduled.
    pub fn reconcile(&mut self, now: Instant, window: Duration) -> usize {
        if !self.acting(now) {
            return 0;
        }
        let mut scheduled = 0;
        for li in 0..self.lans.len() {
            if self.lans[li].role != Role::Manager {
                continue;
            }
            let iface = self.lans[li].cfg.id;
            let targets: Vec<(MacAddr, Option<Ipv4Addr>)> = self.lans[li]
                .peers
                .iter()
                .filter(|p| p.state == crate::core::peers::PeerState::Asleep)
                .map(|p| (p.host.mac, p.host.ipv4.first().map(|a| a.addr)))
                .collect();
            for (mac, unicast) in targets {
                if self.wakes.iter().any(|w| w.mac == mac && w.iface == iface) {
                    continue;
                }
                if self.wakes.len() >= MAX_WAKES {
                    self.counters.wakes_refused += 1;
                    break;
                }
                let at = now + self.jitter(window);
                self.wakes.push(WakeJob {
                    mac,
                    iface,
                    unicast,
                    password: None,
                    cause: WakeCause::Reconciliation,
                    started: at,
                    first_sent: None,
                    attempts: 0,
                    next_at: at,
                    deferred: false,
                    reconcile: true,
                    held: Vec::new(),
                });
                scheduled += 1;
            }
        }
        scheduled
    }

    /// Sends the magic packets that are due, and gives up on wakes that ran out of time.
    pub(crate) fn process_wakes(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.wakes.len() {
            let job = &self.wakes[i];
            if job.next_at > now {
                i += 1;
                continue;
            }
            let Some(li) = self.lan_index(job.iface) else {
                self.wakes.swap_remove(i);
                continue;
            };
            let seen = self.lans[li].wake_seen.get(&job.mac).is_some_and(|at| *at >= job.started);
            if job.deferred && job.attempts == 0 && seen {
                // Someone else sent it: theirs is enough.
                self.counters.wakes_deduplicated += 1;
                self.wakes.swap_remove(i);
                continue;
            }
            if now.saturating_since(job.started) >= self.cfg.wake_retry_for {
                let job = self.wakes.swap_remove(i);
                self.emit(Event::WakeGaveUp { mac: job.mac, attempts: job.attempts });
                self.log_wake(WakeRecord::gave_up(&job, now));
                if job.reconcile {
                    self.forget_unanswered(now, li, job.mac);
                }
                continue;
            }
            let job = &mut self.wakes[i];
            job.attempts += 1;
            job.first_sent.get_or_insert(now);
            let backoff = Duration::from_secs(1 << (job.attempts - 1).min(3)).min(MAX_BACKOFF);
            job.next_at = now + backoff;
            let (iface, mac, cause, attempt, unicast) =
                (job.iface, job.mac, job.cause, job.attempts, job.unicast);
            let packet = MagicPacket { target: mac, password: job.password };
            self.actions.push_back(Action::SendMagicPacket { iface, packet, unicast });
            self.counters.wakes_sent += 1;
            let sleeper = self.lans[li].proxied.find_by_mac(mac).map(|s| s.id);
            if let Some(sleeper) = sleeper {
                self.bump(li, &sleeper, |s| s.wakes_sent += 1);
            }
            self.emit(Event::WakeSent { iface, mac, cause, attempt });
            i += 1;
        }
    }

    /// A signed message from the host with this MAC arrived: its wake, if any, worked.
    pub(crate) fn confirm_wake(&mut self, now: Instant, mac: MacAddr) {
        while let Some(i) = self.wakes.iter().position(|w| w.mac == mac) {
            let job = self.wakes.swap_remove(i);
            let Some(first) = job.first_sent else {
                continue;
            };
            let to_packet = first.saturating_since(job.started);
            let to_awake = now.saturating_since(job.started);
            for (_, frame) in &job.held {
                self.actions
                    .push_back(Action::SendFrame { iface: job.iface, frame: frame.clone() });
            }
            self.counters.syns_replayed += job.held.len() as u64;
            self.emit(Event::WakeConfirmed { mac, to_packet, to_awake });
            self.log_wake(WakeRecord::confirmed(&job, to_packet, to_awake));
        }
    }

    /// A sleeper that never answered its reconciliation wake is no longer treated as asleep.
    fn forget_unanswered(&mut self, now: Instant, li: usize, mac: MacAddr) {
        let Some(id) = self.lans[li].peers.by_mac(mac).map(|p| p.id) else { return };
        let t = self.lans[li].peers.mark_gone(now, id, crate::core::peers::Reason::NoAnswer);
        self.lans[li].dirty |= t.is_some();
        let iface = self.lans[li].cfg.id;
        self.transition_event(iface, t);
    }

    fn log_wake(&mut self, rec: WakeRecord) {
        if let Some(d) = rec.to_packet {
            self.latency.to_packet.observe(d);
        }
        match rec.to_awake {
            Some(d) => {
                self.latency.to_awake.observe(d);
                self.counters.wakes_confirmed += 1;
            }
            None => self.counters.wakes_given_up += 1,
        }
        if self.wake_log.len() == WAKE_LOG_LEN {
            self.wake_log.pop_front();
        }
        self.wake_log.push_back(rec);
    }
}
