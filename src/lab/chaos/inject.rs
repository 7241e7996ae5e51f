//! Carries out the planner's faults on a real lab and records what was done, when.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::capture::{Capture, Port};
use super::evidence::{Seen, read};
use super::schedule::Fault;
use super::stations::{self, Station};
use super::verdict::{Attempt, FaultSpan};
use crate::core::proto::SiteKey;
use crate::lab::truth::unix_us;
use crate::lab::{Lab, LabError, SERVICE_PORTS, netns};

/// What the injector needs of the run.
pub(super) struct Injector<'a> {
    /// The lab's name.
    pub(super) name: String,
    /// The wakeproxy binary.
    pub(super) exe: PathBuf,
    /// The daemons' heartbeat interval.
    pub(super) heartbeat: Duration,
    /// Their probe window.
    pub(super) probe: Duration,
    /// How long a woken host takes to resume.
    pub(super) resume_delay: Duration,
    /// The capture (to find who answers for a sleeper).
    pub(super) capture: &'a Capture,
    /// The keyless station.
    pub(super) hostile: &'a Station,
    /// The site key (to read what the capture saw).
    pub(super) key: &'a SiteKey,
    /// How long a connection to a sleeper may take before the monitor calls it a failure.
    pub(super) connect_limit: Duration,
    /// The connections made, with their outcome.
    pub(super) attempts: Vec<Attempt>,
}

fn pause(d: Duration) {
    std::thread::sleep(d);
}

impl Injector<'_> {
    fn lab(&self) -> Result<Lab, LabError> {
        Lab::load(&self.name)
    }

    /// Injects `fault`; returns its span.
    pub(super) fn inject(&mut self, fault: &Fault) -> Result<FaultSpan, LabError> {
        let lab = self.lab()?;
        let hb = self.heartbeat;
        let start_us = unix_us();
        let mut span = FaultSpan {
            start_us,
            end_us: start_us,
            settled_us: start_us,
            kind: fault.kind().to_owned(),
            what: String::new(),
            subnets: Vec::new(),
            split: None,
            lossy: matches!(fault, Fault::Loss { .. } | Fault::Flood { .. }),
        };
        let host = |i: usize| lab.hosts[i].name.clone();
        match fault {
            Fault::Sleep { host: i, announced } => {
                span.what = format!(
                    "{} sleeps{}",
                    host(*i),
                    if *announced { "" } else { " without notice" }
                );
                span.subnets = vec![lab.hosts[*i].subnet];
                let exe = self.exe.clone();
                let delay = self.resume_delay;
                Lab::locked(&self.name, |lab| lab.sleep(*i, &exe, *announced, delay, None))?;
                span.end_us = unix_us();
                span.settled_us = span.end_us;
                if !announced {
                    // The daemons notice an unannounced sleep within 2.5 intervals and two
                    // probe windows (docs/security.md).
                    span.settled_us += (hb * 5 / 2 + self.probe * 2).as_micros() as u64;
                }
            }
            Fault::Connect { caller, target } => {
                // The sleeper's own proxy cannot reach it (known limitation K1,
                // docs/reliability.md): its host's connection is made from another host.
                let proxy = self.proxy_of(&lab, *target);
                let drawn = *caller;
                let caller = &if proxy == Some(*caller) {
                    (0..lab.hosts.len())
                        .find(|&i| i != *target && Some(i) != proxy && !lab.hosts[i].asleep)
                        .unwrap_or(*caller)
                } else {
                    *caller
                };
                let (c, t) = (&lab.hosts[*caller], &lab.hosts[*target]);
                let port = SERVICE_PORTS[(start_us % 2) as usize];
                span.what = format!("{} connects to sleeping {}:{port}", c.name, t.name);
                if drawn != *caller {
                    span.what.push_str(&format!(
                        " (instead of {}, its proxy: known limitation K1)",
                        lab.hosts[drawn].name
                    ));
                }
                span.subnets = vec![t.subnet];
                let addr: std::net::SocketAddr = format!("{}:{port}", t.ip)
                    .parse()
                    .map_err(|e| LabError::BadArgs(format!("{}: {e}", t.ip)))?;
                let ns = c.ns.clone();
                // Longer than the check allows: a late connection is reported as late, not as failed.
                let limit = self.connect_limit + Duration::from_secs(2);
                let result = std::thread::spawn(move || {
                    netns::enter(&ns).map_err(|e| e.to_string())?;
                    crate::lab::connect(addr, limit).map(drop).map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("the caller's thread panicked".into()));
                span.end_us = unix_us();
                self.attempts.push(Attempt {
                    at_us: start_us,
                    done_us: span.end_us,
                    caller: *caller,
                    target: *target,
                    port,
                    result,
                });
                self.wait_awake(*target, Duration::from_secs(5))?;
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::Wake { via, target } => {
                span.what = format!("{} asks its daemon to wake {}", host(*via), host(*target));
                span.subnets = vec![lab.hosts[*target].subnet];
                let _ = Command::new(&self.exe)
                    .args(["wake", "--config"])
                    .arg(lab.hosts[*via].config())
                    .arg(&lab.hosts[*target].mac)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                self.wait_awake(*target, self.resume_delay + Duration::from_secs(10))?;
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::Crash { host: i, down, wipe_state } => {
                span.what = self.crash_and_restart(&lab, *i, *down, *wipe_state)?;
                span.subnets = vec![lab.hosts[*i].subnet];
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::KillProxy { sleeper, down, wipe_state } => {
                let subnet = lab.hosts[*sleeper].subnet;
                span.subnets = vec![subnet];
                match self.proxy_of(&lab, *sleeper) {
                    Some(p) if lab.hosts[p].daemon_pid.is_some() => {
                        let what = self.crash_and_restart(&lab, p, *down, *wipe_state)?;
                        span.what = format!("{what} (it answered for sleeping {})", host(*sleeper));
                    }
                    _ => {
                        span.kind = "proxy killed while it holds a sleeper (none seen)".into();
                        span.what = format!("nobody was seen answering for {}", host(*sleeper));
                    }
                }
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::Partition { side, rest, lasts } => {
                let names = |v: &[usize]| v.iter().map(|&i| host(i)).collect::<Vec<_>>().join(",");
                span.what = format!(
                    "{} cut off from {} for {}",
                    names(side),
                    names(rest),
                    humantime::format_duration(*lasts)
                );
                span.subnets = vec![lab.hosts[side[0]].subnet];
                span.split = Some((side.clone(), rest.clone()));
                lab.partition(side, rest)?;
                pause(*lasts);
                lab.heal()?;
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::Loss { host: i, percent, lasts } => {
                span.what = format!(
                    "{} loses {percent} % of its packets for {}",
                    host(*i),
                    humantime::format_duration(*lasts)
                );
                span.subnets = vec![lab.hosts[*i].subnet];
                lab.loss(*i, *percent)?;
                pause(*lasts);
                lab.loss(*i, 0)?;
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::ClockStep { host: i, by_s, lasts } => {
                span.what = format!(
                    "{}'s clock steps by {by_s:+} s for {}",
                    host(*i),
                    humantime::format_duration(*lasts)
                );
                span.subnets = vec![lab.hosts[*i].subnet];
                let file = crate::lab::clock_file(&lab.hosts[*i]);
                write_clock(&file, *by_s)?;
                pause(*lasts);
                write_clock(&file, 0)?;
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::Hostile { lasts } => {
                span.what = format!(
                    "the keyless station relays peer datagrams across subnets and replays them 3 s later, for {}",
                    humantime::format_duration(*lasts)
                );
                span.subnets = (0..lab.subnets).collect();
                let running = stations::relay_and_replay(self.hostile, Duration::from_secs(3))?;
                pause(*lasts);
                let sent = running.stop();
                span.what.push_str(&format!(" ({sent} datagrams sent)"));
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
            Fault::Flood { subnet, arp, lasts } => {
                let secs = format!("{}ms", lasts.as_millis());
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", self.hostile.ns()])
                    .arg(&self.exe)
                    .args(["lab", "flood"]);
                if *arp {
                    cmd.args(["arp", "--interface", &format!("eth{subnet}")]);
                } else {
                    cmd.args(["junk", "--to", &format!("10.0.{}.255:25536", subnet + 1)]);
                }
                let out = cmd.args(["--duration", &secs]).stderr(Stdio::null()).output().map_err(
                    |e| LabError::Command { command: "lab flood".into(), message: e.to_string() },
                )?;
                let rate = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                span.what = format!(
                    "{} on subnet {} for {}: {rate}",
                    fault.kind(),
                    subnet + 1,
                    humantime::format_duration(*lasts)
                );
                span.subnets = vec![*subnet];
                span.end_us = unix_us();
                span.settled_us = span.end_us;
            }
        }
        Ok(span)
    }

    /// Kills host `i`'s daemon, waits `down`, starts it again; says what it did.
    fn crash_and_restart(
        &self,
        lab: &Lab,
        i: usize,
        down: Duration,
        wipe: bool,
    ) -> Result<String, LabError> {
        Lab::locked(&self.name, |lab| lab.crash(i))?;
        pause(down);
        if wipe {
            let state = lab.hosts[i].dir.join("state");
            let _ = std::fs::remove_dir_all(&state);
        }
        let exe = self.exe.clone();
        Lab::locked(&self.name, |lab| lab.restart(i, &exe))?;
        Ok(format!(
            "{}'s daemon killed with SIGKILL, restarted {} later{}",
            lab.hosts[i].name,
            humantime::format_duration(down),
            if wipe { " without its state directory" } else { "" }
        ))
    }

    /// Who the capture saw answering for `sleeper` last (in the last two seconds).
    fn proxy_of(&self, lab: &Lab, sleeper: usize) -> Option<usize> {
        let ip: std::net::Ipv4Addr = lab.hosts[sleeper].ip.parse().ok()?;
        let since = unix_us().saturating_sub(2_000_000);
        self.capture.frames().iter().rev().take_while(|c| c.at_us >= since).find_map(|c| {
            match (c.port, read(&c.frame, self.key)) {
                (Port::Host(p), Some(Seen::ArpAnswer { ip: a, .. })) if a == ip && p != sleeper => {
                    Some(p)
                }
                _ => None,
            }
        })
    }

    /// Waits until the lab says host `i` is awake again, at most `limit`.
    fn wait_awake(&self, i: usize, limit: Duration) -> Result<(), LabError> {
        netns::wait_for(limit, || self.lab().ok().filter(|lab| !lab.hosts[i].asleep));
        Ok(())
    }
}

/// Sets a host's clock offset (libfaketime reads the file at every clock call).
fn write_clock(file: &Path, by_s: i64) -> Result<(), LabError> {
    std::fs::write(file, format!("{by_s:+}\n"))
        .map_err(|e| LabError::File { path: file.display().to_string(), message: e.to_string() })
}
