//! `lab up`: namespaces, the switch and its bridges, the router, the site key, each host's
//! namespace, address, configuration and directory; on any failure everything made so far is
//! removed again.

use std::path::Path;
use std::time::Duration;

use super::{
    Lab, LabError, LabHost, LabSpec, down, lab_dir, netns, preconditions, router_ns, switch_ns,
};

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
pub(super) fn add_ip6(ns: &str, ip6: &str) -> Result<(), LabError> {
    netns::run(&["ip", "-n", ns, "-6", "addr", "add", &format!("{ip6}/64"), "dev", "eth0", "nodad"])
        .map(drop)
        .map_err(LabError::from)
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
                 proxy_mode = \"{}\"\nsyn_replay = {}\nsleep_hooks = false\nkey_file = \"{}\"\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nwake_relays = [{}]\nmetrics_listen = \"{}:{}\"\n",
                spec.heartbeat.as_millis(),
                probe.as_millis(),
                spec.proxy_mode.as_str(),
                spec.syn_replay,
                h.key_file().display(),
                h.dir.join("state").display(),
                h.socket().display(),
                relays.join(", "),
                h.ip,
                super::METRICS_PORT,
                host = h.name,
            );
            std::fs::write(h.config(), config).map_err(|e| file_err(&h.config(), e))?;
            if spec.steppable_clocks {
                let clock = super::clock_file(&h);
                std::fs::write(&clock, "+0\n").map_err(|e| file_err(&clock, e))?;
            }
            lab.hosts.push(h);
        }
        for i in 0..lab.hosts.len() {
            lab.start_daemon(i, exe)?;
            lab.start_service(i, exe)?;
        }
        lab.save()?;
        Ok(lab)
    }
}
