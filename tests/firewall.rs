//! `wakeproxy firewall`: the printed rules follow the configuration, bad values exit 2, and (in
//! a network namespace, as root) `apply` / `remove` are idempotent and leave the admin's ruleset
//! exactly as it was. Under `CI=true` a missing precondition fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[cfg(target_os = "linux")]
use common::{NetLab, can_run_netns};

const BIN: &str = env!("CARGO_BIN_EXE_wakeproxy");

fn wakeproxy(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run wakeproxy")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A configuration file with custom ports (peer 41234, WoL 7).
fn custom_config(dir: &Path) -> PathBuf {
    let path = dir.join("wakeproxy.toml");
    std::fs::write(&path, "peer_port = 41234\nwol_port = 7\n").unwrap();
    path
}

#[test]
fn show_follows_the_configured_ports_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let config = custom_config(dir.path());
    let config = config.to_str().unwrap();
    for (format, expected) in [
        ("nftables", &["udp dport 41234 counter accept", "udp dport 7 counter accept"][..]),
        (
            "ufw",
            &["ufw allow in proto udp to any port 41234", "ufw allow out proto udp to any port 7"],
        ),
        ("firewalld", &["--add-port=41234/udp", "--add-port=7/udp"]),
        (
            "windows",
            &["localport=41234 profile=domain,private ", "remoteport=7 profile=domain,private "],
        ),
    ] {
        let out = wakeproxy(&["firewall", "show", "--format", format, "--config", config]);
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let shown = text(&out.stdout);
        for e in expected {
            assert!(shown.contains(e), "{format}: {e} missing: {shown}");
        }
        assert!(!shown.contains("25536"), "{format}: default port in a custom config: {shown}");
    }
    let out = wakeproxy(&["firewall", "show", "--format", "windows", "--profile", "public"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("localport=25536 profile=public "));
    // Without --format: this platform's own.
    let out = wakeproxy(&["firewall", "show", "--config", config]);
    let first = if cfg!(windows) { "rem " } else { "#!/usr/sbin/nft -f" };
    assert!(text(&out.stdout).starts_with(first));
}

#[test]
fn bad_values_exit_2_naming_the_value_and_the_allowed_ones() {
    for (args, says) in [
        (
            &["firewall", "show", "--format", "iptables"][..],
            &["iptables", "nftables, ufw, firewalld, windows"][..],
        ),
        (
            &["firewall", "show", "--format", "windows", "--profile", "domain,home"],
            &["home", "domain, private or public"],
        ),
        (&["firewall", "show", "--profile", ""], &["domain, private or public"]),
        (
            &["firewall", "show", "--config", "/nonexistent/wakeproxy.toml"],
            &["/nonexistent/wakeproxy.toml"],
        ),
    ] {
        let out = wakeproxy(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        for s in says {
            assert!(err.contains(s), "{args:?}: {s} missing: {err}");
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_missing_nft_names_the_package_and_exits_1() {
    for cmd in ["apply", "remove"] {
        let out = Command::new(BIN)
            .args(["firewall", cmd])
            .env("PATH", "/nonexistent")
            .output()
            .expect("run wakeproxy");
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.starts_with("error: `nft` was not found") && err.contains("nftables"), "{err}");
    }
}

/// True if `nft` runs; panics under CI (which installs nftables), else skips with a message.
#[cfg(target_os = "linux")]
fn can_run_nft() -> bool {
    if Command::new("nft").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    let why = "this test needs `nft` (nftables)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: CI installs nftables, so this is a failure, not a skip");
    }
    eprintln!("SKIPPED: {why}");
    false
}

#[cfg(target_os = "linux")]
#[test]
fn apply_and_remove_in_a_namespace_are_idempotent_and_leave_the_rest_alone() {
    if !can_run_netns() || !can_run_nft() {
        return;
    }
    let lab = NetLab::new(1);
    let config = custom_config(&lab.dir);
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = lab.exec(0, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    // `-s`: without the counters' values, which traffic may change.
    let ruleset = || run(&["nft", "-s", "list", "ruleset"]);

    // The admin's own ruleset, with a drop policy our table must neither change nor override.
    run(&["nft", "add table inet admin"]);
    run(&["nft", "add chain inet admin input { type filter hook input priority 0; policy drop; }"]);
    run(&["nft", "add rule inet admin input iifname lo accept"]);
    let before = ruleset();
    assert!(before.contains("table inet admin"), "{before}");

    run(&[BIN, "firewall", "apply", "--config", config]);
    let once = ruleset();
    assert!(once.contains("table inet wakeproxy"), "{once}");
    assert!(once.contains("udp dport 41234 counter accept"), "{once}");
    assert!(once.contains("udp dport 7 counter accept"), "{once}");
    assert!(once.contains("icmpv6 type echo-request counter accept"), "{once}");
    assert!(!once.contains("25536"), "{once}");
    assert!(once.contains("policy drop"), "the admin's chain is untouched: {once}");

    run(&[BIN, "firewall", "apply", "--config", config]);
    assert_eq!(ruleset(), once, "apply twice is apply once");

    // The ports follow a changed configuration: apply replaces the table.
    let out = run(&[BIN, "firewall", "apply"]);
    assert!(out.contains("installed"), "{out}");
    let defaults = ruleset();
    assert!(
        defaults.contains("udp dport 25536 counter accept") && !defaults.contains("41234"),
        "{defaults}"
    );

    run(&[BIN, "firewall", "remove", "--config", config]);
    assert_eq!(ruleset(), before, "remove leaves the ruleset as it was");
    run(&[BIN, "firewall", "remove", "--config", config]);
    assert_eq!(ruleset(), before, "remove twice is remove once");
}
