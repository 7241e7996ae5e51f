//! The schema of `wakeproxy.toml`: one struct per table, each field a key, and the defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::paths;
use super::values::{
    TimeOfDay, WakeRelay, duration_text, guardian_count, listen_addr, port, port_list,
};
use crate::core::node::{DEFAULT_WAKE_DENY, ProxyMode};

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

// No `deny_unknown_fields`: the loader collects unknown keys itself (check.rs), to name each
// with its line and a likely fix.

/// The whole configuration. [`Config::default`] is what a node runs with when there is no
/// file; [`Config::load`] reads and checks a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Serve Prometheus metrics over HTTP on this address (`IP:port`, e.g. `127.0.0.1:9725`).
    /// Default: none, no endpoint. The firewall exceptions do not open it.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "listen_addr")]
    pub metrics_listen: Option<std::net::SocketAddr>,
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
#[serde(default)]
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
#[serde(default)]
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
#[serde(default)]
pub struct LogConfig {
    /// Least severe level written. Default `info`.
    pub level: LogLevel,
    /// Line format. Default `text` (which becomes `journal` under systemd).
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
    /// Records with fields (`NODE`, `IFACE`, `PEER`, `MAC`, `REASON`…) sent to the systemd
    /// journal's socket (Linux). `text` switches to it by itself when systemd connects stderr to
    /// the journal (`$JOURNAL_STREAM`).
    Journal,
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
            key_file: paths::key_file(),
            insecure: false,
            state_dir: paths::state_dir(),
            control_socket: paths::control_socket(),
            control_group: None,
            metrics_listen: None,
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
