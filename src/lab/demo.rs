//! `wakeproxy lab demo`: the story of a wake-up proxy, told on a real lab with timestamps.
//!
//! Election → a host goes to sleep → another host answers for it → an operator on the other
//! subnet wakes it (a signed WakeRequest crosses the router, the target subnet sends the magic
//! packet) → the host's NIC wakes it → it sleeps again → a connection to it from the other
//! subnet reaches its proxy, whose magic packet wakes it, and the proxy replays the caller's SYN
//! to the woken host (or, with `--no-syn-replay`, the caller's retransmitted SYN gets through) →
//! the manager is killed → a new manager within 3 heartbeats. The
//! lab is torn down at the end whatever happens; the demo succeeds only if every step did.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::wait_for as wait;
use super::{Lab, LabError, LabSpec, down, status_rows};
use crate::ctl::{self, Request};

/// Runs the demo; prints the timeline; `Ok(())` only if every step happened.
pub fn run(spec: &LabSpec, exe: &Path) -> Result<(), LabError> {
    if spec.subnets < 2 || spec.hosts < 2 * spec.subnets {
        return Err(LabError::BadArgs(
            "the demo needs at least 2 subnets with 2 hosts each".into(),
        ));
    }
    let t0 = Instant::now();
    let say = |msg: &str| println!("[{:>6.1}s] {msg}", t0.elapsed().as_secs_f64());
    say(&format!(
        "bringing up lab `{}`: {} hosts on {} subnets, heartbeat {}",
        spec.name,
        spec.hosts,
        spec.subnets,
        humantime::format_duration(spec.heartbeat)
    ));
    let mut lab = Lab::up(spec, exe)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        LabError::Command { command: "tokio runtime".into(), message: e.to_string() }
    })?;
    let result = story(&mut lab, exe, &rt, spec, &say);
    say("tearing the lab down");
    down(&lab.name);
    match &result {
        Ok(()) => println!("demo complete: every step happened"),
        Err(e) => println!("demo FAILED: {e}"),
    }
    result
}

/// The manager of each subnet once every running host of it names the same one, or `None`.
pub(super) fn managers(
    lab: &Lab,
    rt: &tokio::runtime::Runtime,
) -> Option<Vec<(usize, String, u64)>> {
    let rows = rt.block_on(status_rows(lab));
    let mut out = Vec::new();
    for s in 0..lab.subnets {
        let on: Vec<_> = rows.iter().filter(|r| r.subnet == s && r.state == "up").collect();
        let m: Vec<_> = on.iter().filter(|r| r.role == "manager").collect();
        if m.len() != 1 || on.iter().any(|r| r.manager != m[0].id) {
            return None;
        }
        out.push((s, m[0].host.clone(), m[0].term));
    }
    Some(out)
}

/// The host that answers for the sleeper with node id `id`, if any.
pub(super) fn proxy_of(lab: &Lab, rt: &tokio::runtime::Runtime, id: &str) -> Option<String> {
    lab.hosts.iter().filter(|x| !x.asleep && x.daemon_pid.is_some()).find_map(|x| {
        let s = rt.block_on(ctl::status(&x.socket())).ok()?;
        s.node
            .ifaces
            .first()?
            .proxied
            .iter()
            .any(|p| p.id.to_string() == id)
            .then(|| x.name.clone())
    })
}

fn step_failed(what: &str) -> LabError {
    LabError::Command { command: "demo".into(), message: what.to_owned() }
}

fn story(
    lab: &mut Lab,
    exe: &Path,
    rt: &tokio::runtime::Runtime,
    spec: &LabSpec,
    say: &dyn Fn(&str),
) -> Result<(), LabError> {
    let h = spec.heartbeat;
    // 1. Election.
    let elected = wait(h * 6, || managers(lab, rt))
        .ok_or_else(|| step_failed("no single manager per subnet after 6 heartbeats"))?;
    for (s, host, term) in &elected {
        say(&format!(
            "election: subnet {s} (10.0.{}.0/24) elects {host} as manager, term {term}",
            s + 1
        ));
    }

    // 2. A host of the last subnet that is not its manager goes to sleep.
    let target_subnet = lab.subnets - 1;
    let manager = elected[target_subnet].1.clone();
    let sleeper = lab
        .hosts
        .iter()
        .position(|x| x.subnet == target_subnet && x.name != manager)
        .ok_or_else(|| step_failed("no host to put to sleep"))?;
    let (name, mac, id) = {
        let x = &lab.hosts[sleeper];
        let id = rt
            .block_on(ctl::status(&x.socket()))
            .map(|s| s.node.id.to_string())
            .unwrap_or_default();
        (x.name.clone(), x.mac.clone(), id)
    };
    lab.sleep(sleeper, exe, true, Duration::from_secs(2), None)?;
    say(&format!(
        "{name} announces it goes to sleep, freezes, answers nothing; its NIC waits for {mac}"
    ));
    let m = lab.host(&manager)?;
    let knows = wait(h * 2, || {
        let s = rt.block_on(ctl::status(&lab.hosts[m].socket())).ok()?;
        s.node
            .ifaces
            .first()?
            .peers
            .iter()
            .any(|p| p.id.to_string() == id && p.state == crate::core::peers::PeerState::Asleep)
            .then_some(())
    });
    knows.ok_or_else(|| step_failed("the manager did not learn of the sleep"))?;
    say(&format!("manager {manager} knows {name} is asleep"));
    // The proxy probes first; a host still suspending answers, and the probe is retried after
    // a heartbeat.
    let proxy = wait(h * 3 + Duration::from_secs(1), || proxy_of(lab, rt, &id))
        .ok_or_else(|| step_failed("nobody answers for the sleeper"))?;
    say(&format!("{proxy} answers for {name} (ARP and neighbour solicitations, with its own MAC)"));

    // 3. An operator on the first subnet wakes it.
    let operator = lab
        .hosts
        .iter()
        .position(|x| x.subnet == 0)
        .ok_or_else(|| step_failed("no host on subnet 0"))?;
    let op = lab.hosts[operator].clone();
    say(&format!("on {} (subnet 0): wakeproxy wake {mac}", op.name));
    let woke_at = Instant::now();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &op.ns])
        .arg(exe)
        .args(["wake", "--config"])
        .arg(op.config())
        .arg(&mac)
        .output()
        .map_err(|e| step_failed(&e.to_string()))?;
    if !out.status.success() {
        return Err(step_failed(&format!(
            "wake failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    say(&format!(
        "{} does not know {mac}: it sends a signed WakeRequest to the other subnets' broadcast addresses",
        op.name
    ));
    let sender = wait(Duration::from_secs(3), || {
        lab.hosts.iter().filter(|x| x.subnet == target_subnet && !x.asleep).find_map(|x| {
            let events =
                rt.block_on(ctl::call(&x.socket(), &Request::Events { follow: false })).ok()?;
            let sent = events
                .as_array()?
                .iter()
                .any(|e: &Value| e["event"] == "wake-sent" && e["mac"] == mac.as_str());
            sent.then(|| x.name.clone())
        })
    });
    let sender =
        sender.ok_or_else(|| step_failed("no magic packet was sent on the target subnet"))?;
    say(&format!(
        "{sender} on subnet {target_subnet} sends the magic packet for {mac} (UDP 9, subnet broadcast)"
    ));
    wait(Duration::from_secs(8), || {
        let rec = Lab::load(&lab.name).ok()?;
        (!rec.hosts[sleeper].asleep).then_some(())
    })
    .ok_or_else(|| step_failed("the sleeper did not wake"))?;
    *lab = Lab::load(&lab.name)?;
    say(&format!(
        "{name} is awake again, {:.1} s after the wake command (2 s of it resuming)",
        woke_at.elapsed().as_secs_f64()
    ));

    // 4. The layer-2 proxy: the host sleeps again, and a connection to it wakes it.
    lab.sleep(sleeper, exe, true, Duration::from_secs(2), None)?;
    say(&format!("{name} goes to sleep again"));
    // The proxy probes first; a host still suspending answers, and the probe is retried after
    // a heartbeat.
    let proxy = wait(h * 3 + Duration::from_secs(1), || proxy_of(lab, rt, &id))
        .ok_or_else(|| step_failed("nobody answers for the sleeper"))?;
    say(&format!("{proxy} answers for {name}"));
    let target = format!("{}:{}", lab.hosts[sleeper].ip, super::SERVICE_PORTS[1]);
    say(&format!(
        "on {} (subnet 0): connect to {target} (a port {name} listened on before it slept)",
        op.name
    ));
    let connected_at = Instant::now();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &op.ns])
        .arg(exe)
        .args(["lab", "connect", &target, "--timeout", "15s"])
        .output()
        .map_err(|e| step_failed(&e.to_string()))?;
    if !out.status.success() {
        return Err(step_failed(&format!(
            "the connection failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let how = if spec.syn_replay {
        format!("{name} woke and {proxy} replayed the caller's SYN to it")
    } else {
        format!("{name} woke and the caller's retransmitted SYN got through")
    };
    say(&format!(
        "{proxy} saw the SYN and sent the magic packet; {how}: \"{}\" after {:.1} s",
        String::from_utf8_lossy(&out.stdout).trim(),
        connected_at.elapsed().as_secs_f64()
    ));
    *lab = Lab::load(&lab.name)?;

    // 5. The first subnet's manager dies.
    let (_, old, old_term) = elected[0].clone();
    let i = lab.host(&old)?;
    lab.crash(i)?;
    let killed = Instant::now();
    say(&format!("manager {old} of subnet 0 is killed (SIGKILL: no goodbye)"));
    let next = wait(h * 3 + Duration::from_secs(2), || {
        managers(lab, rt).map(|m| m[0].clone()).filter(|(_, host, _)| *host != old)
    });
    let (_, new, term) = next.ok_or_else(|| step_failed("no new manager on subnet 0"))?;
    let took = killed.elapsed();
    let beats = took.as_secs_f64() / h.as_secs_f64();
    say(&format!(
        "new manager of subnet 0: {new}, term {term} (was {old_term}), after {:.1} s = {beats:.1} heartbeats",
        took.as_secs_f64()
    ));
    if took > h * 3 + Duration::from_millis(500) {
        return Err(step_failed(&format!(
            "the new manager took {beats:.1} heartbeats, more than 3"
        )));
    }
    Ok(())
}
