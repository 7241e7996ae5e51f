//! The virtual network: loss and latency, partitions, and what the nodes' actions put on it
//! (datagrams to a subnet or routed, frames to every capture of a subnet, magic packets that
//! wake a NIC, probes that a host answers); and what tests inject into it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::rand_core::RngCore;

use super::events::Sent;
use super::fleet::Routed;
use super::host::link_local;
use super::{Ev, HostState, Sim, addressing};
use crate::core::addr::MacAddr;
use crate::core::node::{Action, Destination};

impl Sim {
    fn lost(&mut self) -> bool {
        self.cfg.loss > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < self.cfg.loss
    }

    fn delay(&mut self) -> Duration {
        let j = self.cfg.jitter.as_micros() as u64;
        self.cfg.latency + Duration::from_micros(if j == 0 { 0 } else { self.rng.next_u64() % j })
    }

    pub(super) fn reachable(&self, from: usize, to: usize) -> bool {
        from != to && self.hosts[from].group == self.hosts[to].group
    }

    /// Executes what host `i`'s node asked for.
    pub(super) fn drain(&mut self, i: usize) {
        while let Some(action) = self.hosts[i].node.poll_action() {
            let mute = self.hosts[i].mute;
            match action {
                Action::SendDatagram { dst, bytes, .. } => {
                    self.sent += 1;
                    if mute {
                        continue;
                    }
                    let from = SocketAddr::new(
                        IpAddr::V4(self.hosts[i].ip),
                        crate::core::proto::DEFAULT_PEER_PORT,
                    );
                    let targets: Vec<usize> = match dst {
                        Destination::Broadcast => self.subnet_hosts[self.hosts[i].subnet].clone(),
                        Destination::Unicast(IpAddr::V4(ip)) => {
                            self.by_ip.get(&ip).copied().into_iter().collect()
                        }
                        Destination::Routed(SocketAddr::V4(a)) => {
                            match addressing::subnet_of(*a.ip()) {
                                // A subnet of the network that another part of a fleet holds:
                                // the fleet hands it over (`Fleet::route`).
                                Some(s)
                                    if s < self.cfg.subnets && self.subnet_hosts[s].is_empty() =>
                                {
                                    let sent = Sent { from, bytes: bytes.clone(), origin: None };
                                    self.outbox.push(Routed {
                                        sent_at: self.now,
                                        subnet: s,
                                        dst: *a.ip(),
                                        sent: Arc::new(sent),
                                        group: self.hosts[i].group,
                                    });
                                    Vec::new()
                                }
                                Some(s)
                                    if s < self.cfg.subnets
                                        && *a.ip() == addressing::broadcast_ip(s) =>
                                {
                                    self.subnet_hosts[s].clone()
                                }
                                _ => self.by_ip.get(a.ip()).copied().into_iter().collect(),
                            }
                        }
                        _ => Vec::new(),
                    };
                    self.note_sent(i, from, &bytes);
                    let sent = Arc::new(Sent { from, bytes, origin: Some(i) });
                    for to in targets {
                        // A broadcast comes back to its sender's own socket, as on Linux; that
                        // echo is how a node knows it hears its LAN.
                        let echo = to == i && dst == Destination::Broadcast;
                        if echo || self.reachable(i, to) && !self.lost() {
                            let at = self.now + self.delay();
                            self.push(at, Ev::Datagram { to: to as u32, sent: sent.clone() });
                        }
                    }
                }
                Action::SendFrame { frame, .. } => {
                    if !mute {
                        self.broadcast_frame(i, frame.as_slice().into());
                    }
                }
                Action::SendMagicPacket { packet, .. } => {
                    if mute {
                        continue;
                    }
                    self.report.wakes_sent += 1;
                    let mut buf = [0u8; 128];
                    let n = packet.write_ethernet_frame(
                        self.hosts[i].mac,
                        MacAddr::BROADCAST,
                        &mut buf,
                    );
                    self.broadcast_frame(i, buf[..n].into());
                    let subnet = self.hosts[i].subnet;
                    for k in 0..self.subnet_hosts[subnet].len() {
                        let t = self.subnet_hosts[subnet][k];
                        let h = &self.hosts[t];
                        if h.mac == packet.target
                            && h.state == HostState::Asleep
                            && h.resume_at.is_none()
                            && self.reachable(i, t)
                            && !self.lost()
                        {
                            let at = self.now + self.cfg.resume_delay;
                            self.hosts[t].resume_at = Some(at);
                            self.report.hosts_woken += 1;
                            self.push(at, Ev::Resume { to: t as u32 });
                        }
                    }
                }
                Action::Probe { ip, timeout, tcp_ports, .. } => {
                    let target = match ip {
                        IpAddr::V4(v4) => self.by_ip.get(&v4).copied(),
                        IpAddr::V6(v6) => self.hosts.iter().position(|h| link_local(h.mac) == v6),
                    };
                    // An awake host answers the echo, unless its firewall drops echo requests;
                    // then only a TCP connection to a port it listens on (SYN-ACK) tells.
                    let answers = target.is_some_and(|t| {
                        let h = &self.hosts[t];
                        matches!(h.state, HostState::Up | HostState::DaemonDead)
                            && self.reachable(i, t)
                            && (!h.echo_blocked
                                || tcp_ports.iter().any(|p| h.tcp_ports.contains(p)))
                    });
                    // Three echo requests; each needs both directions to get through (unless
                    // probes are taken as truthful: see `set_truthful_probes`).
                    let got = answers
                        && (self.truthful_probes || (0..3).any(|_| !self.lost() && !self.lost()));
                    let (at, rtt) = if got {
                        let rtt = self.delay() + self.delay();
                        (self.now + rtt, Some(rtt))
                    } else {
                        (self.now + timeout, None)
                    };
                    if let Some(t) = &mut self.trace {
                        t.push(format!("{:?} host {i}: probe {ip} answered: {got}", self.now));
                    }
                    self.push(at, Ev::Probe { to: i as u32, answer: Box::new((ip, rtt)) });
                }
                Action::InhibitSleep(on) => self.hosts[i].inhibits_sleep = on,
                Action::Event(e) => self.track(i, e),
            }
        }
        self.reschedule(i);
    }

    fn broadcast_frame(&mut self, from: usize, bytes: Arc<[u8]>) {
        let subnet = self.hosts[from].subnet;
        for k in 0..self.subnet_hosts[subnet].len() {
            let to = self.subnet_hosts[subnet][k];
            if self.reachable(from, to) && !self.lost() {
                let at = self.now + self.delay();
                self.push(at, Ev::Frame { to: to as u32, bytes: bytes.clone() });
            }
        }
    }

    /// A datagram another part of a fleet routed to this one arrives at the router of its
    /// subnet: to every host of the subnet (a directed broadcast) or to one, each copy lost and
    /// delayed like any packet, never before now.
    pub(super) fn deliver_routed(&mut self, r: Routed) {
        let targets: Vec<usize> = if r.dst == addressing::broadcast_ip(r.subnet) {
            self.subnet_hosts[r.subnet].clone()
        } else {
            self.by_ip.get(&r.dst).copied().into_iter().collect()
        };
        for to in targets {
            if self.hosts[to].group == r.group && !self.lost() {
                let at = (r.sent_at + self.delay()).max(self.now);
                self.push(at, Ev::Datagram { to: to as u32, sent: r.sent.clone() });
            }
        }
    }

    /// What this part routed to other parts of its fleet since it was last asked.
    pub(super) fn take_outbox(&mut self) -> Vec<Routed> {
        std::mem::take(&mut self.outbox)
    }

    /// A host on the same subnet as sleeper `i` opens a TCP connection to `port` on it: the SYN
    /// reaches every node's capture path on the subnet.
    pub fn connect(&mut self, i: usize, port: u16) {
        let subnet = self.hosts[i].subnet;
        let Some(&caller) = self.subnet_hosts[subnet]
            .iter()
            .find(|&&c| c != i && self.hosts[c].state == HostState::Up)
        else {
            return;
        };
        let f = crate::core::frame::tcp_syn(
            self.hosts[caller].mac,
            MacAddr::BROADCAST,
            self.hosts[caller].ip,
            self.hosts[i].ip,
            50_000,
            port,
        );
        self.broadcast_frame(caller, f.as_slice().into());
    }

    /// Puts a raw frame on subnet `s` as if a station there had sent it (tests: a hostile or
    /// confused station): every node's capture sees it.
    pub fn inject_frame(&mut self, s: usize, bytes: &[u8]) {
        let bytes: Arc<[u8]> = bytes.into();
        for k in 0..self.subnet_hosts[s].len() {
            let to = self.subnet_hosts[s][k];
            let at = self.now + self.delay();
            self.push(at, Ev::Frame { to: to as u32, bytes: bytes.clone() });
        }
    }

    /// Hands a raw datagram to host `to` as if `from` had sent it (tests: forgeries, replays).
    pub fn inject_datagram(&mut self, to: usize, from: SocketAddr, bytes: &[u8]) {
        let at = self.now;
        let sent = Arc::new(Sent { from, bytes: bytes.to_vec(), origin: None });
        self.push(at, Ev::Datagram { to: to as u32, sent });
    }

    /// Splits the network: hosts in `side` can only reach each other.
    pub fn partition(&mut self, side: &[usize]) {
        for &i in side {
            self.hosts[i].group = 1;
        }
        self.partitioned = true;
    }

    /// A partition is in force elsewhere in the fleet (two managers or proxies are then
    /// counted apart, as in one network).
    pub(super) fn set_partitioned(&mut self, on: bool) {
        self.partitioned = on;
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        for h in &mut self.hosts {
            h.group = 0;
        }
        self.partitioned = false;
    }

    /// Sets the probability that any one packet is lost from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.cfg.loss = loss.clamp(0.0, 0.99);
    }

    /// Probes tell the truth from now on: a probe of a host that is up and reachable always
    /// answers, whatever the loss. This is the driver's contract with the core (its probe
    /// retries within the window); without it, a lossy network can make an awake host look
    /// asleep to any prober, which the property tests measure separately.
    pub fn set_truthful_probes(&mut self, on: bool) {
        self.truthful_probes = on;
    }
}
