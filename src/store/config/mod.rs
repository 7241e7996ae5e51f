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
//!
//! One idea a file: `schema` the keys and their defaults, `values` how times, addresses,
//! ports and durations are written, `validate` the ranges, `check` how a problem is traced to
//! its key and line, `known` the keys each table accepts (read from the schema's serde impls),
//! `errors` what is reported, `paths` the default paths per OS.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::core::addr::NodeId;
use crate::core::node::NodeConfig;

mod check;
mod errors;
mod known;
mod paths;
mod schema;
mod validate;
mod values;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use errors::{ConfigError, InvalidValue};
pub use schema::{
    Config, LogConfig, LogFormat, LogLevel, MAX_GUARDIANS, MAX_HEARTBEAT,
    MAX_RECONCILIATION_WINDOW, MIN_HEARTBEAT, MIN_PROBE_TIMEOUT, MIN_RECONCILIATION_WINDOW,
    Reconciliation, WakePorts,
};
pub use values::{ParseTimeOfDayError, ParseWakeRelayError, TimeOfDay, WakeRelay};

use check::Document;

impl Config {
    /// Where the daemon looks when no path is given: `/etc/wakeproxy/wakeproxy.toml` on Linux,
    /// `%ProgramData%\wakeproxy\wakeproxy.toml` on Windows.
    pub fn default_path() -> PathBuf {
        paths::config_file()
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
        let mut config: Self = doc.deserialize()?;
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

    /// The effective configuration as TOML: every key (`control_group` and `metrics_listen` only when set), which
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
