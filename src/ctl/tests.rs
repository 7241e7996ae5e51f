//! In-process tests of the control socket: a real Unix socket in a temporary directory, the real
//! server and client, and a fake daemon task answering the calls. Also the sample status the
//! renderer tests use.

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

#[cfg(unix)]
mod socket {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::io::{AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;
    use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::sync::{broadcast, mpsc, oneshot};
    use tokio::task::JoinHandle;

    use super::{fake_daemon, sample};
    use crate::core::node::IfaceStatus;
    use crate::ctl::line::{LineRead, read_line};
    use crate::ctl::protocol::{MAX_REPLY_LINE, parse_reply};
    use crate::ctl::{
        ControlListener, CtlError, DaemonStatus, Request, ServeConfig, call, follow_events,
        serve_with, status,
    };

    /// A server on a socket in a temporary directory, with a fake daemon behind it.
    struct Harness {
        _dir: tempfile::TempDir,
        path: PathBuf,
        events: broadcast::Sender<Value>,
        stop: Option<oneshot::Sender<()>>,
        server: JoinHandle<Result<(), CtlError>>,
    }

    impl Harness {
        async fn start(config: ServeConfig) -> Self {
            let dir = tempfile::tempdir().unwrap();
            // Two levels that do not exist yet: bind creates them.
            let path = dir.path().join("run/wakeproxy/ctl.sock");
            let listener = ControlListener::bind(&path, None).unwrap();
            let (requests, calls) = mpsc::channel(16);
            let (events, _) = broadcast::channel(16);
            let (stop, stopped) = oneshot::channel::<()>();
            tokio::spawn(fake_daemon(calls));
            let server =
                tokio::spawn(serve_with(config, listener, requests, events.clone(), async {
                    let _ = stopped.await;
                }));
            Self { _dir: dir, path, events, stop: Some(stop), server }
        }

        async fn shutdown(mut self) -> Result<(), CtlError> {
            let _ = self.stop.take().map(|s| s.send(()));
            self.server.await.unwrap()
        }
    }

    /// A connection that sends raw bytes and reads reply lines.
    struct Raw {
        rd: BufReader<OwnedReadHalf>,
        wr: OwnedWriteHalf,
        buf: Vec<u8>,
    }

    impl Raw {
        async fn connect(path: &Path) -> Self {
            let (rd, wr) = UnixStream::connect(path).await.unwrap().into_split();
            Self { rd: BufReader::new(rd), wr, buf: Vec::new() }
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.wr.write_all(bytes).await.unwrap();
        }

        /// The next reply, or `None` once the server closed the connection.
        async fn reply(&mut self) -> Option<Result<Value, String>> {
            let read = tokio::time::timeout(
                Duration::from_secs(10),
                read_line(&mut self.rd, &mut self.buf, MAX_REPLY_LINE),
            )
            .await
            .expect("the server answers within 10 s");
            match read {
                Ok(LineRead::Line) => Some(parse_reply(&self.buf).unwrap()),
                Ok(_) | Err(_) => None,
            }
        }
    }

    #[tokio::test]
    async fn status_and_peers_round_trip() {
        let h = Harness::start(ServeConfig::default()).await;
        let got: DaemonStatus = status(&h.path).await.unwrap();
        assert_eq!(got, sample(false));
        let peers = call(&h.path, &Request::Peers).await.unwrap();
        let peers: Vec<IfaceStatus> = serde_json::from_value(peers).unwrap();
        assert_eq!(peers, sample(false).node.ifaces);
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_garbage_line_gets_an_error_and_the_connection_stays_usable() {
        let h = Harness::start(ServeConfig::default()).await;
        let mut c = Raw::connect(&h.path).await;
        c.send(b"hello daemon\n").await;
        let e = c.reply().await.unwrap().unwrap_err();
        assert!(e.starts_with("request is not JSON"), "{e}");
        assert!(e.contains(r#""hello daemon""#), "{e}");
        c.send(b"{\"v\":1,\"cmd\":\"shutdown\"}\n\n   \n").await;
        let e = c.reply().await.unwrap().unwrap_err();
        assert!(e.starts_with(r#"unknown command "shutdown""#), "{e}");
        c.send(b"{\"v\":1,\"cmd\":\"events\"}\r\n").await;
        let events = c.reply().await.unwrap().unwrap();
        assert_eq!(events.as_array().map(Vec::len), Some(2));
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn another_protocol_version_is_refused_with_both_versions() {
        let h = Harness::start(ServeConfig::default()).await;
        let mut c = Raw::connect(&h.path).await;
        c.send(b"{\"v\":2,\"cmd\":\"status\"}\n").await;
        assert_eq!(
            c.reply().await.unwrap().unwrap_err(),
            "client speaks control protocol v2, this daemon v1: use the wakeproxy binary that \
             matches the daemon"
        );
        c.send(format!("{}\n", Request::Peers.to_line()).as_bytes()).await;
        assert!(c.reply().await.unwrap().is_ok());
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_over_long_line_is_refused_and_the_connection_closed() {
        let h = Harness::start(ServeConfig::default()).await;
        let mut c = Raw::connect(&h.path).await;
        let mut line = vec![b'a'; 70_000];
        line.push(b'\n');
        c.send(&line).await;
        let e = c.reply().await.unwrap().unwrap_err();
        assert!(e.starts_with("request line longer than 65536 bytes"), "{e}");
        assert_eq!(c.reply().await, None);
        // The server itself is fine.
        assert!(status(&h.path).await.is_ok());
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_unprivileged_caller_may_read_but_not_wake() {
        let config = ServeConfig { is_privileged: |_| false, ..ServeConfig::default() };
        let h = Harness::start(config).await;
        let wake = Request::Wake { target: "aa:bb:cc:dd:ee:ff".into(), password: None };
        let e = call(&h.path, &wake).await.unwrap_err();
        assert!(matches!(e, CtlError::Daemon(_)));
        assert_eq!(e.to_string(), "wake needs root: run it with sudo");
        let e = call(&h.path, &Request::ResumeNotice).await.unwrap_err();
        assert_eq!(e.to_string(), "resume-notice needs root: run it with sudo");
        assert!(call(&h.path, &Request::Events { follow: false }).await.is_ok());
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_privileged_caller_wakes_and_the_daemon_sees_its_uid() {
        let config = ServeConfig { is_privileged: |_| true, ..ServeConfig::default() };
        let h = Harness::start(config).await;
        let my_uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        let wake = Request::Wake { target: "10.0.0.5".into(), password: Some("1.2.3.4".into()) };
        let got = call(&h.path, &wake).await.unwrap();
        assert_eq!(got["woke"], "10.0.0.5");
        if let Some(uid) = my_uid {
            assert_eq!(got["uid"], uid);
        }
        // A daemon error reply becomes CtlError::Daemon with the daemon's message.
        let wake = Request::Wake { target: "nowhere".into(), password: None };
        let e = call(&h.path, &wake).await.unwrap_err();
        assert!(e.to_string().starts_with("cannot resolve `nowhere`"), "{e}");
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn the_socket_is_0660_its_new_directory_0755_and_removed_on_shutdown() {
        let h = Harness::start(ServeConfig::default()).await;
        let meta = std::fs::symlink_metadata(&h.path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
        let dir = std::fs::metadata(h.path.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o7777, 0o755);
        let path = h.path.clone();
        h.shutdown().await.unwrap();
        assert!(!path.exists(), "the socket file is removed when serve returns");
    }

    #[tokio::test]
    async fn a_second_bind_while_the_first_daemon_lives_fails_clearly() {
        let h = Harness::start(ServeConfig::default()).await;
        let e = ControlListener::bind(&h.path, None).unwrap_err();
        assert!(matches!(e, CtlError::AlreadyRunning { .. }), "{e:?}");
        let want = format!("another wakeproxy daemon is running: {}", h.path.display());
        assert!(e.to_string().starts_with(&want), "{e}");
        // The first daemon still has its socket.
        assert!(status(&h.path).await.is_ok());
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a crashed daemon leaves its socket file behind");
        let listener = ControlListener::bind(&path, None).unwrap();
        assert_eq!(listener.path(), path);
        let (requests, calls) = mpsc::channel(1);
        tokio::spawn(fake_daemon(calls));
        let (events, _) = broadcast::channel(1);
        let server = tokio::spawn(serve_with(
            ServeConfig::default(),
            listener,
            requests,
            events,
            std::future::pending::<()>(),
        ));
        assert!(status(&path).await.is_ok());
        server.abort();
    }

    #[tokio::test]
    async fn something_else_at_the_socket_path_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        std::fs::write(&path, "precious").unwrap();
        let e = ControlListener::bind(&path, None).unwrap_err();
        assert!(matches!(e, CtlError::NotASocket { .. }), "{e:?}");
        assert!(
            e.to_string().ends_with(
                "exists and is not a socket: remove it or set another control socket path"
            )
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[tokio::test]
    async fn the_socket_goes_to_the_named_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let e = ControlListener::bind(&path, Some("no-such-group-wakeproxy")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "group `no-such-group-wakeproxy` does not exist here (`getent group \
             no-such-group-wakeproxy` finds nothing): create it (groupadd \
             no-such-group-wakeproxy) or set the control socket group to an existing group"
        );
        assert!(!path.exists());
        // Changing a file's group to one we are not in needs root; as anyone else, our own gid.
        let my_gid = std::fs::metadata("/proc/self").unwrap().gid();
        let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let name = group_file
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 3).then(|| (f[0].to_owned(), f[2].parse::<u32>().ok()))
            })
            .find(
                |(_, gid)| {
                    if my_gid == 0 { gid.is_some_and(|g| g != 0) } else { *gid == Some(my_gid) }
                },
            );
        let (group, gid) = match name {
            Some((n, Some(g))) => (n, g),
            _ => (my_gid.to_string(), my_gid),
        };
        let listener = ControlListener::bind(&path, Some(&group)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().gid(), gid, "group {group}");
        drop(listener);
        assert!(!path.exists(), "dropping the listener removes the socket");
    }

    #[tokio::test]
    async fn client_errors_name_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.sock");
        let e = call(&path, &Request::Status).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "no wakeproxy daemon is listening on {}: is the service running? (systemctl \
                 status wakeproxy)",
                path.display()
            )
        );
        assert!(matches!(follow_events(&path).await, Err(CtlError::NotRunning { .. })));
        let e = call(&path, &Request::Events { follow: true }).await.unwrap_err();
        assert!(matches!(e, CtlError::StreamingRequest));
    }

    #[tokio::test]
    async fn follow_prints_the_history_then_new_events_once_each() {
        let h = Harness::start(ServeConfig::default()).await;
        let mut stream = follow_events(&h.path).await.unwrap();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first["event"], "wake-gave-up");
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(second["seq"], 2);
        // The server subscribed before it asked for the history: seq 2 is in both, sent once.
        h.events.send(json!({"event": "proxy-started", "seq": 2})).unwrap();
        h.events.send(json!({"event": "proxy-stopped", "seq": 3})).unwrap();
        h.events.send(json!({"event": "impersonated"})).unwrap();
        let third = stream.next().await.unwrap().unwrap();
        assert_eq!(third, json!({"event": "proxy-stopped", "seq": 3}));
        let fourth = stream.next().await.unwrap().unwrap();
        assert_eq!(fourth["event"], "impersonated");
        // Closing the stream ends the follower on the server.
        drop(stream);
        wait_until(|| h.events.receiver_count() == 0).await;
        // Shutdown ends followers too.
        let mut stream = follow_events(&h.path).await.unwrap();
        assert!(stream.next().await.unwrap().is_ok());
        h.shutdown().await.unwrap();
        let mut rest = 0;
        while let Some(item) = stream.next().await {
            assert!(item.is_ok());
            rest += 1;
        }
        assert!(rest <= 1, "only the rest of the history, then the end of the stream");
    }

    #[tokio::test]
    async fn a_follower_that_does_not_read_is_dropped_without_holding_anyone_up() {
        let config =
            ServeConfig { write_timeout: Duration::from_millis(100), ..ServeConfig::default() };
        let h = Harness::start(config).await;
        let mut c = Raw::connect(&h.path).await;
        c.send(b"{\"v\":1,\"cmd\":\"events\",\"follow\":true}\n").await;
        wait_until(|| h.events.receiver_count() == 1).await;
        let big = "x".repeat(64 * 1024);
        for seq in 0..200 {
            // Never blocks, whatever the follower does.
            let _ = h.events.send(json!({"event": "noise", "seq": 100 + seq, "pad": big}));
            tokio::time::sleep(Duration::from_millis(5)).await;
            if h.events.receiver_count() == 0 {
                break;
            }
        }
        wait_until(|| h.events.receiver_count() == 0).await;
        // Everyone else is served as before.
        assert!(status(&h.path).await.is_ok());
        drop(c);
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_told_to_try_again() {
        let config = ServeConfig { max_connections: 1, ..ServeConfig::default() };
        let h = Harness::start(config).await;
        let mut first = Raw::connect(&h.path).await;
        first.send(b"{\"v\":1,\"cmd\":\"events\"}\n").await;
        assert!(matches!(first.reply().await, Some(Ok(Value::Array(_)))));
        let mut second = Raw::connect(&h.path).await;
        let e = second.reply().await.unwrap().unwrap_err();
        assert_eq!(e, "the daemon is serving 1 control connection, its limit: try again shortly");
        assert_eq!(second.reply().await, None);
        drop(first);
        // Once the first is gone, a new connection is served.
        let mut ok = false;
        for _ in 0..100 {
            if status(&h.path).await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(ok);
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_caller_is_told_which_limit_it_hit() {
        // Everyone unprivileged, one connection each: the second is refused by the real socket.
        let config =
            ServeConfig { is_privileged: |_| false, max_per_user: 1, ..ServeConfig::default() };
        let h = Harness::start(config).await;
        let mut first = Raw::connect(&h.path).await;
        first.send(b"{\"v\":1,\"cmd\":\"peers\"}\n").await;
        assert!(matches!(first.reply().await, Some(Ok(Value::Array(_)))));
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        let want = format!(
            "uid {uid} already has 1 control connection open, the limit per user: close some \
             (each `wakeproxy events --follow` holds one) and try again"
        );
        // What `wakeproxy status` prints after "error: ", whether the refusal arrived before or
        // after the client sent its request.
        let e = call(&h.path, &Request::Status).await.unwrap_err();
        assert!(matches!(e, CtlError::Daemon(_)), "{e:?}");
        assert_eq!(e.to_string(), want);
        let mut stream = follow_events(&h.path).await.map(Some).or_else(|e| match e {
            CtlError::Daemon(m) => {
                assert_eq!(m, want);
                Ok::<_, CtlError>(None)
            }
            other => Err(other),
        });
        if let Ok(Some(s)) = &mut stream {
            assert_eq!(s.next().await.unwrap().unwrap_err().to_string(), want);
            assert!(s.next().await.is_none(), "then closed");
        }
        assert!(stream.is_ok());
        drop(first);
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed() {
        let config =
            ServeConfig { idle_timeout: Duration::from_millis(50), ..ServeConfig::default() };
        let h = Harness::start(config).await;
        let mut c = Raw::connect(&h.path).await;
        let e = c.reply().await.unwrap().unwrap_err();
        assert_eq!(e, "no request for 50ms: closing the connection");
        assert_eq!(c.reply().await, None);
        h.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_daemon_that_stopped_answering_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let listener = ControlListener::bind(&path, None).unwrap();
        let (requests, calls) = mpsc::channel(1);
        drop(calls);
        let (events, _) = broadcast::channel(1);
        let config = ServeConfig::default();
        let server = tokio::spawn(serve_with(
            config,
            listener,
            requests,
            events,
            std::future::pending::<()>(),
        ));
        let e = call(&path, &Request::Status).await.unwrap_err();
        assert_eq!(e.to_string(), "the daemon is shutting down: try again when it is back");
        server.abort();
    }

    async fn wait_until(cond: impl Fn() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached within 5 s");
    }
}

/// The per-caller limits, with callers of our choosing: the server's own admission and
/// connection code on in-memory pipes (the accept loops only add the socket and the kernel's
/// credentials). Tests that wait for timeouts run on tokio's paused clock.
#[cfg(any(unix, windows))]
mod limits {
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::io::{AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
    use tokio::sync::{broadcast, mpsc};
    use tokio::task::JoinSet;

    use super::{fake_daemon, sample};
    use crate::ctl::line::{LineRead, read_line};
    use crate::ctl::protocol::{MAX_REPLY_LINE, parse_reply};
    use crate::ctl::server::{Gate, refusal_line};
    use crate::ctl::{Caller, CtlError, Request, ServeConfig};

    const ROOT: Caller = Caller { uid: Some(0), pid: Some(1), privileged: true };

    fn user(uid: u32) -> Caller {
        Caller { uid: Some(uid), pid: Some(4000 + uid as i32), privileged: false }
    }

    /// A server without a socket: callers are whatever the test says.
    struct Bench {
        gate: Gate,
        events: broadcast::Sender<Value>,
        tasks: JoinSet<()>,
        /// Bytes the pipe of each new connection buffers.
        pipe: usize,
    }

    impl Bench {
        fn new(config: ServeConfig) -> Self {
            let (requests, calls) = mpsc::channel(16);
            tokio::spawn(fake_daemon(calls));
            let (events, _) = broadcast::channel(16);
            let gate = Gate::new(config, requests, events.clone());
            Self { gate, events, tasks: JoinSet::new(), pipe: 64 * 1024 }
        }

        /// Connects as `caller`: the client's end, or the line a refused client is sent.
        fn connect(&mut self, caller: Caller) -> Result<Client, String> {
            let conn = self.gate.admit(&caller).map_err(|why| refusal_line(&why))?;
            let (client, server) = tokio::io::duplex(self.pipe);
            let (rd, wr) = tokio::io::split(server);
            self.tasks.spawn(conn.run(rd, wr));
            Ok(Client::new(client))
        }

        /// A follower of events as `caller`, its history read.
        async fn follow(&mut self, caller: Caller) -> Client {
            let mut c = self.connect(caller).unwrap();
            c.send(&Request::Events { follow: true }).await;
            for seq in [1, 2] {
                assert_eq!(c.reply().await.unwrap().unwrap()["seq"], seq);
            }
            c
        }

        /// (connections, followers) `caller`'s uid holds, once it has settled to `want`.
        async fn held_by(&self, caller: Caller, want: (usize, usize)) {
            for _ in 0..3000 {
                if self.gate.admission().held_by(caller.uid) == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!(
                "{:?} holds {:?}, not {want:?}",
                caller.uid,
                self.gate.admission().held_by(caller.uid)
            );
        }
    }

    /// What a refused client reads: the error line, as the command line shows it.
    fn shown(line: &str) -> String {
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "one line: {line:?}");
        let msg = parse_reply(line.trim_end().as_bytes()).unwrap().unwrap_err();
        CtlError::Daemon(msg).to_string()
    }

    struct Client {
        rd: BufReader<ReadHalf<DuplexStream>>,
        wr: WriteHalf<DuplexStream>,
        buf: Vec<u8>,
    }

    impl Client {
        fn new(stream: DuplexStream) -> Self {
            let (rd, wr) = tokio::io::split(stream);
            Self { rd: BufReader::new(rd), wr, buf: Vec::new() }
        }

        async fn send(&mut self, request: &Request) {
            self.wr.write_all(format!("{}\n", request.to_line()).as_bytes()).await.unwrap();
        }

        /// The next reply, or `None` once the server closed the connection. Waits as long as
        /// it takes: on the paused clock, timeouts of the server's fire first.
        async fn reply(&mut self) -> Option<Result<Value, String>> {
            match read_line(&mut self.rd, &mut self.buf, MAX_REPLY_LINE).await {
                Ok(LineRead::Line) => Some(parse_reply(&self.buf).unwrap()),
                Ok(_) | Err(_) => None,
            }
        }

        async fn status(&mut self) -> Result<Value, String> {
            self.send(&Request::Status).await;
            self.reply().await.expect("an answer")
        }
    }

    #[tokio::test]
    async fn a_user_holding_every_connection_and_follower_it_may_have_cannot_lock_root_out() {
        let config = ServeConfig {
            max_connections: 8,
            reserved_for_privileged: 2,
            max_per_user: 6,
            max_followers_per_user: 3,
            ..ServeConfig::default()
        };
        let mut b = Bench::new(config);
        let alice = user(1000);
        let mut followers = Vec::new();
        for _ in 0..3 {
            followers.push(b.follow(alice).await);
        }
        // A fourth follower is refused, naming the limit, and its connection closed.
        let mut fourth = b.connect(alice).unwrap();
        fourth.send(&Request::Events { follow: true }).await;
        assert_eq!(
            fourth.reply().await,
            Some(Err("uid 1000 already follows events on 3 connections, the limit per user: \
                      stop one of them (Ctrl-C) and try again"
                .into()))
        );
        assert_eq!(fourth.reply().await, None);
        b.held_by(alice, (3, 3)).await;
        // Three more connections that just sit there: six, her limit.
        let mut idle: Vec<Client> = (0..3).map(|_| b.connect(alice).unwrap()).collect();
        b.held_by(alice, (6, 3)).await;
        let refused = b.connect(alice).err().unwrap();
        assert_eq!(
            shown(&refused),
            "uid 1000 already has 6 control connections open, the limit per user: close some \
             (each `wakeproxy events --follow` holds one) and try again"
        );
        // Her six are all other users may have: the last two places are root's.
        let bob = user(1001);
        assert_eq!(
            shown(&b.connect(bob).err().unwrap()),
            "the daemon is serving 6 control connections for users other than root, their \
             limit (2 more are kept for root): try again shortly, or run it with sudo"
        );
        // Root gets both, and is answered on both.
        let (mut r1, mut r2) = (b.connect(ROOT).unwrap(), b.connect(ROOT).unwrap());
        let want = serde_json::to_value(sample(false)).unwrap();
        assert_eq!(r1.status().await, Ok(want.clone()));
        assert_eq!(r2.status().await, Ok(want));
        assert_eq!(b.gate.admission().total(), 8);
        assert_eq!(
            shown(&b.connect(ROOT).err().unwrap()),
            "the daemon is serving 8 control connections, its limit: try again shortly"
        );
        // Her followers were served all along, and closing one gives her place back.
        b.events.send(json!({"event": "x", "seq": 3})).unwrap();
        for f in &mut followers {
            assert_eq!(f.reply().await, Some(Ok(json!({"event": "x", "seq": 3}))));
        }
        drop(followers.pop());
        b.held_by(alice, (5, 2)).await;
        followers.push(b.follow(alice).await);
        b.held_by(alice, (6, 3)).await;
        assert!(idle[0].status().await.is_ok(), "an open connection is still served");
    }

    #[tokio::test]
    async fn privileged_callers_are_limited_by_the_total_only() {
        // As on Windows, where every caller of the pipe is an administrator.
        let config = ServeConfig {
            max_connections: 4,
            reserved_for_privileged: 2,
            max_per_user: 1,
            max_followers_per_user: 0,
            ..ServeConfig::default()
        };
        let mut b = Bench::new(config);
        let mut held = vec![b.follow(ROOT).await, b.follow(ROOT).await];
        held.push(b.connect(ROOT).unwrap());
        held.push(b.connect(ROOT).unwrap());
        assert_eq!(b.gate.admission().total(), 4);
        assert_eq!(b.gate.admission().held_by(ROOT.uid), (0, 0), "root is not counted as a user");
        assert!(b.connect(ROOT).err().unwrap().contains("serving 4 control connections"));
        // A user with no follower allowance may still ask other things.
        drop(held);
        for _ in 0..1000 {
            if b.gate.admission().total() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut c = b.connect(user(7)).unwrap();
        assert!(c.status().await.is_ok());
        c.send(&Request::Events { follow: true }).await;
        let e = c.reply().await.unwrap().unwrap_err();
        assert!(e.starts_with("uid 7 already follows events on 0 connections"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_idle_timeout_but_a_follower_is_not() {
        let config = ServeConfig::default();
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        let mut b = Bench::new(config);
        let start = tokio::time::Instant::now();
        let mut idle = b.connect(user(1000)).unwrap();
        let mut follower = b.follow(user(1000)).await;
        let e = idle.reply().await.unwrap().unwrap_err();
        assert_eq!(e, "no request for 60s: closing the connection");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
            "{waited:?}"
        );
        assert_eq!(idle.reply().await, None);
        b.held_by(user(1000), (1, 1)).await;
        // A request now and then keeps a connection open; the clock restarts with each.
        let mut busy = b.connect(user(1000)).unwrap();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(50)).await;
            assert!(busy.status().await.is_ok());
        }
        // Ten minutes later the follower still gets events.
        tokio::time::sleep(Duration::from_secs(600)).await;
        b.events.send(json!({"event": "late", "seq": 9})).unwrap();
        assert_eq!(follower.reply().await, Some(Ok(json!({"event": "late", "seq": 9}))));
        b.held_by(user(1000), (1, 1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_whose_client_stops_reading_is_dropped_and_gives_its_place_back() {
        let config = ServeConfig { max_followers_per_user: 1, ..ServeConfig::default() };
        let write_timeout = config.write_timeout;
        let mut b = Bench::new(config);
        b.pipe = 1024;
        let stuck = b.follow(user(1000)).await;
        b.held_by(user(1000), (1, 1)).await;
        let start = tokio::time::Instant::now();
        // It reads nothing more: the pipe fills, the next write waits, then times out.
        let pad = "x".repeat(600);
        for seq in 3..6 {
            b.events.send(json!({"event": "noise", "seq": seq, "pad": pad})).unwrap();
        }
        b.held_by(user(1000), (0, 0)).await;
        let took = start.elapsed();
        assert!(took >= write_timeout && took < write_timeout * 2, "dropped after {took:?}");
        assert_eq!(b.events.receiver_count(), 0);
        drop(stuck);
        // Its place is free again.
        let _again = b.follow(user(1000)).await;
    }
}
