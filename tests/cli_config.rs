//! The real binary's offline commands: `wakeproxy config check` and `wakeproxy keygen`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn wakeproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A configuration in `dir` whose key file is `dir/site.key`, with `extra` appended.
fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("wakeproxy.toml");
    let key = dir.join("site.key");
    // TOML literal strings: no escaping of Windows backslashes needed.
    fs::write(&path, format!("key_file = '{}'\nguardians = 4\n{extra}", s(&key))).unwrap();
    path
}

#[test]
fn config_check_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "\n[log]\nlevel = \"debug\"\n");
    let key = dir.path().join("site.key");
    assert!(wakeproxy(&["keygen", s(&key)]).status.success());

    let out = wakeproxy(&["config", "check", s(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("guardians = 4"), "{stdout}");
    assert!(stdout.contains("heartbeat_interval = \"5s\""), "defaults filled in: {stdout}");
    assert!(stdout.contains("level = \"debug\""), "{stdout}");
    // What it prints is itself a valid configuration.
    let printed = dir.path().join("printed.toml");
    fs::write(&printed, &out.stdout).unwrap();
    assert!(wakeproxy(&["config", "check", s(&printed)]).status.success());
}

#[test]
fn config_check_names_an_unknown_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "heartbeat = \"5s\"\n");
    let out = wakeproxy(&["config", "check", s(&cfg)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(s(&cfg)) && err.contains("unknown key `heartbeat` (line 3)"), "{err}");
    assert!(err.contains("heartbeat_interval"), "lists the valid keys: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn config_check_names_key_line_and_value_of_a_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "heartbeat_interval = \"0s\"\n");
    let out = wakeproxy(&["config", "check", s(&cfg)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("heartbeat_interval (line 3) must be between 100ms and 10min, got 0s"),
        "{err}"
    );
}

#[test]
fn config_check_reports_a_missing_key_file_and_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let key = dir.path().join("site.key");
    let out = wakeproxy(&["config", "check", s(&cfg)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(s(&key)) && err.contains("wakeproxy keygen"), "{err}");

    // In a lab, insecure = true needs no key file, and says so.
    let cfg = config(dir.path(), "insecure = true\n");
    let out = wakeproxy(&["config", "check", s(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("insecure = true"));
}

#[test]
fn config_check_of_a_missing_explicit_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let out = wakeproxy(&["config", "check", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(s(&missing)) && err.contains("does not exist"), "{err}");
}

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys/site.key");
    let out = wakeproxy(&["keygen", s(&key)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(s(&key)), "says where: {}", text(&out.stdout));
    let first = fs::read_to_string(&key).unwrap();
    assert!(wakeproxy::store::keys::load(&key).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let out = wakeproxy(&["keygen", s(&key)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(fs::read_to_string(&key).unwrap(), first, "not overwritten");

    let out = wakeproxy(&["keygen", s(&key), "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_ne!(fs::read_to_string(&key).unwrap(), first, "replaced");
}

#[test]
fn run_refuses_to_start_when_no_configured_interface_exists_and_lists_the_usable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("site.key");
    assert!(wakeproxy(&["keygen", s(&key)]).status.success());
    let extra = format!(
        "interfaces = [\"wpnosuch0\"]\nsleep_hooks = false\nstate_dir = '{}'\ncontrol_socket = '{}'\n",
        s(&dir.path().join("state")),
        s(&dir.path().join("control.sock")),
    );
    let cfg = config(dir.path(), &extra);
    let out = wakeproxy(&["run", "--config", s(&cfg)]);
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("wpnosuch0 does not exist"), "{err}");
    assert!(err.contains("usable interfaces here:"), "says what could be named instead: {err}");
    assert!(err.contains("check `interfaces` in the configuration"), "{err}");
}
