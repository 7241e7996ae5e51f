//! The human form of `status`, `peers` and events: compact text, at most [`WIDTH`] columns.
//!
//! Everything that came from elsewhere (interface names, paths, event fields) is cleaned of
//! control characters, so a crafted name cannot move the operator's cursor; every line of
//! `status` and `peers` is cut with `…` if it would be wider than [`WIDTH`]. [`render_event`]
//! words events.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use super::protocol::{DaemonStatus, IntakeStatus, KeyStatus, ReloadReply};
use crate::core::addr::NodeId;
use crate::core::node::{IfaceStatus, PeerStatus, ProxiedStatus, WakeCause, WakeRecord};
use crate::core::peers::PeerState;
use crate::core::proto::Ipv4Prefix;
use crate::os::words::HERE;

mod event;
#[cfg(test)]
mod tests;

pub use event::render_event;

/// The widest line the renderers produce, in columns (characters).
pub const WIDTH: usize = 100;

/// How many of the last wakes `status` shows.
const RECENT_WAKES: usize = 10;

/// The banner `status` shows when the daemon runs with the public lab key.
pub const INSECURE_BANNER: &str =
    "*** INSECURE: running with the public lab key: anyone on this LAN can forge peer messages ***";

/// The human form of `status`.
pub fn render_status(s: &DaemonStatus) -> String {
    let node = &s.node;
    let mut out = Lines::default();
    out.push(format!(
        "wakeproxy {}  node {}  up {}",
        clean(&s.version),
        node.id,
        dur(Duration::from_secs(s.uptime_s))
    ));
    if s.insecure {
        out.push(INSECURE_BANNER.to_owned());
    }
    let state = if node.asleep {
        "asleep"
    } else if node.listening {
        "listening (startup grace: no role yet)"
    } else {
        "active"
    };
    let sleep = if node.inhibiting_sleep { "inhibited (guardian)" } else { "allowed" };
    let proxy = if node.can_proxy { enum_name(&node.proxy_mode) } else { "no".to_owned() };
    out.push(format!("state: {state}  sleep: {sleep}  proxies sleepers: {proxy}"));
    // The daemon turns proxying off only when it could not open the layer-2 capture.
    if !node.can_proxy {
        out.push(format!("capture: not open; it needs {}", HERE.capture));
    }
    out.push(format!("config: {}", clean(&s.config_path)));
    if let Some(key) = &s.key {
        out.push(key_line(key));
    }
    if let Some(m) = &s.metrics {
        out.push(match &m.error {
            None => format!("metrics: http://{}/metrics", m.listen),
            Some(e) => format!("metrics: NOT served: {}", clean(e)),
        });
    }

    for iface in &node.ifaces {
        out.blank();
        iface_block(&mut out, iface, node.id);
    }

    out.blank();
    counters(&mut out, &node.counters);
    intake(&mut out, &s.intake);

    if !node.recent_wakes.is_empty() {
        out.blank();
        let shown = node.recent_wakes.len().min(RECENT_WAKES);
        out.push(format!("recent wakes (last {shown}, oldest first):"));
        for w in &node.recent_wakes[node.recent_wakes.len() - shown..] {
            out.push(wake_line(w));
        }
    }
    if !node.wakes_in_flight.is_empty() {
        let items = node.wakes_in_flight.iter().map(|(mac, n)| format!("{mac} ({n} sent)"));
        out.wrapped("wakes in flight:", items.collect());
    }
    out.finish()
}

/// `key: 1a2b3c4d, also accepts 5e6f7a8b (/etc/wakeproxy/site.key)`: which key a daemon signs
/// with and which others it accepts, by id.
fn key_line(k: &KeyStatus) -> String {
    let also = k.accepted_id.as_deref().map(|a| format!(", also accepts {}", clean(a)));
    let from = match &k.file {
        Some(f) => format!(" ({})", clean(f)),
        None => " (the built-in public lab key)".to_owned(),
    };
    format!("key: {}{}{from}", clean(&k.id), also.unwrap_or_default())
}

/// The human form of a `reload` answer: what the daemon uses now, and what it did not reload.
pub fn render_reload(r: &ReloadReply) -> String {
    let words = |k: &KeyStatus| match &k.accepted_id {
        Some(a) => format!("signs with {}, also accepts {}", clean(&k.id), clean(a)),
        None => format!("signs with {} only", clean(&k.id)),
    };
    let from = r.after.file.as_deref().map(|f| format!(" from {}", clean(f))).unwrap_or_default();
    let before = if r.before == r.after {
        "the same (the key file is unchanged)".to_owned()
    } else {
        words(&r.before)
    };
    format!(
        "reloaded the site key{from}\n  now:    {}\n  before: {before}\nonly the key is \
         reloaded: other settings take effect when the service restarts\n({RESTART_COMMAND})\n",
        words(&r.after)
    )
}

/// How an operator restarts the daemon, in the words of this OS.
const RESTART_COMMAND: &str = HERE.service_restart;

/// The human form of `peers`: a table per interface.
pub fn render_peers(ifaces: &[IfaceStatus]) -> String {
    let mut out = Lines::default();
    for (i, iface) in ifaces.iter().enumerate() {
        if i > 0 {
            out.blank();
        }
        out.push(format!("{}  {}", clean(&iface.name), peer_summary(&iface.peers)));
        peers_table(&mut out, &iface.peers);
    }
    if ifaces.is_empty() {
        out.push("no interfaces".to_owned());
    }
    out.finish()
}

/// The first 8 hex digits of a node id: enough to tell peers apart.
fn short(id: NodeId) -> String {
    format!("{:08x}", (id.as_u128() >> 96) as u32)
}

/// A kebab-case enum as serde names it ("arp-redirect").
fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// A duration, compact: `850ms`, `4.2s`, `42s`, `3m05s`, `2h14m`, `3d04h`.
fn dur(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{}ms", d.as_millis())
    } else if s < 10 {
        format!("{}.{}s", s, d.subsec_millis() / 100)
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600)
    }
}

/// A round-trip time: `0.4ms`, `12ms`, `1.2s`.
fn rtt(d: Duration) -> String {
    let us = d.as_micros();
    if us < 10_000 { format!("{}.{}ms", us / 1000, us % 1000 / 100) } else { dur(d) }
}

fn cause(c: &WakeCause) -> String {
    match c {
        WakeCause::Operator => "operator".to_owned(),
        WakeCause::TcpSyn { src, port } => format!("tcp-syn from {src} port {port}"),
        WakeCause::Request { from } => format!("request from {}", short(*from)),
        WakeCause::Reconciliation => "daily reconciliation".to_owned(),
    }
}

/// Replaces control characters (a newline, an escape sequence) with `?`.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// `s` cut to `n` columns, with `…` as the last one if it was cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Text being built, line by line, each cut to [`WIDTH`].
#[derive(Default)]
struct Lines(Vec<String>);

impl Lines {
    fn push(&mut self, line: String) {
        self.0.push(cut(line.trim_end(), WIDTH));
    }

    fn blank(&mut self) {
        self.0.push(String::new());
    }

    /// `label` then `items` separated by spaces, continued on further lines indented under the
    /// first item when they do not fit.
    fn wrapped(&mut self, label: &str, items: Vec<String>) {
        let indent = label.chars().count() + 1;
        let mut line = label.to_owned();
        let mut cols = indent - 1;
        let mut first = true;
        for item in items {
            let n = item.chars().count();
            if !first && cols + 1 + n > WIDTH {
                self.push(std::mem::replace(&mut line, " ".repeat(indent - 1)));
                cols = indent - 1;
            }
            line.push(' ');
            line.push_str(&item);
            cols += 1 + n;
            first = false;
        }
        self.push(line);
    }

    fn finish(self) -> String {
        let mut s = self.0.join("\n");
        s.push('\n');
        s
    }
}

fn iface_block(out: &mut Lines, iface: &IfaceStatus, me: NodeId) {
    let mine = |id: NodeId| {
        if id == me { format!("{} (this node)", short(id)) } else { short(id) }
    };
    out.push(format!(
        "{}  mac {}  role {}  term {}",
        clean(&iface.name),
        iface.mac,
        iface.role,
        iface.term
    ));
    let addrs: Vec<String> = iface
        .ipv4
        .iter()
        .map(ToString::to_string)
        .chain(iface.ipv6.iter().map(ToString::to_string))
        .collect();
    out.wrapped("  addresses ", if addrs.is_empty() { vec!["none".into()] } else { addrs });
    out.push(format!("  manager    {}", iface.manager.map_or_else(|| "none yet".into(), mine)));
    let guardians: Vec<String> = iface.guardians.iter().map(|g| mine(*g)).collect();
    out.wrapped("  guardians ", if guardians.is_empty() { vec!["none".into()] } else { guardians });
    if let Some(why) = &iface.deaf {
        out.wrapped("  DEAF:     ", vec![why.explain(crate::core::proto::DEFAULT_PEER_PORT)]);
    }
    out.push(format!("  peers      {}", peer_summary(&iface.peers)));
    peers_table(out, &iface.peers);
    let n = iface.proxied.len();
    out.push(format!("  proxied here: {n} {}", if n == 1 { "sleeper" } else { "sleepers" }));
    proxied_table(out, &iface.proxied);
}

fn peer_summary(peers: &[PeerStatus]) -> String {
    let count = |s| peers.iter().filter(|p| p.state == s).count();
    let parts: Vec<String> =
        [PeerState::Awake, PeerState::Suspect, PeerState::Asleep, PeerState::Gone]
            .into_iter()
            .filter(|&s| count(s) > 0)
            .map(|s| format!("{} {s}", count(s)))
            .collect();
    if parts.is_empty() {
        "no peers heard".to_owned()
    } else {
        format!("{} heard: {}", peers.len(), parts.join(", "))
    }
}

/// The first IPv4 address without its prefix, `+N` if there are more.
fn first_ipv4(addrs: &[Ipv4Prefix]) -> String {
    match addrs {
        [] => "-".to_owned(),
        [one] => one.addr.to_string(),
        [one, rest @ ..] => format!("{}+{}", one.addr, rest.len()),
    }
}

/// Column layout of the peers table: 2 + 8+17+15+7+6+6+8+8 + 8 separators = 85; the ports get
/// the remaining 15 columns.
fn peers_table(out: &mut Lines, peers: &[PeerStatus]) {
    if peers.is_empty() {
        return;
    }
    const PORTS: usize = WIDTH - 85;
    out.push(format!(
        "  {:<8} {:<17} {:<15} {:<7} {:<6} {:<6} {:<8} {:<8} PORTS",
        "ID", "MAC", "IPV4", "STATE", "HEARD", "RTT", "ROLE", "PROXY"
    ));
    for p in peers {
        let ports = if p.tcp_ports.is_empty() {
            "-".to_owned()
        } else {
            p.tcp_ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
        };
        out.push(format!(
            "  {:<8} {:<17} {:<15} {:<7} {:<6} {:<6} {:<8} {:<8} {}",
            short(p.id),
            p.mac,
            cut(&first_ipv4(&p.ipv4), 15),
            p.state.to_string(),
            dur(p.last_heard_ago),
            p.rtt.map_or_else(|| "-".into(), rtt),
            p.role.to_string(),
            p.proxied_by.map_or_else(|| "-".into(), short),
            cut(&ports, PORTS)
        ));
    }
}

fn proxied_table(out: &mut Lines, proxied: &[ProxiedStatus]) {
    if proxied.is_empty() {
        return;
    }
    out.push(format!(
        "  {:<8} {:<17} {:<12} {:<6} {:>8} {:>8} {:>8} {:>6}",
        "ID", "MAC", "MODE", "SINCE", "ARP", "NS", "SYNS", "WAKES"
    ));
    for s in proxied {
        out.push(format!(
            "  {:<8} {:<17} {:<12} {:<6} {:>8} {:>8} {:>8} {:>6}",
            short(s.id),
            s.mac,
            enum_name(&s.mode),
            dur(s.since_ago),
            s.stats.arp_answered,
            s.stats.ns_answered,
            s.stats.syns_seen,
            s.stats.wakes_sent
        ));
        if let Some(to) = s.handing_over_to {
            out.push(format!(
                "  {:<8} handing over to {} (answering until it claims)",
                "",
                short(to)
            ));
        }
    }
}

/// The counters that matter most always; the others only when they are not zero, so the whole
/// usually fits on two lines.
fn counters(out: &mut Lines, c: &crate::core::node::Counters) {
    let always = [
        ("received", c.datagrams),
        ("accepted", c.accepted),
        ("sent", c.sent),
        ("malformed", c.malformed),
        ("unauthenticated", c.unauthenticated),
        ("replayed", c.replayed),
        ("stale", c.stale),
        ("probes", c.probes),
        ("wakes-sent", c.wakes_sent),
    ];
    let when_not_zero = [
        ("wrong-version", c.version_mismatch),
        ("impersonated", c.impersonated),
        ("deduplicated", c.wakes_deduplicated),
        ("syns-replayed", c.syns_replayed),
        ("wake-requests", c.wake_requests),
        ("arp", c.arp_answered),
        ("ns", c.ns_answered),
        ("syns", c.syns_seen),
        ("conflicts", c.address_conflicts),
        ("off-link", c.off_link),
        ("seq-ahead", c.seq_ahead),
        ("too-many-senders", c.too_many_senders),
        ("peer-table-full", c.peer_table_full),
        ("claims-missing", c.claims_missing),
        ("handovers", c.handovers),
        ("wakes-refused", c.wakes_refused),
        ("reordered", c.reordered),
        ("probe-syns", c.probe_syns),
        ("other-key", c.accepted_other_key),
    ];
    let items = always
        .iter()
        .chain(when_not_zero.iter().filter(|(_, v)| *v != 0))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out.wrapped("counters:", items);
}

/// The daemon's queues (queued/dropped), what the kernel dropped, and the refusals (GTSM, own
/// messages replayed).
fn intake(out: &mut Lines, i: &IntakeStatus) {
    let queues = [
        ("probes", i.probes),
        ("peer", i.peer),
        ("frames", i.frames),
        ("wol", i.wol),
        ("other", i.other),
    ];
    let items = queues.iter().map(|(k, q)| format!("{k} {}/{}", q.queued, q.dropped)).collect();
    out.wrapped("intake (queued/dropped):", items);
    let kernel = |n: Option<u64>| n.map_or_else(|| "not reported".to_owned(), |n| n.to_string());
    out.push(format!(
        "kernel drops: peer sockets {}, capture {}",
        kernel(i.kernel_drops.peer_sockets),
        kernel(i.kernel_drops.capture)
    ));
    let r = &i.refused;
    let mut line = "refused:".to_owned();
    if i.ttl_checked {
        let _ = write!(line, " ttl-below-255 {} ttl-missing {}", r.ttl_below_255, r.ttl_missing);
    }
    let _ = write!(line, " own-replayed {}", r.own_replayed);
    if let Some(from) = r.last_from {
        let ttl = r.last_ttl.map_or_else(|| "?".to_owned(), |t| t.to_string());
        let _ = write!(line, " (last from {from}, ttl {ttl})");
    }
    if !i.ttl_checked {
        line.push_str("; TTL not checked (GTSM): this platform does not report it");
    }
    out.push(line);
}

fn wake_line(w: &WakeRecord) -> String {
    let packet = w.to_packet.map_or_else(|| "-".to_owned(), dur);
    let awake = w.to_awake.map_or_else(|| "no answer".to_owned(), |d| format!("awake {}", dur(d)));
    let cause = match w.cause {
        // The port first: a long IPv6 source is what the line width may cut.
        WakeCause::TcpSyn { src, port } => format!("syn to port {port} from {src}"),
        other => cause(&other),
    };
    let replayed = match w.syns_replayed {
        0 => String::new(),
        n => format!(", {n} syn replayed"),
    };
    // The cause goes last: it is the part that may be cut.
    format!(
        "  {}  {:>2} sent  packet {packet:<6}  {awake:<12}  {cause}{replayed}",
        w.mac, w.attempts
    )
}
