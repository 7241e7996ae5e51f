//! `wakeproxy lab` driven from tests: a lab that is taken down when the test ends, and the
//! questions tests ask of it.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wakeproxy::os::netns::{self, Namespace};

use super::can_run_netns;

/// The heartbeat interval of test labs.
pub const H: Duration = Duration::from_millis(250);

/// Runs the wakeproxy binary under test.
pub fn wakeproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

/// A lab that is taken down when the test ends, even on panic.
pub struct TestLab {
    pub name: String,
}

impl TestLab {
    pub fn up(name: &str, hosts: usize, subnets: usize) -> Option<Self> {
        Self::up_with(name, hosts, subnets, &[])
    }

    /// A lab with more `lab up` arguments (e.g. `--proxy-mode mac-takeover`).
    pub fn up_with(name: &str, hosts: usize, subnets: usize, extra: &[&str]) -> Option<Self> {
        if !can_run_netns() {
            return None;
        }
        let _ = wakeproxy(&["lab", "down", "--name", name]);
        let out = wakeproxy(
            &[
                "lab",
                "up",
                "--name",
                name,
                "--hosts",
                &hosts.to_string(),
                "--subnets",
                &subnets.to_string(),
                "--heartbeat",
                "250ms",
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "lab up: {}", String::from_utf8_lossy(&out.stderr));
        Some(Self { name: name.to_owned() })
    }

    pub fn status(&self) -> Vec<Value> {
        let out = wakeproxy(&["lab", "status", "--json", "--name", &self.name]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    /// Waits until every subnet has exactly one manager that all its running hosts name.
    pub fn converged(&self, limit: Duration) -> Option<Vec<Value>> {
        netns::wait_for(limit, || {
            let rows = self.status();
            let subnets: std::collections::BTreeSet<u64> =
                rows.iter().map(|r| r["subnet"].as_u64().unwrap()).collect();
            let ok = subnets.iter().all(|s| {
                let on: Vec<&Value> =
                    rows.iter().filter(|r| r["subnet"] == *s && r["state"] == "up").collect();
                let managers: Vec<&&Value> = on.iter().filter(|r| r["role"] == "manager").collect();
                managers.len() == 1 && on.iter().all(|r| r["manager"] == managers[0]["id"])
            });
            ok.then_some(rows)
        })
    }

    pub fn exec(&self, host: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["lab", "exec", host, "--name", &self.name, "--"];
        args.extend_from_slice(cmd);
        wakeproxy(&args)
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = wakeproxy(&["lab", "down", "--name", &self.name]);
    }
}

impl TestLab {
    pub fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--name", &self.name]);
        let out = wakeproxy(&all);
        assert!(out.status.success(), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn row(&self, host: &str) -> Value {
        self.status().into_iter().find(|r| r["host"] == host).unwrap()
    }

    pub fn config(&self, host: &str) -> String {
        std::env::temp_dir()
            .join(format!("wakeproxy-lab-{}/{host}/wakeproxy.toml", self.name))
            .display()
            .to_string()
    }

    /// The state host `viewer` has for host `of`, by id.
    pub fn state_seen(&self, viewer: &str, of_id: &str) -> Option<String> {
        let out = wakeproxy(&["status", "--json", "--config", &self.config(viewer)]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let peers = v["node"]["ifaces"][0]["peers"].as_array()?.clone();
        peers
            .iter()
            .find(|p| p["id"].as_str().is_some_and(|id| id.starts_with(of_id)))
            .map(|p| p["state"].as_str().unwrap_or("").to_owned())
    }

    pub fn wait(&self, limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if f() {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// The manager's host, and the host and id of one node that is not the manager.
pub fn manager_and_member(rows: &[Value]) -> (String, String, String) {
    let text = |r: &Value, k: &str| r[k].as_str().unwrap().to_owned();
    let manager = rows.iter().find(|r| r["role"] == "manager").unwrap();
    let member = rows.iter().find(|r| r["role"] != "manager").unwrap();
    (text(manager, "host"), text(member, "host"), text(member, "id"))
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Which hosts of `hosts` answer for a sleeper now.
pub fn proxies(lab: &TestLab, hosts: &[&str]) -> Vec<String> {
    hosts.iter().filter(|h| proxied_count(lab, h) > 0).map(|h| (*h).to_owned()).collect()
}

/// How many sleepers `host` answers for (0 if its daemon does not answer).
pub fn proxied_count(lab: &TestLab, host: &str) -> usize {
    let out = wakeproxy(&["status", "--json", "--config", &lab.config(host)]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["node"]["ifaces"][0]["proxied"].as_array().map_or(0, Vec::len)
}

/// The one host of `hosts` that answers for a sleeper, once there is exactly one.
pub fn the_proxy(lab: &TestLab, hosts: &[&str]) -> String {
    let mut found = Vec::new();
    lab.wait(Duration::from_secs(3), || {
        found = proxies(lab, hosts);
        found.len() == 1
    })
    .expect("one proxy");
    found.remove(0)
}

/// The MACs that answered `arping` for `ip` from `host`.
pub fn arping(lab: &TestLab, host: &str, ip: &str) -> Vec<String> {
    let out = lab.exec(host, &["arping", "-c", "2", "-w", "3", "-I", "eth0", ip]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut macs: Vec<String> = text
        .lines()
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_lowercase()))
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

impl TestLab {
    /// Host `host`'s record in the lab's `lab.json` (name, ip, ip6, mac, …).
    pub fn host(&self, host: &str) -> Value {
        let path = std::env::temp_dir().join(format!("wakeproxy-lab-{}/lab.json", self.name));
        let rec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        rec["hosts"].as_array().unwrap().iter().find(|x| x["name"] == host).unwrap().clone()
    }

    /// Host `host`'s MAC, lowercase.
    pub fn mac(&self, host: &str) -> String {
        self.host(host)["mac"].as_str().unwrap().to_lowercase()
    }

    /// The MAC a namespace's neighbour table has for `ip`, if any (`ns` is a full namespace name).
    pub fn neighbour(ns: &str, ip: &str) -> Option<String> {
        let out = Command::new("ip").args(["-n", ns, "neigh", "show", ip]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "lladdr")?;
        words.get(at + 1).map(|m| m.to_lowercase())
    }
}

/// A station of the test's own making on a lab's links: a namespace (`<lab>-st`, so `lab down`
/// removes it too) with one leg per bridge it is put on (`eth0` on the first, `eth1` on the
/// next…), each with an address of its own. It runs no daemon and holds no key: whatever it
/// sends, the test sends through [`Station::exec`]. Removed on drop, even when the test panics.
pub struct Station {
    /// Its namespace.
    pub ns: String,
    /// The namespace itself: deleting it takes its legs and their peers on the bridges along.
    namespace: Option<Namespace>,
}

impl Station {
    /// A station in lab `lab` with a leg on bridge `brK` (subnet K, 0-based) for every
    /// `(K, "a.b.c.d/len")` of `legs`, in order.
    pub fn new(lab: &TestLab, legs: &[(usize, &str)]) -> Self {
        let ns = format!("{}-st", lab.name);
        let sw = format!("{}-sw", lab.name);
        netns::run_quiet(&["ip", "netns", "del", &ns]);
        let namespace = Namespace::add(&ns).unwrap_or_else(|e| panic!("{e}"));
        for (i, (k, addr)) in legs.iter().enumerate() {
            let leg = (ns.as_str(), &*format!("eth{i}"), None);
            netns::plug(leg, addr, (&sw, &format!("br{k}")), &format!("{}s{i}", lab.name))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        Self { ns, namespace: Some(namespace) }
    }

    /// Runs `cmd` inside the station.
    pub fn exec(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(cmd);
        c
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        for pid in netns::pids_in(&self.ns) {
            netns::signal(pid, "KILL");
        }
        drop(self.namespace.take());
    }
}

/// One ARP reply an [`ArpWatch`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpReply {
    /// The request it answered (numbered from 1).
    pub request: u64,
    /// When it arrived, from the watch's start.
    pub at: Duration,
    /// How long after its request.
    pub latency: Duration,
    /// Who answered (the reply's sender hardware address), lowercase.
    pub mac: String,
}

/// What an [`ArpWatch`] saw.
#[derive(Debug, Clone, Default)]
pub struct ArpRecord {
    /// Requests sent.
    pub sent: u64,
    /// When each was sent, from the watch's start (request `n` at index `n - 1`).
    pub sent_at: Vec<Duration>,
    /// Every reply, in order of arrival.
    pub replies: Vec<ArpReply>,
}

impl ArpRecord {
    /// The requests nobody answered, and when each was sent.
    pub fn unanswered(&self) -> Vec<(u64, Duration)> {
        let answered: std::collections::BTreeSet<u64> =
            self.replies.iter().map(|r| r.request).collect();
        (1..=self.sent)
            .filter(|n| !answered.contains(n))
            .map(|n| (n, self.sent_at.get(n as usize - 1).copied().unwrap_or_default()))
            .collect()
    }

    /// The requests answered by more than one MAC.
    pub fn answered_twice(&self) -> Vec<u64> {
        let mut by = std::collections::BTreeMap::<u64, std::collections::BTreeSet<&str>>::new();
        for r in &self.replies {
            by.entry(r.request).or_default().insert(&r.mac);
        }
        by.into_iter().filter(|(_, m)| m.len() > 1).map(|(n, _)| n).collect()
    }

    /// The longest time between two consecutive replies, and when it began.
    pub fn longest_gap(&self) -> (Duration, Duration) {
        self.replies
            .windows(2)
            .map(|w| (w[1].at.saturating_sub(w[0].at), w[0].at))
            .max()
            .unwrap_or_default()
    }

    /// The distinct MACs that answered, in order of their first answer.
    pub fn macs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.replies {
            if !out.contains(&r.mac) {
                out.push(r.mac.clone());
            }
        }
        out
    }

    /// The longest request latency.
    pub fn slowest(&self) -> Duration {
        self.replies.iter().map(|r| r.latency).max().unwrap_or_default()
    }
}

/// A broadcast ARP request for one address every `interval` from a lab host's `eth0`, and
/// every reply recorded with the request it answers, its time and its sender's MAC. iputils'
/// arping cannot ask more than once a second, and after its first reply it asks the replier's
/// MAC alone (a new proxy would never see those requests), so this is arping `-b`, in Python:
/// each request comes from another unused source address of the target's /24 (x.y.z.128 to
/// .191, as `arping -s` would send; no cache on the link has an entry to update for them), and
/// the answer, addressed to it, names its request, however late it comes. Stopped on drop.
pub struct ArpWatch {
    child: std::process::Child,
    record: std::sync::Arc<std::sync::Mutex<ArpRecord>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ArpWatch {
    const SCRIPT: &str = r#"
import select, socket, sys, time
ifname, target, interval = sys.argv[1], socket.inet_aton(sys.argv[2]), float(sys.argv[3])
POOL = 64
def tag(n):
    return target[:3] + bytes([128 + n % POOL])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0x0806))
mac = s.getsockname()[4]
head = b"\xff" * 6 + mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac
start = time.monotonic()
n, next_at, stop_at, sent_at = 0, start, None, {}
print("ready", flush=True)
while stop_at is None or time.monotonic() < stop_at:
    now = time.monotonic()
    if stop_at is None and now >= next_at:
        n += 1
        s.send(head + tag(n) + b"\x00" * 6 + target)
        sent_at[n] = now
        print("sent", n, "%.1f" % ((now - start) * 1000), flush=True)
        next_at += interval
        continue
    wait = (stop_at if stop_at is not None else next_at) - now
    watched = [s] if stop_at is not None else [s, sys.stdin]
    ready = select.select(watched, [], [], max(0, wait))[0]
    if sys.stdin in ready and not sys.stdin.readline():
        # Asked to stop (stdin closed): no more requests; late answers still count for a
        # second.
        stop_at = time.monotonic() + 1.0
        continue
    if s not in ready:
        continue
    f = s.recv(128)
    at = time.monotonic()
    # An answer for the target, to one of our tagged addresses: op 2, target's address,
    # addressed to our MAC.
    if len(f) < 42 or f[20:22] != b"\x00\x02" or f[28:32] != target or f[32:38] != mac:
        continue
    if f[38:41] != target[:3] or not 128 <= f[41] < 128 + POOL:
        continue
    # The newest request with this tag.
    k = n - (n - (f[41] - 128)) % POOL
    if k < 1:
        continue
    print("reply", k, "%.1f" % ((at - start) * 1000), "%.1f" % ((at - sent_at[k]) * 1000),
          f[22:28].hex(":"), flush=True)
print("done", n, flush=True)
"#;

    /// Starts asking from `host` of lab `lab` for `target`, every `interval`.
    pub fn start(lab: &TestLab, host: &str, target: &str, interval: Duration) -> Self {
        use std::io::BufRead;
        let ns = format!("{}-{host}", lab.name);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-c", Self::SCRIPT, "eth0", target])
            .arg(interval.as_secs_f64().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (the ARP watch)");
        let stdout = child.stdout.take().unwrap();
        let record = std::sync::Arc::new(std::sync::Mutex::new(ArpRecord::default()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let reader = {
            let record = record.clone();
            std::thread::spawn(move || {
                let ms =
                    |t: &str| Duration::from_micros((t.parse::<f64>().unwrap_or(0.0) * 1e3) as u64);
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    let w: Vec<&str> = line.split_whitespace().collect();
                    let mut rec = record.lock().unwrap();
                    match w[..] {
                        ["ready"] => {
                            let _ = ready_tx.send(());
                        }
                        ["sent", n, at] => {
                            rec.sent = n.parse().unwrap_or(0);
                            rec.sent_at.push(ms(at));
                        }
                        ["done", n] => rec.sent = n.parse().unwrap_or(0),
                        ["reply", n, at, latency, mac] => rec.replies.push(ArpReply {
                            request: n.parse().unwrap_or(0),
                            at: ms(at),
                            latency: ms(latency),
                            mac: mac.to_lowercase(),
                        }),
                        _ => {}
                    }
                }
            })
        };
        ready.recv_timeout(Duration::from_secs(5)).expect("the ARP watch did not start");
        Self { child, record, reader: Some(reader) }
    }

    /// What it saw so far.
    pub fn record(&self) -> ArpRecord {
        self.record.lock().unwrap().clone()
    }

    /// Stops asking, waits a second for late answers, and returns what it saw.
    pub fn stop(mut self) -> ArpRecord {
        drop(self.child.stdin.take());
        netns::wait_for(Duration::from_secs(5), || self.child.try_wait().ok().flatten());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.record()
    }
}

impl Drop for ArpWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestLab {
    /// Host `host`'s state directory (its configuration's `state_dir`).
    pub fn state_dir(&self, host: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("wakeproxy-lab-{}/{host}/state", self.name))
    }

    /// Empties host `host`'s state directory (its daemon must not run) and, with `id`, gives
    /// it that node id, as the daemon would have written it: the node starts with no sleeper
    /// registry, under `id` (a new random one without).
    pub fn wipe_state(&self, host: &str, id: Option<wakeproxy::core::addr::NodeId>) {
        let dir = self.state_dir(host);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        if let Some(id) = id {
            let path = dir.join(wakeproxy::store::state::NODE_ID_FILE);
            wakeproxy::store::fsutil::atomic_write(&path, format!("{id}\n").as_bytes(), 0o600)
                .unwrap();
        }
    }

    /// Host `host`'s node id, from its `status`.
    pub fn node_id(&self, host: &str) -> wakeproxy::core::addr::NodeId {
        let out = wakeproxy(&["status", "--json", "--config", &self.config(host)]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{host}: {}", String::from_utf8_lossy(&out.stderr)));
        v["node"]["id"].as_str().unwrap().parse().unwrap()
    }
}

/// A node id that the ring prefers for `sleeper` over every one of `others` (the smallest
/// distance wins): with `ranks_first` one near 0, which also ranks first in an election,
/// otherwise one near `u128::MAX`, which ranks last (the lab's hosts share one boot time, so
/// the id decides the rank).
pub fn id_preferred_for(
    sleeper: wakeproxy::core::addr::NodeId,
    others: &[wakeproxy::core::addr::NodeId],
    ranks_first: bool,
) -> wakeproxy::core::addr::NodeId {
    use wakeproxy::core::addr::NodeId;
    use wakeproxy::core::election::proxy_distance;
    let best = others.iter().map(|o| proxy_distance(sleeper, *o)).min().unwrap_or(u64::MAX);
    (0..10_000u128)
        .map(|k| NodeId::from_u128(if ranks_first { 1 + k } else { u128::MAX - k }))
        .find(|id| proxy_distance(sleeper, *id) < best && !others.contains(id))
        .expect("an id the ring prefers")
}

impl TestLab {
    /// `lab crash HOST`, then waits until its daemon is really gone (its control socket no
    /// longer answers): `lab crash` only sends the signal, and a daemon started at once would
    /// find the old one still answering and refuse to run.
    pub fn crash(&self, host: &str) {
        self.ok(&["crash", host]);
        let dead = self.wait(Duration::from_secs(5), || {
            !wakeproxy(&["status", "--json", "--config", &self.config(host)]).status.success()
        });
        assert!(dead.is_some(), "{host}'s daemon still answers after lab crash");
    }
}
