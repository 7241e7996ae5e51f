//! A network as one part per subnet, advanced together in windows: `wakeproxy simulate`'s
//! engine, which a driver may run on threads (the simulator itself runs none).
//!
//! Subnets share nothing but the router: a datagram one subnet routes to another (a
//! WakeRequest to its broadcast address) reaches it no sooner than the network's latency after
//! it was sent. So each subnet is a [`Sim`] of its own, with its own event queue and random
//! stream (a function of the seed and the subnet only), and the fleet advances all of them to
//! the end of a window no longer than that latency, then hands over what each routed to the
//! others, in the order of the parts. Which thread ran which part, and in which order, changes
//! nothing: the same arguments give the same report, whatever runs the windows ([`Windows`]).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use super::events::Sent;
use super::{FaultRecord, Host, Report, Sim, SimConfig, SimError};
use crate::core::time::Instant;

/// A datagram routed from one part of a fleet to another, as it leaves the sender's subnet.
#[derive(Debug)]
pub(super) struct Routed {
    /// When it was sent.
    pub(super) sent_at: Instant,
    /// The subnet it is for.
    pub(super) subnet: usize,
    /// Its destination: the subnet's broadcast address or a host's.
    pub(super) dst: Ipv4Addr,
    pub(super) sent: Arc<Sent>,
    /// The partition side of its sender: a split subnet's other side does not get it.
    pub(super) group: u32,
}

/// Runs every part of a fleet up to the end of a window. The parts are independent until
/// then: a driver may run them on as many threads as it likes, in any order.
pub trait Windows {
    /// Runs each of `parts` until `until` ([`Sim::run_until`]); it must hand back the same
    /// parts in the same order. (Boxed: a driver that hands parts to other threads for each
    /// window moves eight bytes per part, not the whole simulator.)
    #[allow(clippy::vec_box)]
    fn run(&mut self, parts: &mut Vec<Box<Sim>>, until: Instant);
}

/// Runs the parts one after the other, on the caller's thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sequential;

impl Windows for Sequential {
    fn run(&mut self, parts: &mut Vec<Box<Sim>>, until: Instant) {
        for p in parts {
            p.run_until(until);
        }
    }
}

/// A simulated network, one [`Sim`] per subnet. Hosts are numbered as in a [`Sim`] of the
/// same configuration: host `i` is on subnet `i % subnets`.
pub struct Fleet {
    cfg: SimConfig,
    #[allow(clippy::vec_box)]
    parts: Vec<Box<Sim>>,
    now: Instant,
    /// The longest window: no routed datagram arrives sooner after it was sent.
    window: Duration,
    faults: Vec<FaultRecord>,
    /// Faults whose convergence is measured until the next fault.
    pending_faults: Vec<usize>,
    /// Each part's convergence as last folded in.
    converged_parts: Vec<bool>,
    /// The whole network was converged at the last sample.
    converged_now: bool,
    /// When it last became converged.
    last_converged_at: Instant,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("now", &self.now)
            .field("parts", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Builds the network, one part per subnet, and starts every node at time zero.
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        cfg.validate()?;
        let parts = (0..cfg.subnets)
            .map(|s| Sim::new_part(&cfg, s).map(Box::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            window: cfg.latency.max(Duration::from_micros(1)),
            converged_parts: vec![false; cfg.subnets],
            cfg,
            parts,
            now: Instant::ZERO,
            faults: Vec::new(),
            pending_faults: Vec::new(),
            converged_now: false,
            last_converged_at: Instant::ZERO,
        })
    }

    /// Simulated time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Hosts in all.
    pub fn len(&self) -> usize {
        self.cfg.nodes
    }

    /// True if the network has no hosts (never: a configuration needs one).
    pub fn is_empty(&self) -> bool {
        self.cfg.nodes == 0
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        let (s, k) = self.locate(i);
        &self.parts[s].hosts()[k]
    }

    /// The hosts of subnet `s`.
    pub fn subnet(&self, s: usize) -> Vec<usize> {
        (0..self.parts[s].hosts().len()).map(|k| self.global(s, k)).collect()
    }

    /// Hosts of subnet `s` that are up and whose node is manager.
    pub fn managers(&self, s: usize) -> Vec<usize> {
        self.parts[s].managers(s).into_iter().map(|k| self.global(s, k)).collect()
    }

    /// True if every subnet has exactly one manager and every running node of the subnet names
    /// it as its manager.
    pub fn converged(&self) -> bool {
        self.parts.iter().all(|p| p.converged())
    }

    fn locate(&self, i: usize) -> (usize, usize) {
        (i % self.cfg.subnets, i / self.cfg.subnets)
    }

    fn global(&self, s: usize, k: usize) -> usize {
        k * self.cfg.subnets + s
    }

    fn part(&mut self, i: usize) -> (&mut Sim, usize) {
        let (s, k) = self.locate(i);
        (&mut self.parts[s], k)
    }

    /// Runs until simulated time `until`, each window's parts run by `windows`.
    pub fn run_until(&mut self, until: Instant, windows: &mut dyn Windows) {
        self.route();
        while self.now < until {
            // Nothing happens anywhere before the earliest event: the window starts there.
            let next = self.parts.iter().filter_map(|p| p.next_event()).min();
            let start = next.map_or(until, |n| n.max(self.now)).min(until);
            let end = (start + self.window).min(until);
            windows.run(&mut self.parts, end);
            self.now = end;
            self.route();
        }
    }

    /// Hands what each part routed to the part it is for, in the order of the parts.
    fn route(&mut self) {
        for s in 0..self.parts.len() {
            for r in self.parts[s].take_outbox() {
                let to = r.subnet;
                self.parts[to].deliver_routed(r);
            }
        }
    }

    /// Host `i` loses power ([`Sim::crash`]).
    pub fn crash(&mut self, i: usize) {
        let (p, k) = self.part(i);
        p.crash(k);
    }

    /// Host `i`'s daemon is killed ([`Sim::kill_daemon`]).
    pub fn kill_daemon(&mut self, i: usize) {
        let (p, k) = self.part(i);
        p.kill_daemon(k);
    }

    /// Host `i` starts again with a fresh daemon ([`Sim::restart`]).
    pub fn restart(&mut self, i: usize) {
        let (p, k) = self.part(i);
        p.restart(k);
    }

    /// Host `i` goes to sleep ([`Sim::sleep`]).
    pub fn sleep(&mut self, i: usize, announce: bool) {
        let (p, k) = self.part(i);
        p.sleep(k, announce);
    }

    /// A host on sleeper `i`'s subnet connects to `port` on it ([`Sim::connect`]).
    pub fn connect(&mut self, i: usize, port: u16) {
        let (p, k) = self.part(i);
        p.connect(k, port);
    }

    /// An operator on host `from` wakes host `target` ([`Sim::operator_wake`]).
    pub fn operator_wake(&mut self, from: usize, target: usize) {
        let (mac, subnet) = (self.host(target).mac, self.host(target).subnet);
        let (p, k) = self.part(from);
        p.operator_wake_mac(k, subnet, mac);
    }

    /// Splits a subnet: hosts in `side` (all of one subnet) can only reach each other.
    pub fn partition(&mut self, side: &[usize]) {
        let Some(&first) = side.first() else { return };
        let s = self.locate(first).0;
        let local: Vec<usize> =
            side.iter().map(|&i| self.locate(i)).filter(|l| l.0 == s).map(|l| l.1).collect();
        for (t, p) in self.parts.iter_mut().enumerate() {
            if t == s {
                p.partition(&local);
            } else {
                p.set_partitioned(true);
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        for p in &mut self.parts {
            p.heal();
        }
    }

    /// Folds the parts' convergence samples into the whole network's: it is converged at a
    /// sample when every part is.
    fn fold_convergence(&mut self) {
        let mut changes: Vec<(Instant, usize, bool)> = Vec::new();
        for (s, p) in self.parts.iter_mut().enumerate() {
            changes.extend(p.take_convergence_changes().into_iter().map(|(t, c)| (t, s, c)));
        }
        changes.sort_by_key(|&(t, s, _)| (t, s));
        let mut k = 0;
        while k < changes.len() {
            let at = changes[k].0;
            while k < changes.len() && changes[k].0 == at {
                self.converged_parts[changes[k].1] = changes[k].2;
                k += 1;
            }
            let c = self.converged_parts.iter().all(|&c| c);
            if c && !self.converged_now {
                self.last_converged_at = at;
            }
            self.converged_now = c;
        }
    }

    /// Records a fault whose convergence the report measures ([`Sim::note_fault`]).
    pub fn note_fault(&mut self, what: impl Into<String>) {
        self.fold_convergence();
        let now = self.now;
        let same_instant =
            self.pending_faults.last().is_some_and(|&i| self.faults[i].at == now.since_origin());
        if !same_instant {
            let pending = std::mem::take(&mut self.pending_faults);
            settle(&mut self.faults, &pending, self.converged_now, self.last_converged_at);
        }
        for (s, p) in self.parts.iter_mut().enumerate() {
            self.converged_parts[s] = p.reset_convergence();
        }
        self.converged_now = self.converged_parts.iter().all(|&c| c);
        self.last_converged_at = now;
        let at = now.since_origin();
        self.faults.push(FaultRecord { at, what: what.into(), converged_after: None });
        self.pending_faults.push(self.faults.len() - 1);
    }

    /// The report so far: the parts' counts added up, the longest periods the longest of any
    /// part, and the faults with the whole network's convergence.
    pub fn report(&mut self) -> Report {
        self.fold_convergence();
        let mut r =
            Report { nodes: self.cfg.nodes, subnets: self.cfg.subnets, ..Report::default() };
        let mut sent = 0.0;
        for p in &self.parts {
            let q = p.report();
            sent += q.messages_per_node_per_s * q.nodes as f64;
            r.manager_changes += q.manager_changes;
            r.wakes_sent += q.wakes_sent;
            r.wake_sequences += q.wake_sequences;
            r.wakes_confirmed += q.wakes_confirmed;
            r.wakes_gave_up += q.wakes_gave_up;
            r.hosts_woken += q.hosts_woken;
            r.dual_manager_periods += q.dual_manager_periods;
            r.dual_manager_longest = r.dual_manager_longest.max(q.dual_manager_longest);
            r.dual_manager_partitioned += q.dual_manager_partitioned;
            r.dual_proxy_periods += q.dual_proxy_periods;
            r.dual_proxy_longest = r.dual_proxy_longest.max(q.dual_proxy_longest);
            r.dual_proxy_partitioned += q.dual_proxy_partitioned;
            r.rejected_messages += q.rejected_messages;
            r.datagrams_delivered += q.datagrams_delivered;
        }
        r.faults = self.faults.clone();
        settle(&mut r.faults, &self.pending_faults, self.converged(), self.last_converged_at);
        r.duration = self.now.since_origin();
        r.messages_per_node_per_s = sent / self.cfg.nodes as f64;
        r
    }
}

fn settle(faults: &mut [FaultRecord], pending: &[usize], converged: bool, at: Instant) {
    for &i in pending {
        let f = &mut faults[i];
        f.converged_after = converged.then(|| at.since_origin().saturating_sub(f.at));
    }
}
