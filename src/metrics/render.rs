//! A daemon's status ([`DaemonStatus`]) as Prometheus metrics, encoded by `prometheus-client`
//! in the OpenMetrics text format.
//!
//! Every series is read from one status snapshot at scrape time, so the figures of one scrape
//! agree with each other and with `wakeproxy status`. Labels stay bounded: `iface` and `subnet`
//! (one per managed interface), and reasons, states, roles and kinds from fixed lists. No series
//! is per peer or per sleeper.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::core::node::{IfaceStatus, LATENCY_BOUNDS_MS, LatencyHistogram};
use crate::core::peers::PeerState;
use crate::core::proto::Role;
use crate::ctl::DaemonStatus;

/// The content type of what [`render`] returns.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of what [`render_text`] returns: Prometheus' older text format, for
/// clients that do not ask for OpenMetrics (curl, `promtool check metrics` of Prometheus 2).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One series' labels.
type Labels = Vec<(&'static str, String)>;

/// The metrics of `status`, in the OpenMetrics text format (ending in `# EOF`).
pub fn render(status: &DaemonStatus) -> String {
    let mut registry = Registry::with_prefix("wakeproxy");
    registry.register_collector(Box::new(Snapshot(status.clone())));
    let mut out = String::with_capacity(16 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        // Only a `fmt::Write` into a String, which cannot fail; say so rather than panic.
        out.clear();
        let _ = writeln!(out, "# cannot encode the metrics: {e}\n# EOF");
    }
    out
}

/// The metrics of `status` in Prometheus' text format 0.0.4.
pub fn render_text(status: &DaemonStatus) -> String {
    openmetrics_to_text(&render(status))
}

/// OpenMetrics text as the 0.0.4 text format. The two differ, for what [`render`] writes, in
/// three ways: a counter's HELP and TYPE name its samples (`x_total`), not the family (`x`);
/// there are no UNIT lines (the unit is in the name already); there is no `# EOF`.
fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut lines = om.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let counter = lines.peek().is_some_and(|t| *t == format!("# TYPE {name} counter"));
            if counter {
                lines.next();
                let _ = writeln!(out, "# HELP {name}_total {help}\n# TYPE {name}_total counter");
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[derive(Debug)]
struct Snapshot(DaemonStatus);

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.0;
        let n = &s.node;
        let c = &n.counters;

        // A gauge of 1, the Prometheus convention, rather than an OpenMetrics info: parsers of
        // the older text format (promtool 2.x) know no type "info".
        gauge(
            &mut enc,
            "build_info",
            "1, labelled with the daemon's version and how it answers for sleepers.",
            None,
            [(
                vec![
                    ("version", s.version.clone()),
                    ("proxy_mode", n.proxy_mode.as_str().to_owned()),
                ],
                1u64,
            )],
        )?;
        gauge1(
            &mut enc,
            "uptime",
            "Seconds since the daemon started.",
            Some(&Unit::Seconds),
            s.uptime_s,
        )?;
        let flags = [
            (
                "insecure",
                s.insecure,
                "1: the daemon signs with the public lab key (anyone can forge its peers' messages).",
            ),
            ("asleep", n.asleep, "1: this node announced its sleep and has not resumed."),
            (
                "listening",
                n.listening,
                "1: this node is in its start or resume grace period (listening only).",
            ),
            (
                "inhibiting_sleep",
                n.inhibiting_sleep,
                "1: this node holds the OS's sleep (it is a guardian somewhere).",
            ),
            ("can_proxy", n.can_proxy, "1: this node may answer for sleepers."),
        ];
        for (name, on, help) in flags {
            gauge1(&mut enc, name, help, None, u64::from(on))?;
        }

        // Per interface.
        let ifaces: Vec<(&IfaceStatus, Labels)> =
            n.ifaces.iter().map(|i| (i, iface_labels(i))).collect();
        gauge(
            &mut enc,
            "role",
            "1 for this node's role on the interface (member, guardian or manager), 0 for the others.",
            None,
            ifaces.iter().flat_map(|(i, l)| {
                [Role::Member, Role::Guardian, Role::Manager]
                    .map(|r| (with(l, "role", r.to_string()), u64::from(i.role == r)))
            }),
        )?;
        gauge(
            &mut enc,
            "term",
            "The election term on the interface.",
            None,
            ifaces.iter().map(|(i, l)| (l.clone(), i.term)),
        )?;
        gauge(
            &mut enc,
            "deaf",
            "1: this node cannot hear its peers on the interface, so it takes no role there and answers for nobody (see `wakeproxy status`).",
            None,
            ifaces.iter().map(|(i, l)| (l.clone(), u64::from(i.deaf.is_some()))),
        )?;
        gauge(
            &mut enc,
            "peers",
            "Peers this node knows on the interface, by liveness state.",
            None,
            ifaces.iter().flat_map(|(i, l)| {
                [PeerState::Awake, PeerState::Suspect, PeerState::Asleep, PeerState::Gone].map(
                    |st| {
                        let count = i.peers.iter().filter(|p| p.state == st).count();
                        (with(l, "state", st.to_string()), count as u64)
                    },
                )
            }),
        )?;
        gauge(
            &mut enc,
            "sleepers_proxied",
            "Sleepers this node answers for on the interface.",
            None,
            ifaces.iter().map(|(i, l)| (l.clone(), i.proxied.len() as u64)),
        )?;
        gauge(
            &mut enc,
            "sleepers_unproxied",
            "Peers this node knows asleep on the interface that the election gives no proxy (a manager's figure; nonzero for long means sleepers are unreachable).",
            None,
            ifaces.iter().map(|(i, l)| {
                let alone = i
                    .peers
                    .iter()
                    .filter(|p| p.state == PeerState::Asleep && p.proxied_by.is_none());
                (l.clone(), alone.count() as u64)
            }),
        )?;
        gauge(
            &mut enc,
            "peer_clock_offset_max",
            "The largest clock offset, either way, of a peer heard on the interface, as of its last signed message (peers outside the replay window are refused).",
            Some(&Unit::Seconds),
            ifaces.iter().map(|(i, l)| {
                let worst =
                    i.peers.iter().filter_map(|p| p.clock_offset_ms).map(i64::unsigned_abs).max();
                (l.clone(), worst.unwrap_or(0) as f64 / 1000.0)
            }),
        )?;

        // The peer protocol.
        counter1(
            &mut enc,
            "messages_received",
            "Datagrams received on the peer port.",
            None,
            c.datagrams,
        )?;
        counter1(
            &mut enc,
            "messages_accepted",
            "Peer messages accepted: authentic, fresh, on-link, not this node's own.",
            None,
            c.accepted,
        )?;
        counter1(
            &mut enc,
            "messages_accepted_other_key",
            "Peer messages accepted that were signed with the key this node accepts but does not sign with (a key rollover in progress).",
            None,
            c.accepted_other_key,
        )?;
        let r = &s.intake.refused;
        let refused = [
            ("malformed", c.malformed),
            ("unauthenticated", c.unauthenticated),
            ("version_mismatch", c.version_mismatch),
            ("unknown_kind", c.unknown_kind),
            ("replayed", c.replayed),
            ("stale", c.stale),
            ("seq_ahead", c.seq_ahead),
            ("impersonated", c.impersonated),
            ("off_link", c.off_link),
            ("too_many_senders", c.too_many_senders),
            ("peer_table_full", c.peer_table_full),
            ("reordered", c.reordered),
            ("ttl_below_255", r.ttl_below_255),
            ("ttl_missing", r.ttl_missing),
            ("own_replayed", r.own_replayed),
        ];
        counter(
            &mut enc,
            "messages_refused",
            "Datagrams on the peer port refused, by reason: unauthenticated (a wrong site key, or forged), stale (the sender's clock is off), off_link and ttl_below_255 (relayed from another link), replayed, and others (docs/metrics.md).",
            None,
            refused.map(|(why, v)| (vec![("reason", why.to_owned())], v)),
        )?;
        counter1(
            &mut enc,
            "messages_own_echo",
            "This node's own broadcasts heard back.",
            None,
            c.own_echo,
        )?;
        counter1(&mut enc, "messages_sent", "Datagrams sent on the peer port.", None, c.sent)?;

        // Frames and the proxy.
        counter1(
            &mut enc,
            "frames_received",
            "Frames handed in by the layer-2 capture.",
            None,
            c.frames,
        )?;
        let frames = [
            ("malformed", c.frames_malformed),
            ("sleeper_offload", c.offload_frames),
            ("address_conflict", c.address_conflicts),
            ("syn_to_sleeper", c.syns_seen),
            ("probe_syn", c.probe_syns),
            ("magic_packet", c.magic_seen),
        ];
        counter(
            &mut enc,
            "frames",
            "Captured frames of note, by class: malformed, a sleeper's NIC offload answering, another station using a sleeper's address, a SYN to a sleeper, a handover's liveness probe, a magic packet.",
            None,
            frames.map(|(class, v)| (vec![("class", class.to_owned())], v)),
        )?;
        counter1(
            &mut enc,
            "arp_answered",
            "ARP requests answered for sleepers.",
            None,
            c.arp_answered,
        )?;
        counter1(
            &mut enc,
            "na_answered",
            "IPv6 neighbour solicitations answered for sleepers.",
            None,
            c.ns_answered,
        )?;
        counter1(&mut enc, "syns_matched", "TCP SYNs to sleepers seen.", None, c.syns_seen)?;
        counter1(
            &mut enc,
            "syns_replayed",
            "SYNs sent on to woken sleepers.",
            None,
            c.syns_replayed,
        )?;
        counter1(
            &mut enc,
            "proxy_started",
            "Sleepers this node started answering for.",
            None,
            c.proxy_started,
        )?;
        counter1(
            &mut enc,
            "proxy_stopped",
            "Sleepers this node stopped answering for.",
            None,
            c.proxy_stopped,
        )?;
        counter1(
            &mut enc,
            "handovers",
            "Sleepers handed over to a new proxy after it claimed them.",
            None,
            c.handovers,
        )?;
        counter1(
            &mut enc,
            "claims_missing",
            "Nodes passed over for a sleeper because they did not claim it in time.",
            None,
            c.claims_missing,
        )?;
        counter1(
            &mut enc,
            "claims_blocked",
            "Claims a probe blocked (the owner answered, or the address was in use).",
            None,
            c.claims_blocked,
        )?;
        counter1(
            &mut enc,
            "sleep_enabled",
            "Sleep time enabled: seconds sleepers slept while this node answered for them, summed over sleepers.",
            Some(&Unit::Seconds),
            c.sleep_enabled_us as f64 / 1e6,
        )?;

        // Wakes.
        counter1(&mut enc, "wake_requests", "WakeRequests received.", None, c.wake_requests)?;
        counter1(&mut enc, "wakes_sent", "Magic packets sent.", None, c.wakes_sent)?;
        counter1(
            &mut enc,
            "wakes_confirmed",
            "Wakes whose target answered.",
            None,
            c.wakes_confirmed,
        )?;
        counter1(
            &mut enc,
            "wakes_given_up",
            "Wakes given up: every attempt sent, the target never answered.",
            None,
            c.wakes_given_up,
        )?;
        counter1(
            &mut enc,
            "wakes_deduplicated",
            "Wakes not sent because one for the same MAC was in flight or seen.",
            None,
            c.wakes_deduplicated,
        )?;
        counter1(
            &mut enc,
            "wakes_refused",
            "Wakes not started because too many were in flight.",
            None,
            c.wakes_refused,
        )?;
        gauge1(
            &mut enc,
            "wakes_in_flight",
            "Wakes in progress.",
            None,
            n.wakes_in_flight.len() as u64,
        )?;
        histogram(
            &mut enc,
            "wake_to_packet",
            "From a wake's cause (a SYN, a request) to its first magic packet.",
            &n.wake_latency.to_packet,
        )?;
        histogram(
            &mut enc,
            "wake_to_awake",
            "From a wake's cause to the target's first signed message.",
            &n.wake_latency.to_awake,
        )?;
        counter1(&mut enc, "probes", "Liveness probes asked for.", None, c.probes)?;

        // The intake and the kernel.
        let i = &s.intake;
        let queues = [
            ("probe", i.probes),
            ("peer", i.peer),
            ("frame", i.frames),
            ("wol", i.wol),
            ("other", i.other),
        ];
        counter(
            &mut enc,
            "intake_queued",
            "Inputs queued for the node, by kind.",
            None,
            queues.map(|(kind, q)| (vec![("kind", kind.to_owned())], q.queued)),
        )?;
        counter(
            &mut enc,
            "intake_dropped",
            "Inputs dropped because their queue was full, by kind (a flood).",
            None,
            queues.map(|(kind, q)| (vec![("kind", kind.to_owned())], q.dropped)),
        )?;
        let kernel = [("peer", i.kernel_drops.peer_sockets), ("capture", i.kernel_drops.capture)];
        counter(
            &mut enc,
            "kernel_dropped",
            "What the kernel dropped before the daemon read it, by socket (peer: SO_RXQ_OVFL; capture: PACKET_STATISTICS). Absent where the OS does not say.",
            None,
            kernel
                .into_iter()
                .filter_map(|(sock, v)| Some((vec![("socket", sock.to_owned())], v?))),
        )?;
        Ok(())
    }
}

/// `iface` and `subnet` (the interface's first IPv4 network, else its first IPv6 one): the
/// subnet lets one query compare the nodes of a subnet across hosts.
fn iface_labels(i: &IfaceStatus) -> Labels {
    let subnet = match (i.ipv4.first(), i.ipv6.first()) {
        (Some(p), _) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.len.min(32))).unwrap_or(0);
            format!("{}/{}", Ipv4Addr::from(u32::from(p.addr) & mask), p.len)
        }
        (None, Some(p)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(p.len.min(128))).unwrap_or(0);
            format!("{}/{}", std::net::Ipv6Addr::from(u128::from(p.addr) & mask), p.len)
        }
        (None, None) => String::new(),
    };
    vec![("iface", i.name.clone()), ("subnet", subnet)]
}

fn with(labels: &Labels, key: &'static str, value: String) -> Labels {
    let mut l = labels.clone();
    l.push((key, value));
    l
}

fn gauge<V: EncodeGaugeValue + Copy + std::fmt::Debug + Send + Sync + 'static>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Labels, V)>,
) -> std::fmt::Result
where
    ConstGauge<V>: EncodeMetric,
{
    let series = series.into_iter().map(|(l, v)| (l, ConstGauge::new(v)));
    family(enc, name, help, unit, MetricType::Gauge, series)
}

fn gauge1<V: EncodeGaugeValue + Copy + std::fmt::Debug + Send + Sync + 'static>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: V,
) -> std::fmt::Result
where
    ConstGauge<V>: EncodeMetric,
{
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, unit, MetricType::Gauge)?)
}

fn counter<V: EncodeCounterValue + Copy + std::fmt::Debug + Send + Sync + 'static>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Labels, V)>,
) -> std::fmt::Result
where
    ConstCounter<V>: EncodeMetric,
{
    let series = series.into_iter().map(|(l, v)| (l, ConstCounter::new(v)));
    family(enc, name, help, unit, MetricType::Counter, series)
}

fn counter1<V: EncodeCounterValue + Copy + std::fmt::Debug + Send + Sync + 'static>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: V,
) -> std::fmt::Result
where
    ConstCounter<V>: EncodeMetric,
{
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, unit, MetricType::Counter)?)
}

/// One metric family with a series per label set (its HELP and TYPE even when it has none).
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels, M)>,
) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(name, help, unit, kind)?;
    for (labels, m) in series {
        m.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    h: &LatencyHistogram,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    let bounds = LATENCY_BOUNDS_MS.iter().map(|ms| f64::from(*ms) / 1000.0).chain([f64::MAX]);
    let buckets: Vec<(f64, u64)> = bounds.zip(h.buckets).collect();
    let sum = Duration::from_micros(h.sum_us).as_secs_f64();
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, h.count, &buckets, None)
}
