//! The real daemon on real sockets: several `wakeproxy run` processes in network namespaces
//! joined by a bridge. Needs root (CI runs as root; under `CI=true` a missing precondition
//! fails the test).

#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{NetLab, Sniffer, can_run_netns, magic_hex};
use serde_json::Value;

const H: Duration = Duration::from_millis(250);

fn wakeproxy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy"))
}

/// Writes host `i`'s config (and the shared key, unless `key` names another one).
fn configure(lab: &NetLab, i: usize, key: &Path) -> PathBuf {
    let dir = &lab.hosts[i].dir;
    let cfg = dir.join("wakeproxy.toml");
    let text = format!(
        "interfaces = [\"eth0\"]\nheartbeat_interval = \"250ms\"\nprobe_timeout = \"100ms\"\n\
         key_file = \"{}\"\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\n",
        key.display(),
        dir.join("state").display(),
        dir.join("control.sock").display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn keygen(path: &Path) {
    let out = wakeproxy().arg("keygen").arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `wakeproxy status --json` of host `i`, if its daemon answers.
fn status(lab: &NetLab, i: usize) -> Option<Value> {
    let cfg = lab.hosts[i].dir.join("wakeproxy.toml");
    let out = wakeproxy().args(["status", "--json", "--config"]).arg(cfg).output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// (role, manager) of host `i`'s first interface.
fn role_and_manager(v: &Value) -> (String, String) {
    let iface = &v["node"]["ifaces"][0];
    (
        iface["role"].as_str().unwrap_or("").to_owned(),
        iface["manager"].as_str().unwrap_or("").to_owned(),
    )
}

fn start_lab(n: usize) -> Option<(NetLab, Vec<PathBuf>)> {
    if !can_run_netns() {
        return None;
    }
    let mut lab = NetLab::new(n);
    let key = lab.dir.join("site.key");
    keygen(&key);
    let cfgs: Vec<PathBuf> = (0..n).map(|i| configure(&lab, i, &key)).collect();
    for (i, cfg) in cfgs.iter().enumerate() {
        lab.start(i, cfg);
    }
    Some((lab, cfgs))
}

/// Waits until the running hosts `alive` agree on one manager that is one of them.
fn agreed_manager(lab: &NetLab, alive: &[usize], limit: Duration) -> Option<String> {
    lab.wait_for(limit, || {
        let views: Vec<Value> = alive.iter().map(|&i| status(lab, i)).collect::<Option<_>>()?;
        let ids: Vec<String> =
            views.iter().map(|v| v["node"]["id"].as_str().unwrap_or("").to_owned()).collect();
        let rm: Vec<(String, String)> = views.iter().map(role_and_manager).collect();
        let manager = rm[0].1.clone();
        let one_manager = rm.iter().filter(|(r, _)| r == "manager").count() == 1;
        let all_agree = rm.iter().all(|(_, m)| *m == manager);
        (one_manager && all_agree && ids.contains(&manager)).then_some(manager)
    })
}

/// Another program holding a port in host `i`'s namespace: Python runs `bind` (which binds
/// `s`), and the port is held once this returns, for 60 s at most (kill the child sooner).
fn hold_port(lab: &NetLab, i: usize, bind: &str) -> std::process::Child {
    let script = format!("import socket,time; {bind}; print('bound', flush=True); time.sleep(60)");
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &lab.hosts[i].ns, "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "bound");
    holder
}

#[test]
fn three_daemons_elect_one_manager_and_every_status_agrees() {
    let Some((lab, _)) = start_lab(3) else { return };
    let m = agreed_manager(&lab, &[0, 1, 2], Duration::from_secs(10));
    assert!(m.is_some(), "no agreement; logs:\n{}\n{}\n{}", lab.log(0), lab.log(1), lab.log(2));
    let v = status(&lab, 0).unwrap();
    assert_eq!(v["node"]["ifaces"][0]["peers"].as_array().unwrap().len(), 2);
    assert_eq!(v["insecure"], false);
}

#[test]
fn a_killed_unplugged_peer_becomes_suspect_then_asleep_within_three_heartbeats_and_a_second() {
    let Some((mut lab, _)) = start_lab(3) else { return };
    agreed_manager(&lab, &[0, 1, 2], Duration::from_secs(10)).expect("agreement");
    let victim_id = status(&lab, 2).unwrap()["node"]["id"].as_str().unwrap().to_owned();
    // Power loss: the daemon dies without a word and the host answers nothing.
    lab.kill9(2);
    lab.unplug(2);
    let t = std::time::Instant::now();
    let state = |lab: &NetLab| -> Option<String> {
        let v = status(lab, 0)?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.clone();
        let p = peers.iter().find(|p| p["id"] == victim_id.as_str())?;
        Some(p["state"].as_str()?.to_owned())
    };
    let mut seen_suspect = false;
    let asleep = lab.wait_for(H * 3 + Duration::from_secs(1) + Duration::from_millis(300), || {
        let s = state(&lab)?;
        seen_suspect |= s == "suspect";
        (s == "asleep").then_some(())
    });
    assert!(asleep.is_some(), "not asleep after {:?}; log:\n{}", t.elapsed(), lab.log(0));
    assert!(seen_suspect, "it went asleep without being suspect first");
}

#[test]
fn a_new_manager_takes_over_when_the_manager_dies() {
    let Some((mut lab, _)) = start_lab(3) else { return };
    let old = agreed_manager(&lab, &[0, 1, 2], Duration::from_secs(10)).expect("agreement");
    let who = (0..3).find(|&i| status(&lab, i).unwrap()["node"]["id"] == old.as_str()).unwrap();
    lab.kill9(who);
    lab.unplug(who);
    let alive: Vec<usize> = (0..3).filter(|&i| i != who).collect();
    let new = agreed_manager(&lab, &alive, Duration::from_secs(10)).expect("a new manager");
    assert_ne!(new, old);
}

#[test]
fn sigterm_stops_within_two_seconds_and_says_goodbye() {
    let Some((mut lab, _)) = start_lab(2) else { return };
    agreed_manager(&lab, &[0, 1], Duration::from_secs(10)).expect("agreement");
    let leaving = status(&lab, 1).unwrap()["node"]["id"].as_str().unwrap().to_owned();
    let took = lab.stop(1);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let gone = lab.wait_for(Duration::from_secs(2), || {
        let v = status(&lab, 0)?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.clone();
        peers.iter().any(|p| p["id"] == leaving.as_str() && p["state"] == "gone").then_some(())
    });
    assert!(gone.is_some(), "the peer did not see the goodbye:\n{}", lab.log(0));
}

#[test]
fn a_daemon_with_the_wrong_key_is_counted_and_ignored() {
    if !can_run_netns() {
        return;
    }
    let mut lab = NetLab::new(3);
    let (key, other) = (lab.dir.join("site.key"), lab.dir.join("other.key"));
    keygen(&key);
    keygen(&other);
    for i in 0..3 {
        let cfg = configure(&lab, i, if i == 2 { &other } else { &key });
        lab.start(i, &cfg);
    }
    agreed_manager(&lab, &[0, 1], Duration::from_secs(10)).expect("agreement");
    let counted = lab.wait_for(Duration::from_secs(5), || {
        let v = status(&lab, 0)?;
        let unauthenticated = v["node"]["counters"]["unauthenticated"].as_u64()?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.len();
        (unauthenticated >= 2 && peers == 1).then_some(())
    });
    assert!(counted.is_some(), "{:#}", status(&lab, 0).unwrap_or_default());
}

#[test]
fn wake_through_the_daemon_puts_a_correct_magic_packet_on_the_wire() {
    let Some((lab, cfgs)) = start_lab(2) else { return };
    agreed_manager(&lab, &[0, 1], Duration::from_secs(10)).expect("agreement");
    let target = "02:aa:bb:cc:dd:ee";
    let sniffer = Sniffer::start(&lab.hosts[1].ns, 5);
    let out = lab.exec(
        0,
        &[env!("CARGO_BIN_EXE_wakeproxy"), "wake", "--config", cfgs[0].to_str().unwrap(), target],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sniffer.packet(), format!("udp {}", magic_hex(target)));
}

#[test]
fn direct_wake_sends_udp_and_raw_frames_like_wakeonlan_and_etherwake() {
    if !can_run_netns() {
        return;
    }
    let lab = NetLab::new(2);
    let target = "02:12:34:56:78:9a";
    let bin = env!("CARGO_BIN_EXE_wakeproxy");
    for (args, kind) in [(vec!["--interface", "eth0"], "udp"), (vec!["--raw"], "raw")] {
        let sniffer = Sniffer::start(&lab.hosts[1].ns, 5);
        let mut cmd = vec![bin, "wake", "--direct"];
        cmd.extend(args);
        cmd.push(target);
        let out = lab.exec(0, &cmd);
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(sniffer.packet(), format!("{kind} {}", magic_hex(target)), "{cmd:?}");
    }
}

#[test]
fn wakeonlan_options_send_from_here_without_direct() {
    if !can_run_netns() {
        return;
    }
    let lab = NetLab::new(2);
    let target = "02:12:34:56:78:9b";
    let bin = env!("CARGO_BIN_EXE_wakeproxy");
    // wakeonlan's habit: `-i ADDR -p PORT` becomes --broadcast and --port; no daemon runs.
    let bcast = format!("{}.255", lab.hosts[0].ip.rsplit_once('.').unwrap().0);
    let sniffer = Sniffer::start(&lab.hosts[1].ns, 5);
    let cmd = [bin, "wake", target, "--broadcast", &bcast, "--port", "9"];
    let out = lab.exec(0, &cmd);
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sniffer.packet(), format!("udp {}", magic_hex(target)), "{cmd:?}");
}

#[test]
fn a_metrics_port_in_use_leaves_the_daemon_running_and_the_other_endpoint_serves() {
    if !can_run_netns() {
        return;
    }
    let mut lab = NetLab::new(2);
    let key = lab.dir.join("site.key");
    keygen(&key);
    // Host 0's metrics port is held by another program; host 1's is free.
    let mut holder =
        hold_port(&lab, 0, "s=socket.socket(); s.bind(('127.0.0.1', 9725)); s.listen()");
    let listen = ["127.0.0.1:9725".to_owned(), format!("{}:9725", lab.hosts[1].ip)];
    for (i, addr) in listen.iter().enumerate() {
        let cfg = configure(&lab, i, &key);
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str(&format!("metrics_listen = \"{addr}\"\n"));
        std::fs::write(&cfg, text).unwrap();
        lab.start(i, &cfg);
    }
    let manager = agreed_manager(&lab, &[0, 1], Duration::from_secs(10));
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(manager.is_some(), "the daemons still elect a manager: {}", lab.log(0));
    let log = lab.log(0);
    assert!(
        log.contains("cannot serve metrics on 127.0.0.1:9725 (metrics_listen)")
            && log.contains("another program listens on that port")
            && log.contains("running without the metrics endpoint"),
        "{log}"
    );
    let v = status(&lab, 0).expect("host 0's daemon runs");
    assert!(v["metrics"]["error"].as_str().is_some_and(|e| e.contains("9725")), "{}", v["metrics"]);
    let text = wakeproxy()
        .args(["status", "--config"])
        .arg(lab.hosts[0].dir.join("wakeproxy.toml"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("metrics: NOT served: cannot serve metrics")
    );
    // Host 1 serves: a scrape from host 0 reads its role.
    let url = format!("http://{}/metrics", listen[1]);
    let out = lab.exec(0, &["curl", "-sf", "--max-time", "5", &url]);
    assert!(out.status.success(), "{url}: {}", String::from_utf8_lossy(&out.stderr));
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("# TYPE wakeproxy_role gauge"), "{body}");
    assert!(body.contains("wakeproxy_build_info{version="), "{body}");
    assert!(v["metrics"]["listen"] == "127.0.0.1:9725", "{}", v["metrics"]);
}

/// A stand-in for journald: receives the native protocol's datagrams on the journal's socket
/// path (in a mount namespace of its own) and appends each to a file, for 30 s at most.
const JOURNAL_SINK: &str = "import socket,struct,sys,time
def fields(d):
    i=0
    while i<len(d):
        nl=d.index(b'\\n',i); line=d[i:nl]
        if b'=' in line: yield line; i=nl+1
        else:
            n=struct.unpack('<Q',d[nl+1:nl+9])[0]; v=d[nl+9:nl+9+n]
            yield line+b'='+v.replace(b'\\n',b' '); i=nl+9+n+1
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind('/run/systemd/journal/socket'); s.settimeout(1)
out=open(sys.argv[1], 'ab'); end=time.time()+30
while time.time()<end:
    try: out.write(b'\\n'.join(fields(s.recv(65536)))+b'\\n--\\n'); out.flush()
    except socket.timeout: pass
";

#[test]
fn under_systemd_the_daemon_logs_to_the_journal_with_node_interface_peer_and_reason() {
    let Some((mut lab, cfgs)) = start_lab(2) else { return };
    agreed_manager(&lab, &[0, 1], Duration::from_secs(10)).expect("agreement");
    lab.kill9(0);
    let records = lab.hosts[0].dir.join("journal.records");
    // Host 0's daemon restarts as systemd would start it: stderr is "the journal"
    // ($JOURNAL_STREAM names it), and the journal's socket is the sink's.
    let script = format!(
        "mount -t tmpfs none /run && mkdir -p /run/systemd/journal && \\
         (timeout 40 python3 -c \"$SINK\" {records} &) && \\
         while [ ! -S /run/systemd/journal/socket ]; do sleep 0.05; done && \\
         export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/self/fd/2) && \\
         exec {bin} run --config {cfg}",
        records = records.display(),
        bin = env!("CARGO_BIN_EXE_wakeproxy"),
        cfg = cfgs[0].display(),
    );
    let log = std::fs::File::create(lab.hosts[0].dir.join("daemon.log")).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.hosts[0].ns, "unshare", "-m", "--propagation", "private"])
        .args(["sh", "-c", &script])
        .env("SINK", JOURNAL_SINK)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    lab.hosts[0].daemon = Some(child);
    let peer_record = lab.wait_for(Duration::from_secs(15), || {
        let all = std::fs::read_to_string(&records).ok()?;
        all.split("\n--\n")
            .find(|r| r.contains("\nPEER=") && r.contains("\nREASON="))
            .map(str::to_owned)
    });
    lab.kill9(0);
    let record = peer_record.unwrap_or_else(|| {
        panic!(
            "no record with PEER and REASON: {:?}\n{}",
            std::fs::read_to_string(&records),
            lab.log(0)
        )
    });
    for field in
        ["MESSAGE=peer ", "\nNODE=", "\nIFACE=eth0\n", "\nPEER=", "\nREASON=", "\nPRIORITY="]
    {
        assert!(record.contains(field), "{field:?} missing in\n{record}");
    }
    // Nothing went to stderr meanwhile: the journal has it all.
    assert!(!lab.log(0).contains("peer "), "{}", lab.log(0));
}

#[test]
fn a_daemon_restarted_after_kill_9_still_knows_its_sleepers() {
    let Some((mut lab, cfgs)) = start_lab(3) else { return };
    agreed_manager(&lab, &[0, 1, 2], Duration::from_secs(10)).expect("agreement");
    let sleeper = status(&lab, 2).unwrap()["node"]["id"].as_str().unwrap().to_owned();
    // Host 2 announces its sleep, then really goes away.
    let out = wakeproxy().args(["sleep-notice", "--config"]).arg(&cfgs[2]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let asleep_in = |lab: &NetLab, i: usize| -> Option<()> {
        let v = status(lab, i)?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.clone();
        peers.iter().any(|p| p["id"] == sleeper.as_str() && p["state"] == "asleep").then_some(())
    };
    lab.wait_for(Duration::from_secs(3), || asleep_in(&lab, 0))
        .expect("host 0 saw the sleep notice");
    lab.kill9(2);
    lab.unplug(2);
    // Give the state file a moment, then kill host 0 hard and start it again.
    std::thread::sleep(Duration::from_millis(1500));
    lab.kill9(0);
    lab.start(0, &cfgs[0]);
    let known = lab.wait_for(Duration::from_secs(5), || asleep_in(&lab, 0));
    assert!(known.is_some(), "the restarted daemon forgot its sleeper:\n{}", lab.log(0));
}

#[test]
fn the_control_socket_is_0660_and_survives_garbage_and_version_mismatches() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;

    let Some((lab, _)) = start_lab(1) else { return };
    let path = lab.hosts[0].dir.join("control.sock");
    lab.wait_for(Duration::from_secs(5), || path.exists().then_some(())).expect("control socket");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    let stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut ask = |line: &str| -> Value {
        (&stream).write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"))
    };
    let garbage = ask("this is not json");
    assert_eq!(garbage["ok"], false);
    let future = ask(r#"{"v":99,"cmd":"status"}"#);
    assert_eq!(future["ok"], false);
    assert!(future["error"].as_str().unwrap().contains("99"), "{future}");
    let unknown = ask(r#"{"v":1,"cmd":"reboot"}"#);
    assert_eq!(unknown["ok"], false);
    let fine = ask(r#"{"v":1,"cmd":"status"}"#);
    assert_eq!(fine["ok"], true, "{fine}");
    assert!(fine["data"]["node"]["id"].is_string());
}

#[test]
fn a_port_in_use_is_a_clear_error_and_an_interface_that_vanishes_is_let_go() {
    let Some((mut lab, cfgs)) = start_lab(2) else { return };
    agreed_manager(&lab, &[0, 1], Duration::from_secs(10)).expect("agreement");

    // Host 1's interface disappears under its running daemon: it lets it go and keeps serving.
    let out = lab.exec(1, &["ip", "link", "del", "eth0"]);
    assert!(out.status.success());
    let let_go = lab.wait_for(Duration::from_secs(5), || {
        let v = status(&lab, 1)?;
        v["node"]["ifaces"].as_array()?.is_empty().then_some(())
    });
    assert!(let_go.is_some(), "{}", lab.log(1));
    assert!(lab.log(1).contains("eth0 is gone"), "{}", lab.log(1));

    // A second daemon on host 0's port: refused with a message that names the port.
    lab.kill9(0);
    let mut holder = hold_port(
        &lab,
        0,
        "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 25536))",
    );
    let out = lab
        .exec(0, &[env!("CARGO_BIN_EXE_wakeproxy"), "run", "--config", cfgs[0].to_str().unwrap()]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("25536") && err.contains("eth0"), "{err}");
}

/// (current, accepted) key ids a daemon reports in `status --json`.
fn key_ids(v: &Value) -> (String, Option<String>) {
    let k = &v["key"];
    (k["id"].as_str().unwrap_or("").to_owned(), k["accepted_id"].as_str().map(str::to_owned))
}

/// (current, accepted) key ids of a key file.
fn file_ids(path: &Path) -> (String, Option<String>) {
    let k = wakeproxy::store::keys::load(path).unwrap();
    (k.key_id().to_string(), k.accepted_key_id().map(|id| id.to_string()))
}

#[test]
fn reload_and_sighup_reread_the_key_and_a_bad_key_file_leaves_the_old_key_in_use() {
    use std::os::unix::fs::PermissionsExt;
    let Some((lab, cfgs)) = start_lab(1) else { return };
    let key = lab.dir.join("site.key");
    let k = key.to_str().unwrap();
    let first = lab.wait_for(Duration::from_secs(5), || status(&lab, 0)).expect("status");
    assert_eq!(key_ids(&first), file_ids(&key));
    assert_eq!(first["key"]["file"], k);
    let reload = || wakeproxy().args(["reload", "--config"]).arg(&cfgs[0]).output().unwrap();
    let step = |flag: &str| {
        let out = wakeproxy().args(["keygen", flag, k]).output().unwrap();
        assert!(out.status.success(), "{flag}: {}", String::from_utf8_lossy(&out.stderr));
    };

    // `wakeproxy reload` after phase 1: the next key is accepted too, and the reply says so.
    let a = file_ids(&key).0;
    step("--add-next");
    let (_, b) = file_ids(&key);
    let b = b.unwrap();
    let out = reload();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("reloaded the site key from {k}\n")), "{text}");
    assert!(text.contains(&format!("  now:    signs with {a}, also accepts {b}\n")), "{text}");
    assert!(text.contains(&format!("  before: signs with {a} only\n")), "{text}");
    assert!(text.contains("only the key is reloaded"), "{text}");
    assert_eq!(key_ids(&status(&lab, 0).unwrap()), (a.clone(), Some(b.clone())));

    // SIGHUP after phase 2: the new key signs.
    step("--promote");
    let pid = lab.hosts[0].daemon.as_ref().unwrap().id().to_string();
    common::sh(&["kill", "-HUP", &pid]);
    let want = (b.clone(), Some(a.clone()));
    let swapped = lab.wait_for(Duration::from_secs(5), || {
        status(&lab, 0).filter(|v| key_ids(v) == want).map(|_| ())
    });
    assert!(swapped.is_some(), "SIGHUP did not reload:\n{}", lab.log(0));
    assert!(lab.log(0).contains("SIGHUP: reloaded the site key from"), "{}", lab.log(0));

    // A key file others may read: refused, the old key stays, and both the reply and the log
    // say why and what is kept.
    let good = std::fs::read(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = reload();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: could not reload the site key: site key file {k} is accessible by group or \
             others (mode 0644)"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("run `chmod 600 {k}`")), "{err}");
    assert!(
        err.contains(&format!(
            "the daemon keeps the key it had (signs with {b}, also accepts {a})"
        )),
        "{err}"
    );
    assert!(
        lab.log(0).contains("wakeproxy reload: could not reload the site key"),
        "{}",
        lab.log(0)
    );
    assert_eq!(key_ids(&status(&lab, 0).unwrap()), want);

    // Garbage on SIGHUP: the same, in the log; the daemon keeps running.
    std::fs::write(&key, "not a key\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    common::sh(&["kill", "-HUP", &pid]);
    let logged = lab.wait_for(Duration::from_secs(5), || {
        lab.log(0).contains("SIGHUP: could not reload the site key").then_some(())
    });
    assert!(logged.is_some(), "{}", lab.log(0));
    assert!(
        lab.log(0)
            .contains(&format!("site key file {k} line 1: character 1 is not a hexadecimal digit")),
        "{}",
        lab.log(0)
    );
    assert_eq!(key_ids(&status(&lab, 0).expect("still running")), want);

    // Mended, phase 3 and a reload finish the rollover.
    wakeproxy::store::fsutil::atomic_write(&key, &good, 0o600).unwrap();
    step("--retire");
    assert!(reload().status.success());
    assert_eq!(key_ids(&status(&lab, 0).unwrap()), (b, None));
}
