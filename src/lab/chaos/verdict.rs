//! The monitor's verdict: the four promises of a chaos run checked against what the switch
//! captured and what the lab itself knows (which host really slept when, which connections it
//! made and how they ended, which faults it injected) — never against what a daemon says.
//!
//! A violation is reported only with the frames that show it; a failure the capture has no
//! frame of (the capture missed them) is listed apart, as unshown, and fails nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::capture::{Captured, Port};
use super::evidence::{Seen, read};
use crate::core::proto::{Role, SiteKey};
use crate::lab::truth::{Change, Fact};

/// A host, as the lab made it.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// Its subnet.
    pub subnet: usize,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its IPv6 address.
    pub ip6: Option<Ipv6Addr>,
    /// Its MAC.
    pub mac: [u8; 6],
}

/// The bounds the checks allow, all in microseconds (docs/reliability.md says where each comes
/// from).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The daemons' heartbeat interval.
    pub heartbeat_us: u64,
    /// Their probe window (`probe_timeout`).
    pub probe_us: u64,
    /// How long a woken host takes to resume.
    pub resume_us: u64,
    /// How often the monitor's station asks for every address.
    pub ask_every_us: u64,
}

impl Bounds {
    /// After a host wakes, its proxy may answer for it this long (until it sees the host).
    pub fn wake_grace(&self) -> u64 {
        self.heartbeat_us + self.probe_us
    }
    /// After a change, two proxies may answer for one sleeper this long (make before break).
    pub fn dual_grace(&self) -> u64 {
        self.heartbeat_us
    }
    /// Two answers this close to each other answer the same request.
    pub fn same_request(&self) -> u64 {
        (self.ask_every_us / 2).min(100_000)
    }
    /// After a partition heals, its two sides may go on answering as they did this long (one
    /// heartbeat and two probe windows: docs/security.md, I3).
    pub fn heal_grace(&self) -> u64 {
        self.heartbeat_us + 2 * self.probe_us
    }
    /// A connection to a sleeper must be up within this: its resume delay, a heartbeat, and a
    /// second (the caller's first SYN retransmission, for a proxy that replays no SYN).
    pub fn connect_limit(&self) -> u64 {
        self.resume_us + self.heartbeat_us + 1_000_000
    }
}

/// A fault as the run injected it.
#[derive(Debug, Clone)]
pub struct FaultSpan {
    /// When it began.
    pub start_us: u64,
    /// When it ended (the same as `start_us` for an instant fault).
    pub end_us: u64,
    /// When its effects are due to be settled: its end, or, for an unannounced sleep, its end
    /// and the time the daemons need to notice it.
    pub settled_us: u64,
    /// Its kind.
    pub kind: String,
    /// What it did.
    pub what: String,
    /// The subnets it touched.
    pub subnets: Vec<usize>,
    /// A partition's two sides.
    pub split: Option<(Vec<usize>, Vec<usize>)>,
    /// It makes its subnet lose datagrams (a loss burst, a flood the kernel drops them under):
    /// the one-proxy promise is made for a LAN that delivers heartbeats (docs/security.md, I3).
    pub lossy: bool,
}

/// A connection the run made to a sleeper.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it began.
    pub at_us: u64,
    /// When it ended.
    pub done_us: u64,
    /// The caller.
    pub caller: usize,
    /// The sleeper.
    pub target: usize,
    /// The port.
    pub port: u16,
    /// It connected (and the service greeted), or why not.
    pub result: Result<(), String>,
}

/// One broken promise, with the frames that show it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// When.
    pub at_us: u64,
    /// Which check.
    pub check: &'static str,
    /// What happened.
    pub what: String,
    /// The captured frames that show it (indices into the frames checked).
    pub frames: Vec<usize>,
}

/// What the checks found.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Checks made, by check.
    pub checks: BTreeMap<&'static str, u64>,
    /// Checks not made, and why.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Answers for an awake host, or by two proxies, across a partition in force: the two sides
    /// cannot see each other, so neither can tell; counted, not violations.
    pub across_partition: u64,
    /// Two proxies answering while a loss burst or a flood is in force on the subnet (or
    /// within one heartbeat and two probe windows after it); counted, not violations.
    pub while_lossy: u64,
    /// Broken promises.
    pub violations: Vec<Violation>,
    /// Failures the capture has no frame of.
    pub unshown: Vec<Violation>,
}

/// Everything the checks look at.
#[derive(Debug)]
pub struct Run<'a> {
    /// The lab's hosts.
    pub hosts: &'a [HostFacts],
    /// The bounds.
    pub bounds: Bounds,
    /// The site key (to read heartbeats).
    pub key: &'a SiteKey,
    /// Every captured frame.
    pub frames: &'a [Captured],
    /// The lab's record of sleeps and resumes.
    pub truth: &'a [Fact],
    /// The faults injected.
    pub faults: &'a [FaultSpan],
    /// The connections made to sleepers.
    pub attempts: &'a [Attempt],
    /// When the checked part of the run ended.
    pub end_us: u64,
}

/// Host `h`'s state at `t`: awake since when, or `None` while it sleeps.
fn awake_since(truth: &[Fact], h: usize, t: u64) -> Option<u64> {
    match truth.iter().filter(|f| f.host == h && f.at_us <= t).max_by_key(|f| f.at_us) {
        None => Some(0),
        Some(f) if f.change == Change::Awake => Some(f.at_us),
        Some(_) => None,
    }
}

impl Run<'_> {
    /// Checks everything.
    pub fn check(&self) -> Findings {
        let mut out = Findings::default();
        let seen: Vec<Option<Seen>> =
            self.frames.iter().map(|c| read(&c.frame, self.key)).collect();
        let mut order: Vec<usize> = (0..self.frames.len()).collect();
        order.sort_by_key(|&i| self.frames[i].at_us);
        let mut returns = self.returns(&seen, &order);
        returns.extend(self.announcements(&seen));
        self.check_answers(&seen, &order, &returns, &mut out);
        self.check_connections(&seen, &mut out);
        self.check_managers(&seen, &mut out);
        out.violations.sort_by_key(|v| v.at_us);
        out.unshown.sort_by_key(|v| v.at_us);
        out
    }

    fn owner_of(&self, seen: &Seen) -> Option<usize> {
        match seen {
            Seen::ArpAnswer { ip, .. } => self.hosts.iter().position(|h| h.ip == *ip),
            Seen::NeighbourAdvert { ip, .. } => self.hosts.iter().position(|h| h.ip6 == Some(*ip)),
            _ => None,
        }
    }

    /// An answer's MAC, Ethernet source, and whether it was unasked.
    fn answer(seen: &Seen) -> Option<(Option<[u8; 6]>, [u8; 6], bool)> {
        match *seen {
            Seen::ArpAnswer { mac, eth_src, announce, .. } => Some((Some(mac), eth_src, announce)),
            Seen::NeighbourAdvert { mac, eth_src, announce, .. } => Some((mac, eth_src, announce)),
            _ => None,
        }
    }

    /// Who an answer for `owner`'s address, sent by `port`, makes the LAN talk to: the port,
    /// or another lab host whose MAC it points at (a proxy that yields announces the winner).
    fn answerer(&self, owner: usize, port: Port, mac: Option<[u8; 6]>) -> Port {
        match mac.and_then(|m| self.hosts.iter().position(|h| h.mac == m)) {
            Some(j) if j != owner => Port::Host(j),
            _ => port,
        }
    }

    /// When proxies announced a sleeper's address (a claim, a refresh, a yield), by subnet:
    /// each is a change of who answers.
    fn announcements(&self, seen: &[Option<Seen>]) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for (i, s) in seen.iter().enumerate() {
            let Some(s) = s else { continue };
            let (Some(owner), Some((_, _, true))) = (self.owner_of(s), Self::answer(s)) else {
                continue;
            };
            let (port, t) = (self.frames[i].port, self.frames[i].at_us);
            if port != Port::Host(owner) && awake_since(self.truth, owner, t).is_none() {
                out.push((self.hosts[owner].subnet, t));
            }
        }
        out
    }

    fn partitioned(&self, a: Port, b: usize, t: u64) -> bool {
        let Port::Host(a) = a else { return false };
        self.faults.iter().any(|f| {
            f.split.as_ref().is_some_and(|(x, y)| {
                f.start_us <= t
                    && t <= f.end_us + self.bounds.heal_grace()
                    && ((x.contains(&a) && y.contains(&b)) || (y.contains(&a) && x.contains(&b)))
            })
        })
    }

    /// A loss burst or a flood is in force on `subnet` at `t`, or ended less than one heartbeat
    /// and two probe windows before.
    fn lossy(&self, subnet: usize, t: u64) -> bool {
        self.faults.iter().any(|f| {
            f.lossy
                && f.subnets.contains(&subnet)
                && f.start_us <= t
                && t <= f.end_us + self.bounds.heal_grace()
        })
    }

    /// The last change on `subnet` at or before `t`: a fault's start, end or settling, a sleep
    /// or a resume, or a daemon heard again (`returns`).
    fn last_change(&self, subnet: usize, t: u64, returns: &[(usize, u64)]) -> u64 {
        let faults = self
            .faults
            .iter()
            .filter(|f| f.subnets.contains(&subnet))
            .flat_map(|f| [f.start_us, f.end_us, f.settled_us]);
        let facts =
            self.truth.iter().filter(|f| self.hosts[f.host].subnet == subnet).map(|f| f.at_us);
        let returns = returns.iter().filter(|(s, _)| *s == subnet).map(|(_, at)| *at);
        faults.chain(facts).chain(returns).filter(|&c| c <= t).max().unwrap_or(0)
    }

    /// When each daemon was heard again after a silence of two heartbeat intervals (restarted,
    /// thawed, back from a partition or from loss), by subnet: a daemon takes a moment to start,
    /// so a restart's change is its first heartbeat, not the command that started it.
    fn returns(&self, seen: &[Option<Seen>], order: &[usize]) -> Vec<(usize, u64)> {
        let mut last: HashMap<usize, u64> = HashMap::new();
        let mut out = Vec::new();
        for &i in order {
            let (Port::Host(h), Some(Seen::Heartbeat { src, .. })) =
                (self.frames[i].port, &seen[i])
            else {
                continue;
            };
            if *src != self.hosts[h].ip {
                continue;
            }
            let t = self.frames[i].at_us;
            if last.insert(h, t).is_none_or(|before| t - before > 2 * self.bounds.heartbeat_us) {
                out.push((self.hosts[h].subnet, t));
            }
        }
        out
    }

    /// Every answer for a lab address by another port than its owner's: never for an awake
    /// owner (after the wake grace), and for a sleeper by one port at a time (after a change).
    fn check_answers(
        &self,
        seen: &[Option<Seen>],
        order: &[usize],
        returns: &[(usize, u64)],
        out: &mut Findings,
    ) {
        // Per owner: the last answer of each port, and whether a dual answer is being reported.
        let mut last: HashMap<usize, BTreeMap<Port, usize>> = HashMap::new();
        // Per pair of rival ports of one owner: when they last answered the same request. An
        // episode of dual answers is reported once; it ends when they have not for two asks.
        let mut open: HashMap<(usize, Port, Port), u64> = HashMap::new();
        let episode_gap = 2 * self.bounds.ask_every_us + self.bounds.same_request();
        for &i in order {
            let Some(s) = &seen[i] else { continue };
            let Some(owner) = self.owner_of(s) else { continue };
            let (port, t) = (self.frames[i].port, self.frames[i].at_us);
            if port == Port::Host(owner) {
                continue;
            }
            let Some((mac, eth_src, _)) = Self::answer(s) else { continue };
            match awake_since(self.truth, owner, t) {
                Some(since) => {
                    *out.checks.entry("no answer for an awake host").or_default() += 1;
                    // A proxy giving the address back: "it is at its owner's MAC", from the
                    // proxy's own MAC.
                    let owner_mac = self.hosts[owner].mac;
                    let hand_back = mac == Some(owner_mac) && eth_src != owner_mac;
                    if hand_back || t < since + self.bounds.wake_grace() {
                        continue;
                    }
                    if self.partitioned(port, owner, t) {
                        out.across_partition += 1;
                        continue;
                    }
                    out.violations.push(Violation {
                        at_us: t,
                        check: "no answer for an awake host",
                        what: format!(
                            "{} answered for h{}'s address while h{} was awake (since {})",
                            port_name(port),
                            owner + 1,
                            owner + 1,
                            if since == 0 { "the start".into() } else { format!("{since} µs") }
                        ),
                        frames: vec![i],
                    });
                }
                None => {
                    *out.checks.entry("one proxy per sleeper").or_default() += 1;
                    let port = self.answerer(owner, port, mac);
                    let ports = last.entry(owner).or_default();
                    let rivals: Vec<(Port, usize)> = ports
                        .iter()
                        .filter(|&(&q, &j)| {
                            q != port
                                && t.saturating_sub(self.frames[j].at_us)
                                    <= self.bounds.same_request()
                        })
                        .map(|(&q, &j)| (q, j))
                        .collect();
                    ports.insert(port, i);
                    if rivals.is_empty() {
                        continue;
                    }
                    let change = self.last_change(self.hosts[owner].subnet, t, returns);
                    for (q, j) in rivals {
                        if t < change + self.bounds.dual_grace() {
                            continue;
                        }
                        let crossing = match (port, q) {
                            (Port::Host(a), Port::Host(b)) => self.partitioned(Port::Host(a), b, t),
                            _ => false,
                        };
                        if crossing {
                            out.across_partition += 1;
                            continue;
                        }
                        if self.lossy(self.hosts[owner].subnet, t) {
                            out.while_lossy += 1;
                            continue;
                        }
                        let pair = if port < q { (owner, port, q) } else { (owner, q, port) };
                        let ongoing =
                            open.insert(pair, t).is_some_and(|last| t - last <= episode_gap);
                        if ongoing {
                            continue;
                        }
                        out.violations.push(Violation {
                            at_us: t,
                            check: "one proxy per sleeper",
                            what: format!(
                                "{} and {} both answered for sleeping h{}, {} ms after the last change on its subnet",
                                port_name(q),
                                port_name(port),
                                owner + 1,
                                (t - change) / 1000
                            ),
                            frames: vec![j, i],
                        });
                    }
                }
            }
        }
    }

    /// Every connection to a sleeper is up within its resume delay and the slack.
    fn check_connections(&self, seen: &[Option<Seen>], out: &mut Findings) {
        let limit = self.bounds.connect_limit();
        for a in self.attempts {
            if awake_since(self.truth, a.target, a.at_us).is_some() {
                *out.skipped.entry("connection: its target was awake").or_default() += 1;
                continue;
            }
            *out.checks.entry("a sleeper is reachable").or_default() += 1;
            let took = a.done_us.saturating_sub(a.at_us);
            let failed = match &a.result {
                Ok(()) if took <= limit => continue,
                Ok(()) => {
                    format!("connected after {} ms (allowed {} ms)", took / 1000, limit / 1000)
                }
                Err(e) => format!("failed after {} ms: {e}", took / 1000),
            };
            let t = &self.hosts[a.target];
            let frames: Vec<usize> = (0..self.frames.len())
                .filter(|&i| {
                    let at = self.frames[i].at_us;
                    (a.at_us..=a.done_us).contains(&at)
                        && match &seen[i] {
                            Some(Seen::Syn { dst, port, .. }) => *dst == t.ip && *port == a.port,
                            Some(Seen::ArpAnswer { ip, .. }) => *ip == t.ip,
                            Some(Seen::Magic { target }) => *target == t.mac,
                            _ => false,
                        }
                })
                .collect();
            let has_syn = frames.iter().any(|&i| matches!(seen[i], Some(Seen::Syn { .. })));
            let v = Violation {
                at_us: a.at_us,
                check: "a sleeper is reachable",
                what: format!("h{} → h{}:{}: {failed}", a.caller + 1, a.target + 1, a.port),
                frames,
            };
            if has_syn { out.violations.push(v) } else { out.unshown.push(v) }
        }
    }

    /// One manager per subnet three heartbeats after each fault settled, unless another fault
    /// is under way on that subnet then.
    fn check_managers(&self, seen: &[Option<Seen>], out: &mut Findings) {
        let hb = self.bounds.heartbeat_us;
        for f in self.faults {
            for &s in &f.subnets {
                let at = f.settled_us + 3 * hb;
                if at > self.end_us {
                    *out.skipped.entry("manager: the run ended first").or_default() += 1;
                    continue;
                }
                let overlapped = self.faults.iter().any(|g| {
                    !std::ptr::eq(g, f)
                        && g.subnets.contains(&s)
                        && g.start_us <= at
                        && g.settled_us >= f.end_us
                });
                if overlapped {
                    *out.skipped.entry("manager: another fault was under way").or_default() += 1;
                    continue;
                }
                *out.checks.entry("one manager per subnet").or_default() += 1;
                // Each host's last heartbeat before `at`, from its own port and address.
                let mut latest: BTreeMap<usize, usize> = BTreeMap::new();
                for (i, c) in self.frames.iter().enumerate() {
                    let Port::Host(h) = c.port else { continue };
                    let Some(Seen::Heartbeat { src, .. }) = &seen[i] else { continue };
                    let window = at.saturating_sub(hb + hb / 2)..=at;
                    if self.hosts[h].subnet != s
                        || *src != self.hosts[h].ip
                        || !window.contains(&c.at_us)
                    {
                        continue;
                    }
                    if latest.get(&h).is_none_or(|&j| self.frames[j].at_us < c.at_us) {
                        latest.insert(h, i);
                    }
                }
                let managers: Vec<usize> = latest
                    .values()
                    .copied()
                    .filter(|&i| {
                        matches!(seen[i], Some(Seen::Heartbeat { role: Role::Manager, .. }))
                    })
                    .collect();
                if managers.len() == 1 {
                    continue;
                }
                let v = Violation {
                    at_us: at,
                    check: "one manager per subnet",
                    what: format!(
                        "subnet {}: {} managers three heartbeats after `{}` settled",
                        s + 1,
                        managers.len(),
                        f.what
                    ),
                    frames: latest.values().copied().collect(),
                };
                if v.frames.is_empty() { out.unshown.push(v) } else { out.violations.push(v) }
            }
        }
    }
}

/// A port's name in the report.
pub fn port_name(p: Port) -> String {
    match p {
        Port::Host(i) => format!("h{}", i + 1),
        Port::Router(k) => format!("the router (subnet {})", k + 1),
    }
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
