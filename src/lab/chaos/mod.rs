//! `wakeproxy lab chaos`: a seeded schedule of faults on a real lab, judged by an independent
//! monitor.
//!
//! The faults (`schedule.rs`, carried out by `inject.rs`): announced and unannounced sleeps,
//! connections that wake sleepers, wake requests, daemons killed with SIGKILL and restarted
//! (with and without their state directory), proxies killed while they hold a sleeper,
//! partitions and heals, loss bursts, a host's wall clock stepped, a keyless station relaying
//! and replaying peer datagrams, ARP and junk-datagram floods.
//!
//! The monitor does not ask the daemons anything. It captures every frame entering the lab's
//! switch, on the port it came in by (`capture.rs`); its own station asks for every lab address
//! by ARP, over and over, so that whoever answers shows it (`stations.rs`); it reads frames with
//! a decoder of its own (`evidence.rs`); and it knows which host really sleeps from the lab's own
//! record (`lab::truth`). From those it checks (`verdict.rs`): never an answer for an awake
//! host's address from another port; every connection to a sleeper up within its resume delay
//! and a bound; one proxy per sleeper beyond one heartbeat after a change; one manager per
//! subnet three heartbeats after each fault settles. The report (`report.rs`) lists faults,
//! checks, missed frames and every violation with the frames that show it.

pub mod capture;
pub mod evidence;
mod inject;
pub mod report;
pub mod schedule;
pub mod stations;
pub mod verdict;

use std::path::Path;
use std::time::{Duration, Instant};

use self::capture::{Capture, Port};
use self::inject::Injector;
use self::report::{ChaosReport, Connections, FaultLine, FrameLine, ViolationLine};
use self::schedule::{HostNow, Planner};
use self::stations::Station;
use self::verdict::{Bounds, HostFacts, Run};
use super::truth::{self, Change, unix_us};
use super::{Lab, LabError, LabSpec, down};

/// What `lab chaos` runs.
#[derive(Debug, Clone)]
pub struct ChaosSpec {
    /// The lab.
    pub lab: LabSpec,
    /// How long faults are injected.
    pub duration: Duration,
    /// The schedule's seed.
    pub seed: u64,
    /// How long a woken host takes to resume.
    pub resume_delay: Duration,
}

/// How often the monitor's station asks for every address.
const ASK_EVERY: Duration = Duration::from_millis(250);

/// A lab's probe window for heartbeat interval `hb` (as `lab up` configures its daemons).
fn probe_window(hb: Duration) -> Duration {
    (hb / 4).min(Duration::from_secs(1))
}

/// The bounds the monitor allows a lab whose daemons have heartbeat interval `hb` and whose
/// hosts resume `resume_delay` after their magic packet.
pub fn bounds(hb: Duration, resume_delay: Duration) -> Bounds {
    Bounds {
        heartbeat_us: hb.as_micros() as u64,
        probe_us: probe_window(hb).as_micros() as u64,
        resume_us: resume_delay.as_micros() as u64,
        ask_every_us: ASK_EVERY.as_micros() as u64,
    }
}

/// The lab's hosts, as the monitor checks them.
pub fn host_facts(lab: &Lab) -> Vec<HostFacts> {
    lab.hosts
        .iter()
        .map(|h| HostFacts {
            subnet: h.subnet,
            ip: h.ip.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ip6: h.ip6.parse().ok(),
            mac: h.mac.parse::<crate::core::addr::MacAddr>().map(|m| m.0).unwrap_or_default(),
        })
        .collect()
}

impl ChaosSpec {
    /// Checks the shape: each subnet needs three hosts, so that one can sleep while two stay
    /// awake to answer for it.
    pub fn validate(&self) -> Result<(), LabError> {
        self.lab.validate()?;
        if self.lab.hosts < 3 * self.lab.subnets {
            return Err(LabError::BadArgs(format!(
                "a chaos run needs at least 3 hosts per subnet (one sleeps while two stay awake to answer for it): \
                 --hosts {} is too few for --subnets {}; use --hosts {} or more",
                self.lab.hosts,
                self.lab.subnets,
                3 * self.lab.subnets
            )));
        }
        if self.duration.is_zero() {
            return Err(LabError::BadArgs("--duration must be more than 0s".into()));
        }
        Ok(())
    }
}

/// Brings a lab up, runs the faults, judges them, tears the lab down; the report. `progress`
/// hears each fault as it is injected.
pub fn run(spec: &ChaosSpec, exe: &Path, progress: &dyn Fn(&str)) -> Result<ChaosReport, LabError> {
    spec.validate()?;
    let mut lab_spec = spec.lab.clone();
    lab_spec.steppable_clocks = super::faketime_library().is_some();
    let lab = Lab::up(&lab_spec, exe)?;
    let result = run_on(&lab, &lab_spec, spec, exe, progress);
    down(&lab.name);
    result
}

fn run_on(
    lab: &Lab,
    lab_spec: &LabSpec,
    spec: &ChaosSpec,
    exe: &Path,
    progress: &dyn Fn(&str),
) -> Result<ChaosReport, LabError> {
    let hb = lab_spec.heartbeat;
    let probe = probe_window(hb);
    let key_path = lab.dir.join("site.key");
    let key = crate::store::keys::load(&key_path).map_err(|e| LabError::File {
        path: key_path.display().to_string(),
        message: e.to_string(),
    })?;
    let hosts = host_facts(lab);
    let bounds = bounds(hb, spec.resume_delay);
    let monitor = Station::plug(lab, "mo", 250)?;
    let hostile = Station::plug(lab, "ev", 251)?;
    let capture = Capture::start(lab)?;
    let targets: Vec<Vec<[u8; 4]>> = (0..lab.subnets)
        .map(|k| hosts.iter().filter(|h| h.subnet == k).map(|h| h.ip.octets()).collect())
        .collect();
    let asking = stations::ask_arp(&monitor, targets, ASK_EVERY)?;

    // The daemons elect before the first fault.
    std::thread::sleep(hb * 6);
    let start_us = unix_us();
    let t0 = Instant::now();
    let mut planner = Planner::new(spec.seed, hb, lab_spec.steppable_clocks);
    let mut injector = Injector {
        name: lab.name.clone(),
        exe: exe.to_owned(),
        heartbeat: hb,
        probe,
        resume_delay: spec.resume_delay,
        capture: &capture,
        hostile: &hostile,
        key: &key,
        connect_limit: Duration::from_micros(bounds.connect_limit()),
        attempts: Vec::new(),
    };
    // A sleeper is called once its proxy has had time to take over: after a proxy is killed,
    // three intervals and a probe window (docs/security.md), and a heartbeat more.
    let ready_us = (hb * 4 + probe * 2).as_micros() as u64;
    let settle = hb * 6 + probe * 2;
    let mut spans = Vec::new();
    while t0.elapsed() < spec.duration {
        let now_lab = Lab::load(&lab.name)?;
        let facts = truth::read(&now_lab.truth_log());
        let view: Vec<HostNow> = now_lab
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| HostNow {
                subnet: h.subnet,
                asleep: h.asleep,
                asleep_since_us: facts
                    .iter()
                    .filter(|f| f.host == i && f.change == Change::Sleeps)
                    .map(|f| f.at_us)
                    .max()
                    .unwrap_or(0),
            })
            .collect();
        let fault = planner.next(&view, unix_us(), ready_us);
        let span = injector.inject(&fault)?;
        progress(&format!(
            "[{:>7.1}s] {}: {}",
            (span.start_us - start_us) as f64 / 1e6,
            span.kind,
            span.what
        ));
        let wait_until = span.settled_us + settle.as_micros() as u64;
        spans.push(span);
        std::thread::sleep(Duration::from_micros(wait_until.saturating_sub(unix_us())));
    }
    let end_us = unix_us();
    let ran_s = t0.elapsed().as_secs_f64();
    drop(asking);
    let attempts = std::mem::take(&mut injector.attempts);
    drop(injector);
    let (frames, counts) = capture.stop();
    let facts = truth::read(&lab.truth_log());
    let findings = Run {
        hosts: &hosts,
        bounds,
        key: &key,
        frames: &frames,
        truth: &facts,
        faults: &spans,
        attempts: &attempts,
        end_us,
    }
    .check();

    let rel = |t: u64| (t as f64 - start_us as f64) / 1e6;
    let line = |v: &verdict::Violation| ViolationLine {
        at_s: rel(v.at_us),
        check: v.check.to_owned(),
        what: v.what.clone(),
        frames: v
            .frames
            .iter()
            .map(|&i| {
                let c = &frames[i];
                FrameLine {
                    at_s: rel(c.at_us),
                    port: verdict::port_name(c.port),
                    says: evidence::describe(&c.frame, &key),
                    hex: c.frame.iter().take(128).map(|b| format!("{b:02x}")).collect(),
                }
            })
            .collect(),
    };
    let mut faults_by_kind = std::collections::BTreeMap::new();
    for s in &spans {
        *faults_by_kind.entry(s.kind.clone()).or_insert(0) += 1;
    }
    let mut took: Vec<u64> = attempts
        .iter()
        .filter(|a| a.result.is_ok())
        .map(|a| a.done_us.saturating_sub(a.at_us) / 1000)
        .collect();
    took.sort_unstable();
    let limit_ms = bounds.connect_limit() / 1000;
    Ok(ChaosReport {
        seed: spec.seed,
        hosts: lab.hosts.len(),
        subnets: lab.subnets,
        heartbeat_ms: hb.as_millis() as u64,
        ran_s,
        clock_steps: lab_spec.steppable_clocks,
        faults: spans
            .iter()
            .map(|s| FaultLine {
                at_s: rel(s.start_us),
                ends_s: rel(s.end_us),
                kind: s.kind.clone(),
                what: s.what.clone(),
            })
            .collect(),
        faults_by_kind,
        checks: findings.checks.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        skipped: findings.skipped.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        across_partition: findings.across_partition,
        while_lossy: findings.while_lossy,
        frames_captured: counts.iter().map(|c| c.frames).sum(),
        frames_missed: counts.iter().map(|c| c.missed).sum(),
        missed_by_port: counts
            .iter()
            .map(|c| {
                let name = match c.port {
                    Port::Host(i) => format!("h{}", i + 1),
                    Port::Router(k) => format!("router{}", k + 1),
                };
                (name, c.missed)
            })
            .collect(),
        connections: Connections {
            made: attempts.len() as u64,
            ok: took.iter().filter(|&&ms| ms <= limit_ms).count() as u64,
            p50_ms: took.get(took.len() / 2).copied().unwrap_or(0),
            max_ms: took.last().copied().unwrap_or(0),
            limit_ms,
        },
        violations: findings.violations.iter().map(line).collect(),
        unshown: findings.unshown.iter().map(line).collect(),
    })
}
