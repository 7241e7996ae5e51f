//! The Windows build, `wakeproxy.exe`, run under Wine on this Linux host: its command line, the
//! daemon over `\\.\pipe\wakeproxy`, the service under Wine's service control manager, and
//! Windows nodes beside Linux nodes on one lab bridge.
//!
//! Every Windows machine is a [`WinBox`]: a network namespace of the test's own with a Wine
//! prefix and wineserver living in it (see `tests/common/wine.rs` for why one each). The test
//! builds `wakeproxy.exe` itself (`cargo build --target x86_64-pc-windows-gnu`), so `cargo
//! test` runs this suite like any other. Needs root, Wine and MinGW; under `CI=true` a missing
//! precondition fails the test, elsewhere it is skipped with a message.
//!
//! What Wine cannot show (Npcap capture, power events, SCM recovery, ACL denials, netsh,
//! `FILE_FLAG_FIRST_PIPE_INSTANCE`) is listed in `windows/README.md`, with the manual check.

#![cfg(target_os = "linux")]

mod common;
#[path = "common/wine.rs"]
mod wine;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::lab::TestLab;
use common::wait_for;
use serde_json::Value;
use wine::{Adapter, Plug, WinBox, Wine, win, wine};

/// The Linux binary under test.
fn linux(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

/// A unique tag for this process's names (namespaces, labs).
fn tag() -> String {
    format!("{}", std::process::id() % 10_000)
}

/// A Windows box with one adapter, `eth0` 10.66.0.2/24, cabled to a Linux namespace
/// `<ns>-lan` whose `eth0` is 10.66.0.1/24: nothing else on the link.
fn standalone(wine: &Wine, name: &str) -> WinBox {
    let ns = format!("wpw{}{name}", tag());
    let lan = format!("{ns}-lan");
    WinBox::new(
        wine,
        &ns,
        &[Adapter {
            name: "eth0",
            addr: "10.66.0.2/24",
            mac: "02:66:00:00:00:02",
            plug: Plug::Host { ns: &lan, addr: "10.66.0.1/24" },
        }],
    )
}

/// The far end of a standalone box.
fn lan_of(b: &WinBox) -> String {
    format!("{}-lan", b.ns)
}

/// Writes a key (made by the Windows exe) and a configuration for box `b` into its directory:
/// 250 ms heartbeats, no sleep hooks, `extra` appended. Returns the configuration's path.
fn configure(b: &WinBox, key: Option<&Path>, extra: &str) -> PathBuf {
    let key = match key {
        Some(k) => k.to_owned(),
        None => {
            let k = b.dir.join("site.key");
            b.ok(&["keygen", &win(&k)]);
            k
        }
    };
    let cfg = b.dir.join("wakeproxy.toml");
    let text = format!(
        "heartbeat_interval = \"250ms\"\nprobe_timeout = \"62ms\"\nsleep_hooks = false\n\
         key_file = '{}'\nstate_dir = '{}'\n{extra}",
        win(&key),
        win(&b.dir.join("state")),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `status --json` of the daemon box `b` runs with `cfg`, if it answers.
fn win_status(b: &WinBox, cfg: &Path) -> Option<Value> {
    let out = b.run(&["status", "--json", "--config", &win(cfg)]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// A UDP listener on port 9 in namespace `ns`: the first datagram it gets, as (source, hex).
struct Listener {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
}

impl Listener {
    const SCRIPT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("0.0.0.0", 9))
print("ready", flush=True)
while True:
    data, src = s.recvfrom(2048)
    print(src[0], data.hex(), flush=True)
"#;

    fn start(ns: &str) -> Self {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", Self::SCRIPT])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).as_deref(), Ok("ready"));
        Self { child, rx }
    }

    /// The next datagram within `limit`: (source address, payload in hex).
    fn next(&self, limit: Duration) -> Option<(String, String)> {
        let line = self.rx.recv_timeout(limit).ok()?;
        let (src, hex) = line.split_once(' ')?;
        Some((src.to_owned(), hex.to_owned()))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 102-byte magic packet for `mac` (aa:bb:…), in hex.
fn magic(mac: &str) -> String {
    let m = mac.replace(':', "");
    let hex = format!("{}{}", "ff".repeat(6), m.repeat(16));
    assert_eq!(hex.len(), 2 * 102);
    hex
}

// ---------------------------------------------------------------------------------------------
// The command line

#[test]
fn version_keygen_and_config_check_under_wine() {
    let Some(wine) = wine() else { return };
    let b = standalone(wine, "c1");
    let linux_version = String::from_utf8(linux(&["--version"]).stdout).unwrap();
    assert_eq!(b.ok(&["--version"]), linux_version, "the same version as the Linux binary");

    // keygen writes a key file (one key line: 32 random bytes, as on Linux) and refuses to
    // overwrite it: the site would split.
    let key = b.dir.join("site.key");
    let out = b.ok(&["keygen", &win(&key)]);
    assert!(out.contains("wrote a new site key"), "{out}");
    let meta = std::fs::symlink_metadata(&key).expect("keygen made no file");
    assert!(meta.file_type().is_file(), "a regular file, not a link");
    let lines: Vec<String> = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1, "one key: {lines:?}");
    let again = b.run(&["keygen", &win(&key)]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    // Without a path: %ProgramData%\wakeproxy\site.key, the Windows default, in the prefix.
    b.ok(&["keygen"]);
    let default_key = b.prefix.join("drive_c/ProgramData/wakeproxy/site.key");
    assert!(default_key.is_file(), "keygen wrote no {}", default_key.display());
    // The same format as the Linux binary's key files (a site may mix both).
    let linux_key = b.dir.join("linux.key");
    let out = linux(&["keygen", linux_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let linux_line = std::fs::read_to_string(&linux_key).unwrap();
    let linux_line = linux_line.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#'));
    assert_eq!(linux_line.map(str::len), Some(lines[0].len()), "{lines:?} vs {linux_line:?}");

    // config check: a good file prints the effective configuration, with Windows defaults.
    let cfg = b.dir.join("good.toml");
    std::fs::write(&cfg, format!("heartbeat_interval = \"2s\"\nkey_file = '{}'\n", win(&key)))
        .unwrap();
    let out = b.ok(&["config", "check", &win(&cfg)]);
    assert!(out.contains("heartbeat_interval = \"2s\""), "{out}");
    assert!(out.contains(r"control_socket = '\\.\pipe\wakeproxy'"), "{out}");
    // With no file at all: the defaults, %ProgramData% and the key keygen just wrote there.
    let out = b.ok(&["config", "check"]);
    assert!(out.contains(r"C:\ProgramData\wakeproxy\site.key"), "{out}");

    // A bad file: non-zero, and the message names the file, the key and the line.
    let bad = b.dir.join("bad.toml");
    std::fs::write(&bad, "heartbeat_interval = \"2s\"\nheartbeat_intervall = \"5s\"\n").unwrap();
    let out = b.run(&["config", "check", &win(&bad)]);
    assert!(!out.status.success(), "a bad file passed config check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("heartbeat_intervall"), "{err}");
    assert!(err.contains("line 2"), "names the line: {err}");
    let out = b.run(&["config", "check", &win(&b.dir.join("missing.toml"))]);
    assert!(!out.status.success(), "a missing file passed config check");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn firewall_show_and_simulate_print_what_the_linux_binary_prints() {
    let Some(wine) = wine() else { return };
    let b = standalone(wine, "c2");
    // Custom ports, so the rules are seen to follow the configuration.
    let cfg = b.dir.join("ports.toml");
    std::fs::write(&cfg, "peer_port = 25600\nwol_port = 7\n").unwrap();
    let on_windows = b.ok(&["firewall", "show", "--format", "windows", "--config", &win(&cfg)]);
    let on_linux =
        linux(&["firewall", "show", "--format", "windows", "--config", cfg.to_str().unwrap()]);
    assert!(on_linux.status.success(), "{}", String::from_utf8_lossy(&on_linux.stderr));
    assert_eq!(on_windows, String::from_utf8(on_linux.stdout).unwrap());
    assert!(on_windows.contains("netsh advfirewall firewall add rule"), "{on_windows}");
    assert!(on_windows.contains("25600") && on_windows.contains("profile=domain,private"));
    // On Windows `firewall show` defaults to netsh.
    let default = b.ok(&["firewall", "show", "--config", &win(&cfg)]);
    assert_eq!(default, on_windows);

    for args in [
        &["simulate", "--nodes", "30", "--subnets", "2", "--duration", "2m", "--seed", "4"][..],
        &[
            "simulate",
            "--nodes",
            "12",
            "--duration",
            "1m",
            "--loss",
            "0.05",
            "--seed",
            "9",
            "--json",
        ],
    ] {
        let out = linux(args);
        assert!(out.status.success());
        assert_eq!(b.ok(args), String::from_utf8(out.stdout).unwrap(), "{args:?}");
    }
}

#[test]
fn wake_direct_sends_the_magic_packet_to_a_listener() {
    let Some(wine) = wine() else { return };
    let b = standalone(wine, "w1");
    let listener = Listener::start(&lan_of(&b));
    // Every interface's broadcast address (the default).
    let out = b.ok(&["wake", "--direct", "02:aa:bb:cc:dd:01"]);
    assert!(out.contains("02:aa:bb:cc:dd:01"), "{out}");
    let (src, hex) = listener.next(Duration::from_secs(5)).expect("no magic packet arrived");
    assert_eq!((src.as_str(), hex.as_str()), ("10.66.0.2", magic("02:aa:bb:cc:dd:01").as_str()));
    // An explicit broadcast address, and a SecureOn password after the 16 copies.
    b.ok(&[
        "wake",
        "--direct",
        "--broadcast",
        "10.66.0.255",
        "--password",
        "1.2.3.4",
        "02-aa-bb-cc-dd-02",
    ]);
    let (_, hex) = listener.next(Duration::from_secs(5)).expect("no magic packet arrived");
    assert_eq!(hex, format!("{}01020304", magic("02:aa:bb:cc:dd:02")));
    // Bad input: a MAC that is none, non-zero and nothing sent.
    let out = b.run(&["wake", "--direct", "02:aa:bb:cc:dd"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(listener.next(Duration::from_millis(500)).is_none(), "a bad MAC sent something");
}

#[test]
fn wake_direct_takes_the_adapters_friendly_name() {
    let Some(wine) = wine() else { return };
    let b = standalone(wine, "w2");
    let listener = Listener::start(&lan_of(&b));
    // Under Wine an adapter's friendly name is its Linux name; on Windows it is "Ethernet".
    let out = b.run(&["wake", "--direct", "--interface", "eth0", "02:aa:bb:cc:dd:03"]);
    assert!(
        out.status.success(),
        "--interface eth0 refused: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("via eth0") && !text.contains('{'), "named by its GUID: {text}");
    let (_, hex) = listener.next(Duration::from_secs(5)).expect("no magic packet arrived");
    assert_eq!(hex, magic("02:aa:bb:cc:dd:03"));
    let out = b.run(&["wake", "--direct", "--interface", "Ethernet 9", "02:aa:bb:cc:dd:04"]);
    assert!(!out.status.success(), "an unknown adapter was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Ethernet 9"));
}

// ---------------------------------------------------------------------------------------------
// The daemon over the named pipe

#[test]
fn the_daemon_answers_on_the_named_pipe_and_stops_on_ctrl_c() {
    let Some(wine) = wine() else { return };
    let mut b = standalone(wine, "d1");
    let listener = Listener::start(&lan_of(&b));
    let cfg = configure(&b, None, "");
    let pid = b.start_daemon(&cfg);
    let c = win(&cfg);
    let v = wait_for(Duration::from_secs(20), || win_status(&b, &cfg))
        .unwrap_or_else(|| panic!("status never answered; log:\n{}", b.log()));
    assert_eq!(v["node"]["ifaces"].as_array().map(Vec::len), Some(1), "{v:#}");
    assert_eq!(v["config_path"], c.as_str());
    assert_eq!(v["insecure"], false);
    let id = v["node"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");

    let mut events = b.follow(&["events", "--follow", "--json", "--config", &c]);
    // Alone on its link, the node becomes the manager after its listening grace.
    let manager = wait_for(Duration::from_secs(10), || {
        let v = win_status(&b, &cfg)?;
        (v["node"]["ifaces"][0]["role"] == "manager").then_some(())
    });
    assert!(manager.is_some(), "never manager; log:\n{}", b.log());
    let first = events.until(Duration::from_secs(10), |l| l.contains("election-changed"));
    assert!(first.is_some(), "events --follow showed no election: {:?}", events.seen);

    // A wake through the daemon: a new event on the open follow, and the packet on the wire.
    b.ok(&["wake", "--config", &c, "02:aa:bb:cc:dd:10"]);
    let sent = events.until(Duration::from_secs(5), |l| {
        serde_json::from_str::<Value>(l)
            .is_ok_and(|e| e["event"] == "wake-sent" && e["mac"] == "02:aa:bb:cc:dd:10")
    });
    assert!(sent.is_some(), "no wake-sent event: {:?}", events.seen);
    let (_, hex) = listener.next(Duration::from_secs(5)).expect("the daemon sent no packet");
    assert_eq!(hex, magic("02:aa:bb:cc:dd:10"));

    // The OS's sleep hooks: accepted, and the node says it is asleep, then awake.
    b.ok(&["sleep-notice", "--config", &c]);
    let asleep = wait_for(Duration::from_secs(5), || {
        (win_status(&b, &cfg)?["node"]["asleep"] == true).then_some(())
    });
    assert!(asleep.is_some(), "sleep-notice did not put the node to sleep");
    b.ok(&["resume-notice", "--config", &c]);
    let awake = wait_for(Duration::from_secs(5), || {
        (win_status(&b, &cfg)?["node"]["asleep"] == false).then_some(())
    });
    assert!(awake.is_some(), "resume-notice did not wake the node");
    let peers = b.ok(&["peers", "--config", &c]);
    assert!(peers.contains("eth0"), "adapters by their friendly name: {peers}");

    // A second daemon on the same machine: refused, non-zero, saying why. (Real Windows refuses
    // it at the pipe, FILE_FLAG_FIRST_PIPE_INSTANCE; Wine ignores that flag, so here it is the
    // peer port, which the first daemon holds.)
    let second = b.run(&["run", "--config", &c]);
    assert!(!second.status.success(), "a second daemon started");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("running already") || err.contains("another daemon"), "{err}");
    assert!(win_status(&b, &cfg).is_some(), "the first daemon must go on answering");

    // Ctrl-C (Wine turns SIGINT into CTRL_C_EVENT): a clean stop, exit code 0, pipe gone.
    Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    let status = b.wait_daemon(pid, Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running 10 s after Ctrl-C:\n{}", b.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", b.log());
    assert!(win_status(&b, &cfg).is_none(), "the pipe still answers after the stop");
    assert!(b.log().contains("control pipe closed"), "{}", b.log());
}

#[test]
fn the_daemon_names_adapters_by_their_friendly_name_and_refuses_unknown_ones() {
    let Some(wine) = wine() else { return };
    let mut b = standalone(wine, "d2");
    let cfg = configure(&b, None, "interfaces = [\"eth0\"]\n");
    let pid = b.start_daemon(&cfg);
    let v = wait_for(Duration::from_secs(20), || {
        if b.daemon_exit(pid).is_some() {
            return Some(None);
        }
        win_status(&b, &cfg).map(Some)
    })
    .flatten()
    .unwrap_or_else(|| panic!("interfaces = [\"eth0\"] did not run; log:\n{}", b.log()));
    assert_eq!(v["node"]["ifaces"][0]["name"], "eth0", "{:#}", v["node"]["ifaces"]);
    Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    assert_eq!(b.wait_daemon(pid, Duration::from_secs(10)).and_then(|s| s.code()), Some(0));

    // An adapter that does not exist: a non-zero exit that names it.
    let bad = configure(&b, Some(&b.dir.join("site.key")), "interfaces = [\"Ethernet 7\"]\n");
    let pid = b.start_daemon(&bad);
    let status = b.wait_daemon(pid, Duration::from_secs(20));
    let status = status.unwrap_or_else(|| panic!("runs without its adapter:\n{}", b.log()));
    assert!(!status.success(), "exit 0 without its adapter");
    assert!(b.log().contains("Ethernet 7"), "does not name the adapter:\n{}", b.log());
    // And says what could be named instead, as Windows names it.
    let log = b.log();
    assert!(log.contains("usable interfaces here: \"eth0\" (index"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// The service under Wine's service control manager

/// The Event Log source `service install` registers, as `reg query` prints it; `None` if absent.
fn event_source(b: &WinBox) -> Option<String> {
    let key = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\wakeproxy";
    let out = b.wine_program("reg", &["query", key]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the service's registry key exists (what the SCM keeps of an installed service).
fn service_key(b: &WinBox) -> bool {
    b.wine_program("reg", &["query", r"HKLM\System\CurrentControlSet\Services\wakeproxy"])
        .status
        .success()
}

#[test]
fn the_service_installs_starts_answers_stops_and_uninstalls() {
    let Some(wine) = wine() else { return };
    let b = standalone(wine, "s1");
    let cfg = configure(&b, None, "");
    let c = win(&cfg);
    let fails = |args: &[&str], says: &str| {
        let out = b.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    };

    fails(&["service", "start"], "not installed");
    fails(&["service", "uninstall"], "not installed");
    assert!(!service_key(&b));
    let out = b.ok(&["service", "install", "--config", &c]);
    assert!(out.contains("installed the wakeproxy service"), "{out}");
    assert!(service_key(&b), "install left no service");
    // Its Event Log source: the exe is its own message file (an embedded message table).
    let source = event_source(&b).expect("install registered no Event Log source");
    assert!(source.contains("EventMessageFile") && source.contains("wakeproxy.exe"), "{source}");
    assert!(source.contains("TypesSupported"), "{source}");
    // Installing twice: refused, and the first install is untouched (it still starts).
    fails(&["service", "install", "--config", &c], "already installed");
    assert!(service_key(&b) && event_source(&b).is_some());
    // `service status`: 3 while stopped, as systemctl says it; 0 while running.
    assert_eq!(b.run(&["service", "status"]).status.code(), Some(3));

    b.ok(&["service", "start"]);
    let v = wait_for(Duration::from_secs(20), || win_status(&b, &cfg))
        .expect("the service's daemon never answered on the pipe");
    assert_eq!(v["config_path"], c.as_str());
    let text = b.ok(&["status", "--config", &c]);
    assert!(text.starts_with("wakeproxy "), "{text}");
    b.ok(&["service", "status"]);
    fails(&["service", "start"], "already running");

    b.ok(&["service", "stop"]);
    let gone = wait_for(Duration::from_secs(15), || win_status(&b, &cfg).is_none().then_some(()));
    assert!(gone.is_some(), "the daemon still answers after service stop");
    b.ok(&["service", "uninstall"]);
    assert!(!service_key(&b), "uninstall left the service");
    assert_eq!(event_source(&b), None, "uninstall left the Event Log source");
    fails(&["service", "uninstall"], "not installed");
    fails(&["service", "stop"], "not installed");

    // A running service is stopped by uninstall, not left running without an entry.
    b.ok(&["service", "install", "--config", &c]);
    b.ok(&["service", "start"]);
    wait_for(Duration::from_secs(20), || win_status(&b, &cfg)).expect("started again");
    b.ok(&["service", "uninstall"]);
    assert!(!service_key(&b));
    let gone = wait_for(Duration::from_secs(15), || win_status(&b, &cfg).is_none().then_some(()));
    assert!(gone.is_some(), "uninstall left the daemon running");
}

#[test]
fn service_and_control_errors_are_worded_for_windows() {
    let Some(wine) = wine() else { return };
    let b = standalone(wine, "s2");
    let cfg = configure(&b, None, "");
    let c = win(&cfg);
    let unix_words = ["systemctl", "journalctl", "sudo", "root", "CAP_NET_RAW"];
    let windows_worded = |args: &[&str]| -> String {
        let out = b.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        for w in unix_words {
            assert!(!err.contains(w), "{args:?} speaks of `{w}` on Windows: {err}");
        }
        err
    };
    // No daemon on the pipe.
    windows_worded(&["status", "--config", &c]);
    // Stopping a stopped service: the OS's reason, not the wrapper's "IO error".
    b.ok(&["service", "install", "--config", &c]);
    let err = windows_worded(&["service", "stop"]);
    b.ok(&["service", "uninstall"]);
    assert!(!err.contains("IO error in winapi call"), "hides the OS error: {err}");
    assert!(err.contains("not running") || err.contains("not started"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Mixed labs: a Windows node under Wine beside Linux nodes

/// A Windows node on lab `lab`: box `<lab>-win` (so `lab down` finds it too) with one adapter
/// per `(bridge index, address)`, and its configuration (the lab's key, the lab's timing).
fn windows_node(wine: &Wine, lab: &TestLab, legs: &[(usize, &str)]) -> (WinBox, PathBuf) {
    let sw = format!("{}-sw", lab.name);
    let names = ["eth0", "eth1", "eth2"];
    let bridges: Vec<String> = legs.iter().map(|(k, _)| format!("br{k}")).collect();
    let macs: Vec<String> =
        (0..legs.len()).map(|i| format!("02:57:57:00:00:{:02x}", i + 1)).collect();
    let adapters: Vec<Adapter<'_>> = legs
        .iter()
        .enumerate()
        .map(|(i, (_, addr))| Adapter {
            name: names[i],
            addr,
            mac: &macs[i],
            plug: Plug::Bridge { switch: &sw, bridge: &bridges[i] },
        })
        .collect();
    let b = WinBox::new(wine, &format!("{}-win", lab.name), &adapters);
    let key = std::env::temp_dir().join(format!("wakeproxy-lab-{}/site.key", lab.name));
    let cfg = configure(&b, Some(&key), "");
    (b, cfg)
}

/// A Linux host's `status --json`.
fn lab_status(lab: &TestLab, host: &str) -> Option<Value> {
    let out = linux(&["status", "--json", "--config", &lab.config(host)]);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
}

/// The peer `id` in interface `k` of a status.
fn peer<'a>(v: &'a Value, k: usize, id: &str) -> Option<&'a Value> {
    v["node"]["ifaces"][k]["peers"].as_array()?.iter().find(|p| p["id"] == id)
}

/// Waits until the Linux `hosts` and the Windows node agree on one manager among them, each
/// hearing the others; the manager's id.
fn one_manager(lab: &TestLab, hosts: &[&str], b: &WinBox, cfg: &Path) -> Result<String, String> {
    let mut last = String::new();
    wait_for(Duration::from_secs(30), || {
        let mut views: Vec<Value> =
            hosts.iter().map(|h| lab_status(lab, h)).collect::<Option<_>>()?;
        views.push(win_status(b, cfg)?);
        let ids: Vec<&str> = views.iter().map(|v| v["node"]["id"].as_str().unwrap_or("")).collect();
        let roles: Vec<(&str, &str)> = views
            .iter()
            .map(|v| {
                let i = &v["node"]["ifaces"][0];
                (i["role"].as_str().unwrap_or(""), i["manager"].as_str().unwrap_or(""))
            })
            .collect();
        last = format!("ids {ids:?}, (role, manager) {roles:?}");
        let heard = views.iter().all(|v| {
            v["node"]["ifaces"][0]["peers"].as_array().is_some_and(|p| {
                p.iter().filter(|p| p["state"] == "awake").count() == views.len() - 1
            })
        });
        let managers = roles.iter().filter(|(r, _)| *r == "manager").count();
        let m = roles[0].1;
        (heard && managers == 1 && roles.iter().all(|(_, x)| *x == m) && ids.contains(&m))
            .then(|| m.to_owned())
    })
    .ok_or(last)
}

#[test]
fn mixed_lab_elects_one_manager_announces_ports_and_sees_a_real_sleep() {
    let Some(wine) = wine() else { return };
    let Some(lab) = TestLab::up(&format!("wm{}", tag()), 2, 1) else { return };
    let (mut b, cfg) = windows_node(wine, &lab, &[(0, "10.0.1.50/24")]);
    // A listening TCP port on the Windows machine, there before the daemon's first port scan.
    let mut service = b
        .linux(&["python3", "-c", "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',4455))\ns.listen()\ntime.sleep(600)"])
        .spawn()
        .unwrap();
    let pid = b.start_daemon(&cfg);
    let result = (|| {
        let m = one_manager(&lab, &["h1", "h2"], &b, &cfg)
            .map_err(|last| format!("no agreement: {last}\nWindows log:\n{}", b.log()))?;
        let w = win_status(&b, &cfg).ok_or("no status")?;
        let win_id = w["node"]["id"].as_str().unwrap().to_owned();
        eprintln!("manager {m}, Windows node {win_id}");
        // The Windows node's port, in its heartbeats, as both Linux nodes see it.
        for h in ["h1", "h2"] {
            let ports = wait_for(Duration::from_secs(15), || {
                let v = lab_status(&lab, h)?;
                let p = peer(&v, 0, &win_id)?;
                let ports: Vec<u64> =
                    p["tcp_ports"].as_array()?.iter().filter_map(Value::as_u64).collect();
                ports.contains(&4455).then_some(ports)
            });
            ports.ok_or(format!("{h} never saw port 4455 announced by the Windows node"))?;
        }
        // The Linux nodes' ports (the lab's service: 3389, 8080), as Windows sees them.
        let h2 = lab.node_id("h2").to_string();
        let ports = wait_for(Duration::from_secs(15), || {
            let v = win_status(&b, &cfg)?;
            let p = peer(&v, 0, &h2)?;
            let ports: Vec<u64> =
                p["tcp_ports"].as_array()?.iter().filter_map(Value::as_u64).collect();
            (ports.contains(&3389) && ports.contains(&8080)).then_some(())
        });
        ports.ok_or("the Windows node never saw h2's ports")?;

        // h2 really sleeps, without a word: frozen, addresses gone, ARP off. The Windows node
        // must find it asleep by itself (its probe gets no answer).
        lab.ok(&["sleep", "h2", "--no-notice"]);
        let mut seen = Vec::new();
        let asleep = wait_for(Duration::from_secs(10), || {
            let s = win_status(&b, &cfg).and_then(|v| {
                peer(&v, 0, &h2).map(|p| p["state"].as_str().unwrap_or("").to_owned())
            })?;
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            (s == "asleep").then_some(())
        });
        asleep
            .ok_or(format!("h2 is not asleep in the Windows node's view: {seen:?}\n{}", b.log()))?;
        if b.daemon_exit(pid).is_some() {
            return Err(format!("the Windows daemon stopped:\n{}", b.log()));
        }
        Ok::<(), String>(())
    })();
    let _ = service.kill();
    let _ = service.wait();
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn mixed_lab_a_killed_linux_daemon_whose_host_answers_ping_is_gone_not_asleep() {
    let Some(wine) = wine() else { return };
    let Some(lab) = TestLab::up(&format!("wg{}", tag()), 2, 1) else { return };
    let (mut b, cfg) = windows_node(wine, &lab, &[(0, "10.0.1.50/24")]);
    b.start_daemon(&cfg);
    one_manager(&lab, &["h1", "h2"], &b, &cfg)
        .unwrap_or_else(|last| panic!("no agreement: {last}\nWindows log:\n{}", b.log()));
    let h2 = lab.node_id("h2").to_string();
    // Only ICMP echo may tell: h2 drops every TCP SYN (its announced ports answered, a TCP probe
    // would prove the host up and hide a broken echo probe).
    let ns = format!("{}-h2", lab.name);
    let nft = "add table inet wptest\nadd chain inet wptest input { type filter hook input priority 0; }\nadd rule inet wptest input tcp flags syn drop\n";
    let mut c = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nft");
    use std::io::Write;
    c.stdin.take().unwrap().write_all(nft.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "nft");
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{}-win", lab.name),
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "10.0.1.11",
        ])
        .output()
        .unwrap();
    assert!(ping.status.success(), "h2 does not answer ping from the Windows machine");
    lab.crash("h2");

    let mut seen: Vec<String> = Vec::new();
    let gone = wait_for(Duration::from_secs(10), || {
        let v = win_status(&b, &cfg)?;
        let s = peer(&v, 0, &h2).map_or("(dropped)".to_owned(), |p| {
            format!(
                "{} ({})",
                p["state"].as_str().unwrap_or(""),
                p["reason"].as_str().unwrap_or("")
            )
        });
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        (s.starts_with("gone") || s == "(dropped)").then_some(())
    });
    // The control: a Linux node, whose echo probe works, says the same of h2.
    let h1_view = wait_for(Duration::from_secs(5), || {
        let v = lab_status(&lab, "h1")?;
        peer(&v, 0, &h2).is_none_or(|p| p["state"] == "gone").then_some(())
    });
    assert!(h1_view.is_some(), "h1 does not find h2 gone either: the lab, not Windows, is wrong");
    assert!(
        !seen.iter().any(|s| s.starts_with("asleep")),
        "the Windows node took h2, whose host answers ping, for asleep: {seen:?}\nlog:\n{}",
        b.log()
    );
    assert!(gone.is_some(), "h2 never gone in the Windows node's view: {seen:?}\n{}", b.log());
}

#[test]
fn mixed_lab_a_windows_node_with_two_adapters_heartbeats_on_both() {
    let Some(wine) = wine() else { return };
    let Some(lab) = TestLab::up(&format!("wt{}", tag()), 2, 2) else { return };
    // h1 on subnet 0 (br0), h2 on subnet 1 (br1); the Windows node on both.
    let (mut b, cfg) = windows_node(wine, &lab, &[(0, "10.0.1.50/24"), (1, "10.0.2.50/24")]);
    let pid = b.start_daemon(&cfg);
    let v = wait_for(Duration::from_secs(20), || {
        if b.daemon_exit(pid).is_some() {
            return Some(None);
        }
        win_status(&b, &cfg).map(Some)
    })
    .flatten()
    .unwrap_or_else(|| panic!("the Windows daemon with two adapters did not run:\n{}", b.log()));
    assert_eq!(v["node"]["ifaces"].as_array().map(Vec::len), Some(2), "{:#}", v["node"]["ifaces"]);
    let win_id = v["node"]["id"].as_str().unwrap().to_owned();
    // Each Linux node hears it, fresh, now and again after 8 more heartbeats.
    for round in 0..2 {
        for h in ["h1", "h2"] {
            let fresh = wait_for(Duration::from_secs(15), || {
                let v = lab_status(&lab, h)?;
                let p = peer(&v, 0, &win_id)?;
                let ago = &p["last_heard_ago"];
                let ago = ago["secs"].as_f64()? + ago["nanos"].as_f64()? / 1e9;
                (p["state"] == "awake" && ago < 1.0).then_some(())
            });
            assert!(
                fresh.is_some(),
                "round {round}: {h} does not hear the Windows node: {:#}\nWindows log:\n{}",
                lab_status(&lab, h)
                    .map(|v| v["node"]["ifaces"][0]["peers"].clone())
                    .unwrap_or_default(),
                b.log()
            );
        }
        assert!(b.daemon_exit(pid).is_none(), "the Windows daemon stopped:\n{}", b.log());
        std::thread::sleep(Duration::from_millis(2000));
    }
    // And the Windows node hears each of them on the right adapter.
    let v = win_status(&b, &cfg).expect("status");
    let h1 = lab.node_id("h1").to_string();
    let h2 = lab.node_id("h2").to_string();
    let on = |id: &str| -> Vec<usize> { (0..2).filter(|&k| peer(&v, k, id).is_some()).collect() };
    assert_eq!((on(&h1).len(), on(&h2).len()), (1, 1), "{:#}", v["node"]["ifaces"]);
    assert_ne!(on(&h1), on(&h2), "h1 and h2 heard on one adapter: {:#}", v["node"]["ifaces"]);

    // DHCP gives eth1 another address: its sockets, bound to the old one, are opened again,
    // and h2 hears the node from its new address.
    let ip = |args: &[&str]| assert!(b.linux(args).status().unwrap().success(), "{args:?}");
    ip(&["ip", "addr", "del", "10.0.2.50/24", "dev", "eth1"]);
    ip(&["ip", "addr", "add", "10.0.2.51/24", "dev", "eth1"]);
    let moved = wait_for(Duration::from_secs(15), || {
        let v = lab_status(&lab, "h2")?;
        let p = peer(&v, 0, &win_id)?;
        let ago = &p["last_heard_ago"];
        let ago = ago["secs"].as_f64()? + ago["nanos"].as_f64()? / 1e9;
        let at = p["ipv4"][0].as_str()?;
        (p["state"] == "awake" && ago < 1.0 && at == "10.0.2.51/24").then_some(())
    });
    assert!(
        moved.is_some(),
        "h2 does not hear the node at its new address:
{}",
        b.log()
    );

    // eth0 disappears (a dock unplugged): the node goes on, on eth1 alone, and says so.
    ip(&["ip", "link", "del", "eth0"]);
    let one = wait_for(Duration::from_secs(15), || {
        let v = win_status(&b, &cfg)?;
        (v["node"]["ifaces"].as_array()?.len() == 1).then_some(())
    });
    assert!(
        one.is_some(),
        "the node still manages a vanished adapter:
{}",
        b.log()
    );
    assert!(
        b.daemon_exit(pid).is_none(),
        "the node stopped when an adapter vanished:
{}",
        b.log()
    );
    assert!(b.log().contains("interface eth0 is gone or down"), "{}", b.log());
    let fresh = wait_for(Duration::from_secs(15), || {
        let p = lab_status(&lab, "h2")?;
        let p = peer(&p, 0, &win_id)?;
        let ago = &p["last_heard_ago"];
        let ago = ago["secs"].as_f64()? + ago["nanos"].as_f64()? / 1e9;
        (p["state"] == "awake" && ago < 1.0).then_some(())
    });
    assert!(
        fresh.is_some(),
        "h2 no longer hears the node after eth0 vanished:
{}",
        b.log()
    );
}
