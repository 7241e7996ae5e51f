//! Firewall exceptions for wakeproxy's traffic, derived from the effective configuration so that
//! custom ports follow (as ConfigMgr's "Windows Firewall exception for wake-up proxy" client
//! setting does).
//!
//! [`rules`] turns a [`Config`] into a small typed list of [`Rule`]s: the peer protocol's UDP port
//! in and out, the Wake-on-LAN UDP port out, and ICMPv4 / ICMPv6 echo between clients (request in
//! and reply out, request out and reply in). [`render`] writes them for one [`Format`]: an
//! nftables script, `ufw` commands, `firewall-cmd` commands or Windows `netsh advfirewall`
//! commands (for the Windows [`Profiles`] chosen). [`apply`] and [`remove`] install and delete
//! them on this machine: on Linux the nftables table `inet wakeproxy` (atomically, idempotent), on
//! Windows the `netsh` rules.
//!
//! # How nftables evaluates our table
//!
//! Every base chain hooked at `input` (or `output`) sees every packet, whatever table it is in, in
//! order of priority. `accept` only ends the evaluation *of that base chain*: the packet then
//! goes on to the next base chain on the same hook, and a `drop` there (a rule, or a chain's
//! `policy drop`) still drops it. So the `inet wakeproxy` table cannot open a port that the
//! administrator's own ruleset drops, and it never closes anything either (its chains have
//! `policy accept`). On a machine whose ruleset drops by default, the administrator must also
//! allow these packets in their own ruleset: `wakeproxy firewall show --format nftables` prints the
//! rules to merge. The table still documents, in the ruleset, what wakeproxy needs.

mod render;
mod system;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use crate::store::config::Config;

pub use render::{render, windows_add_commands, windows_delete_commands};
pub use system::{FirewallError, NFT_TABLE, apply, nft_apply_script, nft_remove_script, remove};

/// The transport protocol a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// UDP (peer protocol, Wake-on-LAN).
    Udp,
    /// ICMP over IPv4.
    Icmpv4,
    /// ICMPv6.
    Icmpv6,
}

/// Which way the packets a rule allows travel, seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Received by this host.
    In,
    /// Sent by this host.
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// An ICMP echo message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Echo {
    /// Echo request (ICMPv4 type 8, ICMPv6 type 128).
    Request,
    /// Echo reply (ICMPv4 type 0, ICMPv6 type 129).
    Reply,
}

impl Echo {
    /// The nftables name of the type: `echo-request` or `echo-reply`.
    pub fn nft_name(self) -> &'static str {
        match self {
            Self::Request => "echo-request",
            Self::Reply => "echo-reply",
        }
    }
}

/// What a rule matches besides protocol and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Match {
    /// A UDP destination port: the local port of incoming packets, the remote port of outgoing
    /// ones.
    Port(u16),
    /// An ICMP echo message.
    Icmp(Echo),
}

/// One firewall exception.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Rule {
    /// The protocol.
    pub protocol: Protocol,
    /// The direction.
    pub direction: Direction,
    /// Port or ICMP type.
    pub matches: Match,
    /// A short, stable name without port numbers (the Windows rule is `wakeproxy <name>`, so a
    /// rule made with other ports is still found and deleted).
    pub name: &'static str,
    /// What it is for, with the port.
    pub description: String,
}

impl Rule {
    /// The ICMP type number, for ICMP rules.
    pub fn icmp_type(&self) -> Option<u8> {
        match (self.protocol, self.matches) {
            (Protocol::Icmpv4, Match::Icmp(Echo::Request)) => Some(8),
            (Protocol::Icmpv4, Match::Icmp(Echo::Reply)) => Some(0),
            (Protocol::Icmpv6, Match::Icmp(Echo::Request)) => Some(128),
            (Protocol::Icmpv6, Match::Icmp(Echo::Reply)) => Some(129),
            _ => None,
        }
    }

    /// The UDP port, for port rules.
    pub fn port(&self) -> Option<u16> {
        match self.matches {
            Match::Port(p) => Some(p),
            Match::Icmp(_) => None,
        }
    }
}

/// ICMP echo both ways: peers ping a silent peer to confirm it sleeps, and are pinged.
const ICMP_RULES: &[(Protocol, Direction, Echo, &str, &str)] = &[
    (
        Protocol::Icmpv4,
        Direction::In,
        Echo::Request,
        "ICMPv4 echo request in",
        "echo requests from other clients",
    ),
    (
        Protocol::Icmpv4,
        Direction::Out,
        Echo::Reply,
        "ICMPv4 echo reply out",
        "echo replies to other clients",
    ),
    (
        Protocol::Icmpv4,
        Direction::Out,
        Echo::Request,
        "ICMPv4 echo request out",
        "echo requests to silent peers",
    ),
    (
        Protocol::Icmpv4,
        Direction::In,
        Echo::Reply,
        "ICMPv4 echo reply in",
        "echo replies from peers",
    ),
    (
        Protocol::Icmpv6,
        Direction::In,
        Echo::Request,
        "ICMPv6 echo request in",
        "echo requests from other clients",
    ),
    (
        Protocol::Icmpv6,
        Direction::Out,
        Echo::Reply,
        "ICMPv6 echo reply out",
        "echo replies to other clients",
    ),
    (
        Protocol::Icmpv6,
        Direction::Out,
        Echo::Request,
        "ICMPv6 echo request out",
        "echo requests to silent peers",
    ),
    (
        Protocol::Icmpv6,
        Direction::In,
        Echo::Reply,
        "ICMPv6 echo reply in",
        "echo replies from peers",
    ),
];

/// The exceptions wakeproxy needs with `config`: its own ports, not the defaults.
pub fn rules(config: &Config) -> Vec<Rule> {
    let (peer, wol) = (config.peer_port, config.wol_port);
    let udp = |direction, port, name, description: String| Rule {
        protocol: Protocol::Udp,
        direction,
        matches: Match::Port(port),
        name,
        description,
    };
    let mut rules = vec![
        udp(
            Direction::In,
            peer,
            "peer protocol in",
            format!("wakeproxy peer protocol from other clients (UDP {peer} in)"),
        ),
        udp(
            Direction::Out,
            peer,
            "peer protocol out",
            format!("wakeproxy peer protocol to other clients (UDP {peer} out)"),
        ),
        udp(
            Direction::Out,
            wol,
            "Wake-on-LAN out",
            format!("wakeproxy Wake-on-LAN magic packets (UDP {wol} out)"),
        ),
    ];
    for &(protocol, direction, echo, name, what) in ICMP_RULES {
        let family = if protocol == Protocol::Icmpv4 { "ICMPv4" } else { "ICMPv6" };
        rules.push(Rule {
            protocol,
            direction,
            matches: Match::Icmp(echo),
            name,
            description: format!("wakeproxy {family} {what}"),
        });
    }
    rules
}

/// The output formats of `wakeproxy firewall show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// An nftables script: the table `inet wakeproxy`.
    Nftables,
    /// `ufw` commands.
    Ufw,
    /// `firewall-cmd --permanent` commands (firewalld).
    Firewalld,
    /// `netsh advfirewall firewall` commands (Windows Defender Firewall).
    Windows,
}

impl Format {
    /// Every format, in the order help lists them.
    pub const ALL: [Self; 4] = [Self::Nftables, Self::Ufw, Self::Firewalld, Self::Windows];

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nftables => "nftables",
            Self::Ufw => "ufw",
            Self::Firewalld => "firewalld",
            Self::Windows => "windows",
        }
    }

    /// This platform's own: `windows` on Windows, `nftables` elsewhere.
    pub fn native() -> Self {
        if cfg!(windows) { Self::Windows } else { Self::Nftables }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not one of the allowed ones (`--format`, `--profile`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {what}: expected {allowed}")]
pub struct ParseError {
    /// What was given.
    pub value: String,
    /// What it should have been.
    pub what: &'static str,
    /// The allowed values.
    pub allowed: &'static str,
}

impl FromStr for Format {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| ParseError {
            value: s.to_owned(),
            what: "a firewall format",
            allowed: "one of nftables, ufw, firewalld, windows",
        })
    }
}

/// The Windows Firewall profiles a rule applies to (ConfigMgr lets the administrator pick any
/// combination). Default: domain and private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Profiles {
    /// The domain profile (a network where the domain controller is reachable).
    pub domain: bool,
    /// The private profile.
    pub private: bool,
    /// The public profile.
    pub public: bool,
}

impl Profiles {
    /// All 7 non-empty combinations.
    pub fn all_combinations() -> impl Iterator<Item = Self> {
        (1u8..8).map(|b| Self { domain: b & 1 != 0, private: b & 2 != 0, public: b & 4 != 0 })
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Self { domain: true, private: true, public: false }
    }
}

impl fmt::Display for Profiles {
    /// As `netsh` takes them: `domain,private`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(self.domain, "domain"), (self.private, "private"), (self.public, "public")];
        let on: Vec<&str> = names.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
        f.write_str(&on.join(","))
    }
}

impl FromStr for Profiles {
    type Err = ParseError;

    /// A comma-separated, non-empty list of `domain`, `private`, `public` (any order).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |value: &str| ParseError {
            value: value.to_owned(),
            what: "a Windows Firewall profile",
            allowed: "domain, private or public, comma-separated (e.g. domain,private)",
        };
        let mut p = Self { domain: false, private: false, public: false };
        for part in s.split(',') {
            match part.trim() {
                "domain" => p.domain = true,
                "private" => p.private = true,
                "public" => p.public = true,
                other => return Err(bad(other)),
            }
        }
        Ok(p)
    }
}
