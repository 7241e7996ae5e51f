//! The per-caller limits, with callers of our choosing: the server's own admission and
//! connection code on in-memory pipes (the accept loop only adds the socket and the kernel's
//! credentials). Tests that wait for timeouts run on tokio's paused clock.

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
    assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(61), "{waited:?}");
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
