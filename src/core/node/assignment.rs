//! From the election to what this node answers for: roles, the sleepers it takes, the ones it
//! hands over (make before break) and the ones it lets go.

use std::net::IpAddr;

use super::claim::Expected;
use super::intake::host_has_addr;
use super::{Action, Destination, Event, Node, StopReason};
use crate::core::addr::NodeId;
use crate::core::election::{self, Candidate, proxy_distance};
use crate::core::frame::{self, Sleeper};
use crate::core::peers::PeerState;
use crate::core::proto::{Message, ProxyRelease, ReleaseReason, Role};
use crate::core::time::Instant;

/// The most calibration probes one heartbeat sends.
const CALIBRATE_PER_ELECTION: usize = 8;
/// How long before a host that did not answer its calibration probe is tried again (its
/// firewall may change; the probe may have been lost).
const CALIBRATE_AGAIN: std::time::Duration = std::time::Duration::from_secs(600);
/// How long before a host that answered is tried again (its firewall may start dropping).
const RECALIBRATE_AFTER: std::time::Duration = std::time::Duration::from_secs(1800);

impl Node {
    /// This node as a candidate on LAN `li`, unless it cannot be one there (deaf).
    pub(super) fn me_as_candidate(&self, li: usize) -> Option<Candidate> {
        (self.lans[li].hearing.deaf.is_none()).then_some(Candidate {
            listening: false,
            id: self.cfg.id,
            prefers_guardian: self.cfg.prefers_guardian,
            can_proxy: self.cfg.can_proxy,
            boot_time_s: self.cfg.boot_time_s,
        })
    }

    pub(super) fn run_election(&mut self, now: Instant, li: usize) {
        let me = self.cfg.id;
        let me_candidate = self.me_as_candidate(li);
        let guardians = self.cfg.guardians;
        let lan = &mut self.lans[li];
        let candidates: Vec<Candidate> = lan
            .peers
            .iter()
            .filter(|p| p.is_candidate())
            .map(|p| p.candidate())
            .chain(me_candidate)
            .collect();
        let sleepers: Vec<NodeId> =
            lan.peers.iter().filter(|p| p.is_proxiable()).map(|p| p.id).collect();
        let before_manager = lan.outcome.manager;
        let before_guardians = lan.outcome.guardians.clone();
        let mut outcome = std::mem::take(&mut lan.outcome);
        election::elect_into(&mut lan.scratch, &candidates, &sleepers, guardians, &mut outcome);
        pass_over(&mut outcome, &candidates, &lan.passed_over);
        lan.outcome = outcome;

        let role = if lan.outcome.manager == Some(me) {
            Role::Manager
        } else if lan.outcome.is_guardian(&me) {
            Role::Guardian
        } else {
            Role::Member
        };
        if role == Role::Manager && lan.role != Role::Manager {
            let highest = lan.peers.iter().map(|p| p.term).max().unwrap_or(0);
            lan.term = lan.term.max(highest).saturating_add(1);
        }
        let changed = role != lan.role
            || lan.outcome.manager != before_manager
            || lan.outcome.guardians != before_guardians;
        lan.role = role;
        // Whom this node expects to claim each sleeper, and since when.
        let assignment = &lan.outcome.assignment;
        lan.expected.retain(|s, _| assignment.binary_search_by(|(a, _)| a.cmp(s)).is_ok());
        let mut new_expectation = false;
        for &(s, p) in assignment {
            if lan.expected.get(&s).is_none_or(|e| e.assignee != p) {
                let claimed = lan.claims.get(&s) == Some(&p);
                lan.expected.insert(s, Expected { assignee: p, since: now, claimed });
                // Every entry is due at the same time: the hint is lowered once, below.
                new_expectation = true;
            }
        }
        if new_expectation {
            lan.claim_timer_at(now + lan.claim_timeout);
        }
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

    /// Probes a few awake peers, to learn whether their host answers probes at all while it is
    /// up: a failed probe proves asleep only a host not known to drop them. A host that drops
    /// echo and has no open port is so never declared asleep by silence, so never claimed
    /// unless it announces its sleep. At each heartbeat, at most [`CALIBRATE_PER_ELECTION`]:
    /// first the peers this node would answer for if they slept now (it is their owner on the
    /// ring: one election over them, as if they slept), then the others; each peer again after
    /// [`RECALIBRATE_AFTER`] (or [`CALIBRATE_AGAIN`] if it did not answer).
    pub(super) fn calibrate(&mut self, now: Instant, li: usize, me: Option<Candidate>) {
        let Some(me) = me.filter(|m| m.can_proxy) else { return };
        let lan = &self.lans[li];
        let uncertain: Vec<NodeId> = lan
            .peers
            .iter()
            .filter(|p| {
                p.state == PeerState::Awake
                    && p.heard_heartbeat
                    && !lan.calibrating.contains_key(&p.id)
                    && p.calibrated_at.is_none_or(|t| {
                        let again = if p.answers_probes == Some(false) {
                            CALIBRATE_AGAIN
                        } else {
                            RECALIBRATE_AFTER
                        };
                        now.saturating_since(t) >= again
                    })
            })
            .map(|p| p.id)
            .collect();
        if uncertain.is_empty() {
            return;
        }
        let candidates: Vec<Candidate> = lan
            .peers
            .iter()
            .filter(|p| p.is_candidate())
            .map(|p| p.candidate())
            .chain(std::iter::once(me))
            .collect();
        // Who would answer for each of them if it slept now (never itself).
        let what_if = election::elect(&candidates, &uncertain, 1);
        let mine = |id: &NodeId| what_if.proxy_of(id) == Some(me.id);
        let first = uncertain.iter().filter(|id| mine(id));
        let due: Vec<(NodeId, IpAddr, Vec<u16>)> = first
            .chain(uncertain.iter().filter(|id| !mine(id)))
            .filter_map(|id| {
                let p = lan.peers.get(id)?;
                let ip = p.host.ipv4.first().map(|a| IpAddr::V4(a.addr))?;
                Some((p.id, ip, super::probe_ports(p)))
            })
            .take(CALIBRATE_PER_ELECTION)
            .collect();
        let (iface, timeout) = (self.lans[li].cfg.id, self.cfg.liveness.probe_timeout);
        for (id, ip, tcp_ports) in due {
            self.lans[li].calibrating.insert(id, now);
            self.lans[li].peers.calibrating(id, now);
            self.counters.probes += 1;
            self.actions.push_back(Action::Probe { iface, ip, timeout, tcp_ports });
        }
    }

    /// Starts and stops answering for sleepers so that this node answers for exactly those the
    /// election gave it (minus those it yielded to a closer claimant that is still alive), and
    /// keeps answering for those it is handing over until their new proxy claims them.
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
            if let Some(to) = self.handover_target(li, &id) {
                // Make before break: keep answering until `to` claims it, and tell it (and
                // everyone) what it needs to answer in our place.
                if self.lans[li].handing_over.insert(id, to) != Some(to) {
                    self.send_claim(now, li, id);
                }
                // But never for an address a peer that may be awake announces now.
                self.drop_owned_addresses(now, li, &id);
                continue;
            }
            self.lans[li].handing_over.remove(&id);
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
            self.lans[li].handing_over.remove(&id);
            match self.sleeper_entry(now, li, &id) {
                Some(entry) if self.lans[li].proxied.get(&id).is_none() => {
                    self.begin_claim(now, li, entry)
                }
                // Already answered for (or being probed): follow changes of what it may be
                // answered for. Dropping an address (a peer announces it now) is at once; an
                // address never probed (freed by a peer that went away) is probed first: the
                // claim starts again.
                Some(entry) if self.lans[li].proxied.get(&id) != Some(&entry) => {
                    let old = self.lans[li].proxied.get(&id).cloned().unwrap_or(entry.clone());
                    let added = entry.ipv4.iter().any(|a| !old.ipv4.contains(a))
                        || entry.ipv6.iter().any(|a| !old.ipv6.contains(a));
                    if added {
                        self.stop_proxy(now, li, id, StopReason::Reassigned, false);
                        self.begin_claim(now, li, entry);
                    } else {
                        self.lans[li].proxied.insert(entry);
                    }
                }
                _ => {}
            }
        }
    }

    /// Stops answering, at once, for each address of `id` it may no longer be answered for (a
    /// peer that may be awake announces it as its own); if none is left, stops answering for
    /// `id`. An address it may now be answered for is left to the next claim (it is probed).
    pub(super) fn drop_owned_addresses(&mut self, now: Instant, li: usize, id: &NodeId) {
        let Some(old) = self.lans[li].proxied.get(id).cloned() else { return };
        let Some(entry) = self.sleeper_entry(now, li, id) else { return };
        let mut kept = old.clone();
        kept.ipv4.retain(|a| entry.ipv4.contains(a));
        kept.ipv6.retain(|a| entry.ipv6.contains(a));
        if kept == old {
            return;
        }
        if kept.ipv4.is_empty() && kept.ipv6.is_empty() {
            self.lans[li].handing_over.remove(id);
            self.stop_proxy(now, li, *id, StopReason::Reassigned, false);
        } else {
            self.lans[li].proxied.insert(kept);
        }
    }

    /// The node this node is handing `id` over to, if it should keep answering for it: it is
    /// claimed here (not merely probed), still asleep and unseen in this node's view, and the
    /// election names another node that has not claimed it yet.
    fn handover_target(&self, li: usize, id: &NodeId) -> Option<NodeId> {
        let lan = &self.lans[li];
        if self.asleep || self.leaving || lan.pending.contains_key(id) {
            return None;
        }
        if !lan.peers.get(id).is_some_and(|p| p.is_proxiable()) || lan.yielded.contains_key(id) {
            return None;
        }
        let to = lan.outcome.proxy_of(id)?;
        (to != self.cfg.id && lan.claims.get(id) != Some(&to)).then_some(to)
    }

    /// What this node answers for when it answers for `id`: its MAC and addresses, except any
    /// address this node, or a peer that may be awake, announces as its own (DHCP gave it away,
    /// it floated, or a key holder points a made-up sleeper at a live host's address), and the
    /// ports whose SYN wakes it.
    pub(super) fn sleeper_entry(&self, now: Instant, li: usize, id: &NodeId) -> Option<Sleeper> {
        let lan = &self.lans[li];
        let host = &lan.peers.get(id)?.host;
        let within = self.cfg.liveness.suspect_after;
        // A gone peer with the sleeper's own MAC is the sleeper's host under an older node id
        // (its daemon lost its state and came back with a new one): its addresses are the
        // sleeper's, not another host's (found by `lab chaos`, docs/reliability.md).
        let same_host = |p: &crate::core::peers::Peer| {
            p.state == crate::core::peers::PeerState::Gone && p.host.mac == host.mac
        };
        let owned_elsewhere = |ip: IpAddr| {
            lan.on_own_addr(ip)
                || lan.peers.iter().any(|p| {
                    p.id != *id
                        && p.may_be_awake(now, within)
                        && !same_host(p)
                        && host_has_addr(&p.host, ip)
                })
        };
        let mut wake_ports: Vec<u16> = host
            .tcp_ports
            .iter()
            .chain(&self.cfg.wake_allow)
            .copied()
            .filter(|p| !self.cfg.wake_deny.contains(p) || self.cfg.wake_allow.contains(p))
            .collect();
        wake_ports.sort_unstable();
        wake_ports.dedup();
        Some(Sleeper {
            id: *id,
            mac: host.mac,
            ipv4: host
                .ipv4
                .iter()
                .map(|p| p.addr)
                .filter(|a| !owned_elsewhere(IpAddr::V4(*a)))
                .collect(),
            ipv6: host
                .ipv6
                .iter()
                .map(|p| p.addr)
                .filter(|a| !owned_elsewhere(IpAddr::V6(*a)))
                .collect(),
            wake_ports,
        })
    }

    /// Stops answering for `id`. `hand_back`: give its addresses back to its own MAC on the LAN
    /// (it woke up), so caches that pointed at this proxy point at the owner again.
    pub(super) fn stop_proxy(
        &mut self,
        now: Instant,
        li: usize,
        id: NodeId,
        reason: StopReason,
        hand_back: bool,
    ) {
        self.lans[li].handing_over.remove(&id);
        let Some(s) = self.lans[li].proxied.remove(&id) else {
            return;
        };
        if self.lans[li].pending.remove(&id).is_some() {
            // Never claimed: nothing to release, nothing to hand back.
            return;
        }
        let lan = &mut self.lans[li];
        if let Some(stats) = lan.stats.remove(&id) {
            let slept = now.saturating_since(stats.since).as_micros();
            let slept = u64::try_from(slept).unwrap_or(u64::MAX);
            self.counters.sleep_enabled_us = self.counters.sleep_enabled_us.saturating_add(slept);
        }
        lan.reclaimed.remove(&id);
        if lan.claims.get(&id) == Some(&self.cfg.id) {
            lan.claims.remove(&id);
        }
        let (iface, term) = (lan.cfg.id, lan.term);
        if hand_back {
            let src = lan.cfg.mac;
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
            StopReason::Leaving | StopReason::Deaf => ReleaseReason::Leaving,
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

    /// Lets go of every sleeper on LAN `li` and drops the role there (this node sleeps, leaves
    /// or went deaf). What it knows of each is announced first (SleeperInfo), so every node
    /// holds the sleepers' host information when it elects their next proxy.
    pub(super) fn release_all(&mut self, now: Instant, li: usize, reason: StopReason) {
        self.lans[li].deferred.clear();
        self.announce_sleepers_held(now, li);
        let ids: Vec<NodeId> = self.lans[li].proxied.iter().map(|s| s.id).collect();
        for id in ids {
            self.stop_proxy(now, li, id, reason, false);
        }
        self.demote(li);
    }

    /// Drops this node's role on LAN `li` (it sleeps, leaves, went deaf or resumes with a stale
    /// view).
    pub(super) fn demote(&mut self, li: usize) {
        let lan = &mut self.lans[li];
        lan.outcome = election::Outcome::default();
        lan.expected.clear();
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
}

/// Moves each sleeper whose assigned proxy is passed over for it (it did not claim in time) to
/// the next candidate on the ring that is not.
fn pass_over(
    outcome: &mut election::Outcome,
    candidates: &[Candidate],
    passed_over: &rustc_hash::FxHashMap<NodeId, Vec<(NodeId, Instant)>>,
) {
    if passed_over.is_empty() {
        return;
    }
    let mut i = 0;
    while i < outcome.assignment.len() {
        let (s, p) = outcome.assignment[i];
        let Some(skip) = passed_over.get(&s).filter(|l| l.iter().any(|(n, _)| *n == p)) else {
            i += 1;
            continue;
        };
        let next = candidates
            .iter()
            .filter(|c| c.can_proxy && c.id != s && !skip.iter().any(|(n, _)| *n == c.id))
            .map(|c| (proxy_distance(s, c.id), c.id))
            .min()
            .map(|(_, id)| id);
        match next {
            Some(n) => {
                outcome.assignment[i].1 = n;
                i += 1;
            }
            None => {
                outcome.assignment.remove(i);
            }
        }
    }
}

fn lan_peer_state(lan: &super::lan::Lan, id: &NodeId) -> Option<(PeerState, bool)> {
    lan.peers.get(id).map(|p| (p.state, p.owner_seen.is_some()))
}
