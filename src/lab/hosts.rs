//! What happens to a lab host: its daemon and service started, it sleeps (frozen and dark, its
//! simulated NIC watching) and resumes, its daemon crashes or restarts.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::build::add_ip6;
use super::{Lab, LabError, SERVICE_PORTS, netns};

impl Lab {
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
        let mut cmd = Command::new("ip");
        super::clock::apply(h, &mut cmd);
        let child = cmd
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

    pub(super) fn start_service(&mut self, i: usize, exe: &Path) -> Result<(), LabError> {
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
        self.record(i, super::truth::Change::Sleeps)?;
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
        self.record(i, super::truth::Change::Awake)?;
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
}
