//! The real server and client on a Unix socket in a temporary directory.

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
    ControlListener, CtlError, DaemonStatus, Request, ServeConfig, call, follow_events, serve_with,
    status,
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
        let server = tokio::spawn(serve_with(config, listener, requests, events.clone(), async {
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
        e.to_string()
            .ends_with("exists and is not a socket: remove it or set another control socket path")
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
    let config = ServeConfig { idle_timeout: Duration::from_millis(50), ..ServeConfig::default() };
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
    let server =
        tokio::spawn(serve_with(config, listener, requests, events, std::future::pending::<()>()));
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
