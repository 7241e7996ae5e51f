//! `wakeproxy lab` driven from tests: a lab that is taken down when the test ends, and the
//! questions tests ask of it.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::can_run_netns;

/// The heartbeat interval of test labs.
pub const H: Duration = Duration::from_millis(250);

/// Runs the wakeproxy binary under test.
pub fn wakeproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

/// A lab that is taken down when the test ends, even on panic.
pub struct TestLab {
    pub name: String,
}

impl TestLab {
    pub fn up(name: &str, hosts: usize, subnets: usize) -> Option<Self> {
        Self::up_with(name, hosts, subnets, &[])
    }

    /// A lab with more `lab up` arguments (e.g. `--proxy-mode mac-takeover`).
    pub fn up_with(name: &str, hosts: usize, subnets: usize, extra: &[&str]) -> Option<Self> {
        if !can_run_netns() {
            return None;
        }
        let _ = wakeproxy(&["lab", "down", "--name", name]);
        let out = wakeproxy(
            &[
                "lab",
                "up",
                "--name",
                name,
                "--hosts",
                &hosts.to_string(),
                "--subnets",
                &subnets.to_string(),
                "--heartbeat",
                "250ms",
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "lab up: {}", String::from_utf8_lossy(&out.stderr));
        Some(Self { name: name.to_owned() })
    }

    pub fn status(&self) -> Vec<Value> {
        let out = wakeproxy(&["lab", "status", "--json", "--name", &self.name]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    /// Waits until every subnet has exactly one manager that all its running hosts name.
    pub fn converged(&self, limit: Duration) -> Option<Vec<Value>> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            let rows = self.status();
            let subnets: std::collections::BTreeSet<u64> =
                rows.iter().map(|r| r["subnet"].as_u64().unwrap()).collect();
            let ok = subnets.iter().all(|s| {
                let on: Vec<&Value> =
                    rows.iter().filter(|r| r["subnet"] == *s && r["state"] == "up").collect();
                let managers: Vec<&&Value> = on.iter().filter(|r| r["role"] == "manager").collect();
                managers.len() == 1 && on.iter().all(|r| r["manager"] == managers[0]["id"])
            });
            if ok {
                return Some(rows);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn exec(&self, host: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["lab", "exec", host, "--name", &self.name, "--"];
        args.extend_from_slice(cmd);
        wakeproxy(&args)
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = wakeproxy(&["lab", "down", "--name", &self.name]);
    }
}

impl TestLab {
    pub fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--name", &self.name]);
        let out = wakeproxy(&all);
        assert!(out.status.success(), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn row(&self, host: &str) -> Value {
        self.status().into_iter().find(|r| r["host"] == host).unwrap()
    }

    pub fn config(&self, host: &str) -> String {
        std::env::temp_dir()
            .join(format!("wakeproxy-lab-{}/{host}/wakeproxy.toml", self.name))
            .display()
            .to_string()
    }

    /// The state host `viewer` has for host `of`, by id.
    pub fn state_seen(&self, viewer: &str, of_id: &str) -> Option<String> {
        let out = wakeproxy(&["status", "--json", "--config", &self.config(viewer)]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.clone();
        peers
            .iter()
            .find(|p| p["id"].as_str().is_some_and(|id| id.starts_with(of_id)))
            .map(|p| p["state"].as_str().unwrap_or("").to_owned())
    }

    pub fn wait(&self, limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if f() {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// The manager's host, and the host and id of one node that is not the manager.
pub fn manager_and_member(rows: &[Value]) -> (String, String, String) {
    let text = |r: &Value, k: &str| r[k].as_str().unwrap().to_owned();
    let manager = rows.iter().find(|r| r["role"] == "manager").unwrap();
    let member = rows.iter().find(|r| r["role"] != "manager").unwrap();
    (text(manager, "host"), text(member, "host"), text(member, "id"))
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Which hosts of `hosts` answer for a sleeper now.
pub fn proxies(lab: &TestLab, hosts: &[&str]) -> Vec<String> {
    hosts.iter().filter(|h| proxied_count(lab, h) > 0).map(|h| (*h).to_owned()).collect()
}

/// How many sleepers `host` answers for (0 if its daemon does not answer).
pub fn proxied_count(lab: &TestLab, host: &str) -> usize {
    let out = wakeproxy(&["status", "--json", "--config", &lab.config(host)]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["node"]["ifaces"][0]["proxied"].as_array().map_or(0, Vec::len)
}

/// The one host of `hosts` that answers for a sleeper, once there is exactly one.
pub fn the_proxy(lab: &TestLab, hosts: &[&str]) -> String {
    let mut found = Vec::new();
    lab.wait(Duration::from_secs(3), || {
        found = proxies(lab, hosts);
        found.len() == 1
    })
    .expect("one proxy");
    found.remove(0)
}

/// The MACs that answered `arping` for `ip` from `host`.
pub fn arping(lab: &TestLab, host: &str, ip: &str) -> Vec<String> {
    let out = lab.exec(host, &["arping", "-c", "2", "-w", "3", "-I", "eth0", ip]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut macs: Vec<String> = text
        .lines()
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_lowercase()))
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

impl TestLab {
    /// Host `host`'s record in the lab's `lab.json` (name, ip, ip6, mac, …).
    pub fn host(&self, host: &str) -> Value {
        let path = std::env::temp_dir().join(format!("wakeproxy-lab-{}/lab.json", self.name));
        let rec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        rec["hosts"].as_array().unwrap().iter().find(|x| x["name"] == host).unwrap().clone()
    }

    /// Host `host`'s MAC, lowercase.
    pub fn mac(&self, host: &str) -> String {
        self.host(host)["mac"].as_str().unwrap().to_lowercase()
    }

    /// The MAC a namespace's neighbour table has for `ip`, if any (`ns` is a full namespace name).
    pub fn neighbour(ns: &str, ip: &str) -> Option<String> {
        let out = Command::new("ip").args(["-n", ns, "neigh", "show", ip]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "lladdr")?;
        words.get(at + 1).map(|m| m.to_lowercase())
    }
}
