//! Shelling out to `ip` (and friends) for the lab: namespaces, veth pairs, bridges, addresses.

use std::process::{Command, Output, Stdio};

use super::LabError;

/// Runs a command; an error carries its stderr.
pub(crate) fn run(args: &[&str]) -> Result<Output, LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command { command: args.join(" "), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(LabError::Command { command: args.join(" "), message });
    }
    Ok(out)
}

/// Runs a command and ignores failure (cleanup, idempotent steps).
pub(crate) fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every network namespace whose name starts with `prefix`.
pub(crate) fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The processes running in namespace `ns`.
pub(crate) fn pids_in(ns: &str) -> Vec<u32> {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

/// Sends `signal` (e.g. "KILL", "STOP", "CONT") to a process.
pub(crate) fn signal(pid: u32, signal: &str) {
    run_quiet(&["kill", &format!("-{signal}"), &pid.to_string()]);
}

/// Kills a process (also if it is stopped: a host asleep in the lab) and waits, at most 5 s,
/// until it is gone (or a zombie waiting for its parent), so whatever it held (the control
/// socket, the state directory) is free when this returns.
pub(crate) fn kill_and_wait(pid: u32) {
    signal(pid, "CONT");
    signal(pid, "KILL");
    let dead = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the command name, which is in parentheses.
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }
        Err(_) => true,
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !dead() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A veth pair: `a` into namespace `ns_a` renamed `name_a`, `b` into `ns_b`.
pub(crate) fn veth(a: &str, ns_a: &str, name_a: &str, b: &str, ns_b: &str) -> Result<(), LabError> {
    run(&["ip", "link", "add", a, "type", "veth", "peer", "name", b])?;
    run(&["ip", "link", "set", a, "netns", ns_a])?;
    run(&["ip", "link", "set", b, "netns", ns_b])?;
    if a != name_a {
        run(&["ip", "-n", ns_a, "link", "set", a, "name", name_a])?;
    }
    Ok(())
}

/// Sets a kernel parameter inside namespace `ns` (`net.ipv4.ip_forward=1`).
pub(crate) fn sysctl(ns: &str, setting: &str) -> Result<(), LabError> {
    run(&["ip", "netns", "exec", ns, "sysctl", "-qw", setting]).map(|_| ())
}
