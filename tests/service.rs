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

// ----- logind -------------------------------------------------------------------------------

use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use wakeproxy::core::proto::{Decoded, Message};

/// A private D-Bus daemon (Debian's `dbus-daemon`, session policy: anyone may own any name),
/// killed on drop.
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("bus");
        let address = format!("unix:path={}", socket.display());
        let child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--address", &address])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon");
        let end = Instant::now() + Duration::from_secs(5);
        while !socket.exists() {
            assert!(Instant::now() < end, "dbus-daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, address }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One inhibitor lock handed out by the fake logind, and a watcher that prints the wall clock
/// (ns) when it sees the lock's descriptor closed everywhere: a little after the release, never
/// before it.
struct Lock {
    mode: String,
    who: String,
    why: String,
    released: Child,
    at: Option<u64>,
}

impl Lock {
    /// When the watcher saw the lock released (wall clock, ns), once it did.
    fn released_at(&mut self) -> Option<u64> {
        if self.at.is_none() && self.released.try_wait().ok()??.success() {
            let mut out = String::new();
            std::io::Read::read_to_string(self.released.stdout.as_mut()?, &mut out).ok()?;
            self.at = out.trim().parse().ok();
        }
        self.at
    }
}

#[derive(Clone, Default)]
struct FakeLogind {
    locks: Arc<Mutex<Vec<Lock>>>,
}

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl FakeLogind {
    fn inhibit(
        &self,
        what: String,
        who: String,
        why: String,
        mode: String,
    ) -> zbus::fdo::Result<zbus::zvariant::OwnedFd> {
        assert_eq!(what, "sleep");
        let (reader, writer) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        // The watcher reads until every copy of the write end is closed, then says when.
        let released = Command::new("python3")
            .args(["-c", "import sys,time; sys.stdin.buffer.read(); print(time.time_ns())"])
            .stdin(std::os::fd::OwnedFd::from(reader))
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        self.locks.lock().unwrap().push(Lock { mode, who, why, released, at: None });
        Ok(std::os::fd::OwnedFd::from(writer).into())
    }

    #[zbus(signal)]
    async fn prepare_for_sleep(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        start: bool,
    ) -> zbus::Result<()>;
}

/// The peer datagrams a listener in host 1's namespace received: (kernel receive time in wall
/// clock ns, bytes).
fn datagrams(file: &Path) -> Vec<(u64, Vec<u8>)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, hex) = l.split_once(' ')?;
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some((t.parse().ok()?, bytes))
        })
        .collect()
}

/// When the first message of `kind` (by name) arrived, if one did.
fn first(file: &Path, key: &wakeproxy::core::proto::SiteKey, kind: &str) -> Option<u64> {
    datagrams(file).into_iter().find_map(|(t, bytes)| {
        match wakeproxy::core::proto::decode(key, &bytes) {
            Ok(Decoded::Message(_, m)) if message_name(&m) == kind => Some(t),
            _ => None,
        }
    })
}

fn message_name(m: &Message) -> &'static str {
    match m {
        Message::SleepNotice(_) => "sleep",
        Message::ResumeNotice(_) => "resume",
        _ => "other",
    }
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn logind_sleep_waits_for_the_sleep_notice_and_a_guardian_blocks_sleep() {
    if !can_run_netns() || !have("dbus-daemon", "dbus-daemon") {
        return;
    }
    let mut lab = NetLab::new(2);
    let bus = Bus::start(&lab.dir);
    let fake = FakeLogind::default();
    let _server = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.login1")
        .unwrap()
        .serve_at("/org/freedesktop/login1", fake.clone())
        .unwrap()
        .build()
        .await
        .expect("fake logind on the private bus");
    // Host 1 only listens to the peer port and writes down when each datagram arrived.
    let heard = lab.hosts[1].dir.join("heard.txt");
    // Host 1 only listens to the peer port and writes down when the kernel received each
    // datagram (SO_TIMESTAMPNS, wall clock in ns), so its own scheduling does not count.
    let listen = format!(
        "import socket,struct\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.setsockopt(socket.SOL_SOCKET, 35, 1)\ns.bind(('', 25536))\n\
         f=open('{}', 'a')\nwhile True:\n d,anc,_,a=s.recvmsg(4096, 256)\n \
         t=[struct.unpack('qq', x[:16]) for (l,k,x) in anc if l==socket.SOL_SOCKET and k==35][0]\n \
         f.write('%d %s\\n' % (t[0]*10**9+t[1], d.hex())); f.flush()\n",
        heard.display()
    );
    let errors = std::fs::File::create(lab.hosts[1].dir.join("listener.log")).unwrap();
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &lab.hosts[1].ns, "python3", "-c", &listen])
        .stderr(errors)
        .spawn()
        .unwrap();
    let cfg = config(&lab, "");
    let key = wakeproxy::store::keys::load(&lab.hosts[0].dir.join("site.key")).unwrap();
    lab.start_with_env(0, &cfg, &[("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)]);

    let locks = fake.locks.clone();
    // The listener is up once it has heard the daemon.
    assert!(wait_until(Duration::from_secs(5), || !datagrams(&heard).is_empty()).await);
    let count = |mode: &str| locks.lock().unwrap().iter().filter(|l| l.mode == mode).count();
    // (a) A delay lock at start; (d) alone on its LAN the node becomes manager: a block lock.
    assert!(wait_until(Duration::from_secs(5), || count("delay") == 1).await, "no delay lock");
    assert!(wait_until(Duration::from_secs(5), || count("block") == 1).await, "no block lock");
    {
        let l = locks.lock().unwrap();
        assert!(l.iter().all(|l| l.who == "wakeproxy"));
        let block = l.iter().find(|l| l.mode == "block").unwrap();
        assert!(block.why.contains("wakeproxy") && block.why.contains("guardian"), "{}", block.why);
    }

    // (b) PrepareForSleep(true): the SleepNotice leaves before the delay lock is released, and
    // the sleeping node is no guardian: the block lock goes too.
    let emitter =
        zbus::object_server::SignalEmitter::new(&_server, "/org/freedesktop/login1").unwrap();
    FakeLogind::prepare_for_sleep(&emitter, true).await.unwrap();
    let mut released = None;
    let mut block_released = None;
    wait_until(Duration::from_secs(5), || {
        let mut l = locks.lock().unwrap();
        released = released.or_else(|| l.iter_mut().find(|l| l.mode == "delay")?.released_at());
        block_released =
            block_released.or_else(|| l.iter_mut().find(|l| l.mode == "block")?.released_at());
        released.is_some() && block_released.is_some()
    })
    .await;
    let released = released.expect("the delay lock was not released");
    assert!(block_released.is_some(), "the block lock was kept while asleep");
    assert!(wait_until(Duration::from_secs(2), || first(&heard, &key, "sleep").is_some()).await);
    let notice = first(&heard, &key, "sleep").unwrap();
    assert!(notice < released, "SleepNotice at {notice} ns, delay lock released at {released} ns");

    // (c) PrepareForSleep(false): a new delay lock, and a ResumeNotice.
    FakeLogind::prepare_for_sleep(&emitter, false).await.unwrap();
    assert!(wait_until(Duration::from_secs(5), || count("delay") == 2).await, "no new delay lock");
    assert!(wait_until(Duration::from_secs(5), || first(&heard, &key, "resume").is_some()).await);
    // Manager again after listening one interval: a new block lock, released when it stops.
    assert!(wait_until(Duration::from_secs(5), || count("block") == 2).await, "no new block lock");
    lab.stop(0);
    let mut stopped = false;
    wait_until(Duration::from_secs(3), || {
        let mut l = locks.lock().unwrap();
        stopped = l.iter_mut().filter(|l| l.mode == "block").all(|l| l.released_at().is_some());
        stopped
    })
    .await;
    assert!(stopped, "the block lock outlived the daemon");
    let _ = listener.kill();
    let _ = listener.wait();
    for l in locks.lock().unwrap().iter_mut() {
        let _ = l.released.kill();
        let _ = l.released.wait();
    }
    drop(bus);
}

#[test]
fn without_logind_the_daemon_runs_and_says_sleep_announcements_are_off() {
    if !can_run_netns() {
        return;
    }
    let mut lab = NetLab::new(1);
    let cfg = config(&lab, "");
    let nowhere = format!("unix:path={}", lab.dir.join("no-bus").display());
    lab.start_with_env(0, &cfg, &[("DBUS_SYSTEM_BUS_ADDRESS", &nowhere)]);
    let said = lab.wait_for(Duration::from_secs(5), || {
        lab.log(0).contains("sleep announcements are off").then_some(())
    });
    assert!(said.is_some(), "{}", lab.log(0));
    // And it serves.
    let out = Command::new(env!("CARGO_BIN_EXE_wakeproxy"))
        .args(["status", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_units_directories_are_where_the_default_configuration_looks() {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/wakeproxy.service"))
            .unwrap();
    let set = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("the unit has no {key}="))
            .to_owned()
    };
    let c = wakeproxy::store::config::Config::default();
    let under =
        |dir: &str, p: &Path| assert!(p.starts_with(dir), "{} is not under {dir}", p.display());
    assert_eq!(set("ConfigurationDirectory"), "wakeproxy");
    under("/etc/wakeproxy", &wakeproxy::store::config::Config::default_path());
    under("/etc/wakeproxy", &c.key_file);
    assert_eq!(set("StateDirectory"), "wakeproxy");
    under("/var/lib/wakeproxy", &c.state_dir);
    assert_eq!(set("RuntimeDirectory"), "wakeproxy");
    under("/run/wakeproxy", &c.control_socket);
    assert!(
        set("ExecStart").ends_with("wakeproxy run"),
        "the default configuration path, no --config"
    );
}
