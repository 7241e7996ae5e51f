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

/// The README's lab examples, as a new user types them: a plain `curl` to a lab host, and a
/// wakeonlan-style `wakeproxy wake MAC --broadcast ADDR --port 9` (no daemon needed).
#[test]
fn the_readme_lab_examples_work_as_written() {
    let Some(lab) = TestLab::up("rdm", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    let greeted = lab.wait(Duration::from_secs(5), || {
        let out = lab.exec("h1", &["curl", "10.0.2.10:8080"]);
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("hello from h2 port 8080")
    });
    assert!(greeted.is_some(), "{:?}", lab.exec("h1", &["curl", "10.0.2.10:8080"]));
    // h3 (10.0.1.11, the second host of subnet 0) sleeps; h1 wakes it the wakeonlan way.
    lab.ok(&["sleep", "h3", "--resume-delay", "500ms"]);
    let bin = env!("CARGO_BIN_EXE_wakeproxy");
    let wake = [bin, "wake", "02:57:50:00:00:01", "--broadcast", "10.0.1.255", "--port", "9"];
    let out = lab.exec("h1", &wake);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let woke = lab.wait(Duration::from_secs(5), || lab.row("h3")["state"] == "up");
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

/// `lab status` of lab `name`, as JSON rows (for a sampling thread, which has no `TestLab`).
fn lab_rows(name: &str) -> Vec<Value> {
    let out = wakeproxy(&["lab", "status", "--json", "--name", name]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// What is wrong with one sample of a subnet's rows, if anything: exactly one manager, named by
/// every host that is up (asleep, resuming or unreachable hosts have no say).
fn one_manager_problem(rows: &[Value]) -> Option<String> {
    let managers: Vec<&Value> = rows.iter().filter(|r| r["role"] == "manager").collect();
    let [manager] = managers[..] else {
        return Some(format!("{} managers", managers.len()));
    };
    let dissent: Vec<&Value> =
        rows.iter().filter(|r| r["state"] == "up" && r["manager"] != manager["id"]).collect();
    (!dissent.is_empty()).then(|| format!("{} hosts name another manager", dissent.len()))
}

#[test]
fn rolling_the_site_key_one_host_at_a_time_keeps_one_manager_and_the_sleeper_reachable() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use common::lab::{arping, proxies, the_proxy};

    let Some(lab) = TestLab::up("trk", 4, 1) else { return };
    if Command::new("arping").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "CI must install iputils-arping (.ci/run)");
        eprintln!("SKIPPED: arping is not installed (apt-get install iputils-arping)");
        return;
    }
    let rows = lab.converged(Duration::from_secs(10)).expect("converged");
    let master = std::env::temp_dir().join("wakeproxy-lab-trk/site.key");
    let a = wakeproxy::store::keys::load(&master).unwrap().key_id().to_string();
    assert!(rows.iter().all(|r| r["key"] == a.as_str()), "{rows:#?}");
    // The sleeper is not the manager, so its waking up never moves the role: any second
    // manager the sampler sees is the rollover's doing.
    let sleeper =
        rows.iter().find(|r| r["role"] != "manager").unwrap()["host"].as_str().unwrap().to_owned();
    let awake: Vec<String> = ["h1", "h2", "h3", "h4"]
        .iter()
        .filter(|h| **h != sleeper)
        .map(|h| (*h).to_owned())
        .collect();
    let awake_refs: Vec<&str> = awake.iter().map(String::as_str).collect();
    let sleeper_ip = lab.host(&sleeper)["ip"].as_str().unwrap().to_owned();
    let host_key = |h: &str| std::env::temp_dir().join(format!("wakeproxy-lab-trk/{h}/site.key"));
    // As a software-distribution tool would: the new file in place, atomically, then reload.
    let distribute = |h: &str| {
        let bytes = std::fs::read(&master).unwrap();
        wakeproxy::store::fsutil::atomic_write(&host_key(h), &bytes, 0o600).unwrap();
        let out = wakeproxy(&["reload", "--config", &lab.config(h)]);
        assert!(out.status.success(), "reload {h}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // The sleeper's address is answered by its proxy, asked by another awake host.
    let answered_for = || {
        let proxy = the_proxy(&lab, &awake_refs);
        let asker = awake_refs.iter().find(|h| **h != proxy).unwrap().to_string();
        assert_eq!(arping(&lab, &asker, &sleeper_ip), vec![lab.mac(&proxy)], "asked by {asker}");
        asker
    };
    lab.ok(&["sleep", &sleeper, "--resume-delay", "1s"]);
    answered_for();

    // From here to the end, sample the subnet every 20 ms or so. The sampler
    // stops when `stop` is dropped, so a failing test does not leave it polling a lab that is
    // gone.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = Stop(Arc::new(AtomicBool::new(false)));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let sampler = {
        let (stop, problems) = (stop.0.clone(), problems.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                let rows = lab_rows("trk");
                if let Some(p) = one_manager_problem(&rows) {
                    problems.lock().unwrap().push(format!("{p}: {rows:#?}"));
                }
                samples += 1;
                // Often (a heartbeat is 250 ms), without taking a core from the daemons.
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };

    let mut b = String::new();
    for (flag, last) in [("--add-next", false), ("--promote", false), ("--retire", true)] {
        let out = wakeproxy(&["keygen", flag, master.to_str().unwrap()]);
        assert!(out.status.success(), "{flag}: {}", String::from_utf8_lossy(&out.stderr));
        let k = wakeproxy::store::keys::load(&master).unwrap();
        if b.is_empty() {
            b = k.accepted_key_id().unwrap().to_string();
        }
        let want = match k.accepted_key_id() {
            Some(other) => format!("{}+{other}", k.key_id()),
            None => k.key_id().to_string(),
        };
        for h in &awake {
            distribute(h);
            assert_eq!(lab.row(h)["key"], want.as_str(), "{flag} on {h}");
            answered_for();
        }
        // The sleeper's turn: woken by a connection, as for any update, given the file, and
        // (but at the end) put back to sleep.
        let asker = answered_for();
        let hello = lab.exec(
            &asker,
            &[
                env!("CARGO_BIN_EXE_wakeproxy"),
                "lab",
                "connect",
                &format!("{sleeper_ip}:8080"),
                "--timeout",
                "10s",
            ],
        );
        assert!(hello.status.success(), "{flag}: {}", String::from_utf8_lossy(&hello.stderr));
        assert_eq!(
            String::from_utf8_lossy(&hello.stdout).trim(),
            format!("hello from {sleeper} port 8080")
        );
        let up = lab.wait(Duration::from_secs(5), || lab.row(&sleeper)["state"] == "up");
        assert!(up.is_some(), "{flag}: {:#?}", lab.status());
        distribute(&sleeper);
        assert_eq!(lab.row(&sleeper)["key"], want.as_str());
        if !last {
            lab.ok(&["sleep", &sleeper, "--resume-delay", "1s"]);
            answered_for();
        }
    }
    drop(stop);
    let samples = sampler.join().unwrap();
    eprintln!("{samples} samples of the subnet during the rollover");
    let problems = problems.lock().unwrap();
    assert!(problems.is_empty(), "{} of {samples} samples:\n{}", problems.len(), problems[0]);
    assert!(samples >= 50, "only {samples} samples");

    // Everyone on B alone, one manager, the woken host answered for by nobody, and not one
    // message refused on the way.
    assert_ne!(a, b);
    let rows = lab.converged(Duration::from_secs(5)).expect("converged");
    assert!(rows.iter().all(|r| r["key"] == b.as_str()), "{rows:#?}");
    assert!(proxies(&lab, &awake_refs).is_empty(), "someone answers for an awake host");
    for h in ["h1", "h2", "h3", "h4"] {
        let out = wakeproxy(&["status", "--json", "--config", &lab.config(h)]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["node"]["counters"]["unauthenticated"], 0, "{h}: {}", v["node"]["counters"]);
    }
}

#[test]
fn wake_latency_reports_json() {
    if !can_run_netns() {
        return;
    }
    let _ = wakeproxy(&["lab", "down", "--name", "wlj"]);
    let out = wakeproxy(&[
        "lab",
        "wake-latency",
        "--count",
        "3",
        "--hosts",
        "3",
        "--subnets",
        "1",
        "--heartbeat",
        "250ms",
        "--name",
        "wlj",
        "--json",
    ]);
    let _ = wakeproxy(&["lab", "down", "--name", "wlj"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["wakes"], 3, "{r}");
    assert_eq!(r["missed"], 0, "{r}");
    assert_eq!(r["samples_us"].as_array().map(Vec::len), Some(3), "{r}");
    assert!(r["p50_us"].as_f64().is_some_and(|p| p > 0.0 && p <= r["max_us"].as_f64().unwrap()));
}
