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
