//! The checks driven with made-up facts: a [`Fake`] machine, no root, no daemon.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::core::addr::{MacAddr, NodeId};
use crate::core::node::{
    Counters, Deafness, IfaceId, IfaceStatus, PeerStatus, ProxyMode, Refusal, Status,
};
use crate::core::peers::{PeerState, Probe, Reason};
use crate::core::proto::{Ipv4Prefix, Role, SiteKey};
use crate::ctl::{CtlError, DaemonStatus, IntakeStatus, KeyStatus};
use crate::daemon::Link;
use crate::os::wol_setting::{NicWake, WolModes, WolSetting, WolSettingError};
use crate::store::keys::{KeyError, Rollover};

/// A machine of the test's making.
struct Fake {
    links: Vec<Link>,
    wol: RefCell<HashMap<String, Result<WolSetting, i32>>>,
    /// What `enable_wol` does: `Ok` sets `g`; `Err(errno)` fails.
    enable: Result<(), i32>,
    /// Command line → output; a command not in it is not installed.
    tools: HashMap<String, ToolOutput>,
    key: Result<KeyFacts, fn(&Path) -> KeyError>,
    status: Result<DaemonStatus, fn(&Path) -> CtlError>,
    routes: Result<IpAddr, i32>,
    root: bool,
}

fn key_id() -> crate::core::proto::KeyId {
    SiteKey::new(&[7; 32]).unwrap().key_id()
}

fn eth0() -> Link {
    Link {
        index: 2,
        name: "eth0".into(),
        device: "eth0".into(),
        mac: MacAddr([2, 0x57, 0x50, 0, 0, 1]),
        ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 1, 10), len: 24 }],
        ipv6: vec![],
        up: true,
        loopback: false,
    }
}

fn modes(letters: &str) -> WolModes {
    WolModes::from_letters(letters).unwrap()
}

fn peer(n: u128, state: PeerState) -> PeerStatus {
    PeerStatus {
        id: NodeId::from_u128(n),
        mac: MacAddr([2, 0, 0, 0, 0, n as u8]),
        ipv4: vec![],
        state,
        reason: Reason::Heartbeat,
        last_heard_ago: Duration::from_millis(100),
        state_for: Duration::from_secs(60),
        rtt: None,
        probe: Probe::Idle,
        role: Role::Member,
        proxied_by: None,
        tcp_ports: vec![],
        clock_offset_ms: None,
    }
}

fn status() -> DaemonStatus {
    let iface = IfaceStatus {
        id: IfaceId(2),
        name: "eth0".into(),
        mac: eth0().mac,
        ipv4: eth0().ipv4,
        ipv6: vec![],
        role: Role::Member,
        term: 3,
        manager: Some(NodeId::from_u128(1)),
        guardians: vec![],
        peers: vec![peer(1, PeerState::Awake), peer(2, PeerState::Asleep)],
        proxied: vec![],
        deaf: None,
    };
    DaemonStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        insecure: false,
        config_path: "/etc/wakeproxy/wakeproxy.toml".into(),
        key: Some(KeyStatus { id: key_id().to_string(), accepted_id: None, file: None }),
        uptime_s: 120,
        node: Status {
            id: NodeId::from_u128(3),
            asleep: false,
            listening: false,
            inhibiting_sleep: false,
            proxy_mode: ProxyMode::ArpRedirect,
            can_proxy: true,
            ifaces: vec![iface],
            counters: Counters { accepted: 500, ..Counters::default() },
            wakes_in_flight: vec![],
            recent_wakes: vec![],
            wake_latency: Default::default(),
        },
        intake: IntakeStatus::default(),
        metrics: None,
    }
}

fn nft_table_json() -> String {
    // What `nft -j list table inet wakeproxy` prints after `wakeproxy firewall apply` with the
    // default configuration (nft 1.0.6), built from the rules so the ports follow.
    let mut items = vec![serde_json::json!({"metainfo": {"version": "1.0.6"}})];
    for r in crate::os::firewall::rules(&Config::default()) {
        let chain =
            if r.direction == crate::os::firewall::Direction::In { "input" } else { "output" };
        let m = match (r.protocol, r.matches) {
            (_, crate::os::firewall::Match::Port(p)) => {
                serde_json::json!({"payload": {"protocol": "udp", "field": "dport"}, "p": p})
            }
            (crate::os::firewall::Protocol::Icmpv6, crate::os::firewall::Match::Icmp(e)) => {
                serde_json::json!({"payload": {"protocol": "icmpv6", "field": "type"}, "p": e.nft_name()})
            }
            (_, crate::os::firewall::Match::Icmp(e)) => {
                serde_json::json!({"payload": {"protocol": "icmp", "field": "type"}, "p": e.nft_name()})
            }
        };
        items.push(serde_json::json!({"rule": {
            "family": "inet", "table": "wakeproxy", "chain": chain, "handle": 2,
            "comment": r.description,
            "expr": [
                {"match": {"op": "==", "left": {"payload": m["payload"]}, "right": m["p"]}},
                {"counter": {"packets": 0, "bytes": 0}},
                {"accept": null}
            ]
        }}));
    }
    serde_json::json!({ "nftables": items }).to_string()
}

fn ok(stdout: &str) -> ToolOutput {
    ToolOutput { success: true, stdout: stdout.into(), stderr: String::new() }
}

fn err(stderr: &str) -> ToolOutput {
    ToolOutput { success: false, stdout: String::new(), stderr: stderr.into() }
}

impl Fake {
    /// A healthy host: WoL on, the table applied, a good key, a daemon hearing two peers.
    fn healthy() -> Self {
        let mut tools = HashMap::new();
        tools.insert("nft -j list table inet wakeproxy".into(), ok(&nft_table_json()));
        tools.insert("nft -j list ruleset".into(), ok(&nft_table_json()));
        Self {
            links: vec![eth0()],
            wol: RefCell::new(HashMap::from([(
                "eth0".to_owned(),
                Ok(WolSetting { supported: modes("pumbg"), enabled: modes("g") }),
            )])),
            enable: Ok(()),
            tools,
            key: Ok(KeyFacts {
                rollover: Rollover::Single { current: key_id() },
                mode: Some(0o600),
                owner: Some(0),
            }),
            status: Ok(status()),
            routes: Ok(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 10))),
            root: true,
        }
    }
}

impl System for Fake {
    fn links(&self) -> Vec<Link> {
        self.links.clone()
    }

    fn wol(&self, iface: &str) -> Result<NicWake, WolSettingError> {
        match self.wol.borrow().get(iface) {
            Some(Ok(s)) => Ok(NicWake::Ethtool(*s)),
            Some(Err(errno)) => Err(WolSettingError::from_os(
                iface,
                "reading",
                io::Error::from_raw_os_error(*errno),
            )),
            None => Err(WolSettingError::NoDevice { iface: iface.into() }),
        }
    }

    fn enable_wol(&self, iface: &str) -> Result<NicWake, WolSettingError> {
        if let Err(errno) = self.enable {
            return Err(WolSettingError::from_os(
                iface,
                "changing",
                io::Error::from_raw_os_error(errno),
            ));
        }
        if let Some(Ok(s)) = self.wol.borrow_mut().get_mut(iface) {
            s.enabled = WolModes(s.enabled.0 | WolModes::MAGIC);
        }
        self.wol(iface)
    }

    fn run(&self, program: &str, args: &[&str]) -> io::Result<ToolOutput> {
        let line =
            std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
        self.tools.get(&line).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn key_file(&self, path: &Path) -> Result<KeyFacts, KeyError> {
        self.key.clone().map_err(|f| f(path))
    }

    fn daemon_status(&self, socket: &Path) -> Result<DaemonStatus, CtlError> {
        self.status.clone().map_err(|f| f(socket))
    }

    fn route_to(&self, _to: SocketAddr) -> io::Result<IpAddr> {
        self.routes.map_err(io::Error::from_raw_os_error)
    }

    fn privileged(&self) -> bool {
        self.root
    }
}

fn config() -> Config {
    Config {
        interfaces: vec!["eth0".into()],
        wake_relays: vec!["10.0.2.255".parse().unwrap()],
        ..Config::default()
    }
}

fn path() -> PathBuf {
    PathBuf::from("/etc/wakeproxy/wakeproxy.toml")
}

fn report(sys: &Fake) -> Report {
    run(&config(), &path(), Options::default(), sys)
}

/// The one check about `topic` (and `subject`, if given).
fn the<'r>(r: &'r Report, topic: Topic, subject: Option<&str>) -> &'r Check {
    let found: Vec<&Check> = r
        .checks
        .iter()
        .filter(|c| c.check == topic && subject.is_none_or(|s| c.subject == s))
        .collect();
    assert_eq!(found.len(), 1, "{topic:?} {subject:?}: {found:#?}\n{}", render(r));
    found[0]
}

#[test]
fn a_healthy_host_passes_every_check_and_exits_0() {
    let r = report(&Fake::healthy());
    assert!(r.checks.iter().all(|c| c.verdict == Verdict::Ok), "{}", render(&r));
    assert!(r.healthy());
    assert_eq!(r.exit_code(), EXIT_HEALTHY);
    let text = render(&r);
    assert!(text.contains("ok    wake-on-lan eth0: Supports Wake-on: pumbg, Wake-on: g"), "{text}");
    assert!(text.contains("peers       eth0: 2 peers heard (1 awake, 1 asleep)"), "{text}");
    assert!(text.trim_end().ends_with("healthy (exit 0)"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too long: {line}");
    }
}

#[test]
fn a_nic_without_wol_fails_with_the_fix_named() {
    let sys = Fake::healthy();
    sys.wol.borrow_mut().insert("eth0".into(), Err(95));
    let r = report(&sys);
    let c = the(&r, Topic::WakeOnLan, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.contains("the driver of eth0 does not support Wake-on-LAN"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("another NIC"), "{c:?}");
    assert_eq!(r.exit_code(), EXIT_PROBLEMS);
}

#[test]
fn wol_off_fails_and_says_how_to_turn_it_on_and_keep_it() {
    let sys = Fake::healthy();
    sys.wol
        .borrow_mut()
        .insert("eth0".into(), Ok(WolSetting { supported: modes("pumbg"), enabled: modes("d") }));
    let r = report(&sys);
    let c = the(&r, Topic::WakeOnLan, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.contains("Supports Wake-on: pumbg, Wake-on: d"), "{c:?}");
    let fix = c.fix.as_deref().unwrap();
    if cfg!(windows) {
        assert!(fix.contains("Set-NetAdapterPowerManagement"), "{fix}");
    } else {
        assert!(fix.contains("ethtool -s eth0 wol g"), "{fix}");
        assert!(fix.contains(LINK_FILE) && fix.contains("WakeOnLan=magic"), "{fix}");
        assert!(fix.contains("MACAddress=02:57:50:00:00:01"), "{fix}");
        assert!(fix.contains("802-3-ethernet.wake-on-lan magic"), "{fix}");
    }
    assert_eq!(c.details["magic"], "disabled");
    assert_eq!(c.details["supported"], "pumbg");
    assert_eq!(c.details["enabled"], "d");
}

#[test]
fn fix_turns_magic_packets_on_and_says_it_lasts_until_reboot() {
    let sys = Fake::healthy();
    sys.wol
        .borrow_mut()
        .insert("eth0".into(), Ok(WolSetting { supported: modes("pumbg"), enabled: modes("d") }));
    let r = run(&config(), &path(), Options { fix: true }, &sys);
    let c = the(&r, Topic::WakeOnLan, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Warn, "{c:?}");
    assert!(c.summary.contains("turned it on (Supports Wake-on: pumbg, Wake-on: g)"), "{c:?}");
    assert!(c.summary.contains("until the next reboot"), "{c:?}");
    assert_eq!(r.exit_code(), EXIT_HEALTHY, "warnings are healthy");
    // A NIC that offers no magic packet is not "fixed".
    let sys = Fake::healthy();
    sys.wol
        .borrow_mut()
        .insert("eth0".into(), Ok(WolSetting { supported: modes("pumb"), enabled: modes("d") }));
    let r = run(&config(), &path(), Options { fix: true }, &sys);
    let c = the(&r, Topic::WakeOnLan, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.contains("not on a magic packet"), "{c:?}");
    // Without the rights to change it: the fix says how to get them.
    let mut sys = Fake::healthy();
    sys.enable = Err(1);
    sys.wol
        .borrow_mut()
        .insert("eth0".into(), Ok(WolSetting { supported: modes("g"), enabled: modes("d") }));
    let r = run(&config(), &path(), Options { fix: true }, &sys);
    let c = the(&r, Topic::WakeOnLan, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Unchecked);
    assert!(c.summary.starts_with("changing the Wake-on-LAN setting of eth0 needs"), "{c:?}");
}

#[test]
fn no_permission_to_query_wol_is_unchecked_and_names_the_rights() {
    let sys = Fake::healthy();
    sys.wol.borrow_mut().insert("eth0".into(), Err(1));
    let r = report(&sys);
    let c = the(&r, Topic::WakeOnLan, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Unchecked);
    assert_eq!(c.fix.as_deref(), Some(crate::os::words::HERE.nic_settings));
    assert_eq!(r.exit_code(), EXIT_UNCHECKED);
    assert!(render(&r).contains("not everything could be checked (exit 2)"), "{}", render(&r));
}

#[test]
fn a_missing_configured_interface_fails() {
    let mut sys = Fake::healthy();
    sys.links.clear();
    let r = report(&sys);
    let c = the(&r, Topic::Interface, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.contains("does not exist"), "{c:?}");
    assert_eq!(r.exit_code(), EXIT_PROBLEMS);
}

#[test]
fn the_firewall_table_missing_is_a_warning_that_names_apply() {
    let mut sys = Fake::healthy();
    sys.tools.insert(
        "nft -j list table inet wakeproxy".into(),
        err("Error: No such file or directory\nlist table inet wakeproxy\n"),
    );
    sys.tools.insert("nft -j list ruleset".into(), ok(r#"{"nftables":[]}"#));
    let r = report(&sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, None);
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.summary.starts_with("missing"), "{c:?}");
        assert!(c.fix.as_deref().unwrap().contains("wakeproxy firewall apply"), "{c:?}");
    }
    // Without the rights to list it.
    sys.tools.insert(
        "nft -j list table inet wakeproxy".into(),
        err("Error: Could not process rule: Operation not permitted\n"),
    );
    let r = report(&sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, None);
        assert_eq!(c.verdict, Verdict::Unchecked);
        assert_eq!(c.fix.as_deref(), Some(crate::os::words::HERE.nic_settings));
    }
    // Without nft at all.
    sys.tools.clear();
    let r = report(&sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, None);
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.summary.contains("not installed"), "{c:?}");
    }
}

#[test]
fn a_table_for_other_ports_lacks_the_configured_ones() {
    let sys = Fake::healthy();
    let custom = Config { peer_port: 41234, ..config() };
    let r = run(&custom, &path(), Options::default(), &sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, None);
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.summary.contains("lacks 2 of"), "{c:?}");
        assert!(c.summary.contains("UDP 41234 in, UDP 41234 out"), "{c:?}");
    }
}

#[test]
fn nft_json_is_read_with_sets_and_ranges() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
      {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
      {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [9, {"range": [25530, 25540]}]}}},
        {"accept": null}]}},
      {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 5, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": {"set": ["echo-request", "nd-neighbor-solicit"]}}},
        {"counter": null}, {"reject": null}]}}]}"#;
    let (chains, rules) = parse_nft_rules(json).unwrap();
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0].hook.as_deref(), Some("input"));
    assert_eq!(chains[0].policy.as_deref(), Some("drop"));
    assert_eq!(rules[0].udp_dports, [(9, 9), (25530, 25540)]);
    assert_eq!(rules[0].verdict.as_deref(), Some("accept"));
    assert_eq!(
        rules[1].icmp,
        Some(("icmpv6".into(), vec!["echo-request".into(), "nd-neighbor-solicit".into()]))
    );
    assert_eq!(rules[1].verdict.as_deref(), Some("reject"));
    assert!(parse_nft_rules("Error: no").is_err());
    assert!(parse_nft_rules("{}").is_err());
}

#[test]
fn a_default_drop_chain_without_the_peer_port_is_a_warning() {
    let mut sys = Fake::healthy();
    let drop_chain = r#"{"nftables": [
      {"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input", "policy": "drop"}},
      {"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
        {"accept": null}]}}]}"#;
    sys.tools.insert("nft -j list ruleset".into(), ok(drop_chain));
    let r = report(&sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, Some("inet filter input"));
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.summary.contains("drops incoming traffic by default"), "{c:?}");
        // A rule accepting the peer port there: nothing to say.
        let accepting = drop_chain.replace(r#""tcp""#, r#""udp""#).replace("22", "25536");
        sys.tools.insert("nft -j list ruleset".into(), ok(&accepting));
        let r = report(&sys);
        assert!(r.checks.iter().all(|c| c.subject != "inet filter input"), "{}", render(&r));
    }
}

#[test]
fn ufw_status_is_read() {
    let text = "Status: active\n\nTo                         Action      From\n\
                --                         ------      ----\n\
                22/tcp                     ALLOW       Anywhere\n\
                25536/udp                  ALLOW       Anywhere                   # wakeproxy\n\
                9/udp                      ALLOW OUT   Anywhere\n\
                6000:6007/udp              ALLOW IN    10.0.0.0/8\n\
                25536/udp (v6)             ALLOW       Anywhere (v6)\n";
    let allows = parse_ufw_allows(text).unwrap();
    assert!(allows.contains(&(25536, 25536, Some("udp".into()))), "{allows:?}");
    assert!(allows.contains(&(6000, 6007, Some("udp".into()))), "{allows:?}");
    assert!(!allows.iter().any(|a| a.0 == 9), "outgoing rules are not incoming: {allows:?}");
    assert_eq!(parse_ufw_allows("Status: inactive\n"), None);
    assert_eq!(parse_ufw_allows("ERROR: You need to be root to run this script\n"), None);
}

#[test]
fn an_active_ufw_without_the_peer_port_fails() {
    let mut sys = Fake::healthy();
    sys.tools.insert(
        "ufw status".into(),
        ok("Status: active\n\nTo    Action   From\n--    ------   ----\n22/tcp   ALLOW   Anywhere\n"),
    );
    let r = report(&sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, Some("ufw"));
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.fix.as_deref().unwrap().starts_with("ufw allow in proto udp to any port 25536"));
    }
    sys.tools.insert("firewall-cmd --state".into(), ok("running\n"));
    sys.tools.insert(
        "firewall-cmd --query-port=25536/udp".into(),
        ToolOutput { success: false, stdout: "no\n".into(), stderr: String::new() },
    );
    let r = report(&sys);
    if cfg!(target_os = "linux") {
        let c = the(&r, Topic::Firewall, Some("firewalld"));
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.fix.as_deref().unwrap().contains("--add-port=25536/udp"), "{c:?}");
    }
}

#[test]
fn key_file_problems_fail_with_their_fix() {
    let mut sys = Fake::healthy();
    sys.key = Err(|p| KeyError::TooOpen { path: p.to_path_buf(), mode: 0o644 });
    let r = report(&sys);
    let c = the(&r, Topic::KeyFile, None);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(c.fix.as_deref(), Some("chmod 600 /etc/wakeproxy/site.key"));
    sys.key = Err(|p| KeyError::NotFound { path: p.to_path_buf() });
    assert_eq!(the(&report(&sys), Topic::KeyFile, None).verdict, Verdict::Fail);
    // Not readable by an unprivileged doctor: unchecked, and says to run it as root.
    sys.root = false;
    sys.key = Err(|p| KeyError::Unreadable {
        path: p.to_path_buf(),
        source: io::Error::from(io::ErrorKind::PermissionDenied),
    });
    let c = the(&report(&sys), Topic::KeyFile, None).clone();
    assert_eq!(c.verdict, Verdict::Unchecked);
    assert!(c.fix.unwrap().contains(crate::os::words::HERE.superuser));
}

#[test]
fn a_key_file_that_is_not_the_daemon_s_key_fails() {
    let mut sys = Fake::healthy();
    let mut s = status();
    s.key = Some(KeyStatus { id: "00112233".into(), accepted_id: None, file: None });
    sys.status = Ok(s);
    let c = the(&report(&sys), Topic::KeyFile, None).clone();
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.contains("but the daemon signs with key 00112233"), "{c:?}");
    assert!(c.fix.unwrap().contains(crate::os::words::HERE.reload));
}

#[test]
fn no_daemon_fails_and_says_how_to_start_it() {
    let mut sys = Fake::healthy();
    sys.status = Err(|p| CtlError::NotRunning { path: p.to_path_buf() });
    let r = report(&sys);
    let c = the(&r, Topic::Daemon, None);
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.fix.as_deref().unwrap().contains(crate::os::words::HERE.service_restart));
    assert!(r.checks.iter().all(|c| c.check != Topic::Peers), "no peers without a daemon");
}

#[test]
fn a_deaf_node_fails_with_the_reason_and_the_fix_for_it() {
    let mut sys = Fake::healthy();
    let mut s = status();
    s.node.ifaces[0].deaf = Some(Deafness::PeersRefused { why: Refusal::BadTag });
    s.node.counters.unauthenticated = 40;
    sys.status = Ok(s);
    let r = report(&sys);
    let c = the(&r, Topic::Peers, Some("eth0"));
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.contains("the peers use another site key"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("same site key file"), "{c:?}");
    let auth = the(&r, Topic::Authentication, None);
    assert_eq!(auth.verdict, Verdict::Warn);
    assert!(
        auth.summary.starts_with("40 datagrams on UDP 25536 failed authentication"),
        "{auth:?}"
    );
    assert_eq!(auth.details["unauthenticated"], 40);
    // Nothing heard at all: the firewall.
    let mut s = status();
    s.node.ifaces[0].deaf = Some(Deafness::NothingHeard);
    sys.status = Ok(s);
    let r = report(&sys);
    let c = the(&r, Topic::Peers, Some("eth0"));
    assert!(c.fix.as_deref().unwrap().contains("wakeproxy firewall apply"), "{c:?}");
}

#[test]
fn no_peer_heard_is_a_warning() {
    let mut sys = Fake::healthy();
    let mut s = status();
    s.node.ifaces[0].peers.clear();
    sys.status = Ok(s);
    let c = the(&report(&sys), Topic::Peers, Some("eth0")).clone();
    assert_eq!(c.verdict, Verdict::Warn);
    assert!(c.summary.contains("nobody answers for it or wakes it"), "{c:?}");
}

#[test]
fn clock_skew_is_judged_from_one_set_of_evidence() {
    let mut s = status();
    s.node.counters.stale = 3;
    let e = clock_evidence(&s);
    assert_eq!(e.stale, 3);
    assert_eq!(e.peers.len(), 2, "every peer, with no offset yet");
    // The daemon's per-peer offsets are the evidence.
    let mut skewed = status();
    skewed.node.ifaces[0].peers[0].clock_offset_ms = Some(-40_000);
    let c = daemon::check_clock(&clock_evidence(&skewed));
    assert_eq!(c.verdict, Verdict::Fail, "{c:?}");
    assert!(c.summary.contains("-40000 ms"), "{c:?}");
    let c = daemon::check_clock(&e);
    assert_eq!(c.verdict, Verdict::Warn);
    assert!(c.summary.starts_with("3 messages were refused"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains(crate::os::words::HERE.time_sync));
    // Per-peer offsets, once the status has them: half the window warns, the window fails.
    let mut e = clock_evidence(&status());
    assert_eq!(daemon::check_clock(&e).verdict, Verdict::Ok);
    e.peers[0].offset_ms = Some(-20_000);
    let c = daemon::check_clock(&e);
    assert_eq!(c.verdict, Verdict::Warn);
    assert!(c.summary.contains("on eth0 (-20000 ms)"), "{c:?}");
    e.peers[1].offset_ms = Some(31_000);
    assert_eq!(daemon::check_clock(&e).verdict, Verdict::Fail);
    // Deaf because of the clocks.
    let mut s = status();
    s.node.ifaces[0].deaf = Some(Deafness::PeersRefused { why: Refusal::Stale });
    assert_eq!(daemon::check_clock(&clock_evidence(&s)).verdict, Verdict::Fail);
}

#[test]
fn relays_without_a_route_fail_and_with_one_say_what_cannot_be_known() {
    let mut sys = Fake::healthy();
    let r = report(&sys);
    let c = the(&r, Topic::WakeRelay, Some("10.0.2.255"));
    assert_eq!(c.verdict, Verdict::Ok);
    assert!(c.summary.contains("from 10.0.1.10 on eth0"), "{c:?}");
    assert!(c.summary.contains("a route is all that can be seen"), "{c:?}");
    sys.routes = Err(101); // ENETUNREACH
    let c = the(&report(&sys), Topic::WakeRelay, Some("10.0.2.255")).clone();
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.summary.starts_with("no route to 10.0.2.255:25536"), "{c:?}");
    // A relay on this host's own subnet is a mistake.
    let local = Config { wake_relays: vec!["10.0.1.255".parse().unwrap()], ..config() };
    let r = run(&local, &path(), Options::default(), &Fake::healthy());
    assert_eq!(the(&r, Topic::WakeRelay, None).verdict, Verdict::Warn);
}

#[test]
fn json_has_a_stable_shape() {
    let sys = Fake::healthy();
    sys.wol.borrow_mut().insert("eth0".into(), Err(95));
    let v = report(&sys).to_json();
    assert_eq!(v["healthy"], false);
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["counts"]["fail"], 1);
    assert_eq!(v["config"], "/etc/wakeproxy/wakeproxy.toml");
    let wol = &v["checks"][0];
    assert_eq!(wol["check"], "wake-on-lan");
    assert_eq!(wol["subject"], "eth0");
    assert_eq!(wol["verdict"], "fail");
    assert!(wol["fix"].is_string());
    let names: Vec<&str> =
        v["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    for n in ["wake-on-lan", "key-file", "daemon", "peers", "authentication", "clock", "wake-relay"]
    {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
}

#[test]
fn the_link_file_keeps_the_default_naming() {
    let f = link_file(&MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
    assert!(f.starts_with("[Match]\nMACAddress=aa:bb:cc:dd:ee:ff\n"), "{f}");
    for line in [
        "NamePolicy=keep kernel database onboard slot path",
        "MACAddressPolicy=persistent",
        "WakeOnLan=magic",
    ] {
        assert!(f.lines().any(|l| l == line), "{line} missing: {f}");
    }
    // No Name=: the interface is not renamed.
    assert!(!f.lines().any(|l| l.starts_with("Name=")), "{f}");
}
