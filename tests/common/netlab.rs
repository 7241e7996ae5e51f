//! A small network of Linux network namespaces for tests that need real sockets: one namespace
//! per host, joined by a bridge in a namespace of its own, so the machine's own network is never
//! touched. It is built with the lab's own `wakeproxy::os::netns`; everything it makes carries
//! a unique prefix and is removed on drop, even when the test panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use wakeproxy::lab::{Carrier, WireTap};
use wakeproxy::os::netns::{self, Namespace};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A bridge and hosts attached to it.
pub struct NetLab {
    /// Prefix of every name this lab made.
    pub prefix: String,
    /// Namespace of the bridge.
    pub switch: String,
    /// Hosts, in order.
    pub hosts: Vec<Host>,
    /// A temporary directory for configs, keys, state and logs.
    pub dir: PathBuf,
    /// The namespaces, deleted on drop (after the daemons are gone).
    namespaces: Vec<Namespace>,
}

/// One host: a namespace with `eth0` on the bridge.
pub struct Host {
    /// Its namespace.
    pub ns: String,
    /// Its IPv4 address.
    pub ip: String,
    /// Its MAC.
    pub mac: String,
    /// Its daemon, if running.
    pub daemon: Option<Child>,
    /// Its directory (config, state, socket, log).
    pub dir: PathBuf,
}

impl NetLab {
    /// `n` hosts on 10.77.<k>.0/24, MACs 02:77:<k>:00:00:<i>.
    pub fn new(n: usize) -> Self {
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let k = (std::process::id() % 200) as u8 + id as u8;
        let prefix = format!("wpt{}x{id}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("wakeproxy-test-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let switch = format!("{prefix}-sw");
        let made = |r: Result<Namespace, _>| r.unwrap_or_else(|e| panic!("{e}"));
        let mut lab = Self {
            prefix: prefix.clone(),
            switch: switch.clone(),
            hosts: Vec::new(),
            dir: dir.clone(),
            namespaces: vec![made(Namespace::add(&switch))],
        };
        netns::add_bridge(&switch, "br0").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..n {
            let ns = format!("{prefix}-h{i}");
            let ip = format!("10.77.{k}.{}", i + 1);
            let mac = format!("02:77:{k:02x}:00:00:{:02x}", i + 1);
            lab.namespaces.push(made(Namespace::add(&ns)));
            let host = (ns.as_str(), "eth0", Some(mac.as_str()));
            netns::plug(host, &format!("{ip}/24"), (&switch, "br0"), &lab.cable(i))
                .unwrap_or_else(|e| panic!("{e}"));
            let hdir = dir.join(format!("h{i}"));
            std::fs::create_dir_all(&hdir).unwrap();
            lab.hosts.push(Host { ns, ip, mac, daemon: None, dir: hdir });
        }
        lab
    }

    /// The name of host `i`'s cable (its veth pair is `{cable}a` in the host, `{cable}b` on
    /// the switch).
    fn cable(&self, i: usize) -> String {
        format!("{}c{i}", self.prefix)
    }

    /// Runs `cmd` inside host `i`'s namespace.
    pub fn exec(&self, i: usize, cmd: &[&str]) -> Output {
        let mut args = vec!["ip", "netns", "exec", &self.hosts[i].ns];
        args.extend_from_slice(cmd);
        Command::new(args[0]).args(&args[1..]).output().expect("ip netns exec")
    }

    /// Starts `wakeproxy run --config <file>` in host `i`, logging to `<dir>/daemon.log`.
    pub fn start(&mut self, i: usize, config: &Path) {
        self.start_with_env(i, config, &[]);
    }

    /// Like [`NetLab::start`], with more environment variables for the daemon.
    pub fn start_with_env(&mut self, i: usize, config: &Path, env: &[(&str, &str)]) {
        let h = &mut self.hosts[i];
        let log = std::fs::File::create(h.dir.join("daemon.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns, env!("CARGO_BIN_EXE_wakeproxy"), "run", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "wakeproxy=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start wakeproxy");
        h.daemon = Some(child);
    }

    /// Kills host `i`'s daemon with SIGKILL (no goodbye).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.hosts[i].daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops host `i`'s daemon with SIGTERM and returns how long it took to exit.
    pub fn stop(&mut self, i: usize) -> Duration {
        let Some(mut c) = self.hosts[i].daemon.take() else { return Duration::ZERO };
        let t = Instant::now();
        netns::signal(c.id(), "TERM");
        let exited = netns::wait_for(Duration::from_secs(10), || c.try_wait().ok().flatten());
        if exited.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        t.elapsed()
    }

    /// Cuts host `i` off the network (its cable is pulled: nothing in, nothing out).
    pub fn unplug(&self, i: usize) {
        let end = format!("{}b", self.cable(i));
        netns::run(&["ip", "-n", &self.switch, "link", "set", &end, "down"])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The log of host `i`'s daemon.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.hosts[i].dir.join("daemon.log")).unwrap_or_default()
    }

    /// [`netns::wait_for`], for the tests of this lab.
    pub fn wait_for<T>(&self, limit: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
        netns::wait_for(limit, f)
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            self.kill9(i);
        }
        // The namespaces go after the daemons that ran in them.
        self.namespaces.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("test files kept in {} for inspection", self.dir.display());
        }
    }
}

/// Captures the first magic packet seen in a host's namespace, from the lab's wire tap (an
/// `AF_PACKET` socket): what is really on the wire.
pub struct Sniffer {
    seen: std::thread::JoinHandle<Option<String>>,
}

impl Sniffer {
    /// Starts sniffing in namespace `ns` for at most `secs`, and returns once it listens.
    pub fn start(ns: &str, secs: u32) -> Self {
        let (ready, listening) = std::sync::mpsc::channel();
        let ns = ns.to_owned();
        let seen = std::thread::spawn(move || {
            netns::enter(&ns).unwrap_or_else(|e| panic!("enter {ns}: {e}"));
            let mut tap = WireTap::open().expect("open the wire tap");
            ready.send(()).unwrap();
            let heard = tap.next_magic(Some(Duration::from_secs(secs.into()))).expect("read")?;
            let hex: String = heard.payload.iter().map(|b| format!("{b:02x}")).collect();
            Some(match heard.carrier {
                Carrier::Udp(9) => format!("udp {hex}"),
                Carrier::EtherType => format!("raw {hex}"),
                other => format!("{other:?} {hex}"),
            })
        });
        listening.recv_timeout(Duration::from_secs(5)).expect("the sniffer did not start");
        Self { seen }
    }

    /// The captured packet as "udp <hex payload>" (UDP to port 9) or "raw <hex payload>"
    /// (EtherType 0x0842), something else for a magic packet carried otherwise, or "" if none
    /// came.
    pub fn packet(self) -> String {
        self.seen.join().expect("the sniffer").unwrap_or_default()
    }
}
