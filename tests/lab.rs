//! End to end through `wakeproxy lab`: real daemons, real kernels, real frames. Needs root (CI
//! runs as root; under `CI=true` a missing precondition fails the test). Each test has its own
//! lab name, so they run in parallel.

#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::{H, TestLab, manager_and_member, unix_ms, wakeproxy};
use common::{Sniffer, can_run_netns, magic_hex};
use serde_json::Value;

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
