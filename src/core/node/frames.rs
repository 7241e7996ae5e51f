//! Frames in: what the capture backend, the Wake-on-LAN port and the prober hand the node.

use std::net::IpAddr;
use std::time::Duration;

use super::claim::ClaimBlocked;
use super::intake::host_has_addr;
use super::{Action, IfaceId, Node, StopReason, WakeCause};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::frame::{self, Classified, FromSleeperKind, NaFlags};
use crate::core::peers::PeerState;
use crate::core::time::Instant;
use crate::core::wol;

/// How many MACs a LAN remembers having seen magic packets for (anyone can send them): only
/// targets of this node's wakes and known peers are remembered at all, and at most this many.
const MAX_WAKE_SEEN: usize = 1024;

impl Node {
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
                // The node this one hands the sleeper over to probes it before claiming: its
                // SYN is no caller's.
                let lan = &self.lans[li];
                let from_successor = lan.handing_over.get(&sleeper).is_some_and(|to| {
                    lan.peers.get(to).is_some_and(|p| host_has_addr(&p.host, src))
                });
                if from_successor {
                    self.counters.probe_syns += 1;
                } else if wake && !self.is_pending(li, &sleeper) {
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
            Classified::AddressInUse { by, .. } if by == self.lans[li].cfg.mac => {
                // The address is said to be at this node's own MAC: a proxy yielding the sleeper
                // to this node points the caches here. Nobody else uses it.
            }
            Classified::AddressInUse { sleeper, addr, by } => {
                self.counters.address_conflicts += 1;
                if !self.is_other_proxy(li, &sleeper, addr, by) {
                    // The answer to our probe, or a conflict while claimed: someone else uses
                    // the address. Never race a live owner: stand down.
                    self.block_claim(now, li, sleeper, ClaimBlocked::AddressInUse { addr, by });
                    self.after_input(now);
                } else if !self.is_pending(li, &sleeper) {
                    // Another proxy answers for the same sleeper: the claims settle who keeps it.
                    self.reclaim(now, li, sleeper);
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

    /// Whether the station with MAC `by`, using `addr` of `sleeper`, is another wakeproxy
    /// proxy answering for that sleeper: an awake, proxy-capable peer, answering with its own
    /// MAC, for an address it does not announce as its own. Anyone else (a stranger, a peer
    /// long gone, a peer that now owns the address itself) is an owner to stand down for.
    fn is_other_proxy(&self, li: usize, sleeper: &NodeId, addr: IpAddr, by: MacAddr) -> bool {
        let lan = &self.lans[li];
        lan.peers.by_mac(by).is_some_and(|p| {
            p.id != *sleeper
                && p.is_candidate()
                && p.caps.can_proxy()
                && !host_has_addr(&p.host, addr)
        })
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

    pub(super) fn magic_seen(&mut self, now: Instant, li: usize, target: MacAddr) {
        self.counters.magic_seen += 1;
        // Only what could suppress one of our wakes is worth remembering; anyone can send magic
        // packets for made-up MACs.
        let iface = self.lans[li].cfg.id;
        let relevant = self.wakes.iter().any(|w| w.mac == target && w.iface == iface)
            || self.lans[li].peers.by_mac(target).is_some();
        let lan = &mut self.lans[li];
        if relevant && (lan.wake_seen.len() < MAX_WAKE_SEEN || lan.wake_seen.contains_key(&target))
        {
            lan.wake_seen.insert(target, now);
        }
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
        // Every peer that announces the address hears the answer: two may (DHCP reuse, a
        // key holder's forgery), and an answer must never be credited to the wrong one only.
        let ids: Vec<NodeId> = self.lans[li]
            .peers
            .iter()
            .filter(|p| host_has_addr(&p.host, ip))
            .map(|p| p.id)
            .collect();
        for id in ids {
            self.probe_answered(now, li, id, rtt);
        }
        self.after_input(now);
    }

    fn probe_answered(&mut self, now: Instant, li: usize, id: NodeId, rtt: Option<Duration>) {
        let lan = &mut self.lans[li];
        if lan.calibrating.remove(&id).is_some() {
            // Silence from a host that speaks: it drops probes. Only then is it evidence.
            let heard = lan.peers.get(&id).is_some_and(|p| p.state == PeerState::Awake);
            if rtt.is_some() || heard {
                lan.peers.on_calibration(id, rtt.is_some());
            }
        } else if rtt.is_some() {
            lan.peers.on_calibration(id, true);
        }
        if self.is_pending(li, &id) {
            // The probe before a claim: an answer means the host is still up.
            if rtt.is_some() {
                self.block_claim(now, li, id, ClaimBlocked::PingAnswered);
            }
            return;
        }
        let proxiable = |n: &Self| n.lans[li].peers.get(&id).map(|p| p.is_proxiable());
        let before = proxiable(self);
        let t = self.lans[li].peers.on_probe_result(now, id, rtt);
        // A sleeper whose owner was seen becomes proxiable again without a state change.
        self.lans[li].dirty |= t.is_some() || proxiable(self) != before;
        let iface = self.lans[li].cfg.id;
        self.transition_event(iface, t);
    }
}
