//! A small network of Linux network namespaces for tests that need real sockets: one namespace
//! per host, joined by a bridge in a namespace of its own, so the machine's own network is never
//! touched. Everything it makes carries a unique prefix and is removed on drop, even when the
//! test panics.
//!
//! These tests need root and `ip`. Under `CI=true` a missing precondition fails the test; on a
//! developer's machine without root it is skipped with a message.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod lab;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Returns false (and says why) if this machine cannot run namespace tests; panics under CI.
pub fn can_run_netns() -> bool {
    let root =
        Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    let ip = Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success());
    let why = match (root, ip) {
        (true, true) => return true,
        (false, _) => "these tests need root (network namespaces)",
        (_, false) => "these tests need `ip` (iproute2)",
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: CI runs as root with iproute2 installed, so this is a failure, not a skip");
    }
    eprintln!("SKIPPED: {why}");
    false
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> Output {
    let out =
        Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs a command, ignoring failure (cleanup).
fn sh_quiet(args: &[&str]) {
    let _ =
        Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// A bridge and hosts attached to it.
pub struct NetLab {
    /// Prefix of every name this lab made.
    pub prefix: String,
    /// Namespace of the bridge.
    pub switch: String,
    /// Hosts, in order.
    pub hosts: Vec<Host>,
    /// A temporary directory for configs, keys, state and logs.
    pub dir: PathBuf,
}

/// One host: a namespace with `eth0` on the bridge.
pub struct Host {
    /// Its namespace.
    pub ns: String,
    /// Its IPv4 address.
    pub ip: String,
    /// Its MAC.
    pub mac: String,
    /// Its daemon, if running.
    pub daemon: Option<Child>,
    /// Its directory (config, state, socket, log).
    pub dir: PathBuf,
}

impl NetLab {
    /// `n` hosts on 10.77.<k>.0/24, MACs 02:77:<k>:00:00:<i>.
    pub fn new(n: usize) -> Self {
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let k = (std::process::id() % 200) as u8 + id as u8;
        let prefix = format!("wpt{}x{id}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("wakeproxy-test-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let switch = format!("{prefix}-sw");
        let mut lab = Self {
            prefix: prefix.clone(),
            switch: switch.clone(),
            hosts: Vec::new(),
            dir: dir.clone(),
        };
        sh(&["ip", "netns", "add", &switch]);
        sh(&["ip", "-n", &switch, "link", "add", "br0", "type", "bridge"]);
        sh(&["ip", "-n", &switch, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{prefix}-h{i}");
            let (a, b) = (format!("{prefix}a{i}"), format!("{prefix}b{i}"));
            let ip = format!("10.77.{k}.{}", i + 1);
            let mac = format!("02:77:{k:02x}:00:00:{:02x}", i + 1);
            sh(&["ip", "netns", "add", &ns]);
            sh(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
            sh(&["ip", "link", "set", &a, "netns", &ns]);
            sh(&["ip", "link", "set", &b, "netns", &switch]);
            sh(&["ip", "-n", &ns, "link", "set", &a, "name", "eth0"]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "address", &mac]);
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "broadcast",
                "+",
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", &switch, "link", "set", &b, "master", "br0"]);
            sh(&["ip", "-n", &switch, "link", "set", &b, "up"]);
            let hdir = dir.join(format!("h{i}"));
            std::fs::create_dir_all(&hdir).unwrap();
            lab.hosts.push(Host { ns, ip, mac, daemon: None, dir: hdir });
        }
        lab
    }

    /// Runs `cmd` inside host `i`'s namespace.
    pub fn exec(&self, i: usize, cmd: &[&str]) -> Output {
        let mut args = vec!["ip", "netns", "exec", &self.hosts[i].ns];
        args.extend_from_slice(cmd);
        Command::new(args[0]).args(&args[1..]).output().expect("ip netns exec")
    }

    /// Starts `wakeproxy run --config <file>` in host `i`, logging to `<dir>/daemon.log`.
    pub fn start(&mut self, i: usize, config: &Path) {
        self.start_with_env(i, config, &[]);
    }

    /// Like [`NetLab::start`], with more environment variables for the daemon.
    pub fn start_with_env(&mut self, i: usize, config: &Path, env: &[(&str, &str)]) {
        let h = &mut self.hosts[i];
        let log = std::fs::File::create(h.dir.join("daemon.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns, env!("CARGO_BIN_EXE_wakeproxy"), "run", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "wakeproxy=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start wakeproxy");
        h.daemon = Some(child);
    }

    /// Kills host `i`'s daemon with SIGKILL (no goodbye).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.hosts[i].daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops host `i`'s daemon with SIGTERM and returns how long it took to exit.
    pub fn stop(&mut self, i: usize) -> Duration {
        let Some(mut c) = self.hosts[i].daemon.take() else { return Duration::ZERO };
        let t = Instant::now();
        sh_quiet(&["kill", "-TERM", &c.id().to_string()]);
        loop {
            if c.try_wait().ok().flatten().is_some() {
                return t.elapsed();
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = c.kill();
                let _ = c.wait();
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Cuts host `i` off the network (its cable is pulled: nothing in, nothing out).
    pub fn unplug(&self, i: usize) {
        sh(&["ip", "-n", &self.switch, "link", "set", &format!("{}b{i}", self.prefix), "down"]);
    }

    /// The log of host `i`'s daemon.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.hosts[i].dir.join("daemon.log")).unwrap_or_default()
    }

    /// [`wait_for`], for the tests of this lab.
    pub fn wait_for<T>(&self, limit: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
        wait_for(limit, f)
    }
}

/// Polls `f` every 50 ms until it returns `Some` or `limit` passes.
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

impl Drop for NetLab {
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            self.kill9(i);
        }
        for h in &self.hosts {
            sh_quiet(&["ip", "netns", "del", &h.ns]);
        }
        sh_quiet(&["ip", "netns", "del", &self.switch]);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("test files kept in {} for inspection", self.dir.display());
        }
    }
}

/// Captures the first magic packet (UDP to port 9, or EtherType 0x0842) seen on a host's
/// `eth0`, from an AF_PACKET socket: what is really on the wire.
pub struct Sniffer {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Sniffer {
    const SCRIPT: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
end = time.time() + float(sys.argv[1])
print("ready", flush=True)
while time.time() < end:
    s.settimeout(max(0.01, end - time.time()))
    try:
        f = s.recv(4096)
    except socket.timeout:
        break
    if f[12:14] == b"\x08\x42":
        print("raw", f[14:].hex(), flush=True)
        break
    if f[12:14] == b"\x08\x00" and f[23] == 17:
        udp = 14 + (f[14] & 15) * 4
        if int.from_bytes(f[udp + 2:udp + 4], "big") == 9:
            print("udp", f[udp + 8:].hex(), flush=True)
            break
"#;

    /// Starts sniffing in namespace `ns` for at most `secs`, and returns once it listens.
    pub fn start(ns: &str, secs: u32) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", Self::SCRIPT, &secs.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 sniffer");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(5)).expect("the sniffer did not start");
        assert_eq!(first, "ready");
        Self { child, lines }
    }

    /// The captured packet as "udp <hex payload>" or "raw <hex payload>", or "" if none came.
    pub fn packet(mut self) -> String {
        let line = self.lines.recv_timeout(Duration::from_secs(6)).unwrap_or_default();
        let _ = self.child.kill();
        let _ = self.child.wait();
        line
    }
}

/// The payload of a magic packet for `mac` (aa:bb:…), in hex.
pub fn magic_hex(mac: &str) -> String {
    let m = mac.replace(':', "");
    format!("{}{}", "ff".repeat(6), m.repeat(16))
}
