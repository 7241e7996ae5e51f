//! The metrics of real daemons on a virtual LAN (paused time), and the HTTP endpoint's limits on
//! loopback with a stand-in for the daemon.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{Limits, render, serve_with};
use crate::core::addr::NodeId;
use crate::core::node::{IfaceConfig, IfaceId, Node};
use crate::core::proto::Ipv4Prefix;
use crate::core::proto::SiteKey;
use crate::core::time::Instant;
use crate::ctl::{CtlCall, DaemonStatus, IntakeStatus, KernelDrops, Request};
use crate::daemon::tests::{H, id, lan_of, one_manager, proxy_of, until};
use crate::daemon::virtual_lan::RunningDaemon;
use crate::store::config::Config;

/// The value of the one sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' ']))
                && labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?} in\n{text}");
    found.first().copied()
}

async fn metrics_of(d: &RunningDaemon) -> String {
    // The endpoint's own path: the status as JSON, read back, rendered.
    let status: DaemonStatus = serde_json::from_value(d.status().await).expect("a status");
    render(&status)
}

#[tokio::test(start_paused = true)]
async fn the_metrics_show_one_manager_the_proxy_and_the_sleep_it_enables() {
    let (_lan, hosts, mut d) = lan_of(3).await;
    let all: Vec<&RunningDaemon> = d.iter().collect();
    until(&all, 6 * H, "one manager", one_manager).await;
    let mut managers = 0;
    for daemon in &d {
        let m = metrics_of(daemon).await;
        assert!(m.ends_with("# EOF\n"), "{m}");
        let role = |r| sample(&m, "wakeproxy_role", &[("role", r), ("subnet", "10.0.1.0/24")]);
        assert_eq!(
            role("manager").unwrap() + role("guardian").unwrap() + role("member").unwrap(),
            1.0
        );
        managers += role("manager").unwrap() as u32;
        assert_eq!(sample(&m, "wakeproxy_peers", &[("state", "awake")]), Some(2.0), "{m}");
        assert_eq!(sample(&m, "wakeproxy_sleepers_proxied", &[]), Some(0.0));
        assert!(sample(&m, "wakeproxy_messages_accepted_total", &[]).unwrap() > 0.0);
        assert_eq!(
            sample(&m, "wakeproxy_messages_refused_total", &[("reason", "unauthenticated")]),
            Some(0.0)
        );
    }
    assert_eq!(managers, 1);

    // h3's daemon dies as the host falls asleep: one of the others answers for it.
    let sleeper = id(&d[2].status().await).to_owned();
    d.remove(2).kill().await;
    hosts[2].set_awake(false);
    let rest: Vec<&RunningDaemon> = d.iter().collect();
    let seen = until(&rest, 12 * H, "a proxy for the sleeper", |all| {
        all.iter().all(|v| proxy_of(v, &sleeper).is_some())
            && all
                .iter()
                .any(|v| v["node"]["ifaces"][0]["proxied"].as_array().is_some_and(|p| p.len() == 1))
    })
    .await;
    let proxy = proxy_of(&seen[0], &sleeper).unwrap();
    let proxy = rest.iter().zip(&seen).find(|(_, v)| id(v) == proxy).unwrap().0;
    let first = metrics_of(proxy).await;
    assert_eq!(sample(&first, "wakeproxy_sleepers_proxied", &[]), Some(1.0), "{first}");
    assert_eq!(sample(&first, "wakeproxy_peers", &[("state", "asleep")]), Some(1.0));
    for daemon in &rest {
        let m = metrics_of(daemon).await;
        assert_eq!(sample(&m, "wakeproxy_sleepers_unproxied", &[]), Some(0.0), "{m}");
    }
    // Sleep time enabled grows with the time the sleeper sleeps under the proxy.
    let enabled = |m: &str| sample(m, "wakeproxy_sleep_enabled_seconds_total", &[]).unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let later = metrics_of(proxy).await;
    let grew = enabled(&later) - enabled(&first);
    assert!((59.0..=61.0).contains(&grew), "{} → {}", enabled(&first), enabled(&later));

    // A wake nobody answers: the packet is sent at once, the wake is given up later.
    let mac = hosts[2].mac().to_string();
    d[0].request(Request::Wake { target: mac, password: None }).await.expect("the wake");
    let waker: Vec<&RunningDaemon> = vec![&d[0]];
    until(&waker, 5 * 60 * H, "the wake given up", |v| {
        v[0]["node"]["counters"]["wakes_given_up"].as_u64() == Some(1)
    })
    .await;
    let m = metrics_of(&d[0]).await;
    assert_eq!(sample(&m, "wakeproxy_wakes_given_up_total", &[]), Some(1.0), "{m}");
    assert!(sample(&m, "wakeproxy_wakes_sent_total", &[]).unwrap() >= 1.0);
    assert_eq!(sample(&m, "wakeproxy_wake_to_packet_seconds_count", &[]), Some(1.0), "{m}");
    assert_eq!(sample(&m, "wakeproxy_wake_to_packet_seconds_bucket", &[("le", "+Inf")]), Some(1.0));
    assert_eq!(sample(&m, "wakeproxy_wake_to_awake_seconds_count", &[]), Some(0.0));
}

#[test]
fn every_label_comes_from_a_bounded_set() {
    let m = render(&a_status());
    assert!(m.contains("wakeproxy_term{iface=\"eth0\",subnet=\"10.0.1.0/24\"} 0\n"), "{m}");
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else { continue };
        for pair in labels.split("\",").map(|p| p.trim_start_matches(',')) {
            let key = pair.split('=').next().unwrap();
            let allowed = [
                "iface",
                "subnet",
                "role",
                "state",
                "reason",
                "class",
                "kind",
                "socket",
                "le",
                "version",
                "proxy_mode",
            ];
            assert!(allowed.contains(&key), "label `{key}` in {line}");
        }
    }
    assert!(!m.contains("peer=\"") && !m.contains("mac=\""), "{m}");
}

fn a_status() -> DaemonStatus {
    let id = NodeId::from_u128(1);
    let cfg = Config::default().node_config(id, 1_799_000_000, 1, true);
    let mut node =
        Node::new(cfg, SiteKey::new(&[7; 32]).unwrap(), Instant::ZERO, 1_799_000_000_000);
    let addr = Ipv4Prefix { addr: "10.0.1.10".parse().unwrap(), len: 24 };
    let mac = "02:57:50:00:00:01".parse().unwrap();
    let iface =
        IfaceConfig { id: IfaceId(1), name: "eth0".into(), mac, ipv4: vec![addr], ipv6: vec![] };
    node.add_iface(Instant::ZERO, iface);
    DaemonStatus {
        version: "0.0.0-test".into(),
        insecure: false,
        config_path: "test".into(),
        key: None,
        uptime_s: 1,
        node: node.status(Instant::ZERO),
        intake: IntakeStatus {
            kernel_drops: KernelDrops { peer_sockets: Some(0), capture: Some(0) },
            ..IntakeStatus::default()
        },
        metrics: None,
    }
}

/// A stand-in for the daemon's task: answers every status request with `a_status()`, or
/// never, if `answer` is false.
fn stand_in(answer: bool) -> mpsc::Sender<CtlCall> {
    let (tx, mut rx) = mpsc::channel::<CtlCall>(8);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(call) = rx.recv().await {
            if answer {
                let _ = call.reply.send(Ok(serde_json::to_value(a_status()).unwrap()));
            } else {
                held.push(call);
            }
        }
    });
    tx
}

async fn endpoint(answer: bool, limits: Limits) -> std::net::SocketAddr {
    let listener = super::bind("127.0.0.1:0".parse().unwrap()).expect("a port");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_with(listener, stand_in(answer), limits, std::future::pending()));
    addr
}

async fn get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // A connection the endpoint refuses may be reset rather than closed: what was read counts.
    let _ = s.write_all(request.as_bytes()).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

const GET: &str = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
/// What Prometheus 2 sends.
const SCRAPE: &str = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: \
    application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
    text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n";

#[tokio::test]
async fn a_plain_get_gets_the_text_format_and_a_scraper_that_asks_openmetrics() {
    let addr = endpoint(true, Limits::default()).await;
    let plain = get(addr, GET).await;
    assert!(plain.starts_with("HTTP/1.1 200 OK\r\n"), "{plain}");
    assert!(plain.contains("content-type: text/plain; version=0.0.4"), "{plain}");
    assert!(
        plain.contains(
            "\n# TYPE wakeproxy_messages_sent_total counter\nwakeproxy_messages_sent_total 0\n"
        ),
        "{plain}"
    );
    assert!(!plain.contains("# EOF") && !plain.contains("# UNIT"), "{plain}");
    let answer = get(addr, SCRAPE).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{answer}"
    );
    assert!(answer.contains("\nwakeproxy_uptime_seconds 1\n"), "{answer}");
    assert!(answer.ends_with("# EOF\n"), "{answer}");
}

#[tokio::test]
async fn other_paths_and_methods_are_refused() {
    let addr = endpoint(true, Limits::default()).await;
    let other = get(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    assert!(other.contains("/metrics"), "{other}");
    let post =
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let post = get(addr, post).await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("allow: GET, HEAD"), "{post}");
    let junk = get(addr, "\x16\x03\x01 not http at all\r\n\r\n").await;
    assert!(junk.is_empty() || junk.starts_with("HTTP/1.1 400"), "{junk}");
}

#[tokio::test]
async fn a_daemon_that_does_not_answer_gets_a_503_not_a_hang() {
    let limits = Limits { status_timeout: Duration::from_millis(200), ..Limits::default() };
    let addr = endpoint(false, limits).await;
    let answer = get(addr, GET).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("did not answer"), "{answer}");
}

#[tokio::test]
async fn slow_and_surplus_clients_are_cut_off_and_scrapes_go_on() {
    let limits = Limits {
        max_connections: 2,
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let addr = endpoint(true, limits).await;
    // Two clients that send half a request and stall hold both slots…
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHo").await.unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // …so a third is closed without an answer,
    let surplus = get(addr, GET).await;
    assert!(surplus.is_empty(), "{surplus}");
    // until the header deadline closes the stalled ones, and scrapes are served again.
    for mut s in stalled {
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(n.is_ok(), "a stalled client was never cut off");
    }
    let answer = get(addr, GET).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_port_in_use_is_an_error_that_says_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = super::bind(addr).unwrap_err().to_string();
    assert!(e.contains(&format!("cannot serve metrics on {addr} (metrics_listen)")), "{e}");
    assert!(e.contains("another program listens on that port"), "{e}");
    assert!(e.contains("choose another `metrics_listen`"), "{e}");
}

/// The metric names an expression of the dashboard or the alerts uses.
fn names_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("wakeproxy_") {
        let tail = &rest[at..];
        let end =
            tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_and_the_alerts_use_only_metrics_the_daemon_serves() {
    let served = render(&a_status());
    let sample_names: Vec<&str> = served
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split([' ', '{']).next())
        .collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../contrib/grafana/wakeproxy-dashboard.json"))
            .expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let alerts = include_str!("../../contrib/prometheus/wakeproxy-alerts.yml");
    let used: Vec<String> =
        exprs.iter().flat_map(|e| names_in(e)).chain(names_in(alerts)).collect();
    assert!(used.len() > 20);
    for name in used {
        assert!(sample_names.contains(&name.as_str()), "`{name}` is used but not served");
    }
}
