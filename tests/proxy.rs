//! The layer-2 proxy end to end, through `wakeproxy lab`: a sleeping host's addresses answered
//! by its proxy (ARP, IPv6 neighbour solicitations), connections that wake it, failover, and
//! MAC takeover. Needs root (CI runs as root; under `CI=true` a missing precondition fails the
//! test). Each test has its own lab name, so they run in parallel.

#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::{H, TestLab, arping, proxied_count, proxies, the_proxy, wakeproxy};
use serde_json::Value;

#[test]
fn a_connection_from_the_other_subnet_to_a_sleeping_host_wakes_it_within_resume_delay_plus_3_s() {
    let Some(lab) = TestLab::up("tsy", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    // Someone on h2's subnet answers for it before we connect.
    let proxied = lab.wait(Duration::from_secs(3), || proxied_count(&lab, "h4") == 1);
    assert!(proxied.is_some(), "{:#?}", lab.status());
    let t = Instant::now();
    let out = curl(&lab, "h1", "http://10.0.2.10:8080/");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from h2 port 8080");
    assert!(t.elapsed() <= Duration::from_secs(4), "took {:?}", t.elapsed());
}

#[test]
fn a_syn_to_a_port_the_sleeper_did_not_listen_on_does_not_wake_it() {
    let Some(lab) = TestLab::up("tnw", 4, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2"]);
    std::thread::sleep(H * 4);
    let out = lab.exec(
        "h1",
        &[env!("CARGO_BIN_EXE_wakeproxy"), "lab", "connect", "10.0.2.10:4444", "--timeout", "3s"],
    );
    assert!(!out.status.success(), "nothing listens there");
    assert_eq!(lab.row("h2")["state"], "asleep", "{:#?}", lab.status());
}

#[test]
fn arping_to_a_sleeping_host_is_answered_by_its_proxy_and_an_awake_host_only_by_itself() {
    let Some(lab) = TestLab::up("tap", 6, 2) else { return };
    if Command::new("arping").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "CI must install iputils-arping (.ci/run)");
        eprintln!("SKIPPED: arping is not installed (apt-get install iputils-arping)");
        return;
    }
    lab.converged(Duration::from_secs(10)).expect("converged");
    // Subnet 1 holds h2, h4, h6; h2 sleeps.
    lab.ok(&["sleep", "h2"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let asker = if proxy == "h4" { "h6" } else { "h4" };
    let record = std::fs::read_to_string(
        std::env::temp_dir().join(format!("wakeproxy-lab-{}/lab.json", lab.name)),
    )
    .unwrap();
    let rec: Value = serde_json::from_str(&record).unwrap();
    let mac_of = |h: &str| {
        rec["hosts"].as_array().unwrap().iter().find(|x| x["name"] == h).unwrap()["mac"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        arping(&lab, asker, "10.0.2.10"),
        vec![mac_of(&proxy)],
        "the sleeper's address is answered by its proxy (arp-redirect)"
    );
    // The proxy's peer is awake: only it answers for its own address.
    let awake = asker;
    let other = if awake == "h4" { "h6" } else { "h4" };
    let ip_of = |h: &str| {
        rec["hosts"].as_array().unwrap().iter().find(|x| x["name"] == h).unwrap()["ip"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        arping(&lab, other, &ip_of(awake)),
        vec![mac_of(awake)],
        "an awake host is never answered for"
    );
}

#[test]
fn killing_the_proxy_of_a_sleeper_then_connecting_still_wakes_it() {
    let Some(lab) = TestLab::up("tkp", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    lab.ok(&["crash", &proxy]);
    let other = if proxy == "h4" { "h6" } else { "h4" };
    // The survivor takes over within 3 heartbeat intervals (plus the probe).
    let took = lab.wait(H * 3 + Duration::from_secs(1), || proxies(&lab, &[other]).len() == 1);
    assert!(took.is_some(), "{other} did not take over: {:#?}", lab.status());
    connect_to_h2(&lab, "h1", "10.0.2.10:8080");
}

/// `lab connect` from `host` to `target`, one of h2's addresses on port 8080, waiting up to
/// 10 s; asserts h2's service greeted, and returns how long it took.
fn connect_to_h2(lab: &TestLab, host: &str, target: &str) -> Duration {
    let t = Instant::now();
    let out = lab.exec(
        host,
        &[env!("CARGO_BIN_EXE_wakeproxy"), "lab", "connect", target, "--timeout", "10s"],
    );
    let took = t.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from h2 port 8080");
    took
}

/// `curl` from `host` (the lab's service answers HTTP with its greeting), waiting up to 10 s.
fn curl(lab: &TestLab, host: &str, url: &str) -> std::process::Output {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is missing: apt-get install curl (CI installs it)"
    );
    lab.exec(host, &["curl", "--silent", "--show-error", "--max-time", "10", url])
}

/// The other of two hosts.
fn other<'a>(pair: [&'a str; 2], one: &str) -> &'a str {
    if pair[0] == one { pair[1] } else { pair[0] }
}

#[test]
fn a_connection_from_the_same_subnet_wakes_the_sleeper_and_every_cache_points_at_its_real_mac_again()
 {
    let Some(lab) = TestLab::up("tss", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let asker = other(["h4", "h6"], &proxy);
    let (asker_ns, router_ns) = (format!("tss-{asker}"), "tss-rt".to_owned());
    // A datagram from the other host of the subnet and one from the router fill their caches:
    // with the proxy's MAC while h2 sleeps (the proxy's kernel drops the datagram itself).
    let poke = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.0.2.10', 9999))";
    for ns in [&asker_ns, &router_ns] {
        let out = Command::new("ip").args(["netns", "exec", ns, "python3", "-c", poke]).output();
        assert!(out.is_ok_and(|o| o.status.success()), "python3 in {ns}");
        let proxy_mac = Some(lab.mac(&proxy));
        let cached =
            lab.wait(Duration::from_secs(2), || TestLab::neighbour(ns, "10.0.2.10") == proxy_mac);
        assert!(cached.is_some(), "{ns}: {:?}", TestLab::neighbour(ns, "10.0.2.10"));
    }
    let t = Instant::now();
    let out = curl(&lab, asker, "http://10.0.2.10:8080/");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from h2 port 8080");
    assert!(t.elapsed() <= Duration::from_secs(4), "took {:?}", t.elapsed());
    // The hand-back (and h2's own announcement) move every cache back to h2's MAC.
    let h2 = lab.mac("h2");
    let back = lab.wait(Duration::from_secs(2), || {
        [&asker_ns, &router_ns]
            .iter()
            .all(|ns| TestLab::neighbour(ns, "10.0.2.10").as_ref() == Some(&h2))
    });
    assert!(
        back.is_some(),
        "asker: {:?}, router: {:?}, h2 is {h2}",
        TestLab::neighbour(&asker_ns, "10.0.2.10"),
        TestLab::neighbour(&router_ns, "10.0.2.10")
    );
}

/// The link-layer addresses `ndisc6` got for `ip` from `host`, lowercase, deduplicated.
fn ndisc6(lab: &TestLab, host: &str, ip: &str) -> Vec<String> {
    let out = lab.exec(host, &["ndisc6", "-m", "-n", "-r", "2", "-w", "1000", ip, "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut macs: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Target link-layer address:"))
        .map(|m| m.trim().to_lowercase())
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

#[test]
fn an_ipv6_neighbour_solicitation_for_a_sleeper_is_answered_by_its_proxy_and_never_for_an_awake_host()
 {
    let Some(lab) = TestLab::up("tns", 6, 2) else { return };
    if Command::new("ndisc6").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "CI must install ndisc6 (.ci/run)");
        eprintln!("SKIPPED: ndisc6 is not installed (apt-get install ndisc6)");
        return;
    }
    lab.converged(Duration::from_secs(10)).expect("converged");
    let h2_ip6 = lab.host("h2")["ip6"].as_str().unwrap().to_owned();
    lab.ok(&["sleep", "h2"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let asker = other(["h4", "h6"], &proxy);
    assert_eq!(ndisc6(&lab, asker, &h2_ip6), vec![lab.mac(&proxy)]);
    let st = wakeproxy(&["status", "--json", "--config", &lab.config(&proxy)]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(v["node"]["ifaces"][0]["proxied"][0]["ns_answered"].as_u64().unwrap() >= 1);
    // The proxy is awake: only it answers for its own address.
    let proxy_ip6 = lab.host(&proxy)["ip6"].as_str().unwrap().to_owned();
    assert_eq!(ndisc6(&lab, asker, &proxy_ip6), vec![lab.mac(&proxy)]);
}

#[test]
fn in_mac_takeover_mode_the_proxy_takes_the_sleepers_mac_and_a_connection_still_wakes_it() {
    let Some(lab) = TestLab::up_with("tmt", 6, 2, &["--proxy-mode", "mac-takeover"]) else {
        return;
    };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let asker = other(["h4", "h6"], &proxy);
    let h2 = lab.mac("h2");
    // The switch learnt h2's MAC on the proxy's port, and ARP answers carry h2's own MAC.
    let port_of = |mac: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", "tmt-sw", "bridge", "fdb", "show", "br", "br1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with(mac))
            .and_then(|l| l.split_whitespace().skip_while(|w| *w != "dev").nth(1).map(String::from))
    };
    assert_eq!(port_of(&h2), Some(format!("tmt{proxy}b")), "the proxy took h2's MAC");
    assert_eq!(arping(&lab, asker, "10.0.2.10"), vec![h2.clone()]);
    let t = Instant::now();
    connect_to_h2(&lab, "h1", "10.0.2.10:8080");
    assert!(t.elapsed() <= Duration::from_secs(4), "took {:?}", t.elapsed());
    // Awake again, h2's MAC is back on its own port.
    let home = lab.wait(Duration::from_secs(2), || port_of(&h2) == Some("tmth2b".to_owned()));
    assert!(home.is_some(), "h2's MAC is on {:?}", port_of(&h2));
}

#[test]
fn a_forged_sleep_notice_for_an_awake_host_makes_nobody_answer_for_it() {
    use wakeproxy::core::proto::{self, Header, HostInfo, Ipv4Prefix, Message};
    let Some(lab) = TestLab::up("tfs", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    // Someone holding the site key says h2 sleeps, 20 s ahead in h2's sequence numbers (which
    // follow its clock): as far ahead as receivers take (they refuse more than their clock plus
    // the replay window), so the forgery is valid everywhere.
    let key =
        wakeproxy::store::keys::load(&std::env::temp_dir().join("wakeproxy-lab-tfs/site.key"))
            .unwrap();
    let st = wakeproxy(&["status", "--json", "--config", &lab.config("h2")]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    let id = v["node"]["id"].as_str().unwrap().parse().unwrap();
    let now_ms = common::lab::unix_ms();
    let header = Header { sender: id, seq: (now_ms + 20_000) * 1000, timestamp_ms: now_ms };
    let host = HostInfo {
        mac: lab.mac("h2").parse().unwrap(),
        ipv4: vec![Ipv4Prefix { addr: "10.0.2.10".parse().unwrap(), len: 24 }],
        ..HostInfo::default()
    };
    let mut bytes = Vec::new();
    proto::encode(&key, &header, &Message::SleepNotice(host), &mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // From the LAN itself, with TTL 255 as peers send: a key holder on the link passes GTSM.
    let send = format!(
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); \
         s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255); \
         s.sendto(bytes.fromhex('{hex}'), ('10.0.2.255', 25536))"
    );
    let out = lab.exec("h6", &["python3", "-c", &send]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // For 8 heartbeats nobody answers for h2, and h2 stays awake in everyone's view.
    let end = Instant::now() + H * 8;
    while Instant::now() < end {
        assert!(proxies(&lab, &["h4", "h6"]).is_empty(), "someone answers for an awake host");
        std::thread::sleep(Duration::from_millis(20));
    }
    for viewer in ["h4", "h6"] {
        let ev = wakeproxy(&["events", "--json", "--config", &lab.config(viewer)]);
        let text = String::from_utf8_lossy(&ev.stdout);
        assert!(!text.contains("proxy_started"), "{viewer} claimed h2: {text}");
        assert_eq!(
            lab.state_seen(viewer, &v["node"]["id"].as_str().unwrap()[..8]).as_deref(),
            Some("awake")
        );
    }
    assert_eq!(arping(&lab, "h4", "10.0.2.10"), vec![lab.mac("h2")]);
    // The forgery was valid and reached h2, which answered it with the truth.
    let st = wakeproxy(&["status", "--json", "--config", &lab.config("h2")]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["node"]["counters"]["impersonated"], 1, "{}", v["node"]["counters"]);
}

#[test]
fn a_flood_of_syns_to_a_sleeper_sends_one_wake_sequence() {
    let Some(lab) = TestLab::up("tfl", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    // A slow resume: the flood and the first magic packet are over long before the first retry.
    lab.ok(&["sleep", "h2", "--resume-delay", "5s"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    // 200 connection attempts at once, each its own SYN, from the other subnet.
    let flood = "import socket\nss=[]\nfor _ in range(200):\n s=socket.socket(); s.setblocking(False); s.connect_ex(('10.0.2.10', 8080)); ss.append(s)\nimport time; time.sleep(0.5)";
    let out = lab.exec("h1", &["python3", "-c", flood]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st = wakeproxy(&["status", "--json", "--config", &lab.config(&proxy)]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    let p = &v["node"]["ifaces"][0]["proxied"][0];
    assert!(p["syns_seen"].as_u64().unwrap() >= 200, "{p}");
    assert_eq!(p["wakes_sent"], 1, "one magic packet so far: {p}");
    for h in ["h4", "h6"] {
        let st = wakeproxy(&["status", "--json", "--config", &lab.config(h)]);
        let v: Value = serde_json::from_slice(&st.stdout).unwrap();
        let n = if h == proxy { 1 } else { 0 };
        assert_eq!(v["node"]["counters"]["wakes_sent"], n, "{h}: {v:#}");
        let in_flight = v["node"]["wakes_in_flight"].as_array().unwrap();
        assert_eq!(in_flight.len(), n as usize, "{h}: one sequence, on the proxy: {v:#}");
    }
}

/// Makes `host` retry a SYN after 1 s, then 3 s (RFC 6298's doubling). Linux 6.5+ first
/// retries every second (tcp_syn_linear_timeouts = 4); the classic schedule is what most
/// callers (older Linux, Windows, macOS) follow, and it is what makes a wait visible.
fn classic_syn_retries(lab: &TestLab, host: &str) {
    if std::path::Path::new("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").exists() {
        let ns = format!("{}-{host}", lab.name);
        let set = ["netns", "exec", &ns, "sysctl", "-qw", "net.ipv4.tcp_syn_linear_timeouts=0"];
        assert!(Command::new("ip").args(set).status().is_ok_and(|s| s.success()), "sysctl in {ns}");
    }
}

/// Connects from h1 (the other subnet) to sleeping h2's port 8080, which resumes 1.5 s after its
/// magic packet; returns how long the connection took and the proxy's record of the wake.
fn connect_to_a_sleeper_resuming_in_1_5_s(lab: &TestLab) -> (Duration, Value) {
    lab.converged(Duration::from_secs(10)).expect("converged");
    classic_syn_retries(lab, "h1");
    lab.ok(&["sleep", "h2", "--resume-delay", "1500ms"]);
    let proxy = the_proxy(lab, &["h4", "h6"]);
    let took = connect_to_h2(lab, "h1", "10.0.2.10:8080");
    let st = wakeproxy(&["status", "--json", "--config", &lab.config(&proxy)]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    (took, v["node"]["recent_wakes"][0].clone())
}

// The caller sends its SYN again 1 s and 3 s after the first: a host that resumes at 1.5 s
// sees the caller's own SYN only at 3 s. The proxy's replay connects it at 1.5 s.
#[test]
fn the_proxy_replays_the_waking_syn_so_the_caller_connects_before_its_own_retransmission() {
    let Some(lab) = TestLab::up("trp", 6, 2) else { return };
    let (took, wake) = connect_to_a_sleeper_resuming_in_1_5_s(&lab);
    assert_eq!(wake["syns_replayed"], 1, "{wake}");
    assert!(took < Duration::from_millis(2500), "took {took:?}: the replay did not connect");
}

#[test]
fn without_syn_replay_the_caller_waits_for_its_own_retransmission() {
    let Some(lab) = TestLab::up_with("tnr", 6, 2, &["--no-syn-replay"]) else { return };
    let (took, wake) = connect_to_a_sleeper_resuming_in_1_5_s(&lab);
    assert_eq!(wake["syns_replayed"], 0, "{wake}");
    assert!(took >= Duration::from_millis(2900), "took {took:?}: before the 3 s retransmission?");
}

#[test]
fn when_the_proxy_of_a_sleeper_sleeps_too_the_last_awake_host_answers_for_both_within_3_heartbeats()
{
    let Some(lab) = TestLab::up("tps", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    lab.ok(&["sleep", "h2", "--resume-delay", "1s"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let last = other(["h4", "h6"], &proxy);
    // The proxy announces its own sleep: its sleeper is handed over with it.
    lab.ok(&["sleep", &proxy]);
    let took = lab.wait(H * 3 + Duration::from_secs(1), || proxied_count(&lab, last) == 2);
    assert!(took.is_some(), "{last} does not answer for both: {:#?}", lab.status());
    connect_to_h2(&lab, "h1", "10.0.2.10:8080");
}

#[test]
fn a_connection_to_a_sleepers_ipv6_address_wakes_it_and_the_replay_connects_it() {
    let Some(lab) = TestLab::up("tv6", 6, 2) else { return };
    lab.converged(Duration::from_secs(10)).expect("converged");
    let h2_ip6 = lab.host("h2")["ip6"].as_str().unwrap().to_owned();
    lab.ok(&["sleep", "h2", "--resume-delay", "1500ms"]);
    let proxy = the_proxy(&lab, &["h4", "h6"]);
    let asker = other(["h4", "h6"], &proxy);
    classic_syn_retries(&lab, asker);
    // The asker's neighbour solicitation is answered by the proxy, its SYN wakes h2, and the
    // replayed SYN (its checksum computed over the IPv6 pseudo-header) reaches h2 at 1.5 s.
    let took = connect_to_h2(&lab, asker, &format!("[{h2_ip6}]:8080"));
    let st = wakeproxy(&["status", "--json", "--config", &lab.config(&proxy)]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    let wake = &v["node"]["recent_wakes"][0];
    assert_eq!(wake["syns_replayed"], 1, "{wake}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}
