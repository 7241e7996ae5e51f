//! The two promises, checked against the simulator's own knowledge of which host is awake.
//!
//! The simulator knows the truth (which hosts are up, which datagrams were genuine), the nodes
//! only their views. With checks enabled ([`Sim::enable_checks`]), after every event:
//!
//! - **Never impersonate a heard owner.** No node answers for an address whose owner is awake,
//!   its daemon running, and whose genuine signed message that node accepted since the owner
//!   came up and its daemon last started — unless the owner answers no probe (echo dropped, no open port) and none of its
//!   messages reached that node for `suspect_after`: such a host cannot be told from a sleeper
//!   by any means, and is the documented limit.
//! - **Never claim a live host.** When a node claims a sleeper, no address it starts to answer
//!   for belongs to a host that was up for the whole probe window before the claim (a host
//!   that is up answers its probe, ICMP or TCP; one that listens on no port and drops echo
//!   cannot be told from a sleeper, and is not held to this).
//!
//! Both are about addresses, not node ids: a key holder can make a node believe anything of
//! an id (a SleepNotice in one node's name carrying another's addresses), and what harms a
//! host is someone else answering for its address.
//! - **One proxy.** Once the network has been quiet ([`Sim::quiet_from_now`]) for one
//!   heartbeat interval and two probe windows (three intervals after a node was deafened, the
//!   time it needs to notice), no sleeper is answered for by two nodes for longer than
//!   [`DUAL_GRACE`] (the time a claim takes to reach the other node).
//!
//! - **Timers move on.** After a node handled its timeout, its next deadline lies in the
//!   future (a deadline that does not move makes the daemon spin).
//!
//! [`Sim::liveness_violations`] checks the third promise at a moment of the caller's choosing:
//! every sleeper some awake node knows of is answered for by exactly one node, while an awake,
//! proxy-capable node that hears its LAN exists.

use std::net::IpAddr;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::{HostState, IFACE, Sim};
use crate::core::addr::NodeId;
use crate::core::time::Instant;

/// How long two nodes may both answer for one sleeper in a quiet network: one claim crossing
/// the LAN, with the simulator's latency and jitter.
pub const DUAL_GRACE: Duration = Duration::from_millis(50);

/// A broken promise, with when it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Simulated time.
    pub at: Duration,
    /// What happened, naming the hosts by index.
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {:?}: {}", self.at, self.what)
    }
}

/// What the checks remember.
#[derive(Debug, Default)]
pub(super) struct Checks {
    /// `(receiver, sender)` → when the receiver last accepted a genuine datagram of the sender.
    heard: FxHashMap<(usize, usize), Instant>,
    /// Which host each node id belongs to.
    by_id: FxHashMap<NodeId, usize>,
    violations: Vec<Violation>,
    /// From when the one-proxy check applies: the network is quiet (no loss, no injections,
    /// no host changes) and has had time to settle.
    settled_from: Option<Instant>,
    /// Genuine datagrams recently sent, for replays: `(sender host, source, bytes)`.
    pub(super) recent: Vec<(usize, std::net::SocketAddr, Vec<u8>)>,
}

/// How many recent genuine datagrams are kept for replays.
const RECENT: usize = 64;

impl Sim {
    /// Checks the promises after every event from now on.
    pub fn enable_checks(&mut self) {
        let by_id = self.hosts.iter().enumerate().map(|(i, h)| (h.cfg.id, i)).collect();
        self.checks = Some(Checks { by_id, ..Checks::default() });
    }

    /// The promises broken so far (checks must be enabled).
    pub fn violations(&self) -> &[Violation] {
        self.checks.as_ref().map_or(&[], |c| &c.violations)
    }

    /// Declares the network quiet from now on: the caller injects no more faults. The one-proxy
    /// check starts one heartbeat interval and two probe windows later — or, if a node was
    /// made unable to hear its peers at `deafened` (a firewall, a clock stepped out of the
    /// replay window), one interval and two probe windows after that node could notice
    /// (`hearing::DEAF_AFTER` intervals): until it does, it answers for what it held.
    pub fn quiet_from_now(&mut self, deafened: Option<Instant>) {
        let probe = self.hosts[0].cfg.liveness.probe_timeout;
        let h = self.cfg.heartbeat;
        let quiet = self.now + h + probe * 2;
        let noticed = deafened.map(|t| t + h * (crate::core::node::DEAF_AFTER + 1) + probe * 2);
        if let Some(c) = &mut self.checks {
            c.settled_from = Some(noticed.map_or(quiet, |n| n.max(quiet)));
        }
    }

    /// Genuine datagrams sent recently: `(sender host, its address, bytes)`.
    pub fn recent_datagrams(&self) -> &[(usize, std::net::SocketAddr, Vec<u8>)] {
        self.checks.as_ref().map_or(&[], |c| &c.recent)
    }

    pub(super) fn note_sent(&mut self, i: usize, from: std::net::SocketAddr, bytes: &[u8]) {
        if let Some(c) = &mut self.checks {
            if c.recent.len() == RECENT {
                c.recent.remove(0);
            }
            c.recent.push((i, from, bytes.to_vec()));
        }
    }

    /// Host `i`'s daemon starts afresh: what its last run heard, it does not know; and what
    /// its peers heard of its last run says nothing of this one (until they hear it, they
    /// cannot know it runs again).
    pub(super) fn forget_daemon_run(&mut self, i: usize) {
        if let Some(c) = &mut self.checks {
            c.heard.retain(|(to, from), _| *to != i && *from != i);
        }
    }

    pub(super) fn note_accepted(&mut self, to: usize, origin: Option<usize>) {
        let now = self.now;
        if let (Some(c), Some(from)) = (&mut self.checks, origin) {
            c.heard.insert((to, from), now);
        }
    }

    fn violate(&mut self, what: String) {
        let at = self.now.since_origin();
        if let Some(c) = &mut self.checks {
            if c.violations.len() < 16 {
                c.violations.push(Violation { at, what });
            }
        }
    }

    /// Whether host `s` is up and answers a liveness probe (echo, or TCP to a port it listens
    /// on), from what some node could know of its ports.
    fn answers_probes(&self, s: usize) -> bool {
        let h = &self.hosts[s];
        matches!(h.state, HostState::Up | HostState::DaemonDead)
            && (!h.echo_blocked || !h.tcp_ports.is_empty())
    }

    /// Whether host `p`'s probe before claiming `sleeper` would be answered by host `s`, which
    /// owns one of its addresses: echo, or a port `p` tries that `s` listens on. (A node that
    /// never heard `s`'s own heartbeat may know only ports a key holder made up.)
    fn answers_probe_of(&self, p: usize, sleeper: &NodeId, s: usize) -> bool {
        let h = &self.hosts[s];
        let tried = self.hosts[p].node.probe_ports_of(IFACE, sleeper);
        matches!(h.state, HostState::Up | HostState::DaemonDead)
            && (!h.echo_blocked || tried.iter().any(|t| h.tcp_ports.contains(t)))
    }

    /// The host that owns `ip`, if any.
    fn owner_of(&self, ip: IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(v4) => self.by_ip.get(&v4).copied(),
            IpAddr::V6(v6) => self.hosts.iter().position(|h| super::host::link_local(h.mac) == v6),
        }
    }

    pub(super) fn check_after_event(&mut self) {
        let now = self.now;
        let mut found = Vec::new();
        let Some(checks) = &self.checks else { return };
        let suspect_after = self.hosts[0].cfg.liveness.suspect_after;
        for (p, host) in self.hosts.iter().enumerate() {
            if host.state != HostState::Up {
                continue;
            }
            for (_, addrs) in host.node.answered_addresses(IFACE) {
                for ip in addrs {
                    let Some(s) = self.owner_of(ip).filter(|&s| s != p) else { continue };
                    let owner = &self.hosts[s];
                    let Some(up) = owner.up_since else { continue };
                    let last = checks.heard.get(&(p, s)).copied().filter(|t| *t >= up);
                    // Heard: its daemon runs and this node accepted one of its messages since it
                    // came up and the daemon started. (An owner whose daemon died is no longer heard; the claim check
                    // below keeps it from being claimed while it answers probes.) An owner that
                    // answers no probe and whose messages stopped reaching this node for
                    // `suspect_after` cannot be told from a sleeper by anyone: exempt.
                    let lately = last.is_some_and(|t| now.saturating_since(t) < suspect_after);
                    let knowable = self.answers_probes(s) || lately;
                    if last.is_some() && knowable && owner.state == HostState::Up {
                        found.push(format!(
                            "host {p} answers for {ip} of host {s}, which is awake (up since \
                             {up:?}) and which it heard since"
                        ));
                    }
                }
            }
        }
        if checks.settled_from.is_some_and(|q| now >= q) {
            for (sleeper, (since, partitioned)) in &self.dual_proxy_since {
                if !partitioned && now.saturating_since(*since) > DUAL_GRACE {
                    let s = checks.by_id.get(sleeper).copied();
                    found.push(format!(
                        "host {s:?} has had two proxies for {:?} in a quiet network: {:?}",
                        now.saturating_since(*since),
                        self.proxies_of(sleeper)
                    ));
                }
            }
        }
        for f in found {
            self.violate(f);
        }
    }

    /// Host `i` just handled its timeout: its next deadline must lie after now, or its driver
    /// would spin.
    pub(super) fn check_timer_advanced(&mut self, i: usize) {
        if let Some(t) = self.hosts[i].node.poll_timeout() {
            if t <= self.now {
                self.violate(format!("host {i} asks to be woken at {t:?} again after its timeout"));
            }
        }
    }

    /// Host `p` just claimed `sleeper`.
    pub(super) fn check_claim(&mut self, p: usize, sleeper: NodeId) {
        let probe = self.hosts[p].cfg.liveness.probe_timeout;
        let addrs = self.hosts[p].node.answered_addresses(IFACE);
        let Some((_, addrs)) = addrs.into_iter().find(|(id, _)| *id == sleeper) else { return };
        for ip in addrs {
            let Some(s) = self.owner_of(ip).filter(|&s| s != p) else { continue };
            let up = self.hosts[s].up_since;
            let up_long = up.is_some_and(|u| self.now.saturating_since(u) >= probe);
            if up_long && self.answers_probe_of(p, &sleeper, s) && self.reachable(p, s) {
                self.violate(format!(
                    "host {p} claimed {ip} of host {s}, which has been up since {up:?}"
                ));
            }
        }
    }

    /// The third promise, now: every host that sleeps and that some node hearing its LAN
    /// believes asleep is answered for by exactly one node, on every subnet that has an awake
    /// node hearing its LAN. Nodes that cannot hear (deaf, or a clock outside the window) are
    /// no proxies.
    pub fn liveness_violations(&self) -> Vec<Violation> {
        let at = self.now.since_origin();
        let mut out = Vec::new();
        let hearing = |i: usize| {
            let h = &self.hosts[i];
            h.state == HostState::Up
                && !h.node.is_asleep()
                && h.node.status(self.now).ifaces.iter().all(|f| f.deaf.is_none())
        };
        for (s, host) in self.hosts.iter().enumerate() {
            if host.state != HostState::Asleep {
                continue;
            }
            let subnet = &self.subnet_hosts[host.subnet];
            let proxies: Vec<usize> = subnet.iter().copied().filter(|&i| hearing(i)).collect();
            // Believed asleep as the host it is: under its own MAC. (A key holder can make a
            // node believe anything of an id, also that its MAC and addresses are another
            // host's; what is then answered for is that other host's, never this one's.)
            let known = proxies.iter().any(|&i| {
                let st = self.hosts[i].node.status(self.now);
                st.ifaces.iter().any(|f| {
                    f.peers.iter().any(|p| {
                        p.id == host.cfg.id
                            && p.mac == host.mac
                            && p.state == crate::core::peers::PeerState::Asleep
                    })
                })
            });
            if proxies.is_empty() || !known {
                continue;
            }
            let answering: Vec<usize> = subnet
                .iter()
                .copied()
                .filter(|&i| {
                    self.hosts[i].state == HostState::Up
                        && self.hosts[i].node.proxied(IFACE).contains(&host.cfg.id)
                })
                .collect();
            if answering.len() != 1 {
                let views: Vec<String> = proxies
                    .iter()
                    .map(|&i| {
                        let st = self.hosts[i].node.status(self.now);
                        let v = st.ifaces[0].peers.iter().find(|p| p.id == host.cfg.id);
                        let v =
                            v.map(|p| format!("{} {:?} by {:?}", p.state, p.reason, p.proxied_by));
                        format!("host {i}: {}", v.unwrap_or_else(|| "unknown".into()))
                    })
                    .collect();
                out.push(Violation {
                    at,
                    what: format!(
                        "sleeping host {s} is answered for by {answering:?}; views: {}",
                        views.join("; ")
                    ),
                });
            }
        }
        out
    }
}
