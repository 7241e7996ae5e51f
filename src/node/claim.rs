//! Claiming a sleeper: look before answering.
//!
//! When the election gives this node a sleeper, it does not answer for it at once. It first
//! asks the LAN whether anyone uses the sleeper's addresses: an RFC 5227 ARP probe per IPv4
//! address, a duplicate-address-detection probe per IPv6 address, and an ICMP echo. For one
//! probe window (the liveness probe timeout, `min(1 s, H/2)`) the sleeper is *pending*: its
//! frames are recognised, but nothing is answered and no SYN wakes it. Then:
//!
//! - a frame comes from the sleeper's own MAC → its owner is awake: the peer table hears so
//!   (nobody may answer for it) and the claim is dropped;
//! - the echo answers → the host is still up: a host that announced its sleep takes a moment to
//!   suspend, a host whose daemon hung never does. The claim is deferred and retried after one
//!   heartbeat interval, as long as the election still assigns it here, so a host that keeps
//!   answering is never answered for;
//! - someone else answers the ARP / DAD probe for one of its addresses → the address is in use
//!   (another proxy has not let go yet, or DHCP gave the address away): deferred the same way;
//! - the window passes quietly → the claim: ProxyClaim, and a gratuitous ARP / unsolicited NA
//!   that points every cache at the answering MAC.
//!
//! While claimed, an address conflict from a station that is not a wakeproxy peer (DHCP reuse)
//! makes the proxy stand down the same way. A peer answering with its own MAC is another proxy;
//! ProxyClaims settle that (the one closer on the ring keeps the sleeper).

use std::net::IpAddr;

use super::{Action, Destination, Event, Node, ProxyStats, StopReason};
use crate::addr::{MacAddr, NodeId};
use crate::frame::{self, Sleeper};
use crate::proto::{Message, ProxyClaim};
use crate::time::Instant;

/// Why a claim did not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ClaimBlocked {
    /// The sleeper still answers pings.
    PingAnswered,
    /// Another station answered for one of its addresses.
    AddressInUse {
        /// The address.
        addr: IpAddr,
        /// The MAC that answered.
        by: MacAddr,
    },
}

impl Node {
    /// Starts the probe for a sleeper the election gave this node.
    pub(super) fn begin_claim(&mut self, now: Instant, li: usize, sleeper: Sleeper) {
        let window = self.cfg.liveness.probe_timeout;
        let first_v4 = sleeper.ipv4.first().copied();
        let tcp_ports = self.lans[li]
            .peers
            .get(&sleeper.id)
            .map(|p| super::probe_ports(&p.host))
            .unwrap_or_default();
        let lan = &mut self.lans[li];
        let (iface, mac) = (lan.cfg.id, lan.cfg.mac);
        let probes: Vec<_> = sleeper
            .ipv4
            .iter()
            .map(|ip| frame::arp_probe(mac, *ip))
            .chain(sleeper.ipv6.iter().map(|ip| frame::dad_probe(mac, *ip)))
            .collect();
        lan.pending.insert(sleeper.id, now + window);
        lan.proxied.insert(sleeper);
        self.actions.extend(probes.into_iter().map(|frame| Action::SendFrame { iface, frame }));
        if let Some(ip) = first_v4 {
            self.counters.probes += 1;
            let probe = Action::Probe { iface, ip: IpAddr::V4(ip), timeout: window, tcp_ports };
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
        self.counters.claims_blocked += 1;
        self.emit(Event::ClaimBlocked { iface, sleeper, mac, why });
        let reason = match why {
            ClaimBlocked::PingAnswered => StopReason::OwnerSeen,
            ClaimBlocked::AddressInUse { .. } => StopReason::AddressInUse,
        };
        self.stop_proxy(now, li, sleeper, reason, false);
        self.lans[li].dirty = true;
    }

    /// The earliest pending probe window or deferred retry, for `poll_timeout`.
    pub(super) fn next_claim_deadline(&self) -> Option<Instant> {
        self.lans.iter().flat_map(|l| l.pending.values().chain(l.deferred.values())).copied().min()
    }

    /// Forgets deferrals that are due, so the next election may try again.
    pub(super) fn expire_deferrals(&mut self, now: Instant, li: usize) {
        let lan = &mut self.lans[li];
        let before = lan.deferred.len();
        lan.deferred.retain(|_, at| *at > now);
        if lan.deferred.len() != before {
            lan.dirty = true;
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
        let (iface, term) = (lan.cfg.id, lan.term);
        let msg = Message::ProxyClaim(ProxyClaim { sleeper: id, sleeper_mac: mac, term });
        self.send(now, li, Destination::Broadcast, &msg);
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
}
