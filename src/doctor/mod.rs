//! `wakeproxy doctor`: what breaks wakes in real life, checked on this host, each problem with
//! its fix in the words of this OS.
//!
//! A driver (it asks the OS and the daemon), but every check is a function from facts to a
//! [`Check`], and every fact comes through the [`System`] trait, so the tests drive each check
//! with made-up facts, unprivileged; [`OsSystem`] is the real machine. The checks, one file each:
//!
//! - `interfaces` and `wol`: per managed interface (the daemon's own selection from
//!   `interfaces`), the NIC's Wake-on-LAN setting (`os::wol_setting`): magic packets (`g`)
//!   supported and enabled; with `--fix`, enabled, and how to make it last across reboots;
//! - `firewall`: the exceptions `wakeproxy firewall show` would install are in place (Linux: the
//!   nftables table `inet wakeproxy`, ufw, firewalld, and any other base chain that drops by
//!   default; Windows: the `wakeproxy …` rules);
//! - `key`: the site key file exists, parses, is closed to group and others and owned by root,
//!   and is the key the daemon signs with;
//! - `daemon`: the daemon answers on its control socket; from its `status`, per interface, the
//!   peers heard and whether this node is deaf, datagrams that failed authentication (a peer
//!   with another site key), and messages refused for their timestamps (clock skew);
//! - `relays`: each `wake_relays` address has a route (all that can be known without a reply:
//!   WakeRequests are not answered).
//!
//! [`Report::exit_code`]: 0 healthy (warnings allowed), 1 a check failed, 2 nothing failed but
//! some checks could not run (say, without root); a configuration that does not load is 2 too,
//! as for every command.

mod daemon;
mod firewall;
mod interfaces;
mod key;
mod relays;
mod render;
mod system;
mod wol;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde::Serialize;

use crate::store::config::Config;

pub use daemon::{ClockEvidence, PeerClock, clock_evidence};
pub use firewall::{NftRule, parse_nft_rules, parse_ufw_allows};
pub use render::render;
pub use system::{KeyFacts, OsSystem, System, ToolOutput};
pub use wol::{LINK_FILE, link_file, persistent_fix};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing wrong.
    Ok,
    /// Something to look at that does not by itself stop wakes.
    Warn,
    /// Wakes fail (or may) until it is fixed.
    Fail,
    /// The check could not run (no permission, a tool missing): the summary says what to do.
    Unchecked,
}

impl Verdict {
    /// As the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Unchecked => "??",
        }
    }
}

/// What a check is about (the `check` field of `--json`; stable names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// The configuration file.
    Config,
    /// A configured interface that the daemon cannot use.
    Interface,
    /// A NIC's Wake-on-LAN setting.
    WakeOnLan,
    /// The firewall exceptions.
    Firewall,
    /// The site key file.
    KeyFile,
    /// The daemon and its control socket.
    Daemon,
    /// The peers heard on one interface.
    Peers,
    /// Datagrams that failed authentication.
    Authentication,
    /// Clocks against the peers'.
    Clock,
    /// One of `wake_relays`.
    WakeRelay,
}

impl Topic {
    /// As the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Interface => "interface",
            Self::WakeOnLan => "wake-on-lan",
            Self::Firewall => "firewall",
            Self::KeyFile => "key file",
            Self::Daemon => "daemon",
            Self::Peers => "peers",
            Self::Authentication => "auth",
            Self::Clock => "clock",
            Self::WakeRelay => "wake relay",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What it is about.
    pub check: Topic,
    /// What exactly: an interface, a file, a relay address, a firewall; empty for the host.
    pub subject: String,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found, in one sentence or two.
    pub summary: String,
    /// What to do, when something is wrong: commands of this OS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The facts behind it, for programs (`--json`).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Check {
    /// A check without a fix or details.
    pub fn new(
        check: Topic,
        subject: impl Into<String>,
        verdict: Verdict,
        summary: impl Into<String>,
    ) -> Self {
        Self {
            check,
            subject: subject.into(),
            verdict,
            summary: summary.into(),
            fix: None,
            details: serde_json::Value::Null,
        }
    }

    /// With what to do.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// With the facts.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// What `doctor` was asked to do besides checking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Turn on waking by magic packet where a NIC supports it but has it off.
    pub fix: bool,
}

/// Every check's result, in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// This wakeproxy's version.
    pub version: &'static str,
    /// The configuration file the checks used.
    pub config: String,
    /// The results.
    pub checks: Vec<Check>,
}

/// Exit code of a healthy host.
pub const EXIT_HEALTHY: u8 = 0;
/// Exit code when a check failed.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code when nothing failed but some checks could not run.
pub const EXIT_UNCHECKED: u8 = 2;

impl Report {
    /// How many checks came out `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == verdict).count()
    }

    /// No check failed and every check ran (warnings allowed).
    pub fn healthy(&self) -> bool {
        self.exit_code() == EXIT_HEALTHY
    }

    /// [`EXIT_PROBLEMS`] if a check failed, else [`EXIT_UNCHECKED`] if one could not run, else
    /// [`EXIT_HEALTHY`].
    pub fn exit_code(&self) -> u8 {
        if self.count(Verdict::Fail) > 0 {
            EXIT_PROBLEMS
        } else if self.count(Verdict::Unchecked) > 0 {
            EXIT_UNCHECKED
        } else {
            EXIT_HEALTHY
        }
    }

    /// The report as `--json` prints it: the checks, and the verdict as a whole.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["healthy"] = self.healthy().into();
        v["exit_code"] = self.exit_code().into();
        v["counts"] = serde_json::json!({
            "ok": self.count(Verdict::Ok),
            "warn": self.count(Verdict::Warn),
            "fail": self.count(Verdict::Fail),
            "unchecked": self.count(Verdict::Unchecked),
        });
        v
    }
}

/// Runs every check for a host with `config` (read from `config_path`) on `sys`.
pub fn run(config: &Config, config_path: &Path, options: Options, sys: &dyn System) -> Report {
    let mut checks = Vec::new();
    let status = sys.daemon_status(&config.control_socket);
    let managed = interfaces::check(config, sys, &mut checks);
    for link in &managed {
        checks.push(wol::check(&link.name, &link.mac, options, sys));
    }
    checks.extend(firewall::check(config, sys));
    checks.push(key::check(config, config_path, status.as_ref().ok(), sys));
    checks.extend(daemon::check(config, config_path, &status, sys));
    checks.extend(relays::check(config, &managed, sys));
    Report { version: env!("CARGO_PKG_VERSION"), config: config_path.display().to_string(), checks }
}
