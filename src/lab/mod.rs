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

pub mod demo;
mod faults;
pub mod flood;
pub mod measure;
pub mod netns;
mod nic;
mod service;
mod status;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::node::ProxyMode;

pub use nic::{Carrier, DEFAULT_RESUME_DELAY, Heard, WireTap, wait_for_magic};
pub use service::{connect, serve_tcp};
pub use status::{HostRow, render as render_status, rows as status_rows};

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

fn switch_ns(name: &str) -> String {
    format!("{name}-sw")
}

fn router_ns(name: &str) -> String {
    format!("{name}-rt")
}

/// The address of host number `index` (0-based within its subnet) on subnet `k`.
fn host_ip(k: usize, index: usize) -> String {
    format!("10.0.{}.{}", k + 1, index + 10)
}

/// The IPv6 twin of [`host_ip`]: `fd57:50:K::N` in subnet `fd57:50:K::/64`.
fn host_ip6(k: usize, index: usize) -> String {
    format!("fd57:50:{}::{}", k + 1, index + 10)
}

/// Gives a host's `eth0` its IPv6 address, without duplicate address detection (the lab's
/// addresses are unique by construction, and DAD would delay the address by a second).
fn add_ip6(ns: &str, ip6: &str) -> Result<(), LabError> {
    netns::run(&["ip", "-n", ns, "-6", "addr", "add", &format!("{ip6}/64"), "dev", "eth0", "nodad"])
        .map(drop)
}

impl Lab {
    /// Brings a lab up: namespaces, bridges, router, key, configs, daemons, services. On any
    /// failure everything made so far is removed again.
    pub fn up(spec: &LabSpec, exe: &Path) -> Result<Self, LabError> {
        spec.validate()?;
        preconditions()?;
        let dir = lab_dir(&spec.name);
        if dir.join("lab.json").exists()
            || !netns::namespaces_with_prefix(&format!("{}-", spec.name)).is_empty()
        {
            return Err(LabError::Exists(spec.name.clone()));
        }
        match Self::build(spec, exe, &dir) {
            Ok(lab) => Ok(lab),
            Err(e) => {
                down(&spec.name);
                Err(e)
            }
        }
    }

    fn build(spec: &LabSpec, exe: &Path, dir: &Path) -> Result<Self, LabError> {
        let file_err = |p: &Path, e: std::io::Error| LabError::File {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        let name = &spec.name;
        let (sw, rt) = (switch_ns(name), router_ns(name));
        netns::run(&["ip", "netns", "add", &sw])?;
        netns::run(&["ip", "netns", "add", &rt])?;
        netns::run(&["ip", "-n", &rt, "link", "set", "lo", "up"])?;
        netns::sysctl(&rt, "net.ipv4.ip_forward=1")?;
        for k in 0..spec.subnets {
            let br = format!("br{k}");
            netns::add_bridge(&sw, &br)?;
            let (a, b) = (format!("{name}r{k}a"), format!("{name}r{k}b"));
            let inner = format!("r{k}");
            netns::veth(&a, &rt, &inner, &b, &sw)?;
            netns::run(&["ip", "-n", &sw, "link", "set", &b, "master", &br])?;
            netns::run(&["ip", "-n", &sw, "link", "set", &b, "up"])?;
            netns::run(&[
                "ip",
                "-n",
                &rt,
                "addr",
                "add",
                &format!("10.0.{}.1/24", k + 1),
                "broadcast",
                "+",
                "dev",
                &inner,
            ])?;
            netns::run(&["ip", "-n", &rt, "link", "set", &inner, "up"])?;
            // Forward directed broadcasts: a WakeRequest to another subnet's broadcast address
            // reaches every node there.
            netns::sysctl(&rt, &format!("net.ipv4.conf.{inner}.bc_forwarding=1"))?;
        }
        netns::sysctl(&rt, "net.ipv4.conf.all.bc_forwarding=1")?;

        let key = dir.join("site.key");
        crate::store::keys::write_new(&key, true).map_err(|e| LabError::File {
            path: key.display().to_string(),
            message: e.to_string(),
        })?;
        let key_bytes = std::fs::read(&key).map_err(|e| file_err(&key, e))?;
        let mut lab = Self {
            name: name.clone(),
            dir: dir.to_owned(),
            subnets: spec.subnets,
            heartbeat_ms: spec.heartbeat.as_millis() as u64,
            hosts: Vec::new(),
        };
        for i in 0..spec.hosts {
            let k = i % spec.subnets;
            let index = i / spec.subnets;
            let host = format!("h{}", i + 1);
            let ns = format!("{name}-{host}");
            let ip = host_ip(k, index);
            let ip6 = host_ip6(k, index);
            let mac =
                format!("02:57:50:{:02x}:{:02x}:{:02x}", k, (index >> 8) & 0xff, index & 0xff);
            netns::run(&["ip", "netns", "add", &ns])?;
            let (cidr, cable) = (format!("{ip}/24"), format!("{name}h{}", i + 1));
            netns::plug((&ns, "eth0", Some(&mac)), &cidr, (&sw, &format!("br{k}")), &cable)?;
            add_ip6(&ns, &ip6)?;
            netns::run(&[
                "ip",
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &format!("10.0.{}.1", k + 1),
            ])?;
            let hdir = dir.join(&host);
            std::fs::create_dir_all(&hdir).map_err(|e| file_err(&hdir, e))?;
            let h = LabHost {
                name: host,
                ns,
                subnet: k,
                ip,
                ip6,
                mac,
                dir: hdir,
                daemon_pid: None,
                service_pid: None,
                asleep: false,
                nic_pid: None,
            };
            let relays: Vec<String> = (0..spec.subnets)
                .filter(|&o| o != k)
                .map(|o| format!("\"10.0.{}.255\"", o + 1))
                .collect();
            crate::store::fsutil::atomic_write(&h.key_file(), &key_bytes, 0o600)
                .map_err(|e| file_err(&h.key_file(), e))?;
            let probe = (spec.heartbeat / 4).min(Duration::from_secs(1));
            let config = format!(
                "# lab {name}, host {host}\ninterfaces = [\"eth0\"]\nheartbeat_interval = \"{}ms\"\nprobe_timeout = \"{}ms\"\n\
                 proxy_mode = \"{}\"\nsyn_replay = {}\nsleep_hooks = false\nkey_file = \"{}\"\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nwake_relays = [{}]\n",
                spec.heartbeat.as_millis(),
                probe.as_millis(),
                spec.proxy_mode.as_str(),
                spec.syn_replay,
                h.key_file().display(),
                h.dir.join("state").display(),
                h.socket().display(),
                relays.join(", "),
                host = h.name,
            );
            std::fs::write(h.config(), config).map_err(|e| file_err(&h.config(), e))?;
            lab.hosts.push(h);
        }
        for i in 0..lab.hosts.len() {
            lab.start_daemon(i, exe)?;
            lab.start_service(i, exe)?;
        }
        lab.save()?;
        Ok(lab)
    }

    /// Starts host `i`'s daemon (detached; it outlives `lab up`).
    pub fn start_daemon(&mut self, i: usize, exe: &Path) -> Result<(), LabError> {
        let h = &self.hosts[i];
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(h.log()).map_err(|e| {
                LabError::File { path: h.log().display().to_string(), message: e.to_string() }
            })?;
        let err = log.try_clone().map_err(|e| LabError::File {
            path: h.log().display().to_string(),
            message: e.to_string(),
        })?;
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns])
            .arg(exe)
            .arg("run")
            .arg("--config")
            .arg(h.config())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                command: format!("wakeproxy run in {}", h.ns),
                message: e.to_string(),
            })?;
        self.hosts[i].daemon_pid = Some(child.id());
        Ok(())
    }

    fn start_service(&mut self, i: usize, exe: &Path) -> Result<(), LabError> {
        let h = &self.hosts[i];
        let ports: Vec<String> = SERVICE_PORTS.iter().map(u16::to_string).collect();
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns])
            .arg(exe)
            .args(["lab", "serve", "--host", &h.name, "--ports", &ports.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                command: format!("lab serve in {}", h.ns),
                message: e.to_string(),
            })?;
        self.hosts[i].service_pid = Some(child.id());
        Ok(())
    }

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

    /// Host `name` (`h1`…), or an error listing the hosts.
    pub fn host(&self, name: &str) -> Result<usize, LabError> {
        self.hosts.iter().position(|h| h.name == name).ok_or_else(|| LabError::NoHost {
            lab: self.name.clone(),
            host: name.to_owned(),
            count: self.hosts.len(),
        })
    }

    /// Puts host `i` to sleep: it announces it (unless `announce` is false: an unannounced
    /// sleep), its daemon and service freeze, it stops answering anything (addresses removed,
    /// ARP off), and its simulated NIC starts watching for a magic packet.
    pub fn sleep(
        &mut self,
        i: usize,
        exe: &Path,
        announce: bool,
        resume_delay: Duration,
        password: Option<&str>,
    ) -> Result<(), LabError> {
        let h = self.hosts[i].clone();
        if h.asleep {
            return Err(LabError::BadArgs(format!("{} is already asleep", h.name)));
        }
        if announce {
            let out = Command::new(exe).args(["sleep-notice", "--config"]).arg(h.config()).output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    return Err(LabError::Command {
                        command: format!("wakeproxy sleep-notice on {}", h.name),
                        message: String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    });
                }
                Err(e) => {
                    return Err(LabError::Command {
                        command: "wakeproxy sleep-notice".into(),
                        message: e.to_string(),
                    });
                }
            }
        }
        for pid in h.daemon_pid.into_iter().chain(h.service_pid) {
            netns::signal(pid, "STOP");
        }
        netns::run(&["ip", "-n", &h.ns, "addr", "flush", "dev", "eth0"])?;
        netns::run(&["ip", "-n", &h.ns, "link", "set", "eth0", "arp", "off"])?;
        netns::sysctl(&h.ns, "net.ipv6.conf.eth0.disable_ipv6=1")?;
        let mut nic = Command::new("ip");
        nic.args(["netns", "exec", &h.ns])
            .arg(exe)
            .args(["lab", "nic", "--name", &self.name, "--host", &h.name, "--resume-delay"])
            .arg(format!("{}ms", resume_delay.as_millis()));
        if let Some(p) = password {
            nic.args(["--password", p]);
        }
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(h.dir.join("nic.log")).ok();
        let child = nic
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(
                log.as_ref().and_then(|f| f.try_clone().ok()).map_or(Stdio::null(), Stdio::from),
            )
            .stderr(log.map_or(Stdio::null(), Stdio::from))
            .spawn()
            .map_err(|e| LabError::Command { command: "lab nic".into(), message: e.to_string() })?;
        self.hosts[i].asleep = true;
        self.hosts[i].nic_pid = Some(child.id());
        self.save()
    }

    /// Wakes host `i` (its NIC saw its magic packet): addresses back, processes thawed, the
    /// daemon told it resumed, a gratuitous ARP so every cache points at it again. Called by the
    /// simulated NIC, from inside the host's namespace.
    pub fn resume(&mut self, i: usize, exe: &Path) -> Result<(), LabError> {
        let h = self.hosts[i].clone();
        let k = h.subnet;
        netns::sysctl(&h.ns, "net.ipv6.conf.eth0.disable_ipv6=0")?;
        if !h.ip6.is_empty() {
            add_ip6(&h.ns, &h.ip6)?;
        }
        netns::run(&["ip", "-n", &h.ns, "link", "set", "eth0", "arp", "on"])?;
        netns::run(&[
            "ip",
            "-n",
            &h.ns,
            "addr",
            "add",
            &format!("{}/24", h.ip),
            "broadcast",
            "+",
            "dev",
            "eth0",
        ])?;
        netns::run_quiet(&[
            "ip",
            "-n",
            &h.ns,
            "route",
            "add",
            "default",
            "via",
            &format!("10.0.{}.1", k + 1),
        ]);
        for pid in h.daemon_pid.into_iter().chain(h.service_pid) {
            netns::signal(pid, "CONT");
        }
        let _ = Command::new(exe).args(["resume-notice", "--config"]).arg(h.config()).output();
        // The simulated NIC calls this from inside the host's namespace: "eth0" is the host's.
        if let (Ok(mac), Ok(ip)) = (h.mac.parse(), h.ip.parse()) {
            let garp = crate::core::frame::gratuitous_arp(mac, ip);
            let _ = crate::os::sys::linux::send_frame("eth0", garp.as_slice());
        }
        self.hosts[i].asleep = false;
        self.hosts[i].nic_pid = None;
        self.save()
    }

    /// Kills host `i`'s daemon with SIGKILL: no goodbye, the host itself stays up.
    pub fn crash(&mut self, i: usize) -> Result<(), LabError> {
        let Some(pid) = self.hosts[i].daemon_pid.take() else {
            return Err(LabError::BadArgs(format!(
                "{}'s daemon is not running",
                self.hosts[i].name
            )));
        };
        netns::kill_and_wait(pid);
        self.save()
    }

    /// Starts host `i`'s daemon again (killing it first if it runs).
    pub fn restart(&mut self, i: usize, exe: &Path) -> Result<(), LabError> {
        if let Some(pid) = self.hosts[i].daemon_pid.take() {
            netns::kill_and_wait(pid);
        }
        self.start_daemon(i, exe)?;
        self.save()
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
