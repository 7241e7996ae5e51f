//! Linux network namespaces, by shelling out to `ip` (and friends): namespaces, veth pairs,
//! bridges, addresses, entering one. The lab and every test that needs a network of its own
//! build it with these (one harness).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A command failed: what ran and what it said.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed: {message}")]
pub struct NetnsError {
    /// The command line.
    pub command: String,
    /// Its error output (or why it could not run).
    pub message: String,
}

/// Runs a command; an error carries its stderr.
pub fn run(args: &[&str]) -> Result<Output, NetnsError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetnsError { command: args.join(" "), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(NetnsError { command: args.join(" "), message });
    }
    Ok(out)
}

/// Runs a command and ignores failure (cleanup, idempotent steps).
pub fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every network namespace whose name starts with `prefix`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The processes running in namespace `ns`.
pub fn pids_in(ns: &str) -> Vec<u32> {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

/// Sends `signal` (e.g. "KILL", "STOP", "CONT") to a process.
pub fn signal(pid: u32, signal: &str) {
    run_quiet(&["kill", &format!("-{signal}"), &pid.to_string()]);
}

/// Kills a process (also if it is stopped: a host asleep in the lab) and waits, at most 5 s,
/// until it is gone (or a zombie waiting for its parent), so whatever it held (the control
/// socket, the state directory) is free when this returns.
pub fn kill_and_wait(pid: u32) {
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
pub fn veth(a: &str, ns_a: &str, name_a: &str, b: &str, ns_b: &str) -> Result<(), NetnsError> {
    run(&["ip", "link", "add", a, "type", "veth", "peer", "name", b])?;
    run(&["ip", "link", "set", a, "netns", ns_a])?;
    run(&["ip", "link", "set", b, "netns", ns_b])?;
    if a != name_a {
        run(&["ip", "-n", ns_a, "link", "set", a, "name", name_a])?;
    }
    Ok(())
}

/// Sets a kernel parameter inside namespace `ns` (`net.ipv4.ip_forward=1`).
pub fn sysctl(ns: &str, setting: &str) -> Result<(), NetnsError> {
    run(&["ip", "netns", "exec", ns, "sysctl", "-qw", setting]).map(|_| ())
}

/// A network namespace of its own, with its loopback up, deleted (with everything in it: links,
/// nftables tables) when dropped.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Adds namespace `name`.
    pub fn add(name: &str) -> Result<Self, NetnsError> {
        run(&["ip", "netns", "add", name])?;
        let ns = Self { name: name.to_owned() };
        run(&["ip", "-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name (for `ip -n` and `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a thread of its own inside this namespace: the sockets `f` opens stay in it
    /// after `f` returns them. Only that thread moves; the caller stays where it is.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let name = self.name.clone();
        std::thread::spawn(move || {
            enter(&name).unwrap_or_else(|e| panic!("cannot enter network namespace {name}: {e}"));
            f()
        })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        run_quiet(&["ip", "netns", "del", &self.name]);
    }
}

/// Moves the calling thread into network namespace `ns` (`setns`; the thread's later sockets
/// are that namespace's).
pub fn enter(ns: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// Plugs a host into a switch: namespace `host_ns` gets interface `iface` with address `cidr`
/// (IPv4, with its broadcast address) and `mac` (or the kernel's random one), cabled by a veth
/// pair `{cable}a`/`{cable}b` to `bridge` in `switch_ns`; both ends and the host's loopback are
/// up.
pub fn plug(
    (host_ns, iface, mac): (&str, &str, Option<&str>),
    cidr: &str,
    (switch_ns, bridge): (&str, &str),
    cable: &str,
) -> Result<(), NetnsError> {
    let (a, b) = (format!("{cable}a"), format!("{cable}b"));
    veth(&a, host_ns, iface, &b, switch_ns)?;
    if let Some(mac) = mac {
        run(&["ip", "-n", host_ns, "link", "set", iface, "address", mac])?;
    }
    run(&["ip", "-n", host_ns, "addr", "add", cidr, "broadcast", "+", "dev", iface])?;
    run(&["ip", "-n", host_ns, "link", "set", iface, "up"])?;
    run(&["ip", "-n", host_ns, "link", "set", "lo", "up"])?;
    run(&["ip", "-n", switch_ns, "link", "set", &b, "master", bridge])?;
    run(&["ip", "-n", switch_ns, "link", "set", &b, "up"])?;
    Ok(())
}

/// Adds bridge `bridge` in namespace `ns`, up.
pub fn add_bridge(ns: &str, bridge: &str) -> Result<(), NetnsError> {
    run(&["ip", "-n", ns, "link", "add", bridge, "type", "bridge"])?;
    run(&["ip", "-n", ns, "link", "set", bridge, "up"])?;
    Ok(())
}

/// Polls `f` every 50 ms until it returns `Some` or `limit` passes: how the lab and its tests
/// wait for a condition instead of sleeping a fixed time.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
