//! The daemon and what its `status` says about the LAN: whether it answers, per interface the
//! peers it hears (and whether it is deaf, `core::node::hearing`), datagrams that failed
//! authentication (a peer with another site key), and messages refused for their timestamps
//! (clock skew).
//!
//! The daemon's counters are the node's, since it started, not per interface or per sender:
//! so the authentication and clock checks say how many and what it means, and point at the
//! capture that shows who, rather than name a peer the status does not know.
//!
//! Clock skew has one way in, [`clock_evidence`]: today the `stale` counter and the deafness
//! reason; a per-peer clock offset, once `status` reports one, goes into [`PeerClock::offset_ms`]
//! there, and [`check_clock`] already judges it.

use std::path::Path;
use std::time::Duration;

use super::{Check, System, Topic, Verdict};
use crate::core::addr::NodeId;
use crate::core::node::{Deafness, IfaceStatus, Refusal};
use crate::core::peers::PeerState;
use crate::core::proto::DEFAULT_REPLAY_WINDOW;
use crate::ctl::{CtlError, DaemonStatus};
use crate::os::words::HERE;
use crate::store::config::Config;

/// What `status` tells about clocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockEvidence {
    /// Authentic messages refused because their timestamp was outside the replay window.
    pub stale: u64,
    /// The replay window: how far a peer's clock may be off.
    pub window: Duration,
    /// Interfaces whose peers are all refused for their timestamps.
    pub deaf_for_clock: Vec<String>,
    /// Each peer's clock, as far as the status tells it.
    pub peers: Vec<PeerClock>,
    /// Seconds since the daemon started (the counters count since then).
    pub uptime_s: u64,
}

/// One peer's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerClock {
    /// The interface it is heard on.
    pub iface: String,
    /// The peer.
    pub id: NodeId,
    /// Its clock minus ours, in milliseconds, when the status reports it (not yet: `None`).
    pub offset_ms: Option<i64>,
}

/// The clock facts of `status`: the one place they are read from it.
pub fn clock_evidence(status: &DaemonStatus) -> ClockEvidence {
    let ifaces = &status.node.ifaces;
    ClockEvidence {
        stale: status.node.counters.stale,
        window: DEFAULT_REPLAY_WINDOW,
        deaf_for_clock: ifaces
            .iter()
            .filter(|i| i.deaf == Some(Deafness::PeersRefused { why: Refusal::Stale }))
            .map(|i| i.name.clone())
            .collect(),
        peers: ifaces
            .iter()
            .flat_map(|i| {
                i.peers.iter().map(|p| PeerClock {
                    iface: i.name.clone(),
                    id: p.id,
                    offset_ms: p.clock_offset_ms,
                })
            })
            .collect(),
        uptime_s: status.uptime_s,
    }
}

/// The daemon check, then (if it answered) the peers of each interface, authentication and
/// clocks.
pub(super) fn check(
    config: &Config,
    config_path: &Path,
    status: &Result<DaemonStatus, CtlError>,
    _sys: &dyn System,
) -> Vec<Check> {
    let socket = config.control_socket.display().to_string();
    let s = match status {
        Ok(s) => s,
        Err(e) => return vec![unreachable(&socket, e)],
    };
    let mut checks = vec![reachable(config_path, &socket, s)];
    if s.node.listening {
        checks.push(
            Check::new(
                Topic::Peers,
                "",
                Verdict::Unchecked,
                format!(
                    "the daemon started {} s ago and is still listening for its peers",
                    s.uptime_s
                ),
            )
            .fix("run doctor again in a few seconds"),
        );
        return checks;
    }
    for iface in &s.node.ifaces {
        checks.push(peers(iface, config.peer_port));
    }
    checks.push(authentication(s, config.peer_port));
    checks.push(check_clock(&clock_evidence(s)));
    checks
}

fn unreachable(socket: &str, e: &CtlError) -> Check {
    let message = crate::os::words::error_chain(e);
    match e {
        CtlError::PermissionDenied { .. } => {
            Check::new(Topic::Daemon, socket, Verdict::Unchecked, message)
                .fix(format!("run doctor as {}: {}", HERE.superuser, HERE.elevate))
        }
        CtlError::NotRunning { .. } => Check::new(
            Topic::Daemon,
            socket,
            Verdict::Fail,
            "no wakeproxy daemon answers: nobody proxies for this host or wakes others from here",
        )
        .fix(format!(
            "start the service ({}), and look at its log if it stops ({})",
            HERE.service_restart, HERE.logs
        )),
        _ => Check::new(Topic::Daemon, socket, Verdict::Fail, message)
            .fix(format!("see the daemon's log ({})", HERE.logs)),
    }
}

fn reachable(config_path: &Path, socket: &str, s: &DaemonStatus) -> Check {
    let ours = env!("CARGO_PKG_VERSION");
    let details = serde_json::json!({
        "version": s.version,
        "uptime_s": s.uptime_s,
        "config": s.config_path,
        "node": s.node.id,
        "can_proxy": s.node.can_proxy,
    });
    if s.version != ours {
        return Check::new(
            Topic::Daemon,
            socket,
            Verdict::Warn,
            format!("the daemon runs wakeproxy {}, this command is {ours}", s.version),
        )
        .fix(format!("restart the service after an upgrade ({})", HERE.service_restart))
        .details(details);
    }
    let ours_path = config_path.display().to_string();
    if !same_file(&s.config_path, config_path) {
        return Check::new(
            Topic::Daemon,
            socket,
            Verdict::Warn,
            format!(
                "the daemon on {socket} runs with {}, but doctor read {ours_path}: the other \
                 checks used another configuration than the daemon's",
                s.config_path
            ),
        )
        .fix(format!("run doctor with --config {}", s.config_path))
        .details(details);
    }
    let proxy = if s.node.can_proxy {
        String::new()
    } else {
        format!("; it cannot answer for sleepers (its layer-2 capture needs {})", HERE.capture)
    };
    let verdict = if s.node.can_proxy { Verdict::Ok } else { Verdict::Warn };
    let mut c = Check::new(
        Topic::Daemon,
        socket,
        verdict,
        format!("wakeproxy {} answers, up {} s, node {}{proxy}", s.version, s.uptime_s, s.node.id),
    )
    .details(details);
    if !s.node.can_proxy {
        c = c.fix(format!("run the service with {}", HERE.capture));
    }
    c
}

/// Whether the daemon's configuration path names the file doctor read.
fn same_file(daemon: &str, ours: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    daemon == ours.display().to_string()
        || canon(Path::new(daemon)).is_some_and(|d| canon(ours) == Some(d))
}

/// The peers heard on one interface.
fn peers(iface: &IfaceStatus, peer_port: u16) -> Check {
    let count = |st: PeerState| iface.peers.iter().filter(|p| p.state == st).count();
    let (awake, suspect, asleep, gone) = (
        count(PeerState::Awake),
        count(PeerState::Suspect),
        count(PeerState::Asleep),
        count(PeerState::Gone),
    );
    let details = serde_json::json!({
        "awake": awake, "suspect": suspect, "asleep": asleep, "gone": gone,
        "deaf": iface.deaf, "role": iface.role, "manager": iface.manager,
    });
    let name = &iface.name;
    if let Some(deaf) = &iface.deaf {
        let fix = match deaf {
            Deafness::NothingHeard => format!(
                "allow UDP {peer_port} in (`wakeproxy firewall apply`; the firewall checks \
                 above say what is in place)"
            ),
            Deafness::PeersRefused { why: Refusal::BadTag } => format!(
                "give every node the same site key file (copy it from a node that works), then \
                 {}",
                HERE.reload
            ),
            Deafness::PeersRefused { why: Refusal::Version } => {
                "upgrade the nodes so they speak the same protocol version".to_owned()
            }
            Deafness::PeersRefused { why: Refusal::Stale } => {
                format!("set the clocks right: {}", HERE.time_sync)
            }
        };
        return Check::new(
            Topic::Peers,
            name,
            Verdict::Fail,
            format!("this node is deaf here: {}", deaf.explain(peer_port)),
        )
        .fix(fix)
        .details(details);
    }
    let heard = iface.peers.len();
    if heard == 0 {
        return Check::new(
            Topic::Peers,
            name,
            Verdict::Warn,
            "no peer heard: this is the only wakeproxy node of its subnet (or the others cannot \
             be heard), so when this host sleeps nobody answers for it or wakes it",
        )
        .fix("run wakeproxy on at least one other host of this subnet that stays awake")
        .details(details);
    }
    let mut states = vec![format!("{awake} awake")];
    for (n, what) in [(suspect, "suspect"), (asleep, "asleep"), (gone, "gone")] {
        if n > 0 {
            states.push(format!("{n} {what}"));
        }
    }
    let manager = match iface.manager {
        Some(m) => format!(", manager {m}"),
        None => String::new(),
    };
    Check::new(
        Topic::Peers,
        name,
        Verdict::Ok,
        format!(
            "{heard} peer{} heard ({}){manager}",
            if heard == 1 { "" } else { "s" },
            states.join(", ")
        ),
    )
    .details(details)
}

/// Datagrams that failed authentication, and other protocol versions.
fn authentication(s: &DaemonStatus, peer_port: u16) -> Check {
    let c = &s.node.counters;
    let details = serde_json::json!({
        "unauthenticated": c.unauthenticated,
        "version_mismatch": c.version_mismatch,
        "accepted": c.accepted,
        "accepted_other_key": c.accepted_other_key,
    });
    let since = format!("since the daemon started {} s ago", s.uptime_s);
    if c.unauthenticated > 0 {
        let key = s.key.as_ref().map(|k| format!(" ({})", k.id)).unwrap_or_default();
        return Check::new(
            Topic::Authentication,
            "",
            Verdict::Warn,
            format!(
                "{} datagrams on UDP {peer_port} failed authentication {since} ({} accepted): a \
                 node of the LAN uses another site key than this one{key}, or someone sends \
                 altered or forged datagrams (the daemon does not record the sender; a capture \
                 of UDP {peer_port} shows it)",
                c.unauthenticated, c.accepted
            ),
        )
        .fix(format!(
            "compare the key id `wakeproxy status` shows on every node, give the odd one the \
             site's key file, then {}",
            HERE.reload
        ))
        .details(details);
    }
    if c.version_mismatch > 0 {
        return Check::new(
            Topic::Authentication,
            "",
            Verdict::Warn,
            format!(
                "{} datagrams on UDP {peer_port} {since} speak another protocol version",
                c.version_mismatch
            ),
        )
        .fix("upgrade the nodes so they run compatible versions")
        .details(details);
    }
    Check::new(
        Topic::Authentication,
        "",
        Verdict::Ok,
        format!("no datagram failed authentication {since} ({} accepted)", c.accepted),
    )
    .details(details)
}

/// Clocks against the peers', from [`clock_evidence`].
pub(super) fn check_clock(e: &ClockEvidence) -> Check {
    let window = e.window.as_secs();
    let window_ms = i64::try_from(e.window.as_millis()).unwrap_or(i64::MAX);
    let off: Vec<&PeerClock> =
        e.peers.iter().filter(|p| p.offset_ms.is_some_and(|o| o.abs() > window_ms / 2)).collect();
    let details = serde_json::json!({
        "stale": e.stale,
        "window_s": window,
        "offsets_ms": e.peers.iter().filter_map(|p| p.offset_ms.map(|o| (p.id.to_string(), o))).collect::<std::collections::BTreeMap<_, _>>(),
    });
    let fix = format!("set the clocks right on every node: {}", HERE.time_sync);
    if !e.deaf_for_clock.is_empty() {
        return Check::new(
            Topic::Clock,
            "",
            Verdict::Fail,
            format!(
                "every peer's messages on {} are refused because their timestamps are more than \
                 {window} s off this node's clock",
                e.deaf_for_clock.join(", ")
            ),
        )
        .fix(fix)
        .details(details);
    }
    if !off.is_empty() {
        let said: Vec<String> = off
            .iter()
            .map(|p| format!("{} on {} ({:+} ms)", p.id, p.iface, p.offset_ms.unwrap_or(0)))
            .collect();
        let verdict = if off.iter().any(|p| p.offset_ms.is_some_and(|o| o.abs() > window_ms)) {
            Verdict::Fail
        } else {
            Verdict::Warn
        };
        return Check::new(
            Topic::Clock,
            "",
            verdict,
            format!(
                "clocks off by more than half the {window} s window: {}; beyond {window} s \
                 their messages are refused",
                said.join(", ")
            ),
        )
        .fix(fix)
        .details(details);
    }
    if e.stale > 0 {
        return Check::new(
            Topic::Clock,
            "",
            Verdict::Warn,
            format!(
                "{} messages were refused since the daemon started {} s ago because their \
                 timestamps were more than {window} s off this node's clock: a peer's clock (or \
                 this one) is wrong",
                e.stale, e.uptime_s
            ),
        )
        .fix(fix)
        .details(details);
    }
    Check::new(
        Topic::Clock,
        "",
        Verdict::Ok,
        format!("no message refused for its timestamp (peers' clocks within {window} s)"),
    )
    .details(details)
}
