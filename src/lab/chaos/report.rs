//! The report of a chaos run: the faults injected, the checks made, what the capture missed,
//! and every violation with its timestamp and the frames that show it.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

/// A fault, as injected.
#[derive(Debug, Clone, Serialize)]
pub struct FaultLine {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// When it ended.
    pub ends_s: f64,
    /// Its kind.
    pub kind: String,
    /// What it did.
    pub what: String,
}

/// A captured frame, as shown with a violation.
#[derive(Debug, Clone, Serialize)]
pub struct FrameLine {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// The switch port it came in by.
    pub port: String,
    /// What it says.
    pub says: String,
    /// The frame (up to 128 bytes), hex.
    pub hex: String,
}

/// A violation (or, among `unshown`, a failure without frames).
#[derive(Debug, Clone, Serialize)]
pub struct ViolationLine {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// Which check.
    pub check: String,
    /// What happened.
    pub what: String,
    /// The frames that show it.
    pub frames: Vec<FrameLine>,
}

/// Connections made to sleepers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Connections {
    /// Made.
    pub made: u64,
    /// Up and greeted.
    pub ok: u64,
    /// Median time to the greeting, milliseconds.
    pub p50_ms: u64,
    /// Slowest, milliseconds.
    pub max_ms: u64,
    /// The limit the check allows (resume delay + slack), milliseconds.
    pub limit_ms: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// Hosts.
    pub hosts: usize,
    /// Subnets.
    pub subnets: usize,
    /// The daemons' heartbeat interval, milliseconds.
    pub heartbeat_ms: u64,
    /// How long the faults ran, seconds.
    pub ran_s: f64,
    /// Clock steps were among the faults (libfaketime is installed).
    pub clock_steps: bool,
    /// Every fault, in order.
    pub faults: Vec<FaultLine>,
    /// Faults by kind.
    pub faults_by_kind: BTreeMap<String, u64>,
    /// Checks made, by check.
    pub checks: BTreeMap<String, u64>,
    /// Checks not made, and why.
    pub skipped: BTreeMap<String, u64>,
    /// Answers across a partition in force (expected; not violations).
    pub across_partition: u64,
    /// Two proxies while a loss burst or a flood was in force (counted; not violations).
    pub while_lossy: u64,
    /// Frames the monitor captured.
    pub frames_captured: u64,
    /// Frames the kernel dropped before the monitor read them.
    pub frames_missed: u64,
    /// Missed frames by switch port.
    pub missed_by_port: BTreeMap<String, u64>,
    /// The connections to sleepers.
    pub connections: Connections,
    /// Broken promises.
    pub violations: Vec<ViolationLine>,
    /// Failures the capture has no frame of: listed, not counted as violations.
    pub unshown: Vec<ViolationLine>,
}

impl ChaosReport {
    /// The report for a person.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "chaos run, seed {}: {} hosts on {} subnets, heartbeat {} ms, {:.0} s of faults{}",
            self.seed,
            self.hosts,
            self.subnets,
            self.heartbeat_ms,
            self.ran_s,
            if self.clock_steps { "" } else { " (no clock steps: libfaketime is not installed)" }
        );
        let _ = writeln!(s, "\nfaults injected: {}", self.faults.len());
        for (k, n) in &self.faults_by_kind {
            let _ = writeln!(s, "  {n:>4}  {k}");
        }
        let _ = writeln!(s, "\nchecks made:");
        for (k, n) in &self.checks {
            let _ = writeln!(s, "  {n:>6}  {k}");
        }
        for (k, n) in &self.skipped {
            let _ = writeln!(s, "  {n:>6}  not checked: {k}");
        }
        if self.across_partition > 0 {
            let _ = writeln!(
                s,
                "  {:>6}  answers across a partition in force (its sides cannot tell; not violations)",
                self.across_partition
            );
        }
        if self.while_lossy > 0 {
            let _ = writeln!(
                s,
                "  {:>6}  two proxies while a loss burst or a flood was in force (not violations)",
                self.while_lossy
            );
        }
        let c = &self.connections;
        let _ = writeln!(
            s,
            "\nconnections to sleepers: {} made, {} up within {} ms (median {} ms, slowest {} ms)",
            c.made, c.ok, c.limit_ms, c.p50_ms, c.max_ms
        );
        let _ = writeln!(
            s,
            "capture: {} frames, {} missed{}",
            self.frames_captured,
            self.frames_missed,
            if self.frames_missed == 0 {
                String::new()
            } else {
                format!(
                    " ({})",
                    self.missed_by_port
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(p, n)| format!("{p}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        let show = |s: &mut String, v: &ViolationLine| {
            let _ = writeln!(s, "  [{:>8.3} s] {}: {}", v.at_s, v.check, v.what);
            for f in &v.frames {
                let _ = writeln!(s, "      {:>8.3} s  port {:<6} {}", f.at_s, f.port, f.says);
                let _ = writeln!(s, "                  {}", f.hex);
            }
        };
        if !self.unshown.is_empty() {
            let _ = writeln!(
                s,
                "\nfailures the capture has no frame of ({}; not counted as violations):",
                self.unshown.len()
            );
            for v in &self.unshown {
                show(&mut s, v);
            }
        }
        if self.violations.is_empty() {
            let _ = writeln!(s, "\nno violations");
        } else {
            let _ = writeln!(s, "\nVIOLATIONS: {}", self.violations.len());
            for v in &self.violations {
                show(&mut s, v);
            }
        }
        s
    }
}
