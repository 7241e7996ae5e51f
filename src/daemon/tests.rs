//! The daemon's own tests: real daemons — their loop, intake, sorter, timers, control requests
//! and state writer — on a [`VirtualLan`] in this process, unprivileged, under paused time
//! (minutes of protocol in milliseconds, the same every run). What only real sockets show
//! stays in the namespace tests (`tests/`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::Options;
use super::virtual_lan::{RunningDaemon, VirtualHost, VirtualLan};
use crate::core::addr::NodeId;
use crate::core::proto::SiteKey;
use crate::ctl::Request;
use crate::store::config::Config;

/// The default heartbeat interval.
pub(crate) const H: Duration = Duration::from_secs(5);
const PEER_PORT: u16 = 25536;

/// Options for node `n` (its id is `n`; lower ids booted earlier).
pub(crate) fn options(n: u8) -> Options {
    let config = Config::default();
    let id = NodeId::from_u128(u128::from(n));
    let node = config.node_config(id, 1_799_000_000 + u64::from(n), u64::from(n), true);
    Options {
        node,
        key: SiteKey::new(&[7; 32]).expect("a key"),
        key_file: None,
        insecure: false,
        interfaces: Vec::new(),
        peer_port: PEER_PORT,
        wake_unicast: false,
        wake_relays: Vec::new(),
        config_path: "test".into(),
        state: None,
        reconciliation: None,
        metrics: None,
    }
}

/// A LAN of `n` hosts `h1`…, each running a daemon.
pub(crate) async fn lan_of(n: u8) -> (VirtualLan, Vec<VirtualHost>, Vec<RunningDaemon>) {
    let lan = VirtualLan::new("10.0.1.0".parse().unwrap(), 24);
    let hosts: Vec<VirtualHost> = (1..=n).map(|i| lan.add_host(&format!("h{i}"))).collect();
    let mut daemons = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        daemons.push(h.start(options(i as u8 + 1)).await.expect("the daemon starts"));
    }
    (lan, hosts, daemons)
}

async fn statuses(daemons: &[&RunningDaemon]) -> Vec<Value> {
    let mut all = Vec::new();
    for d in daemons {
        all.push(d.status().await);
    }
    all
}

/// Waits, in virtual time, until `check` holds over the daemons' statuses; panics after
/// `limit`. Returns the statuses that passed.
pub(crate) async fn until(
    daemons: &[&RunningDaemon],
    limit: Duration,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = tokio::time::Instant::now();
    loop {
        let now = statuses(daemons).await;
        if check(&now) {
            return now;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}: {now:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn iface(v: &Value) -> &Value {
    &v["node"]["ifaces"][0]
}

pub(crate) fn id(v: &Value) -> &str {
    v["node"]["id"].as_str().unwrap_or_default()
}

/// Exactly one of them is manager, and all name it.
pub(crate) fn one_manager(all: &[Value]) -> bool {
    let managers: Vec<&Value> = all.iter().filter(|v| iface(v)["role"] == "manager").collect();
    managers.len() == 1 && all.iter().all(|v| iface(v)["manager"].as_str() == Some(id(managers[0])))
}

/// What must not change when nothing happens: each one's role, manager and term.
fn views(all: &[Value]) -> Vec<(Value, Value, Value)> {
    all.iter()
        .map(|v| (iface(v)["role"].clone(), iface(v)["manager"].clone(), iface(v)["term"].clone()))
        .collect()
}

fn peer_state<'a>(v: &'a Value, of: &str) -> Option<&'a str> {
    iface(v)["peers"].as_array()?.iter().find(|p| p["id"] == of)?["state"].as_str()
}

/// Who answers for the sleeper `of`, as `v` sees it.
pub(crate) fn proxy_of(v: &Value, of: &str) -> Option<String> {
    iface(v)["peers"].as_array()?.iter().find(|p| p["id"] == of)?["proxied_by"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(start_paused = true)]
async fn three_daemons_elect_one_manager_and_keep_it() {
    let (_lan, _hosts, d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    let first = until(&all, 6 * H, "one manager", one_manager).await;
    // Every one hears the two others, awake.
    for v in &first {
        let peers = iface(v)["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 2, "{v:#}");
        assert!(peers.iter().all(|p| p["state"] == "awake"), "{v:#}");
    }
    // Ten quiet heartbeats later nothing changed.
    tokio::time::sleep(10 * H).await;
    let later = statuses(&all).await;
    assert_eq!(views(&later), views(&first));
}

#[tokio::test(start_paused = true)]
async fn a_killed_daemon_on_a_live_host_loses_its_role_and_is_never_answered_for() {
    let (_lan, _hosts, mut d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    let first = until(&all, 6 * H, "one manager", one_manager).await;
    let manager = first.iter().position(|v| iface(v)["role"] == "manager").unwrap();
    let killed_id = id(&first[manager]).to_owned();
    // kill -9: no goodbye. Its host stays up and answers echo.
    d.remove(manager).kill().await;
    let rest: Vec<&RunningDaemon> = d.iter().collect();
    let after = until(&rest, 10 * H, "a new manager among the two left", |all| {
        one_manager(all) && all.iter().all(|v| iface(v)["manager"].as_str() != Some(&killed_id))
    })
    .await;
    // Its host answers probes: it is not asleep, and nobody answers for it, for minutes.
    for _ in 0..12 {
        tokio::time::sleep(H * 6).await;
        for v in statuses(&rest).await {
            assert_ne!(peer_state(&v, &killed_id), Some("asleep"), "{v:#}");
            assert_eq!(proxy_of(&v, &killed_id), None, "{v:#}");
            assert_eq!(iface(&v)["proxied"].as_array().map(Vec::len), Some(0), "{v:#}");
        }
    }
    assert!(one_manager(&statuses(&rest).await), "{after:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_host_whose_daemon_dies_as_it_falls_asleep_gets_one_proxy() {
    let (_lan, hosts, mut d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    let first = until(&all, 6 * H, "one manager", one_manager).await;
    let sleeper_id = id(&first[2]).to_owned();
    // Unannounced: the daemon dies, the host sleeps and answers nothing.
    d.remove(2).kill().await;
    hosts[2].set_awake(false);
    let rest: Vec<&RunningDaemon> = d.iter().collect();
    let seen = until(&rest, 12 * H, "the sleeper proxied by one of the two", |all| {
        let proxies: Vec<Option<String>> = all.iter().map(|v| proxy_of(v, &sleeper_id)).collect();
        all.iter().all(|v| peer_state(v, &sleeper_id) == Some("asleep"))
            && proxies[0].is_some()
            && proxies.iter().all(|p| *p == proxies[0])
            && all
                .iter()
                .filter(|v| iface(v)["proxied"].as_array().is_some_and(|p| p.len() == 1))
                .count()
                == 1
    })
    .await;
    let proxy = proxy_of(&seen[0], &sleeper_id).unwrap();
    assert!(rest.len() == 2 && seen.iter().any(|v| id(v) == proxy));
}

#[tokio::test(start_paused = true)]
async fn a_wake_request_sends_the_magic_packet_to_the_subnet_broadcast() {
    let (lan, hosts, mut d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    until(&all, 6 * H, "one manager", one_manager).await;
    // h3 announces its sleep and sleeps.
    d[2].request(Request::SleepNotice).await.expect("sleep notice");
    tokio::time::sleep(Duration::from_millis(100)).await;
    hosts[2].set_awake(false);
    d.remove(2).kill().await;
    let mac = hosts[2].mac();
    let reply = d[0]
        .request(Request::Wake { target: mac.to_string(), password: None })
        .await
        .expect("the wake is accepted");
    assert!(reply.is_object(), "{reply}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut magic = vec![0xff; 6];
    for _ in 0..16 {
        magic.extend_from_slice(&mac.0);
    }
    let bcast: SocketAddr = "10.0.1.255:9".parse().unwrap();
    let sent: Vec<_> = lan.sent().into_iter().filter(|s| s.to == bcast).collect();
    assert!(!sent.is_empty(), "no magic packet to {bcast}");
    assert!(sent.iter().all(|s| s.bytes == magic), "{sent:?}");
    assert_eq!(sent[0].by, "h1");
}

#[tokio::test(start_paused = true)]
async fn malformed_and_relayed_datagrams_are_counted_and_change_nothing() {
    let (lan, _hosts, d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    let before = until(&all, 6 * H, "one manager", one_manager).await;
    let to: SocketAddr = "10.0.1.255:25536".parse().unwrap();
    let stranger: SocketAddr = "10.0.1.99:40000".parse().unwrap();
    // Junk, a truncated copy of a real heartbeat, and a real heartbeat from beyond a router.
    let heartbeat = lan
        .sent()
        .into_iter()
        .rev()
        .find(|s| s.to == to && s.by == "h1")
        .expect("h1 broadcast a heartbeat")
        .bytes;
    lan.inject(stranger, to, 255, b"\x00\x01 not wakeproxy at all");
    lan.inject(stranger, to, 255, &heartbeat[..heartbeat.len() / 2]);
    lan.inject(stranger, to, 64, &heartbeat);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let after = statuses(&all).await;
    assert_eq!(views(&after), views(&before));
    for (b, a) in before.iter().zip(&after) {
        let count = |v: &Value, k: &str| v["node"]["counters"][k].as_u64().unwrap_or(0);
        assert_eq!(count(a, "malformed") - count(b, "malformed"), 2, "{}", a["node"]["counters"]);
        let refused = |v: &Value| v["intake"]["refused"]["ttl_below_255"].as_u64().unwrap_or(0);
        assert_eq!(refused(a) - refused(b), 1, "{}", a["intake"]);
        assert_eq!(a["intake"]["refused"]["last_from"], stranger.to_string());
    }
    // And nothing changes afterwards either.
    tokio::time::sleep(4 * H).await;
    assert_eq!(views(&statuses(&all).await), views(&before));
}

#[tokio::test(start_paused = true)]
async fn a_stopped_daemon_says_it_leaves_and_its_registry_is_written_off_its_task() {
    let (_lan, hosts, mut d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    let first = until(&all, 6 * H, "one manager", one_manager).await;
    let sleeper_id = id(&first[2]).to_owned();
    d[2].request(Request::SleepNotice).await.expect("sleep notice");
    tokio::time::sleep(Duration::from_millis(100)).await;
    hosts[2].set_awake(false);
    d.remove(2).kill().await;
    let rest: Vec<&RunningDaemon> = d.iter().collect();
    until(&rest, 6 * H, "a proxy for h3", |all| {
        all.iter().all(|v| proxy_of(v, &sleeper_id).is_some())
    })
    .await;
    // Both remember the sleeper on disk (here: in memory, through the same writer).
    for h in &hosts[..2] {
        assert!(
            h.store().saved().iter().any(|s| s.node_id.to_string() == sleeper_id),
            "{:?}",
            h.store().saved()
        );
    }
    let leaving = id(&statuses(&rest).await[1]).to_owned();
    d.remove(1).stop().await;
    let left = statuses(&[&d[0]]).await;
    assert_eq!(peer_state(&left[0], &leaving), Some("gone"), "{:#}", left[0]);
}

#[tokio::test(start_paused = true)]
async fn a_service_started_just_after_the_daemon_is_announced_within_two_heartbeats() {
    let (_lan, hosts, d) = lan_of(2).await;
    // h2's web server starts after its daemon, as services do at boot.
    tokio::time::sleep(Duration::from_millis(100)).await;
    hosts[1].set_tcp_ports(vec![8080]);
    let all: Vec<&RunningDaemon> = d.iter().collect();
    let h2 = id(&d[1].status().await).to_owned();
    until(&[all[0]], 2 * H + Duration::from_secs(1), "h1 knows h2 listens on 8080", |v| {
        iface(&v[0])["peers"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["id"] == h2.as_str()))
            .is_some_and(|p| p["tcp_ports"] == serde_json::json!([8080]))
    })
    .await;
}
