//! The real `wakeproxy` binary: arguments, exit codes, output.

use std::process::Command;

fn wakeproxy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

#[test]
fn simulate_prints_a_report() {
    let out = wakeproxy(&[
        "simulate",
        "--nodes",
        "30",
        "--subnets",
        "2",
        "--duration",
        "2m",
        "--seed",
        "4",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("simulated 30 nodes on 2 subnets"), "{text}");
    assert!(text.contains("two managers in a subnet"), "{text}");
}

#[test]
fn simulate_shows_no_progress_in_a_pipe() {
    // Progress is for a terminal; in a pipe (here) stderr stays empty and stdout is the report.
    let out = wakeproxy(&["simulate", "--nodes", "10", "--duration", "1m"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn simulate_json_is_json() {
    let out = wakeproxy(&["simulate", "--nodes", "10", "--duration", "1m", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"], 10);
}

#[test]
fn simulate_gives_the_same_report_on_one_thread_and_on_three() {
    let run = |threads: &str| {
        let out = wakeproxy(&[
            "simulate",
            "--nodes",
            "40",
            "--subnets",
            "4",
            "--duration",
            "3m",
            "--fault-every",
            "15s",
            "--loss",
            "0.02",
            "--seed",
            "5",
            "--json",
            "--threads",
            threads,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert_eq!(run("1"), run("3"));
}

#[test]
fn simulate_rejects_impossible_arguments_with_exit_code_2() {
    for (args, says) in [
        (&["simulate", "--nodes", "0"][..], "--nodes"),
        (&["simulate", "--loss", "1.5"][..], "--loss"),
        (&["simulate", "--nodes", "3", "--subnets", "5"][..], "--subnets"),
        (&["simulate", "--duration", "soon"][..], "duration"),
        (&["simulate", "--nodes", "many"][..], "--nodes"),
    ] {
        let out = wakeproxy(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// The key lines of a key file (comments and blank lines left out).
fn key_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Runs wakeproxy, expecting success; its standard output.
fn ok(args: &[&str]) -> String {
    let out = wakeproxy(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs wakeproxy, expecting exit code 2 and `says` in the error.
fn refused(args: &[&str], says: &str) -> String {
    let out = wakeproxy(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: ") && err.contains(says), "{args:?}: {err}");
    err
}

#[test]
fn keygen_rolls_a_key_file_through_three_phases_and_refuses_steps_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("site.key");
    let k = key.to_str().unwrap();
    // A configuration that names the file: `config check` reads it as the daemon would.
    let cfg = dir.path().join("wakeproxy.toml");
    std::fs::write(&cfg, format!("key_file = {k:?}\n")).unwrap();
    let c = cfg.to_str().unwrap();
    let mode = || {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
    };

    ok(&["keygen", k]);
    let a = key_lines(&key);
    assert_eq!(a.len(), 1);
    refused(&["keygen", "--promote", k], &format!("start with `wakeproxy keygen --add-next {k}`"));
    refused(&["keygen", "--retire", k], "no key rollover is under way");
    assert_eq!(key_lines(&key), a, "a refused step writes nothing");

    let out = ok(&["keygen", "--add-next", k]);
    assert!(out.starts_with(&format!("phase 1 of 3 done: {k} holds the current key")), "{out}");
    assert!(out.ends_with(&format!("run:\n  wakeproxy keygen --promote {k}\n")), "{out}");
    let after1 = key_lines(&key);
    assert_eq!((after1.len(), &after1[0]), (2, &a[0]), "the next key is added second");
    mode();
    ok(&["config", "check", c]);
    refused(&["keygen", "--add-next", k], "is in phase 1 of a key rollover");
    refused(&["keygen", "--retire", k], "would drop the key every node signs with");

    let out = ok(&["keygen", "--promote", k]);
    assert!(out.starts_with(&format!("phase 2 of 3 done: {k} signs with")), "{out}");
    assert!(out.ends_with(&format!("run:\n  wakeproxy keygen --retire {k}\n")), "{out}");
    assert_eq!(key_lines(&key), [after1[1].clone(), after1[0].clone()]);
    mode();
    ok(&["config", "check", c]);
    refused(&["keygen", "--promote", k], "is in phase 2 of a key rollover");
    refused(&["keygen", "--add-next", k], &format!("finish with `wakeproxy keygen --retire {k}`"));

    let out = ok(&["keygen", "--retire", k]);
    assert!(out.starts_with(&format!("phase 3 of 3 done: {k} holds only the key")), "{out}");
    assert_eq!(key_lines(&key), [after1[1].clone()]);
    mode();
    ok(&["config", "check", c]);

    // One step at a time, never with a path or --force, and never on a missing file.
    let out = wakeproxy(&["keygen", "--add-next", k, "--retire", k]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    assert_eq!(wakeproxy(&["keygen", "--force", "--promote", k]).status.code(), Some(2));
    let missing = dir.path().join("missing.key");
    refused(&["keygen", "--add-next", missing.to_str().unwrap()], "does not exist");
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn wake_without_a_daemon_says_that_direct_sends_from_here() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wakeproxy.toml");
    let socket = dir.path().join("nobody.sock");
    std::fs::write(&config, format!("control_socket = {:?}\n", socket.display().to_string()))
        .unwrap();
    let out = wakeproxy(&["wake", "--config", config.to_str().unwrap(), "02:00:00:00:00:01"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no wakeproxy daemon is listening"), "{err}");
    assert!(err.contains("--direct"), "{err}");
}

#[test]
fn a_wakeonlan_option_without_direct_is_no_clap_error() {
    // --port alone implies --direct: a bad MAC is then the error (exit 2), not clap's usage.
    let out = wakeproxy(&["wake", "--port", "7", "not-a-mac"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("required arguments were not provided"), "{err}");
    assert!(err.contains("not-a-mac"), "{err}");
}

#[test]
fn completion_scripts_name_the_commands_and_bash_loads_its_own() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = wakeproxy(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["status", "wake", "keygen", "config"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let bin = env!("CARGO_BIN_EXE_wakeproxy");
    let out = Command::new("bash")
        .args(["-c", &format!("source <('{bin}' completions bash) && complete -p wakeproxy")])
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("_wakeproxy"));
}

#[test]
fn an_unknown_shell_is_refused_with_the_shells_there_are() {
    let out = wakeproxy(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'tcsh'") && err.contains("bash"), "{err}");
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = wakeproxy(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in
        ["wakeproxy.1", "wakeproxy-status.1", "wakeproxy-wake.1", "wakeproxy-config-check.1"]
    {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH wakeproxy"), "{page} is no man page: {text:.80}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("wakeproxy-wake.1"));
    // Somewhere it may not write: the error names the place and what to do.
    let file = dir.path().join("wakeproxy.1");
    let out = wakeproxy(&["man", "--out", file.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
}

#[test]
fn monitoring_writes_the_alerts_and_the_dashboard_of_this_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = wakeproxy(&["monitoring", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = env!("CARGO_MANIFEST_DIR");
    for (name, source) in [
        ("wakeproxy-alerts.yml", "contrib/prometheus/wakeproxy-alerts.yml"),
        ("wakeproxy-dashboard.json", "contrib/grafana/wakeproxy-dashboard.json"),
    ] {
        let written = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(written, std::fs::read_to_string(format!("{root}/{source}")).unwrap());
        assert!(String::from_utf8_lossy(&out.stdout).contains(name));
    }
    // A path it cannot write (under a regular file): the error names it and what to do.
    let file = dir.path().join("wakeproxy-alerts.yml");
    let out = wakeproxy(&["monitoring", "--out", file.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write the monitoring files to") && err.contains("--out"), "{err}");
}

#[test]
fn firewall_show_json_lists_the_exceptions() {
    let out = wakeproxy(&["firewall", "show", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let peer_in = rules
        .iter()
        .find(|r| r["direction"] == "in" && r["matches"]["port"] == 25536)
        .expect("the peer port, inbound");
    assert_eq!(peer_in["protocol"], "udp");
    assert!(rules.iter().any(|r| r["matches"]["icmp"] == "request"), "{rules:?}");
    // JSON is the rules themselves: no firewall syntax to pick.
    let out = wakeproxy(&["firewall", "show", "--json", "--format", "ufw"]);
    assert_eq!(out.status.code(), Some(2));
}
