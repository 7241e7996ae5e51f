//! What the simulator follows and measures: each host's role and the sleepers it answers for
//! (from its node's events), periods with two managers or two proxies, convergence, the
//! faults and how long each took to converge, and the trace.

use std::time::Duration;

use super::{FaultRecord, HostState, IFACE, Report, Sim};
use crate::core::addr::NodeId;
use crate::core::node::Event;
use crate::core::proto::Role;
use crate::core::time::Instant;

impl Sim {
    /// Hosts of subnet `s` that are up and whose node is manager.
    pub fn managers(&self, s: usize) -> Vec<usize> {
        let mut m: Vec<usize> = self.managers[s].iter().copied().collect();
        m.sort_unstable();
        m
    }

    /// Hosts that answer for `sleeper` now.
    pub fn proxies_of(&self, sleeper: &NodeId) -> Vec<usize> {
        let mut p: Vec<usize> =
            self.proxies.get(sleeper).map(|s| s.iter().copied().collect()).unwrap_or_default();
        p.sort_unstable();
        p
    }

    /// True if every subnet has exactly one manager (of a [`Fleet`](super::Fleet)'s part:
    /// every subnet it holds).
    pub fn one_manager_per_subnet(&self) -> bool {
        self.managers.iter().zip(&self.subnet_hosts).all(|(m, h)| h.is_empty() || m.len() == 1)
    }

    /// True if every subnet has exactly one manager and every running node of the subnet names
    /// it as its manager: the network has converged.
    pub fn converged(&self) -> bool {
        self.one_manager_per_subnet()
            && self.managers.iter().enumerate().all(|(s, m)| {
                let id = m.iter().next().map(|&i| self.hosts[i].node.id());
                self.subnet_hosts[s]
                    .iter()
                    .map(|&i| &self.hosts[i])
                    .filter(|h| h.state == HostState::Up && !h.node.is_asleep())
                    .all(|h| h.node.manager(IFACE) == id)
            })
    }

    /// The report so far.
    pub fn report(&self) -> Report {
        let mut r = self.report.clone();
        Self::settle(&mut r, &self.pending_faults, self.converged(), self.last_converged_at);
        r.duration = self.now.since_origin();
        let secs = r.duration.as_secs_f64().max(1e-9);
        r.messages_per_node_per_s = self.sent as f64 / self.hosts.len() as f64 / secs;
        r.datagrams_delivered = self.delivered;
        r.rejected_messages = self
            .hosts
            .iter()
            .map(|h| {
                let c = h.node.counters();
                c.malformed + c.unauthenticated + c.replayed + c.stale + c.version_mismatch
            })
            .sum();
        r
    }

    /// Follows roles and proxies through the nodes' events.
    pub(super) fn track(&mut self, i: usize, e: Event) {
        if let Some(t) = &mut self.trace {
            t.push(format!("{:?} host {i}: {e:?}", self.now));
        }
        match e {
            Event::ElectionChanged { role, .. } => {
                self.hosts[i].role = role;
                self.update_manager(i);
            }
            Event::ProxyStarted { sleeper, .. } => {
                if self.checks.is_some() {
                    self.check_claim(i, sleeper);
                }
                self.hosts[i].proxied.insert(sleeper);
                self.proxies.entry(sleeper).or_default().insert(i);
                self.update_dual_proxy(sleeper);
            }
            Event::ProxyStopped { sleeper, .. } => {
                self.hosts[i].proxied.remove(&sleeper);
                if let Some(set) = self.proxies.get_mut(&sleeper) {
                    set.remove(&i);
                }
                self.update_dual_proxy(sleeper);
            }
            Event::WakeSent { attempt: 1, .. } => self.report.wake_sequences += 1,
            Event::WakeConfirmed { .. } => self.report.wakes_confirmed += 1,
            Event::WakeGaveUp { .. } => self.report.wakes_gave_up += 1,
            _ => {}
        }
    }

    fn update_manager(&mut self, i: usize) {
        let h = &self.hosts[i];
        let s = h.subnet;
        if h.role == Role::Manager && h.state == HostState::Up {
            self.managers[s].insert(i);
        } else {
            self.managers[s].remove(&i);
        }
        let n = self.managers[s].len();
        match (n >= 2, self.dual_manager_since[s]) {
            (true, None) => self.dual_manager_since[s] = Some((self.now, self.partitioned)),
            (false, Some((since, partitioned))) => {
                self.dual_manager_since[s] = None;
                let d = self.now.saturating_since(since);
                let r = &mut self.report;
                if partitioned {
                    r.dual_manager_partitioned += 1;
                } else {
                    r.dual_manager_periods += 1;
                    r.dual_manager_longest = r.dual_manager_longest.max(d);
                }
            }
            _ => {}
        }
        if n == 1 {
            let only = *self.managers[s].iter().next().expect("one");
            let id = self.hosts[only].cfg.id;
            if self.sole_manager[s].is_some_and(|prev| prev != id) {
                self.report.manager_changes += 1;
            }
            self.sole_manager[s] = Some(id);
        }
    }

    fn update_dual_proxy(&mut self, sleeper: NodeId) {
        // Two proxies on one subnet; one on each of two subnets is no conflict (a host on two
        // LANs, or a key holder's forgery that only one subnet believes).
        let n = self.proxies.get(&sleeper).map_or(0, |set| {
            let mut per_subnet = vec![0usize; self.cfg.subnets];
            for &i in set {
                per_subnet[self.hosts[i].subnet] += 1;
            }
            per_subnet.into_iter().max().unwrap_or(0)
        });
        match (n >= 2, self.dual_proxy_since.get(&sleeper).copied()) {
            (true, None) => {
                self.dual_proxy_since.insert(sleeper, (self.now, self.partitioned));
            }
            (false, Some((since, partitioned))) => {
                self.dual_proxy_since.remove(&sleeper);
                let d = self.now.saturating_since(since);
                let r = &mut self.report;
                if partitioned {
                    r.dual_proxy_partitioned += 1;
                } else {
                    r.dual_proxy_periods += 1;
                    r.dual_proxy_longest = r.dual_proxy_longest.max(d);
                }
            }
            _ => {}
        }
    }

    /// The longest time any sleeper has had two proxies so far, counting periods still open.
    pub fn longest_dual_proxy(&self) -> Duration {
        let open = self
            .dual_proxy_since
            .values()
            .filter(|(_, partitioned)| !partitioned)
            .map(|(s, _)| self.now.saturating_since(*s))
            .max()
            .unwrap_or_default();
        self.report.dual_proxy_longest.max(open)
    }

    /// The longest time any subnet has had two managers so far, counting periods still open.
    pub fn longest_dual_manager(&self) -> Duration {
        let open = self
            .dual_manager_since
            .iter()
            .flatten()
            .filter(|(_, partitioned)| !partitioned)
            .map(|(s, _)| self.now.saturating_since(*s))
            .max()
            .unwrap_or_default();
        self.report.dual_manager_longest.max(open)
    }

    /// Forgets what a host's node had claimed: it died without a word.
    pub(super) fn vanish(&mut self, i: usize) {
        let claimed: Vec<NodeId> = self.hosts[i].proxied.drain().collect();
        for s in claimed {
            if let Some(set) = self.proxies.get_mut(&s) {
                set.remove(&i);
            }
            self.update_dual_proxy(s);
        }
        self.hosts[i].role = Role::Member;
        self.update_manager(i);
    }

    /// Records a fault whose convergence the report measures: the time from the fault until
    /// the network last became converged before the next fault (`None` if it was not converged
    /// when the next fault came).
    pub fn note_fault(&mut self, what: impl Into<String>) {
        let now = self.now;
        // Judge the previous faults by the last sample, taken before this fault struck; faults
        // that strike at the same instant are judged together.
        let same_instant = self
            .pending_faults
            .last()
            .is_some_and(|&i| self.report.faults[i].at == now.since_origin());
        if !same_instant {
            let pending = std::mem::take(&mut self.pending_faults);
            Self::settle(&mut self.report, &pending, self.converged_now, self.last_converged_at);
        }
        self.converged_now = self.converged();
        self.last_converged_at = now;
        let at = now.since_origin();
        self.report.faults.push(FaultRecord { at, what: what.into(), converged_after: None });
        self.pending_faults.push(self.report.faults.len() - 1);
    }

    /// As a part of a fleet: the samples at which its convergence changed since the last call.
    pub(super) fn take_convergence_changes(&mut self) -> Vec<(Instant, bool)> {
        self.convergence.as_mut().map(|(_, c)| std::mem::take(c)).unwrap_or_default()
    }

    /// As a part of a fleet, at a fault: whether it is converged now, which later samples are
    /// compared with.
    pub(super) fn reset_convergence(&mut self) -> bool {
        let c = self.converged();
        if let Some((last, changes)) = &mut self.convergence {
            *last = c;
            changes.clear();
        }
        c
    }

    fn settle(report: &mut Report, pending: &[usize], converged: bool, at: Instant) {
        for &i in pending {
            let f = &mut report.faults[i];
            f.converged_after = converged.then(|| at.since_origin().saturating_sub(f.at));
        }
    }

    /// Records every node event from now on (see [`Sim::trace`]).
    pub fn enable_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    /// The events recorded since [`Sim::enable_trace`], one line each; the caller may add
    /// lines of its own (`note`).
    pub fn trace(&self) -> &[String] {
        self.trace.as_deref().unwrap_or(&[])
    }

    /// Adds a line to the trace, if tracing.
    pub fn note(&mut self, what: impl FnOnce() -> String) {
        let now = self.now;
        if let Some(t) = &mut self.trace {
            t.push(format!("{now:?} {}", what()));
        }
    }
}
