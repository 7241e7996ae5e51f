//! End to end through `wakeproxy lab`: real daemons, real kernels, real frames. Needs root (CI
//! runs as root; under `CI=true` a missing precondition fails the test). Each test has its own
//! lab name, so they run in parallel.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Sniffer, can_run_netns, magic_hex};
use serde_json::Value;

fn wakeproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

/// A lab that is taken down when the test ends, even on panic.
struct TestLab {
    name: String,
}

impl TestLab {
    fn up(name: &str, hosts: usize, subnets: usize) -> Option<Self> {
        if !can_run_netns() {
            return None;
        }
        let _ = wakeproxy(&["lab", "down", "--name", name]);
        let out = wakeproxy(&[
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
        ]);
        assert!(out.status.success(), "lab up: {}", String::from_utf8_lossy(&out.stderr));
        Some(Self { name: name.to_owned() })
    }

    fn status(&self) -> Vec<Value> {
        let out = wakeproxy(&["lab", "status", "--json", "--name", &self.name]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    /// Waits until every subnet has exactly one manager that all its running hosts name.
    fn converged(&self, limit: Duration) -> Option<Vec<Value>> {
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

    fn exec(&self, host: &str, cmd: &[&str]) -> Output {
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

#[test]
fn six_hosts_on_two_subnets_elect_one_manager_per_subnet() {
    let Some(lab) = TestLab::up("tel", 6, 2) else { return };
    let rows =
        lab.converged(Duration::from_secs(10)).unwrap_or_else(|| panic!("{:#?}", lab.status()));
    assert_eq!(rows.len(), 6);
    assert_eq!(rows.iter().filter(|r| r["role"] == "manager").count(), 2);
    // Each host hears exactly the other two of its subnet: heartbeats stay on their LAN.
    assert!(rows.iter().all(|r| r["peers"] == 2), "{rows:#?}");
}

#[test]
fn a_wake_request_crosses_the_router_and_the_target_subnet_sends_the_magic_packet() {
    let Some(lab) = TestLab::up("twr", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    // h1 is on subnet 0; the target MAC lives on subnet 1, where h4 listens to the wire.
    let target = "02:57:50:01:00:07";
    let sniffer = Sniffer::start(&format!("{}-h4", lab.name), 5);
    let cfg = std::env::temp_dir().join(format!("wakeproxy-lab-{}/h1/wakeproxy.toml", lab.name));
    let out = lab.exec(
        "h1",
        &[env!("CARGO_BIN_EXE_wakeproxy"), "wake", "--config", cfg.to_str().unwrap(), target],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sniffer.packet(), format!("udp {}", magic_hex(target)));
}

#[test]
fn the_hosts_serve_tcp_and_reach_each_other_through_the_router() {
    let Some(lab) = TestLab::up("tcp", 2, 2) else { return };
    let script = "import socket; s=socket.create_connection(('10.0.2.10', 8080), timeout=3); print(s.makefile().readline().strip())";
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let out = lab.exec("h1", &["python3", "-c", script]);
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from h2 port 8080");
            break;
        }
        assert!(Instant::now() < end, "{}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn lab_down_leaves_nothing_behind_and_bad_input_gets_exit_code_2() {
    let Some(lab) = TestLab::up("tdn", 3, 1) else { return };
    let again = wakeproxy(&["lab", "up", "--name", "tdn", "--hosts", "2"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already up"));
    let nohost = lab.exec("h9", &["true"]);
    assert_eq!(nohost.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nohost.stderr).contains("h1 to h3"));
    let bad = wakeproxy(&["lab", "up", "--name", "Not-Valid"]);
    assert_eq!(bad.status.code(), Some(2));

    let down = wakeproxy(&["lab", "down", "--name", "tdn"]);
    assert!(down.status.success());
    let netns =
        String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
            .unwrap();
    assert!(!netns.contains("tdn-"), "{netns}");
    let links = String::from_utf8(Command::new("ip").args(["-o", "link"]).output().unwrap().stdout)
        .unwrap();
    assert!(!links.contains("tdnh") && !links.contains("tdnr"), "{links}");
    let procs =
        String::from_utf8(Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout)
            .unwrap();
    assert!(!procs.contains("wakeproxy-lab-tdn"), "{procs}");
    assert!(!std::env::temp_dir().join("wakeproxy-lab-tdn").exists());
    // Idempotent.
    assert!(wakeproxy(&["lab", "down", "--name", "tdn"]).status.success());
}

impl TestLab {
    fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--name", &self.name]);
        let out = wakeproxy(&all);
        assert!(out.status.success(), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn row(&self, host: &str) -> Value {
        self.status().into_iter().find(|r| r["host"] == host).unwrap()
    }

    fn config(&self, host: &str) -> String {
        std::env::temp_dir()
            .join(format!("wakeproxy-lab-{}/{host}/wakeproxy.toml", self.name))
            .display()
            .to_string()
    }

    /// The state host `viewer` has for host `of`, by id.
    fn state_seen(&self, viewer: &str, of_id: &str) -> Option<String> {
        let out = wakeproxy(&["status", "--json", "--config", &self.config(viewer)]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.clone();
        peers
            .iter()
            .find(|p| p["id"].as_str().is_some_and(|id| id.starts_with(of_id)))
            .map(|p| p["state"].as_str().unwrap_or("").to_owned())
    }

    fn wait(&self, limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
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

const H: Duration = Duration::from_millis(250);

/// The manager's host, and the host and id of one node that is not the manager.
fn manager_and_member(rows: &[Value]) -> (String, String, String) {
    let text = |r: &Value, k: &str| r[k].as_str().unwrap().to_owned();
    let manager = rows.iter().find(|r| r["role"] == "manager").unwrap();
    let member = rows.iter().find(|r| r["role"] != "manager").unwrap();
    (text(manager, "host"), text(member, "host"), text(member, "id"))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn an_announced_sleep_is_seen_by_the_manager_within_100_ms() {
    let Some(lab) = TestLab::up("tas", 3, 1) else { return };
    let rows = lab.converged(Duration::from_secs(10)).expect("converged");
    let (manager, host, id) = manager_and_member(&rows);
    let t0 = unix_ms();
    lab.ok(&["sleep", &host]);
    // The manager's own event says when it learned it.
    let out = wakeproxy(&["events", "--json", "--config", &lab.config(&manager)]);
    let seen = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| {
            e["event"] == "peer-changed"
                && e["to"] == "asleep"
                && e["reason"] == "announced"
                && e["peer"].as_str().is_some_and(|p| p.starts_with(&id))
        })
        .and_then(|e| e["unix_ms"].as_u64())
        .expect("the manager logged the sleep");
    assert!(seen.saturating_sub(t0) <= 100, "seen after {} ms", seen - t0);
}

#[test]
fn an_unannounced_sleep_is_detected_within_three_heartbeats_and_a_second() {
    let Some(lab) = TestLab::up("tus", 3, 1) else { return };
    let rows = lab.converged(Duration::from_secs(10)).expect("converged");
    let (manager, host, id) = manager_and_member(&rows);
    lab.ok(&["sleep", &host, "--no-notice"]);
    let took = lab.wait(H * 3 + Duration::from_secs(2), || {
        lab.state_seen(&manager, &id).as_deref() == Some("asleep")
    });
    let took = took.expect("never detected");
    assert!(took <= H * 3 + Duration::from_secs(1), "took {took:?}");
}

#[test]
fn wakeproxy_wake_from_the_other_subnet_wakes_a_sleeper_through_a_wake_request() {
    let Some(lab) = TestLab::up("twk", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    // h2 is on subnet 1; h1 on subnet 0 does not know it.
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    let mac = "02:57:50:01:00:00";
    let out = lab
        .exec("h1", &[env!("CARGO_BIN_EXE_wakeproxy"), "wake", "--config", &lab.config("h1"), mac]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let woke = lab.wait(Duration::from_secs(6), || lab.row("h2")["state"] == "up");
    assert!(woke.is_some(), "{:#?}", lab.status());
}

#[test]
fn a_magic_packet_from_debian_s_wakeonlan_wakes_a_simulated_nic() {
    let Some(lab) = TestLab::up("twl", 2, 1) else { return };
    if Command::new("wakeonlan").arg("--help").output().is_err() {
        assert!(std::env::var("CI").is_err(), "CI must install wakeonlan (.ci/run)");
        eprintln!("SKIPPED: wakeonlan is not installed (apt-get install wakeonlan)");
        return;
    }
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "500ms"]);
    let mac = "02:57:50:00:00:01";
    let out = lab.exec("h1", &["wakeonlan", "-i", "10.0.1.255", mac]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let woke = lab.wait(Duration::from_secs(5), || lab.row("h2")["state"] == "up");
    assert!(woke.is_some(), "{:#?}", lab.status());
}

#[test]
fn a_crashed_manager_is_replaced_by_one_new_manager() {
    let Some(lab) = TestLab::up("tmc", 4, 1) else { return };
    let rows = lab.converged(Duration::from_secs(10)).expect("converged");
    let old = rows.iter().find(|r| r["role"] == "manager").unwrap();
    let (host, id) = (old["host"].as_str().unwrap().to_owned(), old["id"].clone());
    lab.ok(&["crash", &host]);
    let rows =
        lab.converged(Duration::from_secs(10)).unwrap_or_else(|| panic!("{:#?}", lab.status()));
    let managers: Vec<&Value> = rows.iter().filter(|r| r["role"] == "manager").collect();
    assert_eq!(managers.len(), 1);
    assert_ne!(managers[0]["id"], id);
}

#[test]
fn a_partition_gives_each_side_a_manager_and_healing_ends_with_one() {
    let Some(lab) = TestLab::up("tpt", 4, 1) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["partition", "h1,h2", "h3,h4"]);
    let split = lab.wait(Duration::from_secs(5), || {
        lab.status().iter().filter(|r| r["role"] == "manager").count() == 2
    });
    assert!(split.is_some(), "each side elects its own manager: {:#?}", lab.status());
    lab.ok(&["heal"]);
    let rows =
        lab.converged(Duration::from_secs(10)).unwrap_or_else(|| panic!("{:#?}", lab.status()));
    assert_eq!(rows.iter().filter(|r| r["role"] == "manager").count(), 1);
}

#[test]
fn loss_on_a_host_does_not_break_the_election() {
    let Some(lab) = TestLab::up("tls", 3, 1) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["loss", "h1", "20"]);
    std::thread::sleep(H * 8);
    let rows =
        lab.converged(Duration::from_secs(5)).unwrap_or_else(|| panic!("{:#?}", lab.status()));
    assert_eq!(rows.iter().filter(|r| r["role"] == "manager").count(), 1);
    lab.ok(&["loss", "h1", "0"]);
}

#[test]
fn the_demo_tells_the_whole_story_and_cleans_up() {
    if !can_run_netns() {
        return;
    }
    let out = wakeproxy(&["lab", "demo", "--heartbeat", "250ms", "--name", "tdemo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for step in [
        "election:",
        "goes to sleep",
        "WakeRequest",
        "sends the magic packet",
        "is awake again",
        "is killed",
        "new manager",
        "every step happened",
    ] {
        assert!(text.contains(step), "missing `{step}` in:\n{text}");
    }
    let netns =
        String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
            .unwrap();
    assert!(!netns.contains("tdemo-"), "{netns}");
}

#[test]
fn the_lab_refuses_to_run_without_root_with_exit_code_2() {
    if !can_run_netns() {
        return;
    }
    // Drop to `nobody` for this one command (the test itself runs as root).
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            env!("CARGO_BIN_EXE_wakeproxy"),
            "lab",
            "up",
            "--name",
            "tnr",
        ])
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs root"));
    let netns =
        String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
            .unwrap();
    assert!(!netns.contains("tnr-"), "nothing half-made: {netns}");
}

#[test]
fn a_connection_from_the_other_subnet_to_a_sleeping_host_wakes_it_within_resume_delay_plus_3_s() {
    let Some(lab) = TestLab::up("tsy", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    // Someone on h2's subnet answers for it before we connect.
    let proxied = lab.wait(Duration::from_secs(3), || {
        let out = wakeproxy(&["status", "--json", "--config", &lab.config("h4")]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["node"]["ifaces"][0]["proxied"].as_array().is_some_and(|p| p.len() == 1)
    });
    assert!(proxied.is_some(), "{:#?}", lab.status());
    let t = Instant::now();
    let out = lab.exec(
        "h1",
        &[env!("CARGO_BIN_EXE_wakeproxy"), "lab", "connect", "10.0.2.10:8080", "--timeout", "10s"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from h2 port 8080");
    assert!(t.elapsed() <= Duration::from_secs(4), "took {:?}", t.elapsed());
}

#[test]
fn a_syn_to_a_port_the_sleeper_did_not_listen_on_does_not_wake_it() {
    let Some(lab) = TestLab::up("tnw", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2"]);
    std::thread::sleep(H * 4);
    let out = lab.exec(
        "h1",
        &[env!("CARGO_BIN_EXE_wakeproxy"), "lab", "connect", "10.0.2.10:4444", "--timeout", "3s"],
    );
    assert!(!out.status.success(), "nothing listens there");
    assert_eq!(lab.row("h2")["state"], "asleep", "{:#?}", lab.status());
}

/// Which hosts of `hosts` answer for a sleeper now.
fn proxies(lab: &TestLab, hosts: &[&str]) -> Vec<String> {
    hosts
        .iter()
        .filter(|h| {
            let out = wakeproxy(&["status", "--json", "--config", &lab.config(h)]);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            v["node"]["ifaces"][0]["proxied"].as_array().is_some_and(|p| !p.is_empty())
        })
        .map(|h| (*h).to_owned())
        .collect()
}

/// The one host of `hosts` that answers for a sleeper, once there is exactly one.
fn the_proxy(lab: &TestLab, hosts: &[&str]) -> String {
    let mut found = Vec::new();
    lab.wait(Duration::from_secs(3), || {
        found = proxies(lab, hosts);
        found.len() == 1
    })
    .expect("one proxy");
    found.remove(0)
}

/// The MACs that answered `arping` for `ip` from `host`.
fn arping(lab: &TestLab, host: &str, ip: &str) -> Vec<String> {
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

#[test]
fn arping_to_a_sleeping_host_is_answered_by_its_proxy_and_an_awake_host_only_by_itself() {
    let Some(lab) = TestLab::up("tap", 6, 2) else { return };
    if Command::new("arping").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "CI must install iputils-arping (.ci/run)");
        eprintln!("SKIPPED: arping is not installed (apt-get install iputils-arping)");
        return;
    }
    lab.converged(Duration::from_secs(10)).expect("converged");
    // Subnet 1 holds h2, h4, h6; h2 sleeps.
    lab.ok(&["sleep", "h2"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let asker = if proxy == "h4" { "h6" } else { "h4" };
    let record = std::fs::read_to_string(
        std::env::temp_dir().join(format!("wakeproxy-lab-{}/lab.json", lab.name)),
    )
    .unwrap();
    let rec: Value = serde_json::from_str(&record).unwrap();
    let mac_of = |h: &str| {
        rec["hosts"].as_array().unwrap().iter().find(|x| x["name"] == h).unwrap()["mac"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        arping(&lab, asker, "10.0.2.10"),
        vec![mac_of(&proxy)],
        "the sleeper's address is answered by its proxy (arp-redirect)"
    );
    // The proxy's peer is awake: only it answers for its own address.
    let awake = asker;
    let other = if awake == "h4" { "h6" } else { "h4" };
    let ip_of = |h: &str| {
        rec["hosts"].as_array().unwrap().iter().find(|x| x["name"] == h).unwrap()["ip"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        arping(&lab, other, &ip_of(awake)),
        vec![mac_of(awake)],
        "an awake host is never answered for"
    );
}

#[test]
fn killing_the_proxy_of_a_sleeper_then_connecting_still_wakes_it() {
    let Some(lab) = TestLab::up("tkp", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    lab.ok(&["crash", &proxy]);
    let other = if proxy == "h4" { "h6" } else { "h4" };
    // The survivor takes over within 3 heartbeat intervals (plus the probe).
    let took = lab.wait(H * 3 + Duration::from_secs(1), || proxies(&lab, &[other]).len() == 1);
    assert!(took.is_some(), "{other} did not take over: {:#?}", lab.status());
    let out = lab.exec(
        "h1",
        &[env!("CARGO_BIN_EXE_wakeproxy"), "lab", "connect", "10.0.2.10:8080", "--timeout", "10s"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from h2 port 8080");
}
