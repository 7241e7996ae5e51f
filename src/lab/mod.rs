//! `wakeproxy lab`: many wakeproxy hosts on one Linux machine, for evaluation and for the
//! end-to-end tests.
//!
//! One network namespace per host, one bridge per subnet (inside a "switch" namespace, so the
//! machine's own network is never touched), a router namespace between the subnets (forwarding,
//! including directed broadcasts so WakeRequests reach other subnets), deterministic MACs and
//! addresses, a site key (the lab's `site.key`, copied to each host's own `site.key`, so that a
//! test can roll the key one host at a time), a directory per host (config, state, control
//! socket, key, logs) and one real `wakeproxy run` process per host, plus a small TCP service on
//! ports 3389 and 8080.
//! Everything the lab makes carries its name as a prefix, so `lab down` finds it all again even
//! after the process that made it died.

mod build;
pub mod chaos;
mod clock;
pub mod demo;
mod faults;
pub mod flood;
mod hosts;
pub mod measure;
mod nic;
mod service;
mod status;
pub mod truth;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::node::ProxyMode;
use crate::os::netns;
use crate::os::netns::NetnsError;

pub use clock::{clock_file, faketime_library};
pub use nic::{Carrier, DEFAULT_RESUME_DELAY, Heard, WireTap, wait_for_magic};
pub use service::{connect, serve_tcp};
pub use status::{HostRow, render as render_status, rows as status_rows};

/// The port of every lab daemon's metrics endpoint, on the host's address
/// (`http://10.0.1.10:9725/metrics`): Prometheus in the router's namespace reaches them all.
pub const METRICS_PORT: u16 = 9725;

/// The TCP ports every lab host serves (RDP's and a web port: something to connect to).
pub const SERVICE_PORTS: [u16; 2] = [3389, 8080];

/// Why a lab command failed. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Not root.
    #[error(
        "the lab needs {} (network namespaces): {}",
        crate::os::words::HERE.superuser,
        crate::os::words::HERE.elevate
    )]
    NotRoot,
    /// A tool is missing.
    #[error("the lab needs `{0}`: install it (Debian: apt-get install iproute2)")]
    Missing(&'static str),
    /// A lab of that name exists.
    #[error(
        "a lab named `{0}` is already up: use another --name, or `wakeproxy lab down --name {0}`"
    )]
    Exists(String),
    /// No lab of that name.
    #[error("no lab named `{0}` is up: start one with `wakeproxy lab up --name {0}`")]
    NotFound(String),
    /// No such host.
    #[error("lab `{lab}` has no host `{host}`: its hosts are h1 to h{count}")]
    NoHost {
        /// The lab.
        lab: String,
        /// What was asked.
        host: String,
        /// How many hosts it has.
        count: usize,
    },
    /// Bad arguments.
    #[error("{0}")]
    BadArgs(String),
    /// A command failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Its error output.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl From<NetnsError> for LabError {
    fn from(e: NetnsError) -> Self {
        Self::Command { command: e.command, message: e.message }
    }
}

/// What `lab up` builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// The lab's name: the prefix of everything it makes.
    pub name: String,
    /// Hosts.
    pub hosts: usize,
    /// Subnets (hosts are spread over them round robin).
    pub subnets: usize,
    /// Heartbeat interval of every daemon.
    pub heartbeat: Duration,
    /// How every daemon answers for sleepers.
    pub proxy_mode: ProxyMode,
    /// Proxies replay the waking SYN to a woken host (`syn_replay`).
    pub syn_replay: bool,
    /// Every daemon runs on a wall clock the lab can step (`lab chaos`; needs libfaketime).
    pub steppable_clocks: bool,
}

impl LabSpec {
    /// Checks names and sizes.
    pub fn validate(&self) -> Result<(), LabError> {
        let ok = !self.name.is_empty()
            && self.name.len() <= 8
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(LabError::BadArgs(format!(
                "--name `{}` must be 1 to 8 lowercase letters or digits (it prefixes interface names)",
                self.name
            )));
        }
        if self.hosts == 0 || self.hosts > 200 {
            return Err(LabError::BadArgs(format!(
                "--hosts must be between 1 and 200, got {}",
                self.hosts
            )));
        }
        if self.subnets == 0 || self.subnets > self.hosts.min(50) {
            return Err(LabError::BadArgs(format!(
                "--subnets must be between 1 and min(hosts, 50), got {}",
                self.subnets
            )));
        }
        if self.heartbeat < Duration::from_millis(100) {
            return Err(LabError::BadArgs("--heartbeat must be at least 100ms".into()));
        }
        Ok(())
    }
}

/// One lab host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabHost {
    /// `h1`, `h2`, …
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// Its subnet (0-based).
    pub subnet: usize,
    /// Its address.
    pub ip: String,
    /// Its IPv6 address (unique local; every host also has its link-local one).
    #[serde(default)]
    pub ip6: String,
    /// Its MAC.
    pub mac: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its daemon's process id.
    pub daemon_pid: Option<u32>,
    /// Its TCP service's process id.
    pub service_pid: Option<u32>,
    /// It sleeps: frozen and dark, its simulated NIC watching for a magic packet.
    #[serde(default)]
    pub asleep: bool,
    /// Its simulated NIC's process id, while it sleeps.
    #[serde(default)]
    pub nic_pid: Option<u32>,
}

impl LabHost {
    /// Its configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("wakeproxy.toml")
    }

    /// Its control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// Its daemon's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    /// Its own copy of the site key (its configuration's `key_file`).
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("site.key")
    }
}

/// A lab that is up, as recorded in its directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lab {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Subnets.
    pub subnets: usize,
    /// Heartbeat interval, milliseconds.
    pub heartbeat_ms: u64,
    /// Its hosts.
    pub hosts: Vec<LabHost>,
}

/// The directory of lab `name`.
pub fn lab_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wakeproxy-lab-{name}"))
}

/// Checks root and `ip`.
pub fn preconditions() -> Result<(), LabError> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    if !root {
        return Err(LabError::NotRoot);
    }
    if Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        return Err(LabError::Missing("ip"));
    }
    Ok(())
}

/// The namespace of lab `name`'s switch (its bridges, one per subnet).
pub(crate) fn switch_ns(name: &str) -> String {
    format!("{name}-sw")
}

/// The namespace of lab `name`'s router (between its subnets).
fn router_ns(name: &str) -> String {
    format!("{name}-rt")
}

impl Lab {
    /// Writes the lab's record.
    pub fn save(&self) -> Result<(), LabError> {
        let path = self.dir.join("lab.json");
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        crate::store::fsutil::atomic_write(&path, &text, 0o644).map_err(|e| LabError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// The lab named `name`, as `lab up` recorded it.
    pub fn load(name: &str) -> Result<Self, LabError> {
        let path = lab_dir(name).join("lab.json");
        let text = std::fs::read(&path).map_err(|_| LabError::NotFound(name.to_owned()))?;
        serde_json::from_slice(&text).map_err(|e| LabError::File {
            path: path.display().to_string(),
            message: format!(
                "not a lab record ({e}): remove the lab with `wakeproxy lab down --name {name}`"
            ),
        })
    }

    /// Runs `f` on the lab's record with every other writer kept out: the record is read
    /// under an exclusive lock on `lab.lock` and `f`'s changes are saved before it is released.
    /// The simulated NICs resume their hosts from processes of their own while `lab chaos`
    /// changes other hosts; without the lock one would save over the other's change.
    pub fn locked<T>(
        name: &str,
        f: impl FnOnce(&mut Self) -> Result<T, LabError>,
    ) -> Result<T, LabError> {
        let path = lab_dir(name).join("lab.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .and_then(|f| {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                    .map_err(|(_, errno)| std::io::Error::from(errno))
            })
            .map_err(|e| LabError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let mut lab = Self::load(name)?;
        let out = f(&mut lab);
        drop(file);
        out
    }

    /// Host `name` (`h1`…), or an error listing the hosts.
    pub fn host(&self, name: &str) -> Result<usize, LabError> {
        self.hosts.iter().position(|h| h.name == name).ok_or_else(|| LabError::NoHost {
            lab: self.name.clone(),
            host: name.to_owned(),
            count: self.hosts.len(),
        })
    }

    /// Runs a command inside host `i`, with inherited stdio; returns its exit code.
    pub fn exec(&self, i: usize, cmd: &[String]) -> Result<i32, LabError> {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.hosts[i].ns])
            .args(cmd)
            .status()
            .map_err(|e| LabError::Command { command: cmd.join(" "), message: e.to_string() })?;
        Ok(status.code().unwrap_or(1))
    }
}

/// Removes everything lab `name` made: its processes, namespaces (which takes their interfaces
/// along) and directory. Idempotent, and works from the prefix alone when the record is gone.
pub fn down(name: &str) -> usize {
    let prefix = format!("{name}-");
    let namespaces = netns::namespaces_with_prefix(&prefix);
    if let Ok(lab) = Lab::load(name) {
        for h in &lab.hosts {
            for pid in h.daemon_pid.into_iter().chain(h.service_pid).chain(h.nic_pid) {
                // A frozen (slept) process must be thawed to die of anything but KILL.
                netns::signal(pid, "CONT");
                netns::signal(pid, "KILL");
            }
        }
    }
    for ns in &namespaces {
        for pid in netns::pids_in(ns) {
            netns::signal(pid, "CONT");
            netns::signal(pid, "KILL");
        }
    }
    for ns in &namespaces {
        netns::run_quiet(&["ip", "netns", "del", ns]);
    }
    // Veths whose peer was never moved into a namespace (an `up` that died half-way).
    if let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(ifname) =
                line.split(':').nth(1).map(|s| s.trim().split('@').next().unwrap_or(""))
            {
                let ours = ifname.starts_with(name)
                    && ifname.len() > name.len()
                    && matches!(ifname.as_bytes()[name.len()], b'h' | b'r');
                if ours {
                    netns::run_quiet(&["ip", "link", "del", ifname]);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(lab_dir(name));
    namespaces.len()
}
