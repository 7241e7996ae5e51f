//! Claiming a sleeper: look before answering, tell everyone, and hand over before letting go.
//!
//! When the election gives this node a sleeper, it does not answer for it at once. It first
//! asks the LAN whether anyone uses the sleeper's addresses: an RFC 5227 ARP probe per IPv4
//! address, a duplicate-address-detection probe per IPv6 address, and a liveness probe (ICMP
//! echo, plus a TCP connection to ports the sleeper listened on; a proxy handing the sleeper
//! over knows those SYNs for the probe they are and wakes nobody for them). For one probe window (the
//! liveness probe timeout, `min(1 s, H/2)`) the sleeper is *pending*: its frames are
//! recognised, but nothing is answered and no SYN wakes it. Then:
//!
//! - a frame comes from the sleeper's own MAC → its owner is awake: the peer table hears so
//!   (nobody may answer for it) and the claim is dropped;
//! - the probe answers → the host is still up: a host that announced its sleep takes a moment
//!   to suspend, a host whose daemon hung never does. The claim is deferred and retried after
//!   one heartbeat interval, as long as the election still assigns it here, so a host that
//!   keeps answering is never answered for;
//! - a station that is not another proxy answers the ARP / DAD probe for one of its addresses
//!   → the address is in use (DHCP gave it away, an address floated to another host): deferred
//!   the same way. Another proxy answering (an awake, proxy-capable peer, with its own MAC, for
//!   an address it does not announce as its own) is expected: it is handing the sleeper over;
//! - the window passes quietly → the claim: a ProxyClaim carrying the sleeper's host
//!   information, and a gratuitous ARP / unsolicited NA that points every cache at the
//!   answering MAC.
//!
//! **Make before break.** A proxy whose election moves a sleeper to another node keeps
//! answering for it and announces its claim (with the sleeper's host information, so a node
//! that never heard the sleeper's SleepNotice can serve it) until it hears the new proxy's
//! claim; the claims then settle it (the one closer on the ring keeps the sleeper). Every node
//! expects the node its election names to claim within [`claim_timeout`]; one that does not
//! (deaf, its capture broken, gone mid-claim) is passed over for that sleeper for
//! [`PASS_OVER_FOR`], and the next on the ring takes it. Claims are announced again every
//! [`REFRESH_EVERY`] heartbeats, and at the next heartbeat after a new peer appears, so every
//! node learns every sleeper.
//!
//! While claimed, an address conflict from a station that is not another proxy makes the
//! proxy stand down the same way.

use std::net::IpAddr;
use std::time::Duration;

use super::{
    Action, Destination, Event, MAX_PEERS_PER_LAN, Node, ProxyMode, ProxyStats, StopReason,
};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::election::proxy_distance;
use crate::core::frame::{self, Sleeper};
use crate::core::proto::{self, Message, ProxyClaim};
use crate::core::time::Instant;

/// Bytes of a claim's body before the sleeper's host information: id, MAC, term, age.
const CLAIM_FIXED: usize = 16 + 6 + 8 + 4;
/// The shortest time between two claims of one sleeper sent in answer to another proxy's.
const RECLAIM_EVERY: Duration = Duration::from_millis(500);
/// Heartbeats between two announcements of the same claim.
pub(crate) const REFRESH_EVERY: u32 = 6;
/// Heartbeats after which a claim not heard again is forgotten: two refreshes may be lost. A
/// node that restarted without anyone noticing (its first heartbeats lost) holds nothing any
/// more; its old claims must not keep others from passing it over.
pub(crate) const EXPIRE_AFTER: u32 = 2 * REFRESH_EVERY + 1;
/// How long a node that did not claim a sleeper assigned to it is passed over for it.
pub(crate) const PASS_OVER_FOR: Duration = Duration::from_secs(60);

/// How long the node an election names may take to claim a sleeper before it is passed over:
/// two heartbeat intervals (it may have to hear the change, and end its startup grace) plus
/// two probe windows.
pub(crate) fn claim_timeout(heartbeat: Duration, probe: Duration) -> Duration {
    heartbeat * 2 + probe * 2
}

/// Why a claim did not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ClaimBlocked {
    /// The sleeper still answers its liveness probe (ping or TCP).
    PingAnswered,
    /// Another station answered for one of its addresses.
    AddressInUse {
        /// The address.
        addr: IpAddr,
        /// The MAC that answered.
        by: MacAddr,
    },
}

/// Whom the election names for a sleeper, since when, and whether it was heard claiming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) assignee: NodeId,
    pub(crate) since: Instant,
    pub(crate) claimed: bool,
}

impl Node {
    /// Starts the probe for a sleeper the election gave this node.
    pub(super) fn begin_claim(&mut self, now: Instant, li: usize, sleeper: Sleeper) {
        let window = self.cfg.liveness.probe_timeout;
        // The liveness probe goes to an address this node is about to answer for: its first
        // IPv4 address, else (a sleeper whose IPv4 address another peer announces, or one with
        // only IPv6) its first IPv6 one. Without it only ARP and DAD would ask, which a
        // sleeping NIC's offload answers too, so nothing would tell an awake host.
        let probe_ip = sleeper
            .ipv4
            .first()
            .map(|a| IpAddr::V4(*a))
            .or_else(|| sleeper.ipv6.first().map(|a| IpAddr::V6(*a)));
        let lan = &self.lans[li];
        // If another proxy still answers for it (a handover), our SYNs reach that proxy, which
        // knows them for our probe and does not wake the sleeper for them (`frames.rs`).
        let tcp_ports = lan.peers.get(&sleeper.id).map(super::probe_ports).unwrap_or_default();
        let lan = &mut self.lans[li];
        let (iface, mac) = (lan.cfg.id, lan.cfg.mac);
        let probes: Vec<_> = sleeper
            .ipv4
            .iter()
            .map(|ip| frame::arp_probe(mac, *ip))
            .chain(sleeper.ipv6.iter().map(|ip| frame::dad_probe(mac, *ip)))
            .collect();
        lan.pending.insert(sleeper.id, now + window);
        lan.claim_timer_at(now + window);
        lan.proxied.insert(sleeper);
        self.actions.extend(probes.into_iter().map(|frame| Action::SendFrame { iface, frame }));
        if let Some(ip) = probe_ip {
            self.counters.probes += 1;
            let probe = Action::Probe { iface, ip, timeout: window, tcp_ports };
            self.actions.push_back(probe);
        }
    }

    /// Whether `sleeper` is being probed, not yet answered for.
    pub(super) fn is_pending(&self, li: usize, sleeper: &NodeId) -> bool {
        self.lans[li].pending.contains_key(sleeper)
    }

    /// Claims every pending sleeper whose probe window passed quietly.
    pub(super) fn finish_claims(&mut self, now: Instant, li: usize) {
        let due: Vec<NodeId> =
            self.lans[li].pending.iter().filter(|(_, at)| **at <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.lans[li].pending.remove(&id);
            self.claim(now, li, id);
        }
    }

    /// The probe found the address in use, or the host still up: drop the pending claim (or
    /// stand down from a claimed one) and do not try again for one heartbeat interval.
    pub(super) fn block_claim(
        &mut self,
        now: Instant,
        li: usize,
        sleeper: NodeId,
        why: ClaimBlocked,
    ) {
        let iface = self.lans[li].cfg.id;
        let Some(mac) = self.lans[li].proxied.get(&sleeper).map(|s| s.mac) else { return };
        let retry = now + self.cfg.heartbeat_interval();
        self.lans[li].deferred.insert(sleeper, retry);
        self.lans[li].claim_timer_at(retry);
        self.counters.claims_blocked += 1;
        self.emit(Event::ClaimBlocked { iface, sleeper, mac, why });
        let reason = match why {
            ClaimBlocked::PingAnswered => StopReason::OwnerSeen,
            ClaimBlocked::AddressInUse { .. } => StopReason::AddressInUse,
        };
        self.stop_proxy(now, li, sleeper, reason, false);
        self.lans[li].dirty = true;
    }

    /// The earliest pending probe window, deferred retry, claim expectation or pass-over, for
    /// `poll_timeout`: each LAN's hint, which is never later than its earliest timer.
    pub(super) fn next_claim_deadline(&self) -> Option<Instant> {
        let me = self.cfg.id;
        self.lans
            .iter()
            .filter_map(|l| {
                let exact = debug_exact(l, me);
                debug_assert!(
                    exact.is_none_or(|at| l.claim_due.is_some_and(|due| due <= at)),
                    "a claim timer at {exact:?} is later than the hint {:?}",
                    l.claim_due
                );
                l.claim_due
            })
            .min()
    }

    pub(super) fn claim_timeout(&self) -> Duration {
        claim_timeout(self.cfg.heartbeat_interval(), self.cfg.liveness.probe_timeout)
    }

    /// Forgets deferrals and pass-overs that are due, so the next election may try again, and
    /// passes over the nodes that did not claim what they were given in time.
    pub(super) fn expire_claim_timers(&mut self, now: Instant, li: usize) {
        let timeout = self.claim_timeout();
        let lan = &mut self.lans[li];
        let before = (lan.deferred.len(), lan.passed_over.values().map(Vec::len).sum::<usize>());
        lan.deferred.retain(|_, at| *at > now);
        // Claims not heard again for a while are forgotten (soft state).
        let expire = self.cfg.heartbeat_interval() * EXPIRE_AFTER;
        let stale: Vec<NodeId> = lan
            .claims_heard
            .iter()
            .filter(|(_, at)| now.saturating_since(**at) >= expire)
            .map(|(s, _)| *s)
            .collect();
        for s in stale {
            lan.claims_heard.remove(&s);
            if let Some(by) = lan.claims.get(&s).copied().filter(|by| *by != self.cfg.id) {
                lan.claim_dropped(s, by, now);
            }
        }
        // A calibration the driver never answered says nothing.
        let stale = self.cfg.liveness.probe_timeout * 2;
        lan.calibrating.retain(|_, at| now.saturating_since(*at) < stale);
        for list in lan.passed_over.values_mut() {
            list.retain(|(_, until)| *until > now);
        }
        lan.passed_over.retain(|_, list| !list.is_empty());
        let after = (lan.deferred.len(), lan.passed_over.values().map(Vec::len).sum::<usize>());
        lan.dirty |= before != after;

        // This node never passes itself over: it knows why it has not claimed (its probe found
        // the host up, or the address in use) and tries again when that deferral ends.
        let me = self.cfg.id;
        let missing: Vec<(NodeId, NodeId)> = lan
            .expected
            .iter()
            .filter(|(_, e)| e.assignee != me && !e.claimed)
            .filter(|(_, e)| now.saturating_since(e.since) >= timeout)
            .map(|(s, e)| (*s, e.assignee))
            .collect();
        let iface = lan.cfg.id;
        for (sleeper, by) in missing {
            let lan = &mut self.lans[li];
            lan.expected.remove(&sleeper);
            if lan.yielded.get(&sleeper) == Some(&by) {
                lan.yielded.remove(&sleeper);
            }
            lan.passed_over.entry(sleeper).or_default().push((by, now + PASS_OVER_FOR));
            lan.claim_timer_at(now + PASS_OVER_FOR);
            lan.dirty = true;
            self.counters.claims_missing += 1;
            self.emit(Event::ClaimMissing { iface, sleeper, by });
        }
    }

    /// The probe window passed quietly: answer for the sleeper from now on.
    fn claim(&mut self, now: Instant, li: usize, id: NodeId) {
        let Some(s) = self.lans[li].proxied.get(&id) else { return };
        let (mac, ipv4, ipv6) = (s.mac, s.ipv4.clone(), s.ipv6.clone());
        let lan = &mut self.lans[li];
        lan.stats.insert(
            id,
            ProxyStats { since: now, arp_answered: 0, ns_answered: 0, syns_seen: 0, wakes_sent: 0 },
        );
        let iface = lan.cfg.id;
        self.send_claim(now, li, id);
        // Point every cache on the LAN at the answering MAC now, instead of when entries expire.
        let answer = self.answer_mac(li, &id);
        for ip in ipv4 {
            let frame = frame::gratuitous_arp(answer, ip);
            self.actions.push_back(Action::SendFrame { iface, frame });
        }
        for ip in ipv6 {
            let frame = frame::unsolicited_na(answer, ip);
            self.actions.push_back(Action::SendFrame { iface, frame });
        }
        self.counters.proxy_started += 1;
        self.emit(Event::ProxyStarted { iface, sleeper: id, mac });
    }

    /// Broadcasts this node's claim on `id`, with the sleeper's host information and age.
    pub(super) fn send_claim(&mut self, now: Instant, li: usize, id: NodeId) {
        let me = self.cfg.id;
        let lan = &mut self.lans[li];
        let Some(peer) = lan.peers.get(&id) else { return };
        let mut host = peer.host.clone();
        let asleep_for_s = u32::try_from(peer.state_for(now).as_secs()).unwrap_or(u32::MAX);
        let sleeper_mac = host.mac;
        lan.claims.insert(id, me);
        if let Some(e) = lan.expected.get_mut(&id) {
            e.claimed |= e.assignee == me;
        }
        let term = lan.term;
        // A host with the most addresses and ports the protocol allows does not fit beside a
        // claim's own fields: send as many of its ports as fit.
        let fixed = proto::MIN_DATAGRAM + CLAIM_FIXED + host.encoded_len_without_ports();
        let room = proto::MAX_DATAGRAM.saturating_sub(fixed) / 2;
        host.tcp_ports.truncate(room);
        let claim = ProxyClaim { sleeper: id, sleeper_mac, term, asleep_for_s, host };
        self.send(now, li, Destination::Broadcast, &Message::ProxyClaim(claim));
    }

    /// Another proxy answers for a sleeper this node claimed: announce the claim again, so the
    /// two settle it — at most once per [`RECLAIM_EVERY`] per sleeper, so that no exchange of
    /// claims (two nodes each believing it keeps the sleeper) can become a storm.
    pub(super) fn reclaim(&mut self, now: Instant, li: usize, id: NodeId) {
        let lan = &mut self.lans[li];
        if lan.reclaimed.get(&id).is_some_and(|t| now.saturating_since(*t) < RECLAIM_EVERY) {
            return;
        }
        lan.reclaimed.insert(id, now);
        // Twice, a heartbeat apart: a cache ignores a second update within a second of the
        // last (Linux's ARP locktime), and the rival may answer once more before it yields.
        lan.repoint_due = 2;
        self.send_claim(now, li, id);
    }

    /// A signed ProxyClaim from `claimant` (already checked to be on-link and fresh).
    pub(super) fn on_claim(
        &mut self,
        now: Instant,
        li: usize,
        claimant: NodeId,
        claim: &ProxyClaim,
    ) {
        let sleeper = claim.sleeper;
        if sleeper == self.cfg.id || sleeper == claimant {
            return;
        }
        self.learn_from_claim(now, li, claim);
        self.claim_heard(now, li, claimant, sleeper);
    }

    /// A heartbeat of `claimant` lists the sleepers it answers for: each is a claim heard; and
    /// if the list is complete, a sleeper it no longer lists it no longer claims.
    pub(super) fn claims_in_heartbeat(
        &mut self,
        now: Instant,
        li: usize,
        claimant: NodeId,
        listed: &[NodeId],
        complete: bool,
    ) {
        for &sleeper in listed {
            if sleeper != self.cfg.id && sleeper != claimant {
                self.claim_heard(now, li, claimant, sleeper);
            }
        }
        if complete {
            let lan = &mut self.lans[li];
            let dropped: Vec<NodeId> = lan
                .claims
                .iter()
                .filter(|(s, by)| **by == claimant && !listed.contains(s))
                .map(|(s, _)| *s)
                .collect();
            for s in dropped {
                lan.claim_dropped(s, claimant, now);
            }
        }
    }

    /// `claimant` answers for `sleeper`, by a ProxyClaim or its heartbeat's list.
    fn claim_heard(&mut self, now: Instant, li: usize, claimant: NodeId, sleeper: NodeId) {
        let lan = &mut self.lans[li];
        if lan.peers.get(&sleeper).is_none() {
            return;
        }
        lan.claims.insert(sleeper, claimant);
        lan.claims_heard.insert(sleeper, now);
        if let Some(e) = lan.expected.get_mut(&sleeper) {
            e.claimed |= e.assignee == claimant;
        }
        if let Some(list) = lan.passed_over.get_mut(&sleeper) {
            // It claims after all: it is no longer passed over.
            let before = list.len();
            list.retain(|(n, _)| *n != claimant);
            lan.dirty |= list.len() != before;
        }
        if lan.proxied.get(&sleeper).is_none() {
            return;
        }
        let pending = lan.pending.contains_key(&sleeper);
        // Two nodes answer for one sleeper: their views differ (or one is handing it over to
        // the other). The one closer on the ring keeps it; both sides compute the same answer
        // without agreeing on a view first.
        let me = proxy_distance(sleeper, self.cfg.id);
        let them = proxy_distance(sleeper, claimant);
        // Yield only to a node that can hold the sleeper: a candidate here (one that is deaf,
        // still listening or gone cannot).
        let able = self.lans[li].peers.get(&claimant).is_some_and(|p| p.is_candidate());
        if able && (them, claimant) < (me, self.cfg.id) {
            self.point_caches_at(li, &sleeper, claimant);
            let lan = &mut self.lans[li];
            lan.yielded.insert(sleeper, claimant);
            lan.dirty = true;
            if lan.handing_over.remove(&sleeper).is_some() {
                self.counters.handovers += 1;
            }
            self.stop_proxy(now, li, sleeper, StopReason::Yielded, false);
        } else if !pending && (me, self.cfg.id) < (them, claimant) {
            // We are closer: say so, so that it yields. (If it is closer but cannot hold the
            // sleeper in our view, answering it would only start an exchange of claims.)
            self.reclaim(now, li, sleeper);
        }
    }

    /// ARP redirect: this node yields `sleeper` to `winner`, so the caches it pointed at itself
    /// are pointed at the winner's MAC (a gratuitous ARP / unsolicited NA in the winner's name):
    /// the winner may not know they point here (found by `lab chaos`, docs/reliability.md).
    fn point_caches_at(&mut self, li: usize, sleeper: &NodeId, winner: NodeId) {
        let lan = &self.lans[li];
        let (Some(s), Some(w)) = (lan.proxied.get(sleeper), lan.peers.get(&winner)) else {
            return;
        };
        if self.cfg.proxy_mode != ProxyMode::ArpRedirect || lan.pending.contains_key(sleeper) {
            return;
        }
        // From this node's own MAC: the switch must not learn the winner's MAC on this port.
        let (iface, own, mac) = (lan.cfg.id, lan.cfg.mac, w.host.mac);
        let v4 = s.ipv4.iter().map(|ip| frame::gratuitous_arp_for(own, mac, *ip));
        let frames: Vec<_> =
            v4.chain(s.ipv6.iter().map(|ip| frame::unsolicited_na_for(own, mac, *ip))).collect();
        self.actions.extend(frames.into_iter().map(|frame| Action::SendFrame { iface, frame }));
    }

    /// What a claim teaches about its sleeper.
    fn learn_from_claim(&mut self, now: Instant, li: usize, claim: &ProxyClaim) {
        self.learn_sleeper(now, li, claim.sleeper, &claim.host, claim.asleep_for_s);
    }

    /// What a claim or a SleeperInfo teaches: a node that never heard the sleeper's own
    /// SleepNotice learns its addresses, ports and age here. Addresses off this link are
    /// dropped; a claim from a v1.0 node (no host information) teaches nothing.
    pub(super) fn learn_sleeper(
        &mut self,
        now: Instant,
        li: usize,
        sleeper: NodeId,
        host: &crate::core::proto::HostInfo,
        asleep_for_s: u32,
    ) {
        let lan = &self.lans[li];
        let mut host = host.clone();
        host.ipv4.retain(|p| lan.on_link(IpAddr::V4(p.addr)));
        host.ipv6.retain(|p| lan.on_link(IpAddr::V6(p.addr)));
        if host.ipv4.is_empty() && host.ipv6.is_empty() {
            return;
        }
        if lan.peers.get(&sleeper).is_none() && lan.peers.len() >= MAX_PEERS_PER_LAN {
            self.counters.peer_table_full += 1;
            return;
        }
        let asleep_for = Duration::from_secs(u64::from(asleep_for_s));
        let iface = lan.cfg.id;
        let t = self.lans[li].peers.on_claimed_sleeper(now, sleeper, &host, asleep_for);
        self.lans[li].dirty |= t.is_some();
        self.transition_event(iface, t);
    }

    /// Tells the LAN what this node knows of every sleeper it answers for (SleeperInfo, not a
    /// claim: it is letting go), so their next proxy can serve them.
    pub(super) fn announce_sleepers_held(&mut self, now: Instant, li: usize) {
        for id in self.claimed_here(li) {
            self.send_sleeper_info(now, li, id);
        }
    }

    /// Announces every sleeper this node answers for (claimed, not pending) on LAN `li`; the
    /// manager (or, while it is still listening, the first guardian) also tells what it knows
    /// of every other sleeper (SleeperInfo).
    pub(super) fn announce_claims(&mut self, now: Instant, li: usize) {
        let ids = self.claimed_here(li);
        let lan = &self.lans[li];
        // The manager informs; if the manager is still listening (it just restarted: it is the
        // one that needs informing), the best guardian that is not does.
        let me = self.cfg.id;
        let informer = lan
            .outcome
            .guardians
            .iter()
            .find(|g| **g == me || !lan.peers.get(g).is_some_and(|p| p.caps.listening()));
        let others: Vec<NodeId> = if informer == Some(&me) {
            lan.peers
                .iter()
                .filter(|p| p.is_proxiable() && !ids.contains(&p.id))
                .map(|p| p.id)
                .collect()
        } else {
            Vec::new()
        };
        for id in ids {
            self.send_claim(now, li, id);
        }
        for id in others {
            self.send_sleeper_info(now, li, id);
        }
    }

    /// The sleepers this node answers for on LAN `li` (claimed, not being probed).
    fn claimed_here(&self, li: usize) -> Vec<NodeId> {
        let lan = &self.lans[li];
        lan.proxied.iter().map(|s| s.id).filter(|id| !lan.pending.contains_key(id)).collect()
    }

    /// Broadcasts what this node knows of sleeper `id`.
    fn send_sleeper_info(&mut self, now: Instant, li: usize, id: NodeId) {
        let Some(peer) = self.lans[li].peers.get(&id) else { return };
        let mut host = peer.host.clone();
        let asleep_for_s = u32::try_from(peer.state_for(now).as_secs()).unwrap_or(u32::MAX);
        // The sleeper's id and age, then its host.
        let fixed = proto::MIN_DATAGRAM + 16 + 4 + host.encoded_len_without_ports();
        host.tcp_ports.truncate(proto::MAX_DATAGRAM.saturating_sub(fixed) / 2);
        let info = proto::SleeperInfo { sleeper: id, asleep_for_s, host };
        self.send(now, li, Destination::Broadcast, &Message::SleeperInfo(info));
    }
}

/// Debug builds check the hint against every timer (`next_claim_deadline`); release builds
/// trust it.
#[cfg(debug_assertions)]
fn debug_exact(lan: &super::lan::Lan, me: NodeId) -> Option<Instant> {
    lan.next_claim_timer(me)
}

#[cfg(not(debug_assertions))]
fn debug_exact(_: &super::lan::Lan, _: NodeId) -> Option<Instant> {
    None
}
