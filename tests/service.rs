//! Running as a service on Linux: the systemd unit (checked by `systemd-analyze`), systemd's
//! notifications from the real daemon, and logind's sleep hooks against a fake logind on a
//! private D-Bus. Needs root and `systemd-analyze` / `dbus-daemon` (CI installs them; under
//! `CI=true` a missing precondition fails the test).

#![cfg(target_os = "linux")]

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{NetLab, can_run_netns};

/// True if `tool` runs; otherwise skips the test (fails it under CI) with `package` named.
fn have(tool: &str, package: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{tool} is missing: CI must install {package} (.ci/run)"
    );
    eprintln!("SKIPPED: {tool} is not installed (apt-get install {package})");
    false
}

/// The unit with `ExecStart` pointing at the binary under test, in a temporary directory.
fn unit_under_test() -> (tempfile::TempDir, PathBuf) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/wakeproxy.service"))
            .unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/wakeproxy run"), "ExecStart changed");
    let text = text.replace("/usr/local/bin/wakeproxy", env!("CARGO_BIN_EXE_wakeproxy"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wakeproxy.service");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !have("systemd-analyze", "systemd") {
        return;
    }
    let (_dir, unit) = unit_under_test();
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("wakeproxy.service")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify complains: {ours:#?}");
}

#[test]
fn the_units_exposure_is_at_most_2_5() {
    if !have("systemd-analyze", "systemd") {
        return;
    }
    let (_dir, unit) = unit_under_test();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| {
        panic!("no exposure level: {text}{}", String::from_utf8_lossy(&out.stderr))
    });
    let level: f64 = line
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read {line}"));
    assert!(level <= 2.5, "{line}");
    // The README quotes the number.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains(&format!("exposure level {level}")), "README must say {level}");
}

/// Writes a one-host config for `lab`.
fn config(lab: &NetLab, extra: &str) -> PathBuf {
    let dir = &lab.hosts[0].dir;
    let key = dir.join("site.key");
    let out =
        Command::new(env!("CARGO_BIN_EXE_wakeproxy")).arg("keygen").arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = dir.join("wakeproxy.toml");
    let text = format!(
        "interfaces = [\"eth0\"]\nheartbeat_interval = \"250ms\"\nprobe_timeout = \"100ms\"\n\
         key_file = \"{}\"\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\n{extra}",
        key.display(),
        dir.join("state").display(),
        dir.join("control.sock").display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Everything sent to `sock` until `until` is true or `limit` passes.
fn collect(
    sock: &UnixDatagram,
    limit: Duration,
    mut until: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn the_daemon_tells_systemd_it_is_ready_pings_the_watchdog_and_says_when_it_stops() {
    if !can_run_netns() {
        return;
    }
    let mut lab = NetLab::new(1);
    let cfg = config(&lab, "");
    let path = lab.hosts[0].dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let notify = path.to_str().unwrap().to_owned();
    // WatchdogSec=400ms: the daemon must ping every 200 ms.
    lab.start_with_env(0, &cfg, &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "400000")]);
    let got = collect(&sock, Duration::from_secs(5), |g| {
        g.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 5
    });
    let ready = got.iter().position(|m| m.contains("READY=1")).unwrap_or_else(|| panic!("{got:?}"));
    assert!(got[ready].contains("STATUS=node "), "{got:?}");
    assert!(got[ready].contains("eth0"), "{got:?}");
    let pings = got[ready..].iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(pings >= 5, "{got:?}");
    lab.stop(0);
    let got =
        collect(&sock, Duration::from_secs(2), |g| g.iter().any(|m| m.contains("STOPPING=1")));
    assert!(got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
    let _ = std::fs::remove_file(Path::new(&path));
}
