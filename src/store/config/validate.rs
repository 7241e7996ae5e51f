//! The checks serde cannot make: ranges, and consistency between keys.

use std::time::Duration;

use super::{
    Config, InvalidValue, MAX_GUARDIANS, MAX_HEARTBEAT, MAX_RECONCILIATION_WINDOW, MIN_HEARTBEAT,
    MIN_PROBE_TIMEOUT, MIN_RECONCILIATION_WINDOW,
};

impl Config {
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
}
