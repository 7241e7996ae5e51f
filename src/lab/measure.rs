//! `wakeproxy lab wake-latency`: how long a proxy takes from a TCP SYN on the wire to its magic
//! packet on the wire, over many wakes in a row.
//!
//! The clock is the lab switch's: `tcpdump` in the switch namespace stamps every frame as it
//! enters the bridge (kernel timestamps, nanosecond precision), so the number includes the
//! proxy's capture, its decision and its send, and nothing of this program's own scheduling.
//! Each round: a host sleeps (announced), a proxy claims it, a neighbour on the same subnet
//! (never the proxy: its own SYNs leave without passing its capture) sends one SYN to a port the
//! sleeper listened on, the proxy wakes it, the host resumes at once.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::demo::{managers, proxy_of};
use super::netns::wait_for as wait;
use super::{Lab, LabError, LabSpec, down};
use crate::ctl;

/// SYN → magic packet latencies, one per wake.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    /// Microseconds, sorted.
    pub samples_us: Vec<f64>,
    /// Rounds whose SYN had no magic packet before the next SYN.
    pub missed: usize,
}

impl LatencyReport {
    /// The `q` quantile (0..=1) by nearest rank, in microseconds.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.samples_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.samples_us.len() as f64).ceil() as usize).max(1);
        self.samples_us[rank.min(self.samples_us.len()) - 1]
    }
}

/// Pairs each connection attempt's first SYN with the first magic packet after it and before
/// the next attempt. Lines are tcpdump's `-tt` output: a timestamp in seconds, then the packet.
/// A SYN from the same source address and port as the attempt before it is that attempt again
/// (the caller's retransmission, or the proxy's replay to the woken host), not a new one.
pub fn pair(lines: &[String]) -> LatencyReport {
    let mut samples = Vec::new();
    let mut missed = 0;
    let mut pending: Option<f64> = None;
    let mut last_from: Option<&str> = None;
    for line in lines {
        let Some(t) = line.split_whitespace().next().and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        if line.contains("Flags [S]") {
            // "… IP 10.0.1.12.40000 > 10.0.1.10.8080: Flags [S] …": the word before ">".
            let from = line.split(" > ").next().and_then(|l| l.rsplit(' ').next());
            if from.is_some() && from == last_from {
                continue;
            }
            last_from = from;
            if pending.replace(t).is_some() {
                missed += 1;
            }
        } else if line.contains(".9: UDP") {
            if let Some(syn) = pending.take() {
                samples.push((t - syn) * 1e6);
            }
        }
    }
    missed += usize::from(pending.is_some());
    samples.sort_by(f64::total_cmp);
    LatencyReport { samples_us: samples, missed }
}

/// Brings up a lab, measures `count` wakes, tears it down.
pub fn wake_latency(spec: &LabSpec, exe: &Path, count: usize) -> Result<LatencyReport, LabError> {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        return Err(LabError::BadArgs(
            "wake-latency reads the switch's clock with tcpdump: install it (apt-get install tcpdump)"
                .into(),
        ));
    }
    if spec.hosts < 3 * spec.subnets {
        return Err(LabError::BadArgs("wake-latency needs 3 hosts on the first subnet".into()));
    }
    let mut lab = Lab::up(spec, exe)?;
    let result = measure(&mut lab, exe, count);
    down(&lab.name);
    result
}

/// The source ports the caller connects from, one per round (a thousand, then again).
const CALLER_PORT_FIRST: u16 = 47_000;
const CALLER_PORT_COUNT: u16 = 1_000;

fn failed(what: String) -> LabError {
    LabError::Command { command: "wake-latency".into(), message: what }
}

fn measure(lab: &mut Lab, exe: &Path, count: usize) -> Result<LatencyReport, LabError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let h = Duration::from_millis(lab.heartbeat_ms);
    let elected =
        wait(h * 6, || managers(lab, &rt)).ok_or_else(|| failed("no manager elected".into()))?;
    // The sleeper and the caller: two hosts of subnet 0 that are not its manager.
    let others: Vec<usize> = (0..lab.hosts.len()).filter(|&i| lab.hosts[i].subnet == 0).collect();
    let manager = lab.host(&elected[0].1)?;
    let Some(sleeper) = others.iter().copied().find(|&i| i != manager) else {
        return Err(failed("subnet 0 needs a manager and two more hosts".into()));
    };
    let id = rt
        .block_on(ctl::status(&lab.hosts[sleeper].socket()))
        .map(|s| s.node.id.to_string())
        .map_err(|e| failed(e.to_string()))?;
    let target = format!("{}:8080", lab.hosts[sleeper].ip);

    // Inbound frames only: each frame once, as it enters the switch from its sender's port. The
    // caller connects from a port of its own range, so that the SYNs of the nodes' TCP probes
    // (which try the ports a host announced, 8080 among them) are not taken for attempts.
    let mut tcpdump = Command::new("ip")
        .args(["netns", "exec", &super::switch_ns(&lab.name), "tcpdump", "-i", "any", "-Q", "in"])
        .args(["-nn", "-l", "-tt", "--time-stamp-precision=nano"])
        .arg(format!(
            "(tcp dst port 8080 and tcp src portrange {CALLER_PORT_FIRST}-{} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or udp dst port 9",
            CALLER_PORT_FIRST + CALLER_PORT_COUNT - 1
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(format!("tcpdump: {e}")))?;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let out = tcpdump.stdout.take().ok_or_else(|| failed("tcpdump: no output".into()))?;
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().map(|mut l| l.push(line)).ok();
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let mut round = |i: usize| -> Result<(), LabError> {
        lab.sleep(sleeper, exe, true, Duration::ZERO, None)?;
        let proxy = wait(Duration::from_secs(5), || proxy_of(lab, &rt, &id))
            .ok_or_else(|| failed("nobody answered for the sleeper".into()))?;
        let proxy = lab.host(&proxy)?;
        let caller =
            others.iter().copied().find(|&i| i != sleeper && i != proxy).ok_or_else(|| {
                failed("subnet 0 needs a host besides the sleeper and its proxy".into())
            })?;
        let syn = format!(
            "import socket; s=socket.socket(); s.bind(('', {})); s.settimeout(0.2); s.connect_ex(('{}', 8080))",
            CALLER_PORT_FIRST + (i % usize::from(CALLER_PORT_COUNT)) as u16,
            lab.hosts[sleeper].ip
        );
        Command::new("ip")
            .args(["netns", "exec", &lab.hosts[caller].ns, "python3", "-c", &syn])
            .output()
            .map_err(|e| failed(format!("python3: {e}")))?;
        // Its NIC resumes it at once; wait until it is back and nobody answers for it.
        let name = lab.name.clone();
        wait(Duration::from_secs(10), || {
            let fresh = Lab::load(&name).ok()?;
            (!fresh.hosts[sleeper].asleep && proxy_of(&fresh, &rt, &id).is_none()).then_some(())
        })
        .ok_or_else(|| failed(format!("{target} did not wake")))?;
        *lab = Lab::load(&lab.name)?;
        Ok(())
    };
    let mut outcome = Ok(());
    for i in 0..count {
        if let Err(e) = round(i) {
            outcome = Err(failed(format!("round {}: {e}", i + 1)));
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = tcpdump.kill();
    let _ = tcpdump.wait();
    let _ = reader.join();
    outcome?;
    let lines = lines.lock().map(|l| l.clone()).unwrap_or_default();
    let report = pair(&lines);
    eprintln!("{count} rounds in {:.0} s", started.elapsed().as_secs_f64());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_syn_pairs_with_the_first_magic_packet_after_it() {
        let lines: Vec<String> = [
            "1.000000000 eth0 In IP 10.0.1.12.40000 > 10.0.1.10.8080: Flags [S], seq 1",
            "1.000400000 eth0 In IP 10.0.1.11.50000 > 10.0.1.255.9: UDP, length 102",
            "1.500000000 eth0 In IP 10.0.1.11.50000 > 10.0.1.255.9: UDP, length 102",
            // The proxy's replay of that SYN to the woken host: the same attempt.
            "1.600000000 eth1 In IP 10.0.1.12.40000 > 10.0.1.10.8080: Flags [S], seq 1",
            "2.000000000 eth0 In IP 10.0.1.12.40001 > 10.0.1.10.8080: Flags [S], seq 1",
            "3.000000000 eth0 In IP 10.0.1.12.40002 > 10.0.1.10.8080: Flags [S], seq 1",
            "3.002000000 eth0 In IP 10.0.1.11.50000 > 10.0.1.255.9: UDP, length 102",
            "tcpdump: garbage",
        ]
        .map(String::from)
        .to_vec();
        let r = pair(&lines);
        assert_eq!(r.missed, 1);
        assert_eq!(r.samples_us.len(), 2);
        assert!((r.samples_us[0] - 400.0).abs() < 0.01);
        assert!((r.samples_us[1] - 2000.0).abs() < 0.01);
        assert!((r.quantile(0.5) - 400.0).abs() < 0.01);
        assert!((r.quantile(0.99) - 2000.0).abs() < 0.01);
    }
}
