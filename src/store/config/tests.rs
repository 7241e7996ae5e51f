use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::check::line_column;
use super::known::Known;
use super::*;
use crate::core::addr::NodeId;
use crate::core::node::{DEFAULT_WAKE_DENY, NodeConfig, ProxyMode};

const ORIGIN: &str = "test/wakeproxy.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(ORIGIN))
}

fn err(text: &str) -> (ConfigError, String) {
    let e = parse(text).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with(ORIGIN), "names the file: {msg}");
    (e, msg)
}

#[test]
fn an_empty_file_is_the_default() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(parse("# only comments\n\n").unwrap(), Config::default());
}

#[test]
fn defaults_match_configmgr_and_the_core() {
    let c = Config::default();
    assert_eq!((c.peer_port, c.wol_port, c.guardians), (25536, 9, 3));
    assert_eq!(c.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(c.wake_ports.deny, DEFAULT_WAKE_DENY);
    assert!(c.validate().is_ok());
    let node = c.node_config(NodeId::from_u128(1), 100, 7, true);
    let core = NodeConfig::new(NodeId::from_u128(1), 100, 7);
    assert_eq!(node, core, "default file = the core's defaults");
}

#[test]
fn every_key_is_read() {
    let text = r#"
peer_port = 30000
wol_port = 7
heartbeat_interval = "2s"
probe_timeout = "500ms"
guardians = 5
interfaces = ["eth0", "Ethernet 2"]
key_file = "/k/site.key"
insecure = true
state_dir = "/s"
control_socket = "/c.sock"
control_group = "wheel"
prefer_guardian = true
proxy_mode = "mac-takeover"
wake_unicast = false
syn_replay = false
wake_relays = ["10.1.0.255", "10.2.0.7:4000", "[2001:db8::7]:25536"]

[wake_ports]
allow = [3389]
deny = [137]

[reconciliation]
enabled = true
at = "9:05"
window = "30m"

[log]
level = "debug"
format = "json"
"#;
    let c = parse(text).unwrap();
    assert_eq!((c.peer_port, c.wol_port, c.guardians), (30000, 7, 5));
    assert_eq!(c.heartbeat_interval, Duration::from_secs(2));
    assert_eq!(c.probe_timeout, Duration::from_millis(500));
    assert_eq!(c.interfaces, ["eth0", "Ethernet 2"]);
    assert_eq!(c.key_file, Path::new("/k/site.key"));
    assert!(c.insecure && c.prefer_guardian && !c.wake_unicast && !c.syn_replay);
    assert_eq!(c.control_group.as_deref(), Some("wheel"));
    assert_eq!(c.proxy_mode, ProxyMode::MacTakeover);
    assert_eq!(
        c.wake_relay_addrs(),
        [
            "10.1.0.255:30000".parse::<SocketAddr>().unwrap(),
            "10.2.0.7:4000".parse().unwrap(),
            "[2001:db8::7]:25536".parse().unwrap(),
        ]
    );
    assert_eq!(
        (c.wake_ports.allow.as_slice(), c.wake_ports.deny.as_slice()),
        (&[3389][..], &[137][..])
    );
    assert!(c.reconciliation.enabled);
    assert_eq!(c.reconciliation.at, TimeOfDay::new(9, 5).unwrap());
    assert_eq!(c.reconciliation.window, Duration::from_secs(1800));
    assert_eq!((c.log.level, c.log.format), (LogLevel::Debug, LogFormat::Json));

    let node = c.node_config(NodeId::from_u128(9), 1, 2, false);
    assert_eq!(node.heartbeat_interval(), Duration::from_secs(2));
    assert_eq!(node.liveness.probe_timeout, Duration::from_millis(500));
    assert_eq!(node.liveness.suspect_after, Duration::from_secs(5));
    assert_eq!((node.guardians, node.wol_port, node.can_proxy), (5, 7, false));
    assert!(node.prefers_guardian && !node.syn_replay);
    assert_eq!(node.proxy_mode, ProxyMode::MacTakeover);
    assert_eq!((node.wake_allow, node.wake_deny), (vec![3389], vec![137]));

    // The effective configuration reads back to the same thing.
    let again = parse(&c.to_toml()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn to_toml_round_trips_the_default_and_shows_every_key() {
    let c = Config {
        control_group: Some("wakeproxy".into()),
        metrics_listen: Some("127.0.0.1:9725".parse().unwrap()),
        ..Config::default()
    };
    let text = c.to_toml();
    assert_eq!(parse(&text).unwrap(), c, "{text}");
    let table: toml::Table = toml::from_str(&text).unwrap();
    // The keys errors offer (read from the serde impls) are the keys the struct writes.
    let known = Known::of::<Config>();
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(sorted(keys), sorted(known.keys.to_vec()), "the known keys match the struct");
    let tables: Vec<&str> =
        table.iter().filter(|(_, v)| v.is_table()).map(|(k, _)| k.as_str()).collect();
    let known_tables: Vec<&str> = known.tables.iter().map(|(t, _)| *t).collect();
    assert_eq!(sorted(tables), sorted(known_tables), "the known tables match the struct");
    for (t, sub) in &known.tables {
        let got: Vec<&str> = table[*t].as_table().unwrap().keys().map(String::as_str).collect();
        assert_eq!(sorted(got), sorted(sub.keys.to_vec()), "the known keys match [{t}]");
    }
    assert!(text.contains("heartbeat_interval = \"5s\""), "{text}");
    assert!(text.contains("at = \"14:00\""), "{text}");
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

#[test]
fn syntax_errors_give_line_and_column() {
    let (e, msg) = err("peer_port = 1\nwol_port = \n");
    assert!(matches!(e, ConfigError::Syntax { line: 2, column: 12, .. }), "{e:?}");
    assert!(msg.contains("line 2, column 12"), "{msg}");
    let (e, _) = err("peer_port = 1\npeer_port = 2\n");
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "duplicate key: {e:?}");
}

#[test]
fn unknown_keys_are_named_with_line_and_the_valid_keys() {
    let (e, msg) = err("peer_port = 1\nheartbeat = \"5s\"\n");
    assert!(matches!(e, ConfigError::UnknownKey { line: 2, table: None, .. }), "{e:?}");
    assert!(msg.contains("unknown key `heartbeat` (line 2)"), "{msg}");
    assert!(msg.contains("heartbeat_interval, probe_timeout"), "lists valid keys: {msg}");

    let (_, msg) = err("[log]\nlevel = \"info\"\ncolour = true\n");
    assert!(msg.contains("unknown key `log.colour` (line 3) in [log]"), "{msg}");
    assert!(msg.contains("valid keys there: level, format"), "{msg}");

    let (_, msg) = err("[log]\nlevle = \"info\"\n");
    assert!(msg.contains("did you mean `level`?"), "{msg}");

    let (_, msg) = err("[log]\nlevel = \"info\"\nwake_unicast = false\n");
    assert!(msg.contains("`wake_unicast` is a top-level key: move it above"), "{msg}");

    let (_, msg) = err("level = \"info\"\n");
    assert!(msg.contains("`level` belongs in the [log] table"), "{msg}");

    let (_, msg) = err("zzz = 1\naaa = 2\n");
    assert!(msg.contains("unknown key `zzz` (line 1)"), "the first in the file: {msg}");

    let (_, msg) = err("[nonsense]\nx = 1\n");
    assert!(msg.contains("unknown key `nonsense` (line 1)"), "{msg}");

    let (_, msg) = err("log = 3\n");
    assert!(msg.contains("log (line 1) must be a table"), "{msg}");
}

#[test]
fn bad_values_name_key_line_value_and_what_is_allowed() {
    for (text, want) in [
        (
            "# c\n\nheartbeat_interval = \"0s\"\n",
            "heartbeat_interval (line 3) must be between 100ms and 10min, got 0s",
        ),
        (
            "heartbeat_interval = \"11m\"\n",
            "heartbeat_interval (line 1) must be between 100ms and 10min, got 11m",
        ),
        ("heartbeat_interval = \"soon\"\n", "heartbeat_interval (line 1) `soon` is not a duration"),
        (
            "heartbeat_interval = 5\n",
            "heartbeat_interval (line 1) invalid type: integer `5`, expected a duration in quotes",
        ),
        (
            "peer_port = 70000\n",
            "peer_port (line 1) invalid value: integer `70000`, expected a port number from 1 \
             to 65535",
        ),
        (
            "peer_port = \"x\"\n",
            "peer_port (line 1) invalid type: string \"x\", expected a port number from 1 to \
             65535",
        ),
        (
            "guardians = -1\n",
            "guardians (line 1) invalid value: integer `-1`, expected a number from 1 to 16",
        ),
        ("wol_port = 0\n", "wol_port (line 1) must be a port number from 1 to 65535, got 0"),
        ("wol_port = 25536\n", "wol_port (line 1) must differ from peer_port, both are 25536"),
        ("guardians = 0\n", "guardians (line 1) must be between 1 and 16, got 0"),
        ("guardians = 17\n", "guardians (line 1) must be between 1 and 16, got 17"),
        (
            "probe_timeout = \"3s\"\n",
            "probe_timeout (line 1) must be between 10ms and half of heartbeat_interval (2s 500ms), got 3s",
        ),
        (
            "heartbeat_interval = \"1s\"\n",
            "probe_timeout (not set, so its default) must be between 10ms and half of heartbeat_interval (500ms), got 1s",
        ),
        (
            "insecure = \"yes\"\n",
            "insecure (line 1) invalid type: string \"yes\", expected a boolean",
        ),
        (
            "proxy_mode = \"steal\"\n",
            "proxy_mode (line 1) unknown variant `steal`, expected `arp-redirect` or `mac-takeover`",
        ),
        ("interfaces = [\"eth0\", \"\"]\n", "interfaces (line 1) has an empty name"),
        ("interfaces = [\"eth0\", \"eth0\"]\n", "interfaces (line 1) lists \"eth0\" twice"),
        ("control_group = \"\"\n", "control_group (line 1) must not be empty"),
        (
            "metrics_listen = \"9725\"\n",
            "metrics_listen (line 1) `9725` is not an IP address and port: write e.g. \"127.0.0.1:9725\"",
        ),
        (
            "metrics_listen = \"localhost:9725\"\n",
            "metrics_listen (line 1) `localhost:9725` is not an IP address and port",
        ),
        ("key_file = \"\"\n", "key_file (line 1) must not be empty"),
        (
            "wake_relays = [\n  \"10.0.0.1\",\n  \"host.example\",\n]\n",
            "wake_relays (line 3) `host.example` is not an address",
        ),
        ("wake_relays = [\"10.0.0.1:0\"]\n", "wake_relays (line 1) `10.0.0.1:0` is not an address"),
        (
            "[wake_ports]\nallow = [\n  1,\n  99999,\n]\n",
            "wake_ports.allow (line 4) invalid value: integer `99999`, expected a port number",
        ),
        ("[wake_ports]\ndeny = [0]\n", "wake_ports.deny (line 2) must list port numbers from 1"),
        (
            "[wake_ports]\nallow = [445]\ndeny = [445]\n",
            "wake_ports.deny (line 3) lists port 445, which wake_ports.allow also lists",
        ),
        (
            "[reconciliation]\nat = \"24:00\"\n",
            "reconciliation.at (line 2) `24:00` is not a time of day: write HH:MM",
        ),
        (
            "[reconciliation]\nwindow = \"25h\"\n",
            "reconciliation.window (line 2) must be between 1min and 24h, got 1day 1h",
        ),
        (
            "[reconciliation]\nwindow = \"0s\"\n",
            "reconciliation.window (line 2) must be between 1min and 24h, got 0s",
        ),
        (
            "[log]\nlevel = \"loud\"\n",
            "log.level (line 2) unknown variant `loud`, expected one of `error`, `warn`, `info`, `debug`, `trace`",
        ),
        (
            "[log]\nformat = \"xml\"\n",
            "log.format (line 2) unknown variant `xml`, expected one of `text`, `json`, `journal`",
        ),
        ("log.format = \"xml\"\n", "log.format (line 1) unknown variant `xml`"),
    ] {
        let (e, msg) = err(text);
        assert!(matches!(e, ConfigError::BadValue { .. }), "{text}: {e:?}");
        assert!(msg.contains(want), "{text}\n got: {msg}\nwant: {want}");
    }
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let c = Config::parse(
        "key_file = \"site.key\"\nstate_dir = \"/abs\"\n",
        Path::new("/etc/wp/wakeproxy.toml"),
    )
    .unwrap();
    assert_eq!(c.key_file, Path::new("/etc/wp/site.key"));
    assert_eq!(c.state_dir, Path::new("/abs"));
}

#[test]
fn load_distinguishes_a_missing_file_and_defaults_only_for_the_default_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.toml");
    let e = Config::load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains(&missing.display().to_string()));
    assert!(matches!(Config::load_or_default(&missing, true), Err(ConfigError::NotFound { .. })));
    assert_eq!(Config::load_or_default(&missing, false).unwrap(), Config::default());

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "guardians = 0\n").unwrap();
    assert!(Config::load_or_default(&bad, false).is_err(), "an existing file is checked");

    let e = Config::load(dir.path()).unwrap_err();
    assert!(matches!(e, ConfigError::Unreadable { .. }), "a directory: {e:?}");
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(Config::load(&binary).unwrap_err(), ConfigError::Unreadable { .. }));
}

/// The example file with every `# key = value` and `# [table]` line uncommented.
fn uncomment(text: &str) -> String {
    let is_setting = |rest: &str| {
        let ident =
            |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        rest.split_once(" = ").is_some_and(|(k, _)| ident(k))
            || rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')).is_some_and(ident)
    };
    text.lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => format!("{rest}\n"),
            _ => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn the_example_file_documents_every_key_with_its_default() {
    let text = include_str!("../../../wakeproxy.example.toml");
    let origin = Path::new("wakeproxy.example.toml");
    assert_eq!(Config::parse(text, origin).unwrap(), Config::default(), "as shipped");

    let active = uncomment(text);
    let table: toml::Table = toml::from_str(&active).unwrap();
    let known = Known::of::<Config>();
    for key in known.keys {
        assert!(table.contains_key(*key), "wakeproxy.example.toml does not show `{key}`");
    }
    for (t, sub) in &known.tables {
        for key in sub.keys {
            assert!(table[*t].get(*key).is_some(), "the example does not show `{t}.{key}`");
        }
    }
    // Uncommented, every line is the default (control_group and metrics_listen, which have
    // none, show an example). The shown paths are the Linux ones.
    #[cfg(not(windows))]
    {
        let want = Config {
            control_group: Some("wakeproxy".into()),
            metrics_listen: Some("127.0.0.1:9725".parse().unwrap()),
            ..Config::default()
        };
        assert_eq!(Config::parse(&active, origin).unwrap(), want, "{active}");
    }
}

#[test]
fn time_of_day_and_relay_parse_strictly() {
    assert_eq!("07:30".parse::<TimeOfDay>().unwrap().minutes_since_midnight(), 450);
    assert_eq!("7:30".parse::<TimeOfDay>().unwrap().to_string(), "07:30");
    for bad in ["", "7", "24:00", "12:60", "12:5", "1:234", "a1:00", "12:00:00", "-1:00"] {
        assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
    }
    assert_eq!("10.0.0.1".parse::<WakeRelay>().unwrap().to_string(), "10.0.0.1");
    assert_eq!("[::1]:9".parse::<WakeRelay>().unwrap().to_string(), "[::1]:9");
    for bad in ["", "10.0.0", "10.0.0.1:", "10.0.0.1:70000", "example.com:25536"] {
        assert!(bad.parse::<WakeRelay>().is_err(), "{bad}");
    }
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncdé\nx", 0), (1, 1));
    assert_eq!(line_column("ab\ncdé\nx", 3), (2, 1));
    assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
    assert_eq!(line_column("ab", 99), (1, 3));
}

/// A schema three tables deep, to show the checks do not depend on the shape of [`Config`].
#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
struct Deep {
    alpha: u8,
    outer: Outer,
}

#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
struct Outer {
    bravo: u8,
    inner: Option<Inner>,
}

#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
struct Inner {
    charlie: u8,
}

fn deep(text: &str) -> Result<Deep, ConfigError> {
    check::Document::new(text, Path::new(ORIGIN))?.deserialize()
}

#[test]
fn known_keys_are_read_from_the_schema() {
    let inner = Known { keys: &["charlie"], tables: Vec::new() };
    let outer = Known { keys: &["bravo", "inner"], tables: vec![("inner", inner)] };
    assert_eq!(
        Known::of::<Deep>(),
        Known { keys: &["alpha", "outer"], tables: vec![("outer", outer)] }
    );
    assert_eq!(Known::of::<u8>(), Known { keys: &[], tables: Vec::new() }, "not a struct");
    let config = Known::of::<Config>();
    assert_eq!(config.table(["log"]).map(|t| t.keys), Some(&["level", "format"][..]));
    assert!(config.table(["peer_port"]).is_none(), "a plain key is no table");
}

#[test]
fn unknown_keys_at_every_level_name_their_line() {
    for (text, key, line, table) in [
        ("peer_port = 1\n\nzz = 1\n", "zz", 3, None),
        ("peer_port = 1\n\n[zz]\nx = 1\n", "zz", 3, None),
        ("[log]\nlevel = \"info\"\n\nzz = 1\n", "log.zz", 4, Some("log")),
        ("peer_port = 1\nlog.zz = 1\n", "log.zz", 2, Some("log")),
        ("peer_port = 1\nlog = { level = \"info\", zz = 1 }\n", "log.zz", 2, Some("log")),
        (
            "[wake_ports]\nallow = [1]\n[reconciliation]\nzz = 1\n",
            "reconciliation.zz",
            4,
            Some("reconciliation"),
        ),
    ] {
        let (e, msg) = err(text);
        let ConfigError::UnknownKey { key: k, line: l, table: t, .. } = &e else {
            panic!("{text}: {e:?}");
        };
        assert_eq!((k.as_str(), *l, t.as_deref()), (key, line, table), "{text}: {msg}");
    }

    let msg = deep("alpha = 1\n[outer.inner]\ncharlie = 1\ncolour = 2\n").unwrap_err().to_string();
    assert!(
        msg.contains(
            "unknown key `outer.inner.colour` (line 4) in [outer.inner]; valid keys there: charlie"
        ),
        "{msg}"
    );
    let msg = deep("[outer]\nbravo = 1\ncharlie = 2\n").unwrap_err().to_string();
    assert!(
        msg.contains(
            "`outer.charlie` (line 3) in [outer]; `charlie` belongs in the [outer.inner] table"
        ),
        "{msg}"
    );
    let msg = deep("[outer.inner]\nxyz = 1\nalpha = 1\n").unwrap_err().to_string();
    assert!(msg.contains("`outer.inner.xyz` (line 2)"), "the first in the file: {msg}");
    let msg = deep("[outer.inner]\nalpha = 1\n").unwrap_err().to_string();
    assert!(msg.contains("`alpha` is a top-level key: move it above"), "{msg}");
    let msg = deep("[outer]\ninner = 5\n").unwrap_err().to_string();
    assert!(
        msg.contains("outer.inner (line 2) must be a table: write a [outer.inner] header"),
        "{msg}"
    );
    assert_eq!(deep("outer.inner.charlie = 7\n").unwrap().outer.inner, Some(Inner { charlie: 7 }));
}

#[test]
fn the_first_problem_in_the_file_is_reported() {
    let (e, _) = err("guardians = \"x\"\nzz = 1\n");
    assert!(matches!(e, ConfigError::BadValue { line: Some(1), .. }), "{e:?}");
    let (e, _) = err("zz = 1\nguardians = \"x\"\n");
    assert!(matches!(e, ConfigError::UnknownKey { line: 1, .. }), "{e:?}");
    let (e, _) = err("[log]\nlevel = \"loud\"\n[wake_ports]\nzz = 1\n");
    assert!(matches!(e, ConfigError::BadValue { line: Some(2), .. }), "{e:?}");
    let (e, _) = err("[wake_ports]\nzz = 1\n[log]\nlevel = \"loud\"\n");
    assert!(matches!(e, ConfigError::UnknownKey { line: 2, .. }), "{e:?}");
}

/// The seeds of the fuzz target `config_parse` (`fuzz/seeds/config_parse/`) are the repository's
/// example file, the effective configuration `wakeproxy config` prints for it and for no file,
/// and the snippet of `docs/metrics.md`. After changing them, rewrite them with
/// `WAKEPROXY_BLESS_SEEDS=1 cargo test --lib fuzz_seeds`.
#[test]
fn fuzz_seeds_are_the_example_files() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = include_str!("../../../wakeproxy.example.toml");
    let metrics = include_str!("../../../docs/metrics.md");
    let snippet = metrics.split("```toml\n").nth(1).and_then(|s| s.split("```").next()).unwrap();
    let origin = Path::new("wakeproxy.example.toml");
    let seeds = [
        ("example.toml", example.to_owned()),
        ("effective.toml", Config::parse(example, origin).unwrap().to_toml()),
        ("default.toml", Config::default().to_toml()),
        ("metrics.toml", snippet.to_owned()),
    ];
    for (name, text) in seeds {
        assert!(Config::parse(&text, origin).is_ok(), "{name}");
        let path = repo.join("fuzz/seeds/config_parse").join(name);
        if std::env::var_os("WAKEPROXY_BLESS_SEEDS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            text,
            "{} is stale: rerun with WAKEPROXY_BLESS_SEEDS=1",
            path.display()
        );
    }
}
