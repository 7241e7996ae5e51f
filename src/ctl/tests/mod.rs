//! In-process tests of the control socket, with a fake daemon task answering the calls: the real
//! Unix socket, server and client ([`socket`]), and the limits on in-memory pipes ([`limits`]).
//! Also the sample status the renderer tests use.

use std::net::Ipv4Addr;
use std::time::Duration;

#[cfg(any(unix, windows))]
use serde_json::{Value, json};
#[cfg(any(unix, windows))]
use tokio::sync::mpsc;

use super::protocol::{
    DaemonStatus, IntakeStatus, KernelDrops, KeyStatus, QueueStatus, RefusedStatus,
};
#[cfg(any(unix, windows))]
use super::{CtlCall, Request};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::node::{
    Counters, IfaceStatus, PeerStatus, ProxiedStatus, ProxyMode, ProxyStats, Status, WakeCause,
    WakeRecord,
};
use crate::core::peers::{PeerState, Probe, Reason};
use crate::core::proto::{Ipv4Prefix, Ipv6Prefix, Role};
use crate::core::time::Instant;

pub(super) fn id(n: u128) -> NodeId {
    NodeId::from_u128(n)
}

pub(super) fn mac(last: u8) -> MacAddr {
    MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, last])
}

pub(super) fn v4(a: [u8; 4], len: u8) -> Ipv4Prefix {
    Ipv4Prefix { addr: Ipv4Addr::from(a), len }
}

/// A representative status: two interfaces, every peer state, a proxied sleeper, wakes.
pub(super) fn sample(insecure: bool) -> DaemonStatus {
    let me = id(0x0a1b_2c3d_0000_0000_0000_0000_0000_0001);
    let peer = |n: u128, state, role, ports: Vec<u16>| PeerStatus {
        id: id(n),
        mac: mac(n as u8),
        ipv4: vec![v4([10, 0, 0, n as u8], 24)],
        state,
        reason: Reason::Heartbeat,
        last_heard_ago: Duration::from_millis(1200 * n as u64),
        state_for: Duration::from_secs(600),
        rtt: Some(Duration::from_micros(420)),
        probe: Probe::Idle,
        role,
        proxied_by: None,
        tcp_ports: ports,
        clock_offset_ms: Some(12),
    };
    let mut sleeper = peer(0x5566_7788 << 96 | 3, PeerState::Asleep, Role::Member, vec![22, 3389]);
    sleeper.proxied_by = Some(me);
    sleeper.rtt = None;
    sleeper.ipv4.push(v4([192, 168, 100, 200], 16));
    let mut suspect = peer(0x9999_0000 << 96 | 4, PeerState::Suspect, Role::Member, vec![]);
    suspect.probe = Probe::Pending(Instant::ZERO);
    let eth0 = IfaceStatus {
        id: crate::core::node::IfaceId(1),
        name: "eth0".into(),
        mac: mac(1),
        ipv4: vec![v4([10, 0, 0, 1], 24)],
        ipv6: vec![Ipv6Prefix { addr: "fe80::5054:ff:fe12:3401".parse().unwrap(), len: 64 }],
        role: Role::Manager,
        term: 7,
        manager: Some(me),
        guardians: vec![me, id(0x1122_3344 << 96 | 2)],
        peers: vec![
            peer(0x1122_3344 << 96 | 2, PeerState::Awake, Role::Guardian, (1..40).collect()),
            sleeper,
            suspect,
        ],
        proxied: vec![ProxiedStatus {
            id: id(0x5566_7788 << 96 | 3),
            mac: mac(3),
            mode: ProxyMode::ArpRedirect,
            since_ago: Duration::from_secs(3725),
            stats: ProxyStats {
                since: Instant::ZERO,
                arp_answered: 12,
                ns_answered: 3,
                syns_seen: 2,
                wakes_sent: 1,
            },
            handing_over_to: None,
        }],
        deaf: None,
    };
    let wlan = IfaceStatus {
        id: crate::core::node::IfaceId(2),
        name: "wlan0".into(),
        mac: mac(9),
        ipv4: vec![],
        ipv6: vec![],
        role: Role::Member,
        term: 0,
        manager: None,
        guardians: vec![],
        peers: vec![],
        proxied: vec![],
        deaf: None,
    };
    DaemonStatus {
        version: "0.1.0".into(),
        insecure,
        config_path: "/etc/wakeproxy/wakeproxy.toml".into(),
        key: Some(if insecure {
            let lab =
                crate::core::proto::SiteKey::new(crate::store::keys::INSECURE_LAB_KEY).unwrap();
            KeyStatus { id: lab.key_id().to_string(), accepted_id: None, file: None }
        } else {
            KeyStatus {
                id: "1a2b3c4d".into(),
                accepted_id: Some("5e6f7a8b".into()),
                file: Some("/etc/wakeproxy/site.key".into()),
            }
        }),
        metrics: None,
        uptime_s: 3 * 3600 + 12 * 60 + 5,
        node: Status {
            id: me,
            asleep: false,
            listening: false,
            inhibiting_sleep: true,
            proxy_mode: ProxyMode::ArpRedirect,
            can_proxy: true,
            ifaces: vec![eth0, wlan],
            counters: Counters {
                datagrams: 123_456,
                accepted: 120_000,
                sent: 40_000,
                malformed: 3,
                unauthenticated: 1,
                replayed: 2,
                probes: 17,
                wakes_sent: 4,
                ..Counters::default()
            },
            wake_latency: Default::default(),
            wakes_in_flight: vec![(mac(7), 2)],
            recent_wakes: vec![
                WakeRecord {
                    mac: mac(3),
                    cause: WakeCause::TcpSyn {
                        src: "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff".parse().unwrap(),
                        port: 3389,
                    },
                    attempts: 1,
                    to_packet: Some(Duration::from_millis(3)),
                    to_awake: Some(Duration::from_millis(4200)),
                    syns_replayed: 1,
                },
                WakeRecord {
                    mac: mac(5),
                    cause: WakeCause::Operator,
                    attempts: 10,
                    to_packet: Some(Duration::from_millis(1)),
                    to_awake: None,
                    syns_replayed: 0,
                },
                WakeRecord {
                    mac: mac(6),
                    cause: WakeCause::Request { from: id(0x1122_3344 << 96 | 2) },
                    attempts: 1,
                    to_packet: None,
                    to_awake: None,
                    syns_replayed: 0,
                },
            ],
        },
        intake: IntakeStatus {
            probes: QueueStatus { capacity: None, queued: 17, dropped: 0 },
            peer: QueueStatus { capacity: Some(1024), queued: 120_010, dropped: 0 },
            frames: QueueStatus { capacity: Some(1024), queued: 5_000, dropped: 12 },
            wol: QueueStatus { capacity: Some(64), queued: 3, dropped: 0 },
            other: QueueStatus { capacity: Some(64), queued: 3_440, dropped: 250_000 },
            ttl_checked: true,
            refused: RefusedStatus {
                ttl_below_255: 2,
                ttl_missing: 0,
                own_replayed: 0,
                last_from: Some("10.0.9.9:25536".parse().unwrap()),
                last_ttl: Some(63),
            },
            kernel_drops: KernelDrops { peer_sockets: Some(1_500), capture: Some(0) },
        },
    }
}

#[test]
fn status_json_round_trips_and_keeps_its_shape() {
    let s = sample(true);
    let v = serde_json::to_value(&s).unwrap();
    // The shape the Serialize derives always had (spot checks).
    let eth0 = &v["node"]["ifaces"][0];
    assert_eq!(eth0["ipv4"][0], "10.0.0.1/24");
    assert_eq!(eth0["peers"][2]["probe"], "pending");
    assert_eq!(eth0["peers"][0]["probe"], "idle");
    assert_eq!(eth0["proxied"][0]["arp_answered"], 12);
    assert!(eth0["proxied"][0].get("since").is_none());
    assert_eq!(v["node"]["recent_wakes"][1]["cause"], serde_json::json!({"kind": "operator"}));
    assert_eq!(
        v["node"]["recent_wakes"][0]["to_packet"],
        serde_json::json!({"secs": 0, "nanos": 3_000_000})
    );
    // Instants are not serialised; they come back as the origin.
    let back: DaemonStatus = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}

/// Answers like a daemon would, from fixed data.
#[cfg(any(unix, windows))]
pub(super) async fn fake_daemon(mut calls: mpsc::Receiver<CtlCall>) {
    while let Some(call) = calls.recv().await {
        let answer = match &call.request {
            Request::Status => Ok(serde_json::to_value(sample(false)).unwrap()),
            Request::Peers => Ok(serde_json::to_value(&sample(false).node.ifaces).unwrap()),
            Request::Events { .. } => Ok(json!([
                {"event": "wake-gave-up", "mac": "52:54:00:12:34:05", "attempts": 10, "seq": 1},
                {"event": "proxy-started", "iface": 1, "sleeper": "x", "mac": "m", "seq": 2},
            ])),
            Request::Wake { target, .. } if target == "nowhere" => {
                Err("cannot resolve `nowhere`: give a MAC, an IPv4 address or a known host name"
                    .into())
            }
            Request::Wake { target, .. } => Ok(json!({"woke": target, "uid": call.caller.uid})),
            Request::SleepNotice | Request::ResumeNotice => Ok(Value::Null),
            Request::Reload => Err("no key file in this test".into()),
        };
        let _ = call.reply.send(answer);
    }
}

/// The real socket, server and client.
#[cfg(unix)]
mod socket;

/// The per-caller limits, on in-memory pipes with callers of our choosing.
#[cfg(any(unix, windows))]
mod limits;

/// The fuzz target `ctl_request`'s seeds are real lines.
mod fuzz_seeds;
