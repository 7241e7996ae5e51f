//! The event queue on the virtual clock: what arrives where and when, and running the
//! simulation from one event to the next.

use std::cmp::Reverse;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::host::wall;
use super::{HostState, IFACE, SAMPLE_EVERY, Sim};
use crate::core::time::Instant;

/// What happens to host `to` (a `u32`, and the rest behind pointers, so that an event in the
/// queue is 24 bytes: the queue holds every copy of every broadcast in flight).
pub(super) enum Ev {
    /// A datagram reaches the peer port of `to`.
    Datagram {
        to: u32,
        sent: Arc<Sent>,
    },
    Frame {
        to: u32,
        bytes: Arc<[u8]>,
    },
    Timer {
        to: u32,
    },
    Probe {
        to: u32,
        answer: Box<(IpAddr, Option<Duration>)>,
    },
    Resume {
        to: u32,
    },
    Sample,
}

/// A datagram as it was sent: one for every copy of a broadcast (the real network would not
/// encode it again for each receiver either; each receiver still decodes and verifies it).
#[derive(Debug)]
pub(super) struct Sent {
    pub(super) from: SocketAddr,
    pub(super) bytes: Vec<u8>,
    /// The host whose node sent it, `None` for datagrams injected by tests or routed from
    /// another part of a fleet.
    pub(super) origin: Option<usize>,
}

pub(super) struct Queued {
    at: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

impl Sim {
    /// Runs until simulated time `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > until {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            self.step(q.ev);
        }
        self.now = until;
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until `pred` holds (checked after every event) or `limit` passes; returns the time
    /// it took, or `None`.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        if pred(self) {
            return Some(Duration::ZERO);
        }
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > end {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            self.step(q.ev);
            if pred(self) {
                return Some(self.now.saturating_since(start));
            }
        }
        self.now = end;
        None
    }

    fn step(&mut self, ev: Ev) {
        self.handle(ev);
        if self.checks.is_some() {
            self.check_after_event();
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Datagram { to, sent } => {
                let to = to as usize;
                // A deaf host's firewall drops what reaches the peer port, whoever sent it
                // (an injected replay too), and whenever it was sent.
                if self.hosts[to].state == HostState::Up && !self.hosts[to].deaf {
                    let now = self.now;
                    self.delivered += 1;
                    let before = self.hosts[to].node.counters().accepted;
                    self.hosts[to].node.handle_datagram(now, IFACE, sent.from, &sent.bytes);
                    if self.hosts[to].node.counters().accepted > before {
                        self.note_accepted(to, sent.origin);
                    }
                    self.drain(to);
                }
            }
            Ev::Frame { to, bytes } => {
                let to = to as usize;
                if self.hosts[to].state == HostState::Up {
                    let now = self.now;
                    self.hosts[to].node.handle_frame(now, IFACE, &bytes);
                    self.drain(to);
                }
            }
            Ev::Timer { to } => {
                let to = to as usize;
                let h = &mut self.hosts[to];
                if h.timer == Some(self.now) {
                    h.timer = None;
                    if h.state == HostState::Up {
                        let now = self.now;
                        h.node.handle_timeout(now);
                        if self.checks.is_some() {
                            self.check_timer_advanced(to);
                        }
                        self.drain(to);
                    }
                }
            }
            Ev::Probe { to, answer } => {
                let (to, (ip, rtt)) = (to as usize, *answer);
                if self.hosts[to].state == HostState::Up {
                    let now = self.now;
                    self.hosts[to].node.handle_probe_result(now, IFACE, ip, rtt);
                    self.drain(to);
                }
            }
            Ev::Resume { to } => {
                let to = to as usize;
                let h = &mut self.hosts[to];
                if h.state == HostState::Asleep && h.resume_at == Some(self.now) {
                    h.state = HostState::Up;
                    h.up_since = Some(self.now);
                    h.resume_at = None;
                    h.mute = false;
                    let (now, unix) = (self.now, wall(self.now, h.skew_ms));
                    h.node.resumed(now, unix);
                    self.drain(to);
                }
            }
            Ev::Sample => {
                if self.convergence.is_some() {
                    let c = self.converged();
                    if let Some((last, changes)) = &mut self.convergence {
                        if c != *last {
                            *last = c;
                            changes.push((self.now, c));
                        }
                    }
                }
                if !self.pending_faults.is_empty() {
                    let c = self.converged();
                    if c && !self.converged_now {
                        self.last_converged_at = self.now;
                    }
                    self.converged_now = c;
                }
                self.push(self.now + SAMPLE_EVERY, Ev::Sample);
            }
        }
    }

    /// When the next event is due, if any.
    pub(super) fn next_event(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(q)| q.at)
    }

    pub(super) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { at, seq: self.seq, ev }));
    }

    pub(super) fn reschedule(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        if let Some(t) = h.node.poll_timeout() {
            // A deadline that does not move past a timeout just handled would spin forever;
            // with checks on it is reported (`check_timer_advanced`) and stepped over.
            let floor = if self.checks.is_some() && t <= self.now {
                self.now + Duration::from_millis(1)
            } else {
                self.now
            };
            let t = t.max(floor);
            if h.timer.is_none_or(|cur| t < cur) {
                h.timer = Some(t);
                self.push(t, Ev::Timer { to: i as u32 });
            }
        }
    }

    /// Records every datagram host `i` sends from now on for `d`, and returns them (tests).
    pub fn capture_from(&mut self, i: usize, d: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let end = self.now + d;
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > end {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            if let Ev::Datagram { sent, .. } = &q.ev {
                if sent.from.ip() == IpAddr::V4(self.hosts[i].ip)
                    && !out.iter().any(|b: &Vec<u8>| b[..] == sent.bytes[..])
                {
                    out.push(sent.bytes.clone());
                }
            }
            self.step(q.ev);
        }
        self.now = end;
        out
    }
}
