//! The human form of `status`, `peers` and events: compact text, at most [`WIDTH`] columns.
//!
//! Everything that came from elsewhere (interface names, paths, event fields) is cleaned of
//! control characters, so a crafted name cannot move the operator's cursor; every line is cut
//! with `…` if it would be wider than [`WIDTH`].

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value};

use super::protocol::{DaemonStatus, IntakeStatus, KeyStatus, ReloadReply};
use crate::core::addr::NodeId;
use crate::core::node::{IfaceStatus, PeerStatus, ProxiedStatus, WakeCause, WakeRecord};
use crate::core::peers::PeerState;
use crate::core::proto::Ipv4Prefix;
use crate::os::words::HERE;

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

/// One line for one event (as the daemon publishes it: an object with an `"event"` kind). The
/// key fields come first, in words; fields this version does not know follow as `key=value`.
pub fn render_event(event: &Value) -> String {
    let Value::Object(map) = event else {
        return clean(&format!("event {event}"));
    };
    let mut f = Fields { map, used: vec!["event"] };
    let kind = map.get("event").and_then(Value::as_str).unwrap_or("event");
    let mut line = format!("{:<16}", clean(kind));
    let body = match kind {
        "peer-changed" => {
            let from = f.text("from");
            let from = if from == "null" { "new".to_owned() } else { from };
            format!(
                "{} {} {} {} -> {} ({})",
                f.iface(),
                f.id("peer"),
                f.text("mac"),
                from,
                f.text("to"),
                f.text("reason")
            )
        }
        "election-changed" => format!(
            "{} role {}, manager {}, term {}, guardians {}",
            f.iface(),
            f.text("role"),
            f.id("manager"),
            f.text("term"),
            f.ids("guardians")
        ),
        "proxy-started" => format!("{} {} {}", f.iface(), f.id("sleeper"), f.text("mac")),
        "proxy-stopped" => {
            format!("{} {} {} ({})", f.iface(), f.id("sleeper"), f.text("mac"), f.text("reason"))
        }
        "wake-sent" => format!(
            "{} {} {}, attempt {}",
            f.iface(),
            f.text("mac"),
            f.cause("cause"),
            f.text("attempt")
        ),
        "wake-requested" => format!("{} to {}", f.text("mac"), f.text("to")),
        "wake-confirmed" => format!(
            "{} packet after {}, awake after {}",
            f.text("mac"),
            f.dur("to_packet"),
            f.dur("to_awake")
        ),
        "wake-gave-up" => {
            format!("{} no answer after {} packets", f.text("mac"), f.text("attempts"))
        }
        "claim-missing" => format!(
            "{} {} was not claimed in time by {}: passed over",
            f.iface(),
            f.id("sleeper"),
            f.id("by")
        ),
        "hearing-changed" => match f.get("deaf").cloned() {
            Some(Value::Null) | None => format!("{} hears its peers again", f.iface()),
            Some(why) => format!(
                "{} DEAF: {}",
                f.iface(),
                serde_json::from_value::<crate::core::node::Deafness>(why)
                    .map(|d| d.explain(crate::core::proto::DEFAULT_PEER_PORT))
                    .unwrap_or_else(|_| "cannot hear its peers".into())
            ),
        },
        "impersonated" => format!(
            "{} from {}: someone holding the site key uses this node's id",
            f.iface(),
            f.text("from")
        ),
        _ => String::new(),
    };
    if !body.is_empty() {
        line.push(' ');
        line.push_str(&body);
    }
    for (k, v) in map.iter().filter(|(k, _)| !f.used.contains(&k.as_str())) {
        let _ = write!(line, " {}={}", clean(k), scalar(v));
    }
    clean(line.trim_end())
}

/// Accessors over an event's fields that remember which were shown.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    used: Vec<&'static str>,
}

impl Fields<'_> {
    fn get(&mut self, key: &'static str) -> Option<&Value> {
        self.used.push(key);
        self.map.get(key)
    }

    fn text(&mut self, key: &'static str) -> String {
        self.get(key).map_or_else(|| "?".to_owned(), scalar)
    }

    fn iface(&mut self) -> String {
        format!("if{}", self.text("iface"))
    }

    fn id(&mut self, key: &'static str) -> String {
        match self.get(key) {
            Some(Value::String(s)) => short_str(s),
            Some(Value::Null) => "none".to_owned(),
            Some(v) => scalar(v),
            None => "?".to_owned(),
        }
    }

    fn ids(&mut self, key: &'static str) -> String {
        match self.get(key) {
            Some(Value::Array(a)) if a.is_empty() => "none".to_owned(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| scalar(v), short_str))
                .collect::<Vec<_>>()
                .join(" "),
            Some(v) => scalar(v),
            None => "?".to_owned(),
        }
    }

    fn dur(&mut self, key: &'static str) -> String {
        self.get(key).and_then(json_duration).map_or_else(|| "?".to_owned(), dur)
    }

    fn cause(&mut self, key: &'static str) -> String {
        match self.get(key).cloned().map(serde_json::from_value::<WakeCause>) {
            Some(Ok(c)) => cause(&c),
            Some(Err(_)) => self.map.get(key).map_or_else(String::new, scalar),
            None => "?".to_owned(),
        }
    }
}

/// A JSON value as short text: strings bare, everything else as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A `std::time::Duration` as serde writes it: `{"secs":…,"nanos":…}`.
fn json_duration(v: &Value) -> Option<Duration> {
    let secs = v.get("secs")?.as_u64()?;
    let nanos = v.get("nanos").and_then(Value::as_u64).unwrap_or(0).min(999_999_999);
    Some(Duration::new(secs, nanos as u32))
}

/// The first 8 hex digits of a node id: enough to tell peers apart.
fn short(id: NodeId) -> String {
    format!("{:08x}", (id.as_u128() >> 96) as u32)
}

fn short_str(s: &str) -> String {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        s[..8].to_owned()
    } else {
        s.to_owned()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::node::Counters;
    use crate::core::peers::Reason;
    use crate::core::proto::Role;
    use crate::ctl::tests::{id, mac, sample, v4};

    fn assert_fits(text: &str) {
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{} columns: {line}", line.chars().count());
        }
    }

    #[test]
    fn status_header_and_every_line_fit() {
        let text = render_status(&sample(false));
        assert_fits(&text);
        let head: Vec<&str> = text.lines().take(5).collect();
        assert_eq!(
            head,
            [
                "wakeproxy 0.1.0  node 0a1b2c3d000000000000000000000001  up 3h12m",
                "state: active  sleep: inhibited (guardian)  proxies sleepers: arp-redirect",
                "config: /etc/wakeproxy/wakeproxy.toml",
                "key: 1a2b3c4d, also accepts 5e6f7a8b (/etc/wakeproxy/site.key)",
                "",
            ]
        );
        assert!(!text.contains("INSECURE"));
        let eth0: Vec<&str> = text.lines().skip(5).take(5).collect();
        assert_eq!(
            eth0,
            [
                "eth0  mac 52:54:00:12:34:01  role manager  term 7",
                "  addresses  10.0.0.1/24 fe80::5054:ff:fe12:3401/64",
                "  manager    0a1b2c3d (this node)",
                "  guardians  0a1b2c3d (this node) 11223344",
                "  peers      3 heard: 1 awake, 1 suspect, 1 asleep",
            ]
        );
        // The long port list is cut, the sleeper is shown with its proxy and second address.
        assert!(text.contains("1,2,3,4,5,6,7,…"), "{text}");
        assert!(text.contains("55667788 52:54:00:12:34:03 10.0.0.3+1      asleep"), "{text}");
        assert!(text.contains("proxied here: 1 sleeper"), "{text}");
        let counters: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("counters:")).take(6).collect();
        assert_eq!(
            counters,
            [
                "counters: received 123456 accepted 120000 sent 40000 malformed 3 unauthenticated 1 \
                 replayed 2",
                "          stale 0 probes 17 wakes-sent 4",
                "intake (queued/dropped): probes 17/0 peer 120010/0 frames 5000/12 wol 3/0 other \
                 3440/250000",
                "kernel drops: peer sockets 1500, capture 0",
                "refused: ttl-below-255 2 ttl-missing 0 own-replayed 0 (last from 10.0.9.9:25536, ttl 63)",
                "",
            ]
        );
        assert!(text.contains("recent wakes (last 3, oldest first):"));
        let wakes: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("recent wakes")).skip(1).take(3).collect();
        assert_eq!(
            wakes,
            [
                "  52:54:00:12:34:03   1 sent  packet 3ms     awake 4.2s    syn to port 3389 from \
                 2001:db8:aaaa:bbbb…",
                "  52:54:00:12:34:05  10 sent  packet 1ms     no answer     operator",
                "  52:54:00:12:34:06   1 sent  packet -       no answer     request from 11223344",
            ]
        );
        assert!(text.contains("wakes in flight: 52:54:00:12:34:07 (2 sent)"), "{text}");
        let mut v4 = sample(false).node.recent_wakes[0];
        v4.cause = WakeCause::TcpSyn { src: "10.0.1.10".parse().unwrap(), port: 22 };
        assert!(wake_line(&v4).ends_with("syn to port 22 from 10.0.1.10, 1 syn replayed"));
        assert!(text.contains("wlan0  mac 52:54:00:12:34:09  role member  term 0"));
        assert!(text.contains("  manager    none yet"));
    }

    #[test]
    fn a_node_without_capture_says_what_the_capture_needs() {
        let mut s = sample(false);
        s.node.can_proxy = false;
        let text = render_status(&s);
        assert!(text.contains("  proxies sleepers: no\n"), "{text}");
        let want = format!("\ncapture: not open; it needs {}\n", HERE.capture);
        assert!(text.contains(&want), "{text}");
        // Both platforms' reasons fit the 100 columns.
        for words in [crate::os::words::LINUX, crate::os::words::WINDOWS] {
            assert!(format!("capture: not open; it needs {}", words.capture).len() <= 100);
        }
    }

    #[test]
    fn where_ttls_are_not_reported_status_says_the_gtsm_check_is_off() {
        let mut s = sample(false);
        s.intake.ttl_checked = false;
        s.intake.refused = Default::default();
        s.intake.kernel_drops.peer_sockets = None;
        s.intake.kernel_drops.capture = None;
        let text = render_status(&s);
        assert!(text.contains("\nkernel drops: peer sockets not reported, capture not reported\n"));
        assert!(text.contains(
            "\nrefused: own-replayed 0; TTL not checked (GTSM): this platform does not report it\n"
        ));
        // Huge counts wrap onto more lines but every line still fits.
        s.intake.other.dropped = u64::MAX;
        s.intake.frames.dropped = u64::MAX;
        s.intake.peer.queued = u64::MAX;
        s.intake.refused.own_replayed = u64::MAX;
        s.intake.refused.last_from = Some("[2001:db8::1]:25536".parse().unwrap());
        let text = render_status(&s);
        assert_fits(&text);
        assert!(text.contains(&format!("other 3440/{}", u64::MAX)), "{text}");
        assert!(text.contains(&format!("own-replayed {} (last from [2001:db8::1]", u64::MAX)));
    }

    #[test]
    fn insecure_banner_is_the_second_line() {
        let text = render_status(&sample(true));
        assert_fits(&text);
        assert_eq!(text.lines().nth(1), Some(INSECURE_BANNER));
        assert!(INSECURE_BANNER.contains("INSECURE: running with the public lab key"));
        let lab = crate::core::proto::SiteKey::new(crate::store::keys::INSECURE_LAB_KEY)
            .unwrap()
            .key_id();
        assert!(text.contains(&format!("\nkey: {lab} (the built-in public lab key)\n")), "{text}");
    }

    #[test]
    fn the_key_line_shows_one_or_two_ids_and_an_older_daemon_none() {
        let mut s = sample(false);
        let key = s.key.as_mut().unwrap();
        key.accepted_id = None;
        assert!(render_status(&s).contains("\nkey: 1a2b3c4d (/etc/wakeproxy/site.key)\n"));
        s.key = None;
        assert!(!render_status(&s).contains("key:"));
        // An older daemon's status (no "key") still parses.
        let mut v = serde_json::to_value(sample(false)).unwrap();
        v.as_object_mut().unwrap().remove("key");
        let old: DaemonStatus = serde_json::from_value(v).unwrap();
        assert_eq!(old.key, None);
    }

    #[test]
    fn a_reload_says_what_changed_and_that_only_the_key_was_reloaded() {
        let k = |id: &str, acc: Option<&str>| KeyStatus {
            id: id.into(),
            accepted_id: acc.map(Into::into),
            file: Some("/etc/wakeproxy/site.key".into()),
        };
        let r = ReloadReply {
            reloaded: "key".into(),
            before: k("1a2b3c4d", None),
            after: k("1a2b3c4d", Some("5e6f7a8b")),
        };
        let text = render_reload(&r);
        assert_fits(&text);
        let lines: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(
            lines,
            [
                "reloaded the site key from /etc/wakeproxy/site.key",
                "  now:    signs with 1a2b3c4d, also accepts 5e6f7a8b",
                "  before: signs with 1a2b3c4d only",
            ],
            "{text}"
        );
        assert!(text.contains("only the key is reloaded: other settings take effect"), "{text}");
        assert!(text.contains(RESTART_COMMAND), "{text}");
        let same = ReloadReply { before: r.after.clone(), ..r };
        assert!(render_reload(&same).contains("  before: the same (the key file is unchanged)\n"));
    }

    #[test]
    fn hostile_names_and_huge_numbers_still_fit_on_one_line_each() {
        let mut s = sample(true);
        s.config_path = format!("/etc/\x1b[2J{}", "x".repeat(300));
        s.node.ifaces[0].name = "eth0\nfake line".into();
        s.node.ifaces[0].ipv4 = (0..60).map(|i| v4([10, 0, i, 1], 24)).collect();
        s.node.ifaces[0].guardians = (0..40).map(|i| id(i << 96)).collect();
        s.node.counters = Counters {
            datagrams: u64::MAX,
            accepted: u64::MAX,
            sent: u64::MAX,
            malformed: u64::MAX,
            unauthenticated: u64::MAX,
            ..Counters::default()
        };
        s.node.ifaces[0].proxied[0].stats.arp_answered = u64::MAX;
        s.node.ifaces[0].peers[0].last_heard_ago = Duration::from_secs(u64::MAX);
        s.node.recent_wakes = vec![s.node.recent_wakes[0]; 50];
        let text = render_status(&s);
        assert_fits(&text);
        assert!(!text.contains('\x1b'));
        assert!(text.contains("eth0?fake line  mac"));
        assert_eq!(text.matches("syn to port").count(), RECENT_WAKES);
        let address_lines = text
            .lines()
            .skip_while(|l| !l.starts_with("  addresses"))
            .take_while(|l| !l.starts_with("  manager"))
            .count();
        assert!(address_lines > 5, "{text}");
    }

    #[test]
    fn peers_render_a_table_per_interface() {
        let s = sample(false);
        let text = render_peers(&s.node.ifaces);
        assert_fits(&text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "eth0  3 heard: 1 awake, 1 suspect, 1 asleep");
        assert_eq!(
            lines[1],
            "  ID       MAC               IPV4            STATE   HEARD  RTT    ROLE     PROXY    PORTS"
        );
        assert_eq!(
            lines[2],
            "  11223344 52:54:00:12:34:02 10.0.0.2        awake   2.4s   0.4ms  guardian -        1,2,3,4,5,6,7,…"
        );
        assert_eq!(lines.last(), Some(&"wlan0  no peers heard"));
        assert_eq!(render_peers(&[]), "no interfaces\n");
    }

    #[test]
    fn durations_are_compact() {
        let d = |ms| dur(Duration::from_millis(ms));
        assert_eq!(d(0), "0ms");
        assert_eq!(d(850), "850ms");
        assert_eq!(d(4_250), "4.2s");
        assert_eq!(d(42_000), "42s");
        assert_eq!(d(185_000), "3m05s");
        assert_eq!(d(8_040_000), "2h14m");
        assert_eq!(d(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(rtt(Duration::from_micros(420)), "0.4ms");
        assert_eq!(rtt(Duration::from_micros(12_300)), "12ms");
        assert_eq!(rtt(Duration::from_millis(1_234)), "1.2s");
    }

    #[test]
    fn every_event_kind_renders_on_one_line() {
        use crate::core::node::{Event, StopReason};
        use crate::core::peers::Transition;
        let sleeper = id(0x5566_7788 << 96 | 3);
        let events = [
            Event::PeerChanged {
                iface: crate::core::node::IfaceId(1),
                transition: Transition {
                    peer: sleeper,
                    mac: mac(3),
                    from: Some(PeerState::Awake),
                    to: PeerState::Asleep,
                    reason: Reason::Announced,
                },
            },
            Event::ElectionChanged {
                iface: crate::core::node::IfaceId(1),
                role: Role::Manager,
                manager: Some(sleeper),
                term: 7,
                guardians: vec![sleeper, id(1)],
            },
            Event::ProxyStarted { iface: crate::core::node::IfaceId(1), sleeper, mac: mac(3) },
            Event::ProxyStopped {
                iface: crate::core::node::IfaceId(1),
                sleeper,
                mac: mac(3),
                reason: StopReason::OwnerSeen,
            },
            Event::WakeSent {
                iface: crate::core::node::IfaceId(1),
                mac: mac(3),
                cause: WakeCause::TcpSyn { src: "10.0.0.9".parse().unwrap(), port: 22 },
                attempt: 1,
            },
            Event::WakeRequested { mac: mac(3), to: "10.1.0.5:25536".parse().unwrap() },
            Event::WakeConfirmed {
                mac: mac(3),
                to_packet: Duration::from_millis(3),
                to_awake: Duration::from_millis(4200),
            },
            Event::WakeGaveUp { mac: mac(3), attempts: 10 },
            Event::Impersonated {
                iface: crate::core::node::IfaceId(1),
                from: "10.0.0.66:25536".parse().unwrap(),
            },
        ];
        let want = [
            "peer-changed     if1 55667788 52:54:00:12:34:03 awake -> asleep (announced)",
            "election-changed if1 role manager, manager 55667788, term 7, guardians 55667788 00000000",
            "proxy-started    if1 55667788 52:54:00:12:34:03",
            "proxy-stopped    if1 55667788 52:54:00:12:34:03 (owner-seen)",
            "wake-sent        if1 52:54:00:12:34:03 tcp-syn from 10.0.0.9 port 22, attempt 1",
            "wake-requested   52:54:00:12:34:03 to 10.1.0.5:25536",
            "wake-confirmed   52:54:00:12:34:03 packet after 3ms, awake after 4.2s",
            "wake-gave-up     52:54:00:12:34:03 no answer after 10 packets",
            "impersonated     if1 from 10.0.0.66:25536: someone holding the site key uses this node's id",
        ];
        for (e, want) in events.iter().zip(want) {
            let v = serde_json::to_value(e).unwrap();
            assert_eq!(render_event(&v), want, "{v}");
        }
    }

    #[test]
    fn unknown_and_odd_events_never_panic() {
        use serde_json::json;
        let first_seen = json!({"event":"peer-changed","iface":1,"peer":"x","mac":"m","from":null,"to":"awake","reason":"heartbeat","seq":9});
        assert_eq!(
            render_event(&first_seen),
            "peer-changed     if1 x m new -> awake (heartbeat) seq=9"
        );
        assert_eq!(
            render_event(&json!({"event":"brand-new","a":1,"b":"x\ny"})),
            "brand-new        a=1 b=x?y"
        );
        assert_eq!(
            render_event(&json!({"event":"wake-sent"})),
            "wake-sent        if? ? ?, attempt ?"
        );
        assert_eq!(
            render_event(&json!({"event":"wake-confirmed","mac":"m","to_packet":5})),
            "wake-confirmed   m packet after ?, awake after ?"
        );
        assert_eq!(render_event(&json!(42)), "event 42");
        assert_eq!(render_event(&json!({})), "event");
        assert_eq!(render_event(&json!({"event": 5})), "event");
    }
}
