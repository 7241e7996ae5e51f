//! A snapshot of a node for `wakeproxy status`, logs and tests.

use std::time::Duration;

use super::wake::WakeJob;
use super::{Deafness, Node, ProxyMode, WakeCause, WakeLatencies};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::node::config::IfaceId;
use crate::core::node::lan::ProxyStats;
use crate::core::peers::{PeerState, Probe, Reason};
use crate::core::proto::{Ipv4Prefix, Ipv6Prefix, Role};
use crate::core::time::Instant;

/// What a node has counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Datagrams received on the peer port.
    pub datagrams: u64,
    /// Datagrams accepted (authentic, fresh, not our own).
    pub accepted: u64,
    /// Datagrams that are not a well-formed wakeproxy message.
    pub malformed: u64,
    /// Datagrams whose tag did not verify (wrong key, altered, forged).
    pub unauthenticated: u64,
    /// Datagrams of an unsupported protocol version.
    pub version_mismatch: u64,
    /// Authentic messages of a kind this version does not know (skipped).
    pub unknown_kind: u64,
    /// Authentic messages seen before (same sender and sequence).
    pub replayed: u64,
    /// Authentic messages whose timestamp is outside the replay window.
    pub stale: u64,
    /// Our own broadcasts heard back.
    pub own_echo: u64,
    /// Authentic messages carrying our id that we did not send.
    pub impersonated: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Messages that could not be encoded (too large).
    pub encode_errors: u64,
    /// Frames handed in by the capture backend.
    pub frames: u64,
    /// Truncated or inconsistent frames.
    pub frames_malformed: u64,
    /// ARP requests answered for sleepers.
    pub arp_answered: u64,
    /// Neighbour solicitations answered for sleepers.
    pub ns_answered: u64,
    /// TCP SYNs to sleepers seen.
    pub syns_seen: u64,
    /// ARP replies / advertisements from a sleeper's MAC (power offload, ignored).
    pub offload_frames: u64,
    /// Frames in which another station used a sleeper's address.
    pub address_conflicts: u64,
    /// Claims a probe blocked (the owner answered, or the address was in use).
    #[serde(default)]
    pub claims_blocked: u64,
    /// Magic packets seen on the wire.
    pub magic_seen: u64,
    /// ICMP probes asked for.
    pub probes: u64,
    /// Magic packets sent.
    pub wakes_sent: u64,
    /// Wakes not sent because one for the same MAC was already in flight or seen.
    pub wakes_deduplicated: u64,
    /// SYNs replayed to woken sleepers.
    #[serde(default)]
    pub syns_replayed: u64,
    /// WakeRequests received.
    pub wake_requests: u64,
    /// Sleepers this node started answering for.
    pub proxy_started: u64,
    /// Sleepers this node stopped answering for.
    pub proxy_stopped: u64,
    /// Authentic messages whose source is not on the receiving interface's link, or not an
    /// address their sender announces (relayed from another subnet).
    #[serde(default)]
    pub off_link: u64,
    /// Authentic messages with a sequence number beyond any clock (forged).
    #[serde(default)]
    pub seq_ahead: u64,
    /// Authentic messages from new senders refused because the replay window is full.
    #[serde(default)]
    pub too_many_senders: u64,
    /// Authentic messages from new senders refused because the peer table is full.
    #[serde(default)]
    pub peer_table_full: u64,
    /// Nodes passed over for a sleeper because they did not claim it in time.
    #[serde(default)]
    pub claims_missing: u64,
    /// Sleepers this node handed over to their new proxy after it claimed them.
    #[serde(default)]
    pub handovers: u64,
    /// Wakes not started because too many are in flight.
    #[serde(default)]
    pub wakes_refused: u64,
    /// Authentic messages sent before their sender's last sleep or resume notice that arrived
    /// after it (reordered), dropped so they cannot undo it.
    #[serde(default)]
    pub reordered: u64,
    /// SYNs to a sleeper being handed over, from the node it is handed to (its liveness
    /// probe): no wake.
    #[serde(default)]
    pub probe_syns: u64,
    /// Messages accepted that were signed with the key this node accepts but does not sign
    /// with: during a key rollover, peers still one phase behind or ahead.
    #[serde(default)]
    pub accepted_other_key: u64,
    /// Wakes whose target answered (it sent a signed message).
    #[serde(default)]
    pub wakes_confirmed: u64,
    /// Wakes given up: every attempt sent, the target never answered.
    #[serde(default)]
    pub wakes_given_up: u64,
    /// Sleep time this node enabled: microseconds its sleepers slept while it answered for
    /// them, summed over sleepers (in a status, the periods still running count too).
    #[serde(default)]
    pub sleep_enabled_us: u64,
}

/// One peer, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerStatus {
    /// Its id.
    pub id: NodeId,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Prefix>,
    /// Its liveness state.
    pub state: PeerState,
    /// Why.
    pub reason: Reason,
    /// How long since it was last heard.
    pub last_heard_ago: Duration,
    /// How long it has been in its state.
    pub state_for: Duration,
    /// Round-trip time of its last answered probe.
    pub rtt: Option<Duration>,
    /// Its probe, while Suspect.
    pub probe: Probe,
    /// The role it announced.
    pub role: Role,
    /// Which node answers for it, if it sleeps.
    pub proxied_by: Option<NodeId>,
    /// The TCP ports it listens on.
    pub tcp_ports: Vec<u16>,
    /// How far its clock is ahead of this node's (negative: behind), in milliseconds, as of
    /// its last signed message (network delay included).
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
}

/// One sleeper this node answers for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxiedStatus {
    /// The sleeper.
    pub id: NodeId,
    /// Its MAC.
    pub mac: MacAddr,
    /// How this node answers for it.
    pub mode: ProxyMode,
    /// How long this node has answered for it.
    pub since_ago: Duration,
    /// What this node did for it.
    #[serde(flatten)]
    pub stats: ProxyStats,
    /// The node it is being handed over to: the election now names that node, and this one
    /// keeps answering until it claims (make before break).
    #[serde(default)]
    pub handing_over_to: Option<NodeId>,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IfaceStatus {
    /// The driver's id.
    pub id: IfaceId,
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Prefix>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<Ipv6Prefix>,
    /// This node's role here.
    pub role: Role,
    /// The election term here.
    pub term: u64,
    /// The manager here.
    pub manager: Option<NodeId>,
    /// The guardians here, best first.
    pub guardians: Vec<NodeId>,
    /// Every peer heard here, sorted by id.
    pub peers: Vec<PeerStatus>,
    /// The sleepers this node answers for here.
    pub proxied: Vec<ProxiedStatus>,
    /// Why this node cannot hear its peers here, if it cannot (it then takes no role and
    /// answers for nobody here).
    #[serde(default)]
    pub deaf: Option<Deafness>,
}

/// A wake, finished or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WakeRecord {
    /// The target.
    pub mac: MacAddr,
    /// Why.
    pub cause: WakeCause,
    /// How many packets were sent.
    pub attempts: u32,
    /// From the cause to the first magic packet.
    pub to_packet: Option<Duration>,
    /// From the cause to the target's first signed message; `None` if it never answered.
    pub to_awake: Option<Duration>,
    /// The callers' SYNs sent on to the woken target.
    #[serde(default)]
    pub syns_replayed: u32,
}

impl WakeRecord {
    pub(crate) fn confirmed(job: &WakeJob, to_packet: Duration, to_awake: Duration) -> Self {
        Self {
            mac: job.mac,
            cause: job.cause,
            attempts: job.attempts,
            to_packet: Some(to_packet),
            to_awake: Some(to_awake),
            syns_replayed: job.held.len() as u32,
        }
    }

    pub(crate) fn gave_up(job: &WakeJob, _now: Instant) -> Self {
        let to_packet = job.first_sent.map(|f| f.saturating_since(job.started));
        Self {
            mac: job.mac,
            cause: job.cause,
            attempts: job.attempts,
            to_packet,
            to_awake: None,
            syns_replayed: 0,
        }
    }
}

/// Everything `wakeproxy status` shows about a node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// The node's id.
    pub id: NodeId,
    /// The node announced its sleep and has not resumed.
    pub asleep: bool,
    /// The node is still in its startup (or resume) grace period: listening only.
    pub listening: bool,
    /// The node holds the OS's sleep (it is a guardian somewhere).
    pub inhibiting_sleep: bool,
    /// How this node answers for sleepers.
    pub proxy_mode: ProxyMode,
    /// This node can answer for sleepers.
    pub can_proxy: bool,
    /// The interfaces.
    pub ifaces: Vec<IfaceStatus>,
    /// Counters.
    pub counters: Counters,
    /// Wakes in flight: (target, attempts so far).
    pub wakes_in_flight: Vec<(MacAddr, u32)>,
    /// The last wakes, oldest first.
    pub recent_wakes: Vec<WakeRecord>,
    /// Every wake's latencies since the node started.
    #[serde(default)]
    pub wake_latency: WakeLatencies,
}

impl Node {
    /// A snapshot of everything this node knows, for `status`.
    pub fn status(&self, now: Instant) -> Status {
        let ifaces = self
            .lans
            .iter()
            .map(|lan| {
                let mut peers: Vec<PeerStatus> = lan
                    .peers
                    .iter()
                    .map(|p| PeerStatus {
                        id: p.id,
                        mac: p.host.mac,
                        ipv4: p.host.ipv4.clone(),
                        state: p.state,
                        reason: p.reason,
                        last_heard_ago: now.saturating_since(p.last_heard),
                        state_for: p.state_for(now),
                        rtt: p.rtt,
                        probe: p.probe,
                        role: p.role,
                        proxied_by: lan.outcome.proxy_of(&p.id),
                        tcp_ports: p.host.tcp_ports.clone(),
                        clock_offset_ms: p.clock_offset_ms,
                    })
                    .collect();
                peers.sort_by_key(|p| p.id);
                let mut proxied: Vec<ProxiedStatus> = lan
                    .proxied
                    .iter()
                    .filter_map(|s| {
                        let stats = *lan.stats.get(&s.id)?;
                        Some(ProxiedStatus {
                            id: s.id,
                            mac: s.mac,
                            mode: self.cfg.proxy_mode,
                            since_ago: now.saturating_since(stats.since),
                            stats,
                            handing_over_to: lan.handing_over.get(&s.id).copied(),
                        })
                    })
                    .collect();
                proxied.sort_by_key(|p| p.id);
                IfaceStatus {
                    id: lan.cfg.id,
                    name: lan.cfg.name.clone(),
                    mac: lan.cfg.mac,
                    ipv4: lan.cfg.ipv4.clone(),
                    ipv6: lan.cfg.ipv6.clone(),
                    role: lan.role,
                    term: lan.term,
                    manager: lan.outcome.manager,
                    guardians: lan.outcome.guardians.clone(),
                    peers,
                    proxied,
                    deaf: lan.hearing.deaf,
                }
            })
            .collect();
        Status {
            id: self.cfg.id,
            asleep: self.asleep,
            listening: !self.grace_done,
            inhibiting_sleep: self.inhibiting,
            proxy_mode: self.cfg.proxy_mode,
            can_proxy: self.cfg.can_proxy,
            ifaces,
            counters: Counters {
                sleep_enabled_us: self
                    .counters
                    .sleep_enabled_us
                    .saturating_add(self.sleep_enabled_running(now)),
                ..self.counters
            },
            wakes_in_flight: self.wakes.iter().map(|w| (w.mac, w.attempts)).collect(),
            recent_wakes: self.wake_log.iter().copied().collect(),
            wake_latency: self.latency,
        }
    }

    /// Microseconds of sleep enabled by the proxy periods still running.
    fn sleep_enabled_running(&self, now: Instant) -> u64 {
        let running = self.lans.iter().flat_map(|lan| lan.stats.values());
        running.fold(0u64, |sum, s| sum.saturating_add(micros(now.saturating_since(s.since))))
    }

    /// This node's role on `iface`.
    pub fn role(&self, iface: IfaceId) -> Option<Role> {
        self.lan_index(iface).map(|li| self.lans[li].role)
    }

    /// The manager this node sees on `iface` (`None` while it is still listening).
    pub fn manager(&self, iface: IfaceId) -> Option<NodeId> {
        self.lan_index(iface).and_then(|li| self.lans[li].outcome.manager)
    }

    /// The sleepers this node answers for on `iface`.
    pub fn proxied(&self, iface: IfaceId) -> Vec<NodeId> {
        self.lan_index(iface)
            .map(|li| {
                let lan = &self.lans[li];
                lan.proxied.iter().map(|s| s.id).filter(|id| lan.stats.contains_key(id)).collect()
            })
            .unwrap_or_default()
    }

    /// The addresses this node answers ARP / neighbour solicitations for on `iface` now (claimed
    /// sleepers only, not those still being probed), by sleeper.
    pub fn answered_addresses(&self, iface: IfaceId) -> Vec<(NodeId, Vec<std::net::IpAddr>)> {
        let Some(li) = self.lan_index(iface) else { return Vec::new() };
        let lan = &self.lans[li];
        lan.proxied
            .iter()
            .filter(|s| lan.stats.contains_key(&s.id))
            .map(|s| {
                let v4 = s.ipv4.iter().map(|a| std::net::IpAddr::V4(*a));
                (s.id, v4.chain(s.ipv6.iter().map(|a| std::net::IpAddr::V6(*a))).collect())
            })
            .collect()
    }

    /// The TCP ports a liveness probe of peer `id` on `iface` tries now.
    pub fn probe_ports_of(&self, iface: IfaceId, id: &NodeId) -> Vec<u16> {
        self.lan_index(iface)
            .and_then(|li| self.lans[li].peers.get(id))
            .map(super::probe_ports)
            .unwrap_or_default()
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
