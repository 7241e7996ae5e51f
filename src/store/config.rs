//! The configuration file, `wakeproxy.toml`.
//!
//! Every key is optional and defaults to ConfigMgr's behaviour; `wakeproxy.example.toml` at the
//! root of the repository lists every key with its default and why it exists. Default location:
//! [`Config::default_path`] (`/etc/wakeproxy/wakeproxy.toml` on Linux,
//! `%ProgramData%\wakeproxy\wakeproxy.toml` on Windows).
//!
//! Loading goes in three steps, each with errors that name the file, the key and the line:
//!
//! 1. TOML syntax ([`ConfigError::Syntax`], with line and column);
//! 2. keys: every key must be known in its table ([`ConfigError::UnknownKey`] lists the valid
//!    ones), and types must fit ([`ConfigError::BadValue`]);
//! 3. values: ranges and consistency between keys ([`Config::validate`], also
//!    [`ConfigError::BadValue`]).
//!
//! Relative paths (`key_file`, `state_dir`, `control_socket`) are taken relative to the
//! directory of the configuration file, so a file and its key can be moved together.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::core::addr::NodeId;
use crate::core::node::{DEFAULT_WAKE_DENY, NodeConfig, ProxyMode};

/// Shortest accepted heartbeat interval.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// Longest accepted heartbeat interval.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(600);
/// Shortest accepted probe timeout.
pub const MIN_PROBE_TIMEOUT: Duration = Duration::from_millis(10);
/// Most guardians a subnet may keep awake.
pub const MAX_GUARDIANS: usize = 16;
/// Shortest reconciliation window: a shorter one would wake a whole subnet at once.
pub const MIN_RECONCILIATION_WINDOW: Duration = Duration::from_secs(60);
/// Longest reconciliation window: one day.
pub const MAX_RECONCILIATION_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The whole configuration. [`Config::default`] is what a node runs with when there is no
/// file; [`Config::load`] reads and checks a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// UDP port of the peer protocol (heartbeats, claims, wake requests). Default 25536.
    #[serde(deserialize_with = "port")]
    pub peer_port: u16,
    /// UDP port magic packets are sent to. Default 9.
    #[serde(deserialize_with = "port")]
    pub wol_port: u16,
    /// How often a node sends a heartbeat; [`MIN_HEARTBEAT`]`..=`[`MAX_HEARTBEAT`]. Default 5 s.
    #[serde(with = "duration_text")]
    pub heartbeat_interval: Duration,
    /// How long an ICMP echo to a silent peer may take; at least [`MIN_PROBE_TIMEOUT`], at most
    /// half the heartbeat interval. Default 1 s.
    #[serde(with = "duration_text")]
    pub probe_timeout: Duration,
    /// Guardians per subnet (nodes kept awake so someone can proxy); `1..=16`. Default 3.
    #[serde(deserialize_with = "guardian_count")]
    pub guardians: usize,
    /// Interfaces to run on, by name. Empty (the default): every interface that is up, not
    /// loopback, Ethernet, and has an IPv4 address.
    pub interfaces: Vec<String>,
    /// The site key file. Default `/etc/wakeproxy/site.key`.
    pub key_file: PathBuf,
    /// Lab only: sign with the published [`crate::store::keys::INSECURE_LAB_KEY`] instead of
    /// `key_file`. Default false.
    pub insecure: bool,
    /// Where the node id and the sleeper registry live. Default `/var/lib/wakeproxy`.
    pub state_dir: PathBuf,
    /// The control socket (Unix) or named pipe (Windows). Default `/run/wakeproxy/control.sock`,
    /// `\\.\pipe\wakeproxy` on Windows.
    pub control_socket: PathBuf,
    /// A group whose members may run read-only control commands (status, peers, events).
    /// Default: none, only root (Administrators) may use the control socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_group: Option<String>,
    /// This node prefers to be a guardian (stays awake). Default false.
    pub prefer_guardian: bool,
    /// How a proxy answers for sleepers: `arp-redirect` (default) or `mac-takeover`.
    pub proxy_mode: ProxyMode,
    /// Also send magic packets unicast to the target's last known address. Default true.
    pub wake_unicast: bool,
    /// Send the SYNs that woke a sleeper on to it once it is awake, so callers connect without
    /// waiting for their own retransmission. Default true.
    pub syn_replay: bool,
    /// Follow the OS's sleep and resume (Linux: logind's PrepareForSleep with a delay lock;
    /// a guardian blocks sleep). Default true; off in the lab, whose hosts sleep by other means.
    pub sleep_hooks: bool,
    /// Where to send WakeRequests for hosts on other subnets: wakeproxy nodes or subnet
    /// broadcast addresses, as `IP` (port: `peer_port`) or `IP:port`. Default none.
    pub wake_relays: Vec<WakeRelay>,
    /// Ports whose SYN always or never wakes a sleeper.
    pub wake_ports: WakePorts,
    /// The optional daily wake of sleepers to check they still exist.
    pub reconciliation: Reconciliation,
    /// Logging.
    pub log: LogConfig,
}

/// `[wake_ports]`: which TCP SYNs wake a sleeper besides the ports it listened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WakePorts {
    /// Ports whose SYN always wakes. Default none.
    #[serde(deserialize_with = "port_list")]
    pub allow: Vec<u16>,
    /// Ports whose SYN never wakes. Default [`DEFAULT_WAKE_DENY`] (NetBIOS, mDNS).
    #[serde(deserialize_with = "port_list")]
    pub deny: Vec<u16>,
}

/// `[reconciliation]`: a daily wake of sleepers, spread over a window, to learn which still
/// exist. Off by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reconciliation {
    /// Run it. Default false.
    pub enabled: bool,
    /// When the window opens, local time. Default 14:00.
    pub at: TimeOfDay,
    /// Wakes are spread (jittered) over this long. Default 2 h.
    #[serde(with = "duration_text")]
    pub window: Duration,
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Least severe level written. Default `info`.
    pub level: LogLevel,
    /// Line format. Default `text`.
    pub format: LogFormat,
}

/// A log level, as `tracing` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default: role changes, wakes, warnings, errors.
    #[default]
    Info,
    /// Every decision.
    Debug,
    /// Every message.
    Trace,
}

impl LogLevel {
    /// The name `tracing_subscriber::EnvFilter` understands.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A time of day, `HH:MM` in 24-hour local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    /// `None` unless `hour < 24` and `minute < 60`.
    pub const fn new(hour: u8, minute: u8) -> Option<Self> {
        if hour < 24 && minute < 60 { Some(Self { hour, minute }) } else { None }
    }

    /// The hour, `0..24`.
    pub const fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, `0..60`.
    pub const fn minute(self) -> u8 {
        self.minute
    }

    /// Minutes since midnight.
    pub const fn minutes_since_midnight(self) -> u32 {
        self.hour as u32 * 60 + self.minute as u32
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// Text that is not `HH:MM`; carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a time of day: write HH:MM in 24-hour local time, e.g. \"14:00\"")]
pub struct ParseTimeOfDayError {
    /// What was given.
    pub text: String,
}

impl FromStr for TimeOfDay {
    type Err = ParseTimeOfDayError;

    /// Accepts `H:MM` and `HH:MM`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimeOfDayError { text: s.to_owned() };
        let (h, m) = s.split_once(':').ok_or_else(err)?;
        let digits = |t: &str, lens: Range<usize>| {
            lens.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(h, 1..3) || !digits(m, 2..3) {
            return Err(err());
        }
        let (h, m) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
        Self::new(h, m).ok_or_else(err)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a WakeRequest for another subnet goes: an IP address (a wakeproxy node there, or that
/// subnet's directed broadcast address) and optionally a port (default: `peer_port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WakeRelay {
    /// The address.
    pub ip: IpAddr,
    /// The port, if not `peer_port`.
    pub port: Option<u16>,
}

impl WakeRelay {
    /// The socket address, with `default_port` if none was given.
    pub fn socket_addr(self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(default_port))
    }
}

impl fmt::Display for WakeRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => SocketAddr::new(self.ip, port).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// Text that is not `IP` or `IP:port`; carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an address: write an IP address (10.1.0.255) or IP:port (10.1.0.7:25536, \
     [2001:db8::7]:25536) with a port from 1 to 65535; host names are not resolved"
)]
pub struct ParseWakeRelayError {
    /// What was given.
    pub text: String,
}

impl FromStr for WakeRelay {
    type Err = ParseWakeRelayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self { ip, port: None });
        }
        match s.parse::<SocketAddr>() {
            Ok(sa) if sa.port() != 0 => Ok(Self { ip: sa.ip(), port: Some(sa.port()) }),
            _ => Err(ParseWakeRelayError { text: s.to_owned() }),
        }
    }
}

impl Serialize for WakeRelay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WakeRelay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            peer_port: crate::core::proto::DEFAULT_PEER_PORT,
            wol_port: crate::core::wol::DEFAULT_WOL_PORT,
            heartbeat_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(1),
            guardians: 3,
            interfaces: Vec::new(),
            key_file: platform::key_file(),
            insecure: false,
            state_dir: platform::state_dir(),
            control_socket: platform::control_socket(),
            control_group: None,
            prefer_guardian: false,
            proxy_mode: ProxyMode::ArpRedirect,
            wake_unicast: true,
            syn_replay: true,
            sleep_hooks: true,
            wake_relays: Vec::new(),
            wake_ports: WakePorts::default(),
            reconciliation: Reconciliation::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for WakePorts {
    fn default() -> Self {
        Self { allow: Vec::new(), deny: DEFAULT_WAKE_DENY.to_vec() }
    }
}

impl Default for Reconciliation {
    fn default() -> Self {
        Self {
            enabled: false,
            at: TimeOfDay { hour: 14, minute: 0 },
            window: Duration::from_secs(2 * 3600),
        }
    }
}

/// What can go wrong with a configuration file. Every message names the file; those about
/// the content name the key and its line, and say what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist.
    #[error(
        "configuration file {} does not exist: pass the path of an existing file (see \
         wakeproxy.example.toml), or none to use the default path",
        path.display()
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions, not UTF-8, a directory, ...).
    #[error(
        "cannot read configuration file {}: {source}: check that it is a UTF-8 text file this \
         user may read",
        path.display()
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not valid TOML.
    #[error(
        "{}: line {line}, column {column}: not valid TOML: {message}; fix the syntax (strings \
         need quotes, one key per line)",
        path.display()
    )]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A key that this table does not have.
    #[error(
        "{}: unknown key `{key}` (line {line}) in {}{}; valid keys there: {}",
        path.display(),
        table.map_or_else(|| "the top level".to_owned(), |t| format!("[{t}]")),
        hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default(),
        valid.join(", ")
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key as written (dotted for nested tables, e.g. `log.colour`).
        key: String,
        /// 1-based line of the key.
        line: usize,
        /// The table it is in (`None`: the top level).
        table: Option<&'static str>,
        /// The keys that table accepts.
        valid: &'static [&'static str],
        /// A likely fix ("did you mean ...").
        hint: Option<String>,
    },
    /// A value of the wrong type or out of range, or keys that contradict each other.
    #[error(
        "{}: {key} ({}) {message}",
        path.display(),
        line.map_or_else(|| "not set, so its default".to_owned(), |l| format!("line {l}"))
    )]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key, dotted for nested tables (`reconciliation.window`).
        key: String,
        /// 1-based line of the key or value; `None` if the key is not in the file.
        line: Option<usize>,
        /// What is wrong and what is allowed, e.g. "must be between 100ms and 10min, got 0s".
        message: String,
    },
}

/// A value [`Config::validate`] rejects: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {message}")]
pub struct InvalidValue {
    /// The key, dotted for nested tables.
    pub key: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The keys of the top level, in the order of [`Config`].
const TOP_KEYS: &[&str] = &[
    "peer_port",
    "wol_port",
    "heartbeat_interval",
    "probe_timeout",
    "guardians",
    "interfaces",
    "key_file",
    "insecure",
    "state_dir",
    "control_socket",
    "control_group",
    "prefer_guardian",
    "proxy_mode",
    "wake_unicast",
    "syn_replay",
    "sleep_hooks",
    "wake_relays",
    "wake_ports",
    "reconciliation",
    "log",
];

/// The sub-tables and their keys.
const TABLES: &[(&str, &[&str])] = &[
    ("wake_ports", &["allow", "deny"]),
    ("reconciliation", &["enabled", "at", "window"]),
    ("log", &["level", "format"]),
];

impl Config {
    /// Where the daemon looks when no path is given: `/etc/wakeproxy/wakeproxy.toml` on Linux,
    /// `%ProgramData%\wakeproxy\wakeproxy.toml` on Windows.
    pub fn default_path() -> PathBuf {
        platform::config_file()
    }

    /// Reads, parses and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ConfigError::NotFound { path: path.to_path_buf() });
            }
            Err(source) => {
                return Err(ConfigError::Unreadable { path: path.to_path_buf(), source });
            }
        };
        Self::parse(&text, path)
    }

    /// Like [`load`](Self::load), but a missing file is not an error when the path was not
    /// given explicitly (`explicit == false`, the default path): the daemon then runs with
    /// [`Config::default`]. A file that exists is always checked.
    pub fn load_or_default(path: &Path, explicit: bool) -> Result<Self, ConfigError> {
        match Self::load(path) {
            Err(ConfigError::NotFound { .. }) if !explicit => Ok(Self::default()),
            other => other,
        }
    }

    /// Parses and checks `text`; `origin` is the file it came from, named in errors and used
    /// to resolve relative paths.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let doc = Document::new(text, origin)?;
        let mut config: Self = toml::from_str(text).map_err(|e| doc.serde_error(&e))?;
        if let Some(dir) = origin.parent() {
            for path in [&mut config.key_file, &mut config.state_dir, &mut config.control_socket] {
                if path.is_relative() && !path.as_os_str().is_empty() {
                    *path = dir.join(&*path);
                }
            }
        }
        config.validate().map_err(|e| ConfigError::BadValue {
            path: origin.to_path_buf(),
            key: e.key.to_owned(),
            line: doc.line_of_key(e.key),
            message: e.message,
        })?;
        Ok(config)
    }

    /// Checks ranges and consistency; [`parse`](Self::parse) calls it. Useful for a
    /// configuration built in code.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let bad = |key, message: String| Err(InvalidValue { key, message });
        let fmt = |d: Duration| humantime::format_duration(d).to_string();
        for (key, port) in [("peer_port", self.peer_port), ("wol_port", self.wol_port)] {
            if port == 0 {
                return bad(key, "must be a port number from 1 to 65535, got 0".into());
            }
        }
        if self.peer_port == self.wol_port {
            return bad(
                "wol_port",
                format!(
                    "must differ from peer_port, both are {}: magic packets and the peer \
                     protocol cannot share a port",
                    self.wol_port
                ),
            );
        }
        if !(MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(&self.heartbeat_interval) {
            return bad(
                "heartbeat_interval",
                format!("must be between 100ms and 10min, got {}", fmt(self.heartbeat_interval)),
            );
        }
        let max_probe = self.heartbeat_interval / 2;
        if self.probe_timeout < MIN_PROBE_TIMEOUT || self.probe_timeout > max_probe {
            return bad(
                "probe_timeout",
                format!(
                    "must be between 10ms and half of heartbeat_interval ({}), got {}: a probe \
                     must end before the silent peer is given up",
                    fmt(max_probe),
                    fmt(self.probe_timeout)
                ),
            );
        }
        if !(1..=MAX_GUARDIANS).contains(&self.guardians) {
            return bad(
                "guardians",
                format!("must be between 1 and {MAX_GUARDIANS}, got {}", self.guardians),
            );
        }
        for (i, name) in self.interfaces.iter().enumerate() {
            if name.trim().is_empty() || name.trim() != name {
                return bad(
                    "interfaces",
                    format!(
                        "has an empty name or one with spaces around it ({name:?}): write \
                         interface names as the system shows them, e.g. \"eth0\", or leave \
                         the list empty for every Ethernet interface"
                    ),
                );
            }
            if self.interfaces[..i].contains(name) {
                return bad("interfaces", format!("lists {name:?} twice: remove one"));
            }
        }
        for (key, path) in [
            ("key_file", &self.key_file),
            ("state_dir", &self.state_dir),
            ("control_socket", &self.control_socket),
        ] {
            if path.as_os_str().is_empty() {
                return bad(key, "must not be empty: give a path or remove the key".into());
            }
        }
        if self.control_group.as_deref().is_some_and(|g| g.trim().is_empty()) {
            return bad(
                "control_group",
                "must not be empty: name a group, or remove the key so that only root \
                 (Administrators) may use the control socket"
                    .into(),
            );
        }
        for (key, list) in [
            ("wake_ports.allow", &self.wake_ports.allow),
            ("wake_ports.deny", &self.wake_ports.deny),
        ] {
            if list.contains(&0) {
                return bad(key, "must list port numbers from 1 to 65535, got 0".into());
            }
        }
        if let Some(p) = self.wake_ports.allow.iter().find(|p| self.wake_ports.deny.contains(p)) {
            return bad(
                "wake_ports.deny",
                format!(
                    "lists port {p}, which wake_ports.allow also lists: remove it from one of \
                     them (allow would win)"
                ),
            );
        }
        if self.wake_relays.iter().any(|r| r.port == Some(0)) {
            return bad("wake_relays", "has an address with port 0: use 1 to 65535".into());
        }
        let window = self.reconciliation.window;
        if !(MIN_RECONCILIATION_WINDOW..=MAX_RECONCILIATION_WINDOW).contains(&window) {
            return bad(
                "reconciliation.window",
                format!(
                    "must be between 1min and 24h, got {}: wakes are spread over it so that a \
                     subnet never wakes at once",
                    fmt(window)
                ),
            );
        }
        Ok(())
    }

    /// The effective configuration as TOML: every key (`control_group` only when set), which
    /// [`parse`](Self::parse) reads back to an equal `Config`.
    pub fn to_toml(&self) -> String {
        // Only a path that is not UTF-8 can fail to serialise; say so rather than panic.
        toml::to_string(self)
            .unwrap_or_else(|e| format!("# cannot show this configuration as TOML: {e}\n"))
    }

    /// The addresses WakeRequests for other subnets go to.
    pub fn wake_relay_addrs(&self) -> Vec<SocketAddr> {
        self.wake_relays.iter().map(|r| r.socket_addr(self.peer_port)).collect()
    }

    /// The core's configuration for a node with this configuration.
    ///
    /// `id` comes from the state directory, `boot_time_s` from the OS, `seed` should be random,
    /// and `can_proxy` says whether a layer-2 backend is available.
    pub fn node_config(
        &self,
        id: NodeId,
        boot_time_s: u64,
        seed: u64,
        can_proxy: bool,
    ) -> NodeConfig {
        let mut node =
            NodeConfig::new(id, boot_time_s, seed).with_heartbeat_interval(self.heartbeat_interval);
        node.liveness.probe_timeout = self.probe_timeout;
        node.guardians = self.guardians;
        node.can_proxy = can_proxy;
        node.prefers_guardian = self.prefer_guardian;
        node.wol_port = self.wol_port;
        node.proxy_mode = self.proxy_mode;
        node.syn_replay = self.syn_replay;
        node.wake_allow.clone_from(&self.wake_ports.allow);
        node.wake_deny.clone_from(&self.wake_ports.deny);
        node
    }
}

/// A parsed document with the position of every known key, so errors found later (by serde,
/// by [`Config::validate`]) can name a line.
struct Document<'a> {
    text: &'a str,
    origin: &'a Path,
    /// Dotted key, span of the key, span of its value.
    entries: Vec<(String, Range<usize>, Range<usize>)>,
}

impl<'a> Document<'a> {
    /// Parses the syntax and checks that every key is known.
    fn new(text: &'a str, origin: &'a Path) -> Result<Self, ConfigError> {
        let root = toml::de::DeTable::parse(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            ConfigError::Syntax {
                path: origin.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut doc = Self { text, origin, entries: Vec::new() };
        doc.check_table(root.get_ref(), None)?;
        Ok(doc)
    }

    fn check_table(
        &mut self,
        table: &toml::de::DeTable<'_>,
        name: Option<&'static str>,
    ) -> Result<(), ConfigError> {
        let valid = match name {
            None => TOP_KEYS,
            Some(t) => TABLES.iter().find(|(n, _)| *n == t).map_or(&[][..], |(_, keys)| *keys),
        };
        // In file order, so the first problem reported is the first in the file.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in entries {
            let k: &str = key.get_ref();
            let line = self.line_of(key.span().start);
            let Some(&known) = valid.iter().find(|v| **v == k) else {
                return Err(ConfigError::UnknownKey {
                    path: self.origin.to_path_buf(),
                    key: name.map_or_else(|| k.to_owned(), |t| format!("{t}.{k}")),
                    line,
                    table: name,
                    valid,
                    hint: hint(k, name, valid),
                });
            };
            let dotted = name.map_or_else(|| known.to_owned(), |t| format!("{t}.{known}"));
            self.entries.push((dotted.clone(), key.span(), value.span()));
            let is_table = name.is_none() && TABLES.iter().any(|(t, _)| *t == known);
            if is_table {
                let toml::de::DeValue::Table(sub) = value.get_ref() else {
                    let keys = TABLES.iter().find(|(t, _)| *t == known).map_or(&[][..], |t| t.1);
                    return Err(ConfigError::BadValue {
                        path: self.origin.to_path_buf(),
                        key: dotted,
                        line: Some(line),
                        message: format!(
                            "must be a table: write a [{known}] header followed by its keys \
                             ({})",
                            keys.join(", ")
                        ),
                    });
                };
                self.check_table(sub, Some(known))?;
            }
        }
        Ok(())
    }

    fn line_of(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    /// The line of `key` (dotted), if the file sets it.
    fn line_of_key(&self, key: &str) -> Option<usize> {
        self.entries.iter().find(|(k, _, _)| k == key).map(|(_, span, _)| self.line_of(span.start))
    }

    /// A type or value error from deserialising, attributed to the innermost key whose key or
    /// value contains the error's position.
    fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let within = |outer: &Range<usize>, inner: &Range<usize>| {
            outer.start <= inner.start && inner.end <= outer.end
        };
        let key = span.as_ref().and_then(|s| {
            self.entries
                .iter()
                .filter(|(_, k, v)| within(k, s) || within(v, s))
                .max_by_key(|(_, k, _)| k.start)
                .map(|(name, _, _)| name.clone())
        });
        // In a multi-line array the span is the whole array: point at the element the message
        // quotes (`...`), if it can be found in it.
        let quoted = e.message().split('`').nth(1).filter(|q| !q.is_empty());
        let offset = span.map(|s| {
            let found = quoted.and_then(|q| self.text.get(s.clone()).and_then(|v| v.find(q)));
            s.start + found.unwrap_or(0)
        });
        ConfigError::BadValue {
            path: self.origin.to_path_buf(),
            key: key.unwrap_or_else(|| "a value".to_owned()),
            line: offset.map(|o| self.line_of(o)),
            message: e.message().trim().to_owned(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Why a key might be unknown: a typo, or a key of another table (keys after a `[table]`
/// header belong to that table, a classic TOML trap).
fn hint(key: &str, table: Option<&str>, valid: &[&str]) -> Option<String> {
    if let Some(near) = valid.iter().find(|v| strsim::levenshtein(key, v) <= 2) {
        return Some(format!("did you mean `{near}`?"));
    }
    match table {
        Some(t) if TOP_KEYS.contains(&key) => Some(format!(
            "`{key}` is a top-level key: move it above the first [table] header (it is under \
             [{t}] now)"
        )),
        _ => TABLES
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(t, _)| format!("`{key}` belongs in the [{t}] table")),
    }
}

/// An integer in `min..=max`; anything else is refused with `expecting` as what is allowed,
/// and the value quoted: "invalid value: integer `70000`, expected a port number from 1 to 65535".
struct Int {
    min: i64,
    max: i64,
    expecting: &'static str,
}

impl Int {
    const PORT: Self = Self { min: 0, max: 65535, expecting: "a port number from 1 to 65535" };
}

impl serde::de::Visitor<'_> for Int {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
        }
    }
}

/// A port; 0 passes here and is refused by [`Config::validate`].
struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_i64(Int::PORT)?;
        u16::try_from(v).map(Port).map_err(|_| serde::de::Error::custom("port out of range"))
    }
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    Port::deserialize(d).map(|p| p.0)
}

fn port_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    Ok(Vec::<Port>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}

/// Guardians: any count that fits; [`Config::validate`] checks `1..=16` with a clear message.
fn guardian_count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let int = Int { min: 0, max: i64::from(u32::MAX), expecting: "a number from 1 to 16" };
    let v = d.deserialize_i64(int)?;
    usize::try_from(v).map_err(|_| serde::de::Error::custom("guardians out of range"))
}

/// Durations as humantime text: "5s", "500ms", "2h 30m".
mod duration_text {
    use std::fmt;
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(Visitor)
    }

    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration in quotes, such as \"5s\", \"500ms\" or \"2h\"")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            humantime::parse_duration(s).map_err(|e| {
                E::custom(format!(
                    "`{s}` is not a duration ({e}): write a number and a unit in quotes, such \
                     as \"5s\", \"500ms\" or \"2h\""
                ))
            })
        }
    }
}

/// Product paths per operating system.
mod platform {
    use std::path::PathBuf;

    #[cfg(not(windows))]
    pub(super) fn config_file() -> PathBuf {
        PathBuf::from("/etc/wakeproxy/wakeproxy.toml")
    }
    #[cfg(not(windows))]
    pub(super) fn key_file() -> PathBuf {
        PathBuf::from("/etc/wakeproxy/site.key")
    }
    #[cfg(not(windows))]
    pub(super) fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/wakeproxy")
    }
    #[cfg(not(windows))]
    pub(super) fn control_socket() -> PathBuf {
        PathBuf::from("/run/wakeproxy/control.sock")
    }

    #[cfg(windows)]
    pub(super) fn config_file() -> PathBuf {
        crate::store::fsutil::windows_data_dir().join("wakeproxy.toml")
    }
    #[cfg(windows)]
    pub(super) fn key_file() -> PathBuf {
        crate::store::fsutil::windows_data_dir().join("site.key")
    }
    #[cfg(windows)]
    pub(super) fn state_dir() -> PathBuf {
        crate::store::fsutil::windows_data_dir()
    }
    #[cfg(windows)]
    pub(super) fn control_socket() -> PathBuf {
        PathBuf::from(r"\\.\pipe\wakeproxy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = Config { control_group: Some("wakeproxy".into()), ..Config::default() };
        let text = c.to_toml();
        assert_eq!(parse(&text).unwrap(), c, "{text}");
        let table: toml::Table = toml::from_str(&text).unwrap();
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut want = TOP_KEYS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "TOP_KEYS matches the struct");
        for (t, sub) in TABLES {
            let got: Vec<&str> = table[*t].as_table().unwrap().keys().map(String::as_str).collect();
            let mut want = sub.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "TABLES matches [{t}]");
        }
        assert!(text.contains("heartbeat_interval = \"5s\""), "{text}");
        assert!(text.contains("at = \"14:00\""), "{text}");
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
            (
                "heartbeat_interval = \"soon\"\n",
                "heartbeat_interval (line 1) `soon` is not a duration",
            ),
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
            ("key_file = \"\"\n", "key_file (line 1) must not be empty"),
            (
                "wake_relays = [\n  \"10.0.0.1\",\n  \"host.example\",\n]\n",
                "wake_relays (line 3) `host.example` is not an address",
            ),
            (
                "wake_relays = [\"10.0.0.1:0\"]\n",
                "wake_relays (line 1) `10.0.0.1:0` is not an address",
            ),
            (
                "[wake_ports]\nallow = [\n  1,\n  99999,\n]\n",
                "wake_ports.allow (line 4) invalid value: integer `99999`, expected a port number",
            ),
            (
                "[wake_ports]\ndeny = [0]\n",
                "wake_ports.deny (line 2) must list port numbers from 1",
            ),
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
                "log.format (line 2) unknown variant `xml`, expected `text` or `json`",
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
        assert!(matches!(
            Config::load_or_default(&missing, true),
            Err(ConfigError::NotFound { .. })
        ));
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
        let text = include_str!("../../wakeproxy.example.toml");
        let origin = Path::new("wakeproxy.example.toml");
        assert_eq!(Config::parse(text, origin).unwrap(), Config::default(), "as shipped");

        let active = uncomment(text);
        let table: toml::Table = toml::from_str(&active).unwrap();
        for key in TOP_KEYS {
            assert!(table.contains_key(*key), "wakeproxy.example.toml does not show `{key}`");
        }
        for (t, keys) in TABLES {
            for key in *keys {
                assert!(table[*t].get(*key).is_some(), "the example does not show `{t}.{key}`");
            }
        }
        // Uncommented, every line is the default (control_group, which has none, shows an
        // example). The shown paths are the Linux ones.
        #[cfg(not(windows))]
        {
            let want = Config { control_group: Some("wakeproxy".into()), ..Config::default() };
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
}
