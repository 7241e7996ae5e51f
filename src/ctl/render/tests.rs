//! The words of `status`, `peers` and `reload`, and that every line fits.

use super::*;
use crate::core::node::Counters;
use crate::ctl::tests::{id, sample, v4};

fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(line.chars().count() <= WIDTH, "{} columns: {line}", line.chars().count());
    }
}

#[test]
fn status_header_and_every_line_fit() {
    let text = render_status(&sample(false));
    assert_fits(&text);
    let head: Vec<&str> = text.lines().take(5).collect();
    assert_eq!(
        head,
        [
            "wakeproxy 0.1.0  node 0a1b2c3d000000000000000000000001  up 3h12m",
            "state: active  sleep: inhibited (guardian)  proxies sleepers: arp-redirect",
            "config: /etc/wakeproxy/wakeproxy.toml",
            "key: 1a2b3c4d, also accepts 5e6f7a8b (/etc/wakeproxy/site.key)",
            "",
        ]
    );
    assert!(!text.contains("INSECURE"));
    let eth0: Vec<&str> = text.lines().skip(5).take(5).collect();
    assert_eq!(
        eth0,
        [
            "eth0  mac 52:54:00:12:34:01  role manager  term 7",
            "  addresses  10.0.0.1/24 fe80::5054:ff:fe12:3401/64",
            "  manager    0a1b2c3d (this node)",
            "  guardians  0a1b2c3d (this node) 11223344",
            "  peers      3 heard: 1 awake, 1 suspect, 1 asleep",
        ]
    );
    // The long port list is cut, the sleeper is shown with its proxy and second address.
    assert!(text.contains("1,2,3,4,5,6,7,…"), "{text}");
    assert!(text.contains("55667788 52:54:00:12:34:03 10.0.0.3+1      asleep"), "{text}");
    assert!(text.contains("proxied here: 1 sleeper"), "{text}");
    let counters: Vec<&str> =
        text.lines().skip_while(|l| !l.starts_with("counters:")).take(6).collect();
    assert_eq!(
        counters,
        [
            "counters: received 123456 accepted 120000 sent 40000 malformed 3 unauthenticated 1 \
             replayed 2",
            "          stale 0 probes 17 wakes-sent 4",
            "intake (queued/dropped): probes 17/0 peer 120010/0 frames 5000/12 wol 3/0 other \
             3440/250000",
            "kernel drops: peer sockets 1500, capture 0",
            "refused: ttl-below-255 2 ttl-missing 0 own-replayed 0 (last from 10.0.9.9:25536, ttl 63)",
            "",
        ]
    );
    assert!(text.contains("recent wakes (last 3, oldest first):"));
    let wakes: Vec<&str> =
        text.lines().skip_while(|l| !l.starts_with("recent wakes")).skip(1).take(3).collect();
    assert_eq!(
        wakes,
        [
            "  52:54:00:12:34:03   1 sent  packet 3ms     awake 4.2s    syn to port 3389 from \
             2001:db8:aaaa:bbbb…",
            "  52:54:00:12:34:05  10 sent  packet 1ms     no answer     operator",
            "  52:54:00:12:34:06   1 sent  packet -       no answer     request from 11223344",
        ]
    );
    assert!(text.contains("wakes in flight: 52:54:00:12:34:07 (2 sent)"), "{text}");
    let mut v4 = sample(false).node.recent_wakes[0];
    v4.cause = WakeCause::TcpSyn { src: "10.0.1.10".parse().unwrap(), port: 22 };
    assert!(wake_line(&v4).ends_with("syn to port 22 from 10.0.1.10, 1 syn replayed"));
    assert!(text.contains("wlan0  mac 52:54:00:12:34:09  role member  term 0"));
    assert!(text.contains("  manager    none yet"));
}

#[test]
fn a_node_without_capture_says_what_the_capture_needs() {
    let mut s = sample(false);
    s.node.can_proxy = false;
    let text = render_status(&s);
    assert!(text.contains("  proxies sleepers: no\n"), "{text}");
    let want = format!("\ncapture: not open; it needs {}\n", HERE.capture);
    assert!(text.contains(&want), "{text}");
    // Both platforms' reasons fit the 100 columns.
    for words in [crate::os::words::LINUX, crate::os::words::WINDOWS] {
        assert!(format!("capture: not open; it needs {}", words.capture).len() <= 100);
    }
}

#[test]
fn where_ttls_are_not_reported_status_says_the_gtsm_check_is_off() {
    let mut s = sample(false);
    s.intake.ttl_checked = false;
    s.intake.refused = Default::default();
    s.intake.kernel_drops.peer_sockets = None;
    s.intake.kernel_drops.capture = None;
    let text = render_status(&s);
    assert!(text.contains("\nkernel drops: peer sockets not reported, capture not reported\n"));
    assert!(text.contains(
        "\nrefused: own-replayed 0; TTL not checked (GTSM): this platform does not report it\n"
    ));
    // Huge counts wrap onto more lines but every line still fits.
    s.intake.other.dropped = u64::MAX;
    s.intake.frames.dropped = u64::MAX;
    s.intake.peer.queued = u64::MAX;
    s.intake.refused.own_replayed = u64::MAX;
    s.intake.refused.last_from = Some("[2001:db8::1]:25536".parse().unwrap());
    let text = render_status(&s);
    assert_fits(&text);
    assert!(text.contains(&format!("other 3440/{}", u64::MAX)), "{text}");
    assert!(text.contains(&format!("own-replayed {} (last from [2001:db8::1]", u64::MAX)));
}

#[test]
fn insecure_banner_is_the_second_line() {
    let text = render_status(&sample(true));
    assert_fits(&text);
    assert_eq!(text.lines().nth(1), Some(INSECURE_BANNER));
    assert!(INSECURE_BANNER.contains("INSECURE: running with the public lab key"));
    let lab =
        crate::core::proto::SiteKey::new(crate::store::keys::INSECURE_LAB_KEY).unwrap().key_id();
    assert!(text.contains(&format!("\nkey: {lab} (the built-in public lab key)\n")), "{text}");
}

#[test]
fn the_metrics_line_shows_the_endpoint_or_why_it_is_not_served() {
    let mut s = sample(false);
    assert!(!render_status(&s).contains("metrics:"), "off: no line");
    let listen = "127.0.0.1:9725".parse().unwrap();
    s.metrics = Some(crate::ctl::MetricsEndpoint { listen, error: None });
    assert!(render_status(&s).contains("\nmetrics: http://127.0.0.1:9725/metrics\n"));
    let why = "cannot serve metrics on 127.0.0.1:9725 (metrics_listen): address in use".to_owned();
    s.metrics = Some(crate::ctl::MetricsEndpoint { listen, error: Some(why) });
    assert!(
        render_status(&s).contains("\nmetrics: NOT served: cannot serve metrics on 127.0.0.1:9725")
    );
}

#[test]
fn the_key_line_shows_one_or_two_ids_and_an_older_daemon_none() {
    let mut s = sample(false);
    let key = s.key.as_mut().unwrap();
    key.accepted_id = None;
    assert!(render_status(&s).contains("\nkey: 1a2b3c4d (/etc/wakeproxy/site.key)\n"));
    s.key = None;
    assert!(!render_status(&s).contains("key:"));
    // An older daemon's status (no "key") still parses.
    let mut v = serde_json::to_value(sample(false)).unwrap();
    v.as_object_mut().unwrap().remove("key");
    let old: DaemonStatus = serde_json::from_value(v).unwrap();
    assert_eq!(old.key, None);
}

#[test]
fn a_reload_says_what_changed_and_that_only_the_key_was_reloaded() {
    let k = |id: &str, acc: Option<&str>| KeyStatus {
        id: id.into(),
        accepted_id: acc.map(Into::into),
        file: Some("/etc/wakeproxy/site.key".into()),
    };
    let r = ReloadReply {
        reloaded: "key".into(),
        before: k("1a2b3c4d", None),
        after: k("1a2b3c4d", Some("5e6f7a8b")),
    };
    let text = render_reload(&r);
    assert_fits(&text);
    let lines: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            "reloaded the site key from /etc/wakeproxy/site.key",
            "  now:    signs with 1a2b3c4d, also accepts 5e6f7a8b",
            "  before: signs with 1a2b3c4d only",
        ],
        "{text}"
    );
    assert!(text.contains("only the key is reloaded: other settings take effect"), "{text}");
    assert!(text.contains(RESTART_COMMAND), "{text}");
    let same = ReloadReply { before: r.after.clone(), ..r };
    assert!(render_reload(&same).contains("  before: the same (the key file is unchanged)\n"));
}

#[test]
fn hostile_names_and_huge_numbers_still_fit_on_one_line_each() {
    let mut s = sample(true);
    s.config_path = format!("/etc/\x1b[2J{}", "x".repeat(300));
    s.node.ifaces[0].name = "eth0\nfake line".into();
    s.node.ifaces[0].ipv4 = (0..60).map(|i| v4([10, 0, i, 1], 24)).collect();
    s.node.ifaces[0].guardians = (0..40).map(|i| id(i << 96)).collect();
    s.node.counters = Counters {
        datagrams: u64::MAX,
        accepted: u64::MAX,
        sent: u64::MAX,
        malformed: u64::MAX,
        unauthenticated: u64::MAX,
        ..Counters::default()
    };
    s.node.ifaces[0].proxied[0].stats.arp_answered = u64::MAX;
    s.node.ifaces[0].peers[0].last_heard_ago = Duration::from_secs(u64::MAX);
    s.node.recent_wakes = vec![s.node.recent_wakes[0]; 50];
    let text = render_status(&s);
    assert_fits(&text);
    assert!(!text.contains('\x1b'));
    assert!(text.contains("eth0?fake line  mac"));
    assert_eq!(text.matches("syn to port").count(), RECENT_WAKES);
    let address_lines = text
        .lines()
        .skip_while(|l| !l.starts_with("  addresses"))
        .take_while(|l| !l.starts_with("  manager"))
        .count();
    assert!(address_lines > 5, "{text}");
}

#[test]
fn peers_render_a_table_per_interface() {
    let s = sample(false);
    let text = render_peers(&s.node.ifaces);
    assert_fits(&text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "eth0  3 heard: 1 awake, 1 suspect, 1 asleep");
    assert_eq!(
        lines[1],
        "  ID       MAC               IPV4            STATE   HEARD  RTT    ROLE     PROXY    PORTS"
    );
    assert_eq!(
        lines[2],
        "  11223344 52:54:00:12:34:02 10.0.0.2        awake   2.4s   0.4ms  guardian -        1,2,3,4,5,6,7,…"
    );
    assert_eq!(lines.last(), Some(&"wlan0  no peers heard"));
    assert_eq!(render_peers(&[]), "no interfaces\n");
}

#[test]
fn durations_are_compact() {
    let d = |ms| dur(Duration::from_millis(ms));
    assert_eq!(d(0), "0ms");
    assert_eq!(d(850), "850ms");
    assert_eq!(d(4_250), "4.2s");
    assert_eq!(d(42_000), "42s");
    assert_eq!(d(185_000), "3m05s");
    assert_eq!(d(8_040_000), "2h14m");
    assert_eq!(d(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
    assert_eq!(rtt(Duration::from_micros(420)), "0.4ms");
    assert_eq!(rtt(Duration::from_micros(12_300)), "12ms");
    assert_eq!(rtt(Duration::from_millis(1_234)), "1.2s");
}
