//! `wakeproxy doctor` on real hosts: in `wakeproxy lab`'s namespaces, with real daemons, the
//! kernel's real answer for a veth (no Wake-on-LAN), the nftables table applied and removed,
//! and one node given another site key. Needs root (CI runs as root; under `CI=true` a missing
//! precondition fails the test). Each test has its own lab, taken down when it ends.

#![cfg(target_os = "linux")]

mod common;

use std::process::Output;
use std::time::Duration;

use common::lab::{TestLab, wakeproxy};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_wakeproxy");

/// `wakeproxy doctor --json` inside `host`'s namespace, with its configuration.
fn doctor(lab: &TestLab, host: &str) -> (Output, Value) {
    let out = lab.exec(host, &[BIN, "doctor", "--json", "--config", &lab.config(host)]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("doctor --json: {e}: {}{}", text(&out.stdout), text(&out.stderr))
    });
    (out, v)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The checks of `report` about `check` (its `check` field).
fn checks<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["checks"].as_array().unwrap().iter().filter(|c| c["check"] == check).collect()
}

/// The one check of `report` about `check`.
fn one<'a>(report: &'a Value, check: &str) -> &'a Value {
    let found = checks(report, check);
    assert_eq!(found.len(), 1, "{check}: {report:#}");
    found[0]
}

/// Waits until `host`'s report satisfies `f`, and returns it.
fn wait_for_report(lab: &TestLab, host: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let found = common::wait_for(Duration::from_secs(15), || {
        last = doctor(lab, host).1;
        f(&last).then_some(())
    });
    assert!(found.is_some(), "{host}'s report never came out as expected: {last:#}");
    last
}

#[test]
fn in_the_lab_doctor_says_veth_has_no_wake_on_lan_and_exits_1_naming_the_fix() {
    let Some(lab) = TestLab::up("tdoc", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    let report = wait_for_report(&lab, "h1", |r| {
        checks(r, "peers").first().is_some_and(|p| p["verdict"] == "ok")
    });
    let wol = one(&report, "wake-on-lan");
    assert_eq!(wol["subject"], "eth0");
    assert_eq!(wol["verdict"], "fail", "{wol:#}");
    assert_eq!(
        wol["summary"],
        "the driver of eth0 does not support Wake-on-LAN: this host cannot be woken through eth0"
    );
    assert!(wol["fix"].as_str().unwrap().starts_with("wake it through another NIC"), "{wol:#}");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["healthy"], false);
    // The rest of the lab host is fine: its key, its daemon, its peer, the route to the other
    // subnet's broadcast address.
    for check in ["key-file", "daemon", "peers", "authentication", "clock", "wake-relay"] {
        assert_eq!(one(&report, check)["verdict"], "ok", "{check}: {report:#}");
    }
    assert!(
        one(&report, "peers")["summary"].as_str().unwrap().starts_with("1 peer heard (1 awake)")
    );
    assert_eq!(one(&report, "wake-relay")["subject"], "10.0.2.255");

    // The text report says the same, with its fix, and the exit code is 1.
    let out = lab.exec("h1", &[BIN, "doctor", "--config", &lab.config("h1")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("FAIL  wake-on-lan eth0: the driver of eth0 does not support"),
        "{shown}"
    );
    assert!(shown.contains("fix: wake it through another NIC"), "{shown}");
    assert!(shown.trim_end().ends_with("(exit 1)"), "{shown}");

    // --fix cannot fix a driver without Wake-on-LAN: still a failure, nothing changed.
    let out = lab.exec("h1", &[BIN, "doctor", "--fix", "--config", &lab.config("h1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("does not support Wake-on-LAN"));
}

#[test]
fn without_cap_net_admin_the_wake_on_lan_query_is_unchecked_and_says_what_to_do() {
    let Some(lab) = TestLab::up("tdnp", 1, 1) else { return };
    // An unprivileged user in the host's namespace, with a copy of its configuration it may
    // read (the lab's files are root's).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wakeproxy.toml");
    std::fs::copy(lab.config("h1"), &config).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = lab.exec(
        "h1",
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "doctor",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let wol = one(&report, "wake-on-lan");
    assert_eq!(wol["verdict"], "unchecked", "{wol:#}");
    assert_eq!(
        wol["summary"],
        "reading the Wake-on-LAN setting of eth0 needs more rights than this process has"
    );
    assert_eq!(wol["fix"], "run it as root or with CAP_NET_ADMIN");
    // Its key file and control socket are closed to it too: unchecked, not failed.
    assert_eq!(one(&report, "key-file")["verdict"], "unchecked", "{report:#}");
    assert_eq!(one(&report, "daemon")["verdict"], "unchecked", "{report:#}");
    assert_eq!(out.status.code(), Some(2), "nothing failed, but not everything was checked");
}

#[test]
fn doctor_sees_the_firewall_table_applied_and_removed() {
    let Some(lab) = TestLab::up("tdfw", 2, 1) else { return };
    let config = lab.config("h1");
    let table = |r: &Value| {
        checks(r, "firewall")
            .into_iter()
            .find(|c| c["subject"] == "nftables table inet wakeproxy")
            .unwrap_or_else(|| panic!("no table check: {r:#}"))
            .clone()
    };
    let before = table(&doctor(&lab, "h1").1);
    assert_eq!(before["verdict"], "warn", "{before:#}");

    let out = lab.exec("h1", &[BIN, "firewall", "apply", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let applied = table(&doctor(&lab, "h1").1);
    assert_eq!(applied["verdict"], "ok", "{applied:#}");
    assert!(applied["summary"].as_str().unwrap().starts_with("all 11 exceptions in place"));
    // Only h1's namespace has it.
    assert_eq!(table(&doctor(&lab, "h2").1)["verdict"], "warn");

    let out = lab.exec("h1", &[BIN, "firewall", "remove", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let removed = table(&doctor(&lab, "h1").1);
    assert_eq!(removed["verdict"], "warn", "{removed:#}");
    assert!(removed["summary"].as_str().unwrap().starts_with("missing"), "{removed:#}");
    assert!(removed["fix"].as_str().unwrap().contains("wakeproxy firewall apply"), "{removed:#}");
    let out = lab.exec("h1", &[BIN, "doctor", "--config", &config]);
    assert!(
        text(&out.stdout).contains("fix: run `wakeproxy firewall apply`"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_node_with_another_site_key_is_deaf_and_its_peers_see_refused_authentication() {
    let Some(lab) = TestLab::up("tdkey", 3, 1) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    // h3 gets a key of its own, and re-reads it.
    let key = std::env::temp_dir().join("wakeproxy-lab-tdkey/h3/site.key");
    let out = wakeproxy(&["keygen", "--force", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wakeproxy(&["reload", "--config", &lab.config("h3")]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // h3 understands nobody: deaf, because the peers use another site key.
    let odd = wait_for_report(&lab, "h3", |r| {
        checks(r, "peers").first().is_some_and(|p| p["verdict"] == "fail")
    });
    let peers = one(&odd, "peers");
    let summary = peers["summary"].as_str().unwrap();
    assert_eq!(peers["subject"], "eth0");
    assert!(summary.starts_with("this node is deaf here"), "{peers:#}");
    assert!(summary.contains("the peers use another site key"), "{peers:#}");
    assert!(peers["fix"].as_str().unwrap().contains("same site key file"), "{peers:#}");
    assert_eq!(peers["details"]["deaf"]["kind"], "peers-refused");
    assert_eq!(one(&odd, "authentication")["verdict"], "warn");
    // Its own key file is the key its daemon now signs with: that is not the problem.
    assert_eq!(one(&odd, "key-file")["verdict"], "ok", "{odd:#}");

    // h1 still hears h2, and counts h3's datagrams as failing authentication.
    let good = wait_for_report(&lab, "h1", |r| one(r, "authentication")["verdict"] == "warn");
    let auth = one(&good, "authentication");
    assert!(auth["summary"].as_str().unwrap().contains("failed authentication"), "{auth:#}");
    assert!(auth["details"]["unauthenticated"].as_u64().unwrap() > 0);
    assert!(auth["fix"].as_str().unwrap().contains("key id"), "{auth:#}");
    assert_eq!(one(&good, "peers")["verdict"], "ok", "h1 is not deaf: {good:#}");
}
