//! The daemon's intake: how what the sockets, the captures and the probes deliver reaches the
//! node's task, kind by kind, so that a flood of one kind never delays or drops another.
//!
//! Every kind has a bounded queue of its own, and the node's loop serves them in priority
//! order (`Daemon::run`: `tokio::select!` with `biased`):
//!
//! | queue | holds | capacity | served |
//! |---|---|---|---|
//! | `probes` | probe results | unbounded: one per probe the node asked for, never dropped | first |
//! | `peer` | peer datagrams whose tag verifies under the site key, fresh, sent from this link | [`PEER_QUEUE`] | second (then the node's timers, control requests, chores) |
//! | `frames` | layer-2 frames from the capture | [`FRAME_QUEUE`] | after everything above |
//! | `wol` | datagrams on the Wake-on-LAN port | [`WOL_QUEUE`] | after frames |
//! | `other` | every other peer-port datagram (not wakeproxy, wrong key, other version, replayed): the node only counts them | [`OTHER_QUEUE`] | last |
//!
//! The peer socket's reader sorts before it queues: [`Sorter`] runs [`proto::decode`] (cheap
//! checks first, then the HMAC; it never panics) and a [`ReplayGuard`] of its own, so neither
//! junk nor a replayed capture of an authentic datagram can fill the peer queue. It also applies
//! GTSM (RFC 5082): peers send with IP TTL 255, and an authentic message of any kind but a
//! `WakeRequest` that arrives with a lower TTL crossed a router and is refused. It also refuses
//! replays of the node's own messages, which the node would otherwise answer one by one (see
//! [`Refusal::OwnReplayed`]). Beyond that the sort only chooses the queue; the node decides
//! everything again itself.
//!
//! A full queue drops the new input and counts it ([`Stats`], shared by the readers, shown by
//! `status` as [`IntakeStatus`]), together with the refusals and what the kernel dropped before
//! the readers saw it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::watch;

use super::Input;
use super::os::sockets::{GTSM_TTL, Ttl};
use super::platform::{Datagram, DatagramSink, Platform};
use crate::core::addr::NodeId;
use crate::core::node::IfaceId;
use crate::core::proto::{self, Decoded, Message, ReplayGuard, SiteKey};
use crate::ctl::{IntakeStatus, KernelDrops, QueueStatus, RefusedStatus};
use crate::os::capture::FrameSink;

/// Authentic peer datagrams waiting for the node: a burst of heartbeats from a thousand peers.
pub const PEER_QUEUE: usize = 1024;
/// Other peer-port datagrams waiting: enough for the odd stray; under a flood they are dropped.
pub const OTHER_QUEUE: usize = 64;
/// Frames waiting: ARP, neighbour solicitations and SYNs for a busy LAN's sleepers.
pub const FRAME_QUEUE: usize = 1024;
/// Datagrams on the Wake-on-LAN port waiting (they only save duplicate magic packets).
pub const WOL_QUEUE: usize = 64;

/// How often a reader's replay guard forgets senders that fell out of the window.
const PRUNE_EVERY_MS: u64 = 10_000;

/// What went into one queue and what was dropped because it was full.
#[derive(Debug, Default)]
pub(super) struct Counter {
    queued: AtomicU64,
    dropped: AtomicU64,
}

impl Counter {
    fn status(&self, capacity: Option<usize>) -> QueueStatus {
        QueueStatus {
            capacity: capacity.map(|c| c as u64),
            queued: self.queued.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
        }
    }
}

/// The intake's counters, shared by the readers and the node's task.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) peer: Counter,
    pub(super) other: Counter,
    pub(super) frames: Counter,
    pub(super) wol: Counter,
    pub(super) probes: Counter,
    ttl_below_255: AtomicU64,
    ttl_missing: AtomicU64,
    own_replayed: AtomicU64,
    last_refused: Mutex<Option<(SocketAddr, Option<u8>)>>,
    kernel_peer: AtomicU64,
}

impl Stats {
    fn refuse(&self, why: Refusal, from: SocketAddr, ttl: Ttl) {
        let counter = match why {
            Refusal::TtlBelow255 => &self.ttl_below_255,
            Refusal::TtlMissing => &self.ttl_missing,
            Refusal::OwnReplayed => &self.own_replayed,
        };
        counter.fetch_add(1, Relaxed);
        let ttl = match ttl {
            Ttl::Known(t) => Some(t),
            Ttl::Missing | Ttl::Unsupported => None,
        };
        if let Ok(mut last) = self.last_refused.lock() {
            *last = Some((from, ttl));
        }
    }
}

/// Puts `input` on `queue` if it has room, counting it either way; false once the node's end
/// is gone. `make` runs only when there is room, so a flood costs no allocation.
fn offer(queue: &mpsc::Sender<Input>, count: &Counter, make: impl FnOnce() -> Input) -> bool {
    match queue.try_reserve() {
        Ok(permit) => {
            permit.send(make());
            count.queued.fetch_add(1, Relaxed);
            true
        }
        Err(TrySendError::Full(())) => {
            count.dropped.fetch_add(1, Relaxed);
            true
        }
        Err(TrySendError::Closed(())) => false,
    }
}

/// The sending ends, the counters and the key: owned by the daemon, cloned into readers.
#[derive(Debug, Clone)]
pub(super) struct Senders {
    probes: mpsc::UnboundedSender<Input>,
    peer: mpsc::Sender<Input>,
    frames: mpsc::Sender<Input>,
    wol: mpsc::Sender<Input>,
    other: mpsc::Sender<Input>,
    stats: Arc<Stats>,
}

/// The receiving ends, which the node's loop serves: the high-priority queues before anything
/// else it waits for, the low-priority ones after everything else.
#[derive(Debug)]
pub struct Inputs {
    pub(super) high: High,
    pub(super) low: Low,
}

/// Probe results and authentic peer datagrams.
#[derive(Debug)]
pub(super) struct High {
    probes: mpsc::UnboundedReceiver<Input>,
    peer: mpsc::Receiver<Input>,
}

/// Frames, Wake-on-LAN datagrams and other peer-port datagrams.
#[derive(Debug)]
pub(super) struct Low {
    frames: mpsc::Receiver<Input>,
    wol: mpsc::Receiver<Input>,
    other: mpsc::Receiver<Input>,
}

impl High {
    /// The next probe result or authentic peer datagram, probe results first; `None` once
    /// both queues are closed. Cancel-safe.
    pub(super) async fn recv(&mut self) -> Option<Input> {
        tokio::select! {
            biased;
            Some(i) = self.probes.recv() => Some(i),
            Some(i) = self.peer.recv() => Some(i),
            else => None,
        }
    }
}

impl Low {
    /// The next frame, Wake-on-LAN datagram or other peer-port datagram, in that order; `None`
    /// once all three queues are closed. Cancel-safe.
    pub(super) async fn recv(&mut self) -> Option<Input> {
        tokio::select! {
            biased;
            Some(i) = self.frames.recv() => Some(i),
            Some(i) = self.wol.recv() => Some(i),
            Some(i) = self.other.recv() => Some(i),
            else => None,
        }
    }
}

/// The queues, their counters and the key the peer readers verify with.
pub(super) struct Intake {
    senders: Senders,
    key: watch::Sender<SiteKey>,
    replay_window: Duration,
    platform: Arc<dyn Platform>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").field("senders", &self.senders).finish_non_exhaustive()
    }
}

impl Intake {
    /// Empty queues; the readers verify with `key` and keep replays out for `replay_window`
    /// (the node's own window).
    pub(super) fn new(
        key: SiteKey,
        replay_window: Duration,
        platform: Arc<dyn Platform>,
    ) -> (Self, Inputs) {
        let (probes, probes_rx) = mpsc::unbounded_channel();
        let (peer, peer_rx) = mpsc::channel(PEER_QUEUE);
        let (frames, frames_rx) = mpsc::channel(FRAME_QUEUE);
        let (wol, wol_rx) = mpsc::channel(WOL_QUEUE);
        let (other, other_rx) = mpsc::channel(OTHER_QUEUE);
        let senders = Senders { probes, peer, frames, wol, other, stats: Arc::default() };
        let inputs = Inputs {
            high: High { probes: probes_rx, peer: peer_rx },
            low: Low { frames: frames_rx, wol: wol_rx, other: other_rx },
        };
        (Self { senders, key: watch::Sender::new(key), replay_window, platform }, inputs)
    }

    /// From now on the peer readers verify with `key` (each picks it up before its next
    /// datagram).
    pub(super) fn set_key(&self, key: SiteKey) {
        self.key.send_replace(key);
    }

    /// Where the peer socket of interface `iface` hands its datagrams; `own` is this node's id.
    /// The sink sorts each one ([`Sorter`]) and queues it, or refuses it and counts why.
    pub(super) fn peer_sink(&self, iface: IfaceId, own: NodeId) -> DatagramSink {
        let mut sorter = Sorter::new(self.key.subscribe(), self.replay_window, own);
        let (s, platform) = (self.senders.clone(), self.platform.clone());
        let mut kernel_drops = 0u32;
        Box::new(move |d: Datagram<'_>| {
            if let Some(n) = d.kernel_drops {
                // The kernel reports the socket's running total; add what is new.
                s.stats.kernel_peer.fetch_add(u64::from(n.wrapping_sub(kernel_drops)), Relaxed);
                kernel_drops = n;
            }
            let (queue, count) = match sorter.sort(d.bytes, d.ttl, platform.unix_ms()) {
                Route::Peer => (&s.peer, &s.stats.peer),
                Route::Other => (&s.other, &s.stats.other),
                Route::Refused(why) => {
                    s.stats.refuse(why, d.from, d.ttl);
                    return true;
                }
            };
            offer(queue, count, || Input::Datagram { iface, from: d.from, bytes: d.bytes.to_vec() })
        })
    }

    /// Where the Wake-on-LAN listener of interface `iface` hands its datagrams.
    pub(super) fn wol_sink(&self, iface: IfaceId) -> DatagramSink {
        let s = self.senders.clone();
        Box::new(move |d: Datagram<'_>| {
            offer(&s.wol, &s.stats.wol, || Input::WolPayload { iface, bytes: d.bytes.to_vec() })
        })
    }

    /// Where interface `iface`'s capture hands its frames. It never blocks: a full queue drops
    /// the frame (and counts it); a caller retransmits its SYN, ARP and neighbour solicitations
    /// are retried too.
    pub(super) fn frame_sink(&self, iface: IfaceId) -> FrameSink {
        let s = self.senders.clone();
        Box::new(move |bytes| {
            offer(&s.frames, &s.stats.frames, || Input::Frame { iface, bytes });
        })
    }

    /// Hands the node a probe result. Never dropped: results are as many as the probes the
    /// node asked for.
    pub(super) fn probe_result(&self) -> ProbeResults {
        ProbeResults(self.senders.clone())
    }

    /// What `status` shows; `capture_drops` is what the layer-2 backends' kernels dropped, if
    /// they can tell.
    pub(super) fn status(&self, capture_drops: Option<u64>) -> IntakeStatus {
        let st = &self.senders.stats;
        let (last_from, last_ttl) = st
            .last_refused
            .lock()
            .ok()
            .and_then(|l| *l)
            .map_or((None, None), |(f, t)| (Some(f), t));
        IntakeStatus {
            probes: st.probes.status(None),
            peer: st.peer.status(Some(PEER_QUEUE)),
            frames: st.frames.status(Some(FRAME_QUEUE)),
            wol: st.wol.status(Some(WOL_QUEUE)),
            other: st.other.status(Some(OTHER_QUEUE)),
            ttl_checked: self.platform.reports_ttl(),
            refused: RefusedStatus {
                ttl_below_255: st.ttl_below_255.load(Relaxed),
                ttl_missing: st.ttl_missing.load(Relaxed),
                own_replayed: st.own_replayed.load(Relaxed),
                last_from,
                last_ttl,
            },
            kernel_drops: KernelDrops {
                peer_sockets: self.platform.reports_ttl().then(|| st.kernel_peer.load(Relaxed)),
                capture: capture_drops,
            },
        }
    }
}

/// A handle that sends probe results to the node (see [`Intake::probe_result`]).
#[derive(Debug, Clone)]
pub(super) struct ProbeResults(Senders);

impl ProbeResults {
    /// Queues one result.
    pub(super) fn send(&self, input: Input) {
        if self.0.probes.send(input).is_ok() {
            self.0.stats.probes.queued.fetch_add(1, Relaxed);
        }
    }
}

/// Where a datagram from a peer socket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// Authentic, not seen before by this reader, and (but for a WakeRequest) sent from this
    /// link: the peer queue.
    Peer,
    /// Anything else the node must count: the other queue.
    Other,
    /// Authentic but from beyond this link: refused here, never queued.
    Refused(Refusal),
}

/// Why an authentic datagram was refused before the node saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// It arrived with a TTL below 255: a router forwarded it (GTSM, RFC 5082).
    TtlBelow255,
    /// The platform reports TTLs but not this datagram's: refused rather than trusted.
    TtlMissing,
    /// A replay (or a stale copy) of one of this node's own messages: someone on the LAN sends
    /// a capture back. The node would take every copy for an impersonation and answer each
    /// with a broadcast, so a flood of them would make it flood the LAN in turn.
    OwnReplayed,
}

/// Sorts one peer socket's datagrams: the site key (updated through a `watch`) and a replay
/// guard of its own.
#[derive(Debug)]
pub(super) struct Sorter {
    key_rx: watch::Receiver<SiteKey>,
    key: SiteKey,
    guard: ReplayGuard,
    pruned_ms: u64,
    own: NodeId,
}

impl Sorter {
    /// A sorter for the node `own`, refusing replays for `replay_window` (the node's window).
    pub(super) fn new(
        mut key_rx: watch::Receiver<SiteKey>,
        replay_window: Duration,
        own: NodeId,
    ) -> Self {
        let key = key_rx.borrow_and_update().clone();
        Self { key_rx, key, guard: ReplayGuard::new(replay_window), pruned_ms: 0, own }
    }

    /// Where `bytes`, which arrived with `ttl`, go; `now_ms` is the wall clock (Unix ms).
    pub(super) fn sort(&mut self, bytes: &[u8], ttl: Ttl, now_ms: u64) -> Route {
        if self.key_rx.has_changed().unwrap_or(false) {
            self.key = self.key_rx.borrow_and_update().clone();
        }
        let Ok(decoded) = proto::decode(&self.key, bytes) else {
            return Route::Other;
        };
        // A WakeRequest may come from another subnet (wake_relays): it alone may have crossed
        // a router. Every other kind is for this link only.
        if !matches!(decoded, Decoded::Message(_, Message::WakeRequest(_))) {
            match ttl {
                Ttl::Known(t) if t < GTSM_TTL => return Route::Refused(Refusal::TtlBelow255),
                Ttl::Missing => return Route::Refused(Refusal::TtlMissing),
                Ttl::Known(_) | Ttl::Unsupported => {}
            }
        }
        if now_ms.saturating_sub(self.pruned_ms) >= PRUNE_EVERY_MS {
            self.guard.prune(now_ms);
            self.pruned_ms = now_ms;
        }
        match self.guard.check(decoded.header(), now_ms) {
            Ok(()) => Route::Peer,
            Err(_) if decoded.header().sender == self.own => Route::Refused(Refusal::OwnReplayed),
            // The node counts it as replayed or stale.
            Err(_) => Route::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::core::addr::{MacAddr, NodeId};
    use crate::daemon::os::OsPlatform;
    use crate::daemon::platform::Platform;
    #[cfg(target_os = "linux")]
    use crate::daemon::platform::SocketKind;

    fn unix_ms() -> u64 {
        OsPlatform.unix_ms()
    }
    use crate::core::proto::{Header, HostInfo, WakePassword, WakeReason, WakeRequest};

    fn key(b: u8) -> SiteKey {
        SiteKey::new(&[b; 32]).unwrap()
    }

    fn signed(k: &SiteKey, seq: u64, msg: &Message) -> Vec<u8> {
        let header = Header { sender: NodeId::from_u128(7), seq, timestamp_ms: unix_ms() };
        let mut out = Vec::new();
        proto::encode(k, &header, msg, &mut out).unwrap();
        out
    }

    fn notice() -> Message {
        Message::SleepNotice(HostInfo { mac: MacAddr([2, 0, 0, 0, 0, 1]), ..HostInfo::default() })
    }

    fn wake_request() -> Message {
        Message::WakeRequest(WakeRequest {
            target: MacAddr([2, 0, 0, 0, 0, 9]),
            request_id: 1,
            reason: WakeReason::Operator,
            password: WakePassword::None,
        })
    }

    /// This node's id in the tests; `signed` sends as node 7.
    const ME: NodeId = NodeId([0x4d; 16]);

    fn sorter(k: SiteKey) -> (watch::Sender<SiteKey>, Sorter) {
        let tx = watch::Sender::new(k);
        let s = Sorter::new(tx.subscribe(), Duration::from_secs(30), ME);
        (tx, s)
    }

    const LINK: Ttl = Ttl::Known(255);

    #[test]
    fn authentic_fresh_datagrams_go_to_the_peer_queue_and_everything_else_to_the_other() {
        let (_tx, mut s) = sorter(key(1));
        let now = unix_ms();
        let good = signed(&key(1), 10, &notice());
        assert_eq!(s.sort(&good, LINK, now), Route::Peer);
        // The same datagram again: a replay, for the node to count.
        assert_eq!(s.sort(&good, LINK, now), Route::Other);
        assert_eq!(s.sort(&signed(&key(2), 11, &notice()), LINK, now), Route::Other, "wrong key");
        assert_eq!(s.sort(b"not wakeproxy", LINK, now), Route::Other);
        let mut bad_tag = signed(&key(1), 12, &notice());
        *bad_tag.last_mut().unwrap() ^= 1;
        assert_eq!(s.sort(&bad_tag, LINK, now), Route::Other);
        assert_eq!(s.sort(&[], LINK, now), Route::Other);
        // Where the platform cannot tell the TTL, authentic datagrams still pass.
        assert_eq!(s.sort(&signed(&key(1), 13, &notice()), Ttl::Unsupported, now), Route::Peer);
    }

    #[test]
    fn gtsm_refuses_authentic_messages_from_beyond_the_link_except_wake_requests() {
        let (_tx, mut s) = sorter(key(1));
        let now = unix_ms();
        let routed = Ttl::Known(254);
        assert_eq!(
            s.sort(&signed(&key(1), 1, &notice()), routed, now),
            Route::Refused(Refusal::TtlBelow255)
        );
        assert_eq!(
            s.sort(&signed(&key(1), 2, &Message::Leave), Ttl::Known(1), now),
            Route::Refused(Refusal::TtlBelow255)
        );
        assert_eq!(
            s.sort(&signed(&key(1), 3, &notice()), Ttl::Missing, now),
            Route::Refused(Refusal::TtlMissing)
        );
        assert_eq!(s.sort(&signed(&key(1), 4, &wake_request()), Ttl::Known(62), now), Route::Peer);
        // Unauthenticated traffic is never refused here: the node counts it.
        assert_eq!(s.sort(&signed(&key(2), 5, &notice()), routed, now), Route::Other);
    }

    #[test]
    fn replays_of_this_nodes_own_messages_are_refused_and_its_first_copy_is_not() {
        let (_tx, mut s) = sorter(key(1));
        let now = unix_ms();
        let mine = |seq: u64| {
            let header = Header { sender: ME, seq, timestamp_ms: now };
            let mut out = Vec::new();
            proto::encode(&key(1), &header, &notice(), &mut out).unwrap();
            out
        };
        // Its own broadcast heard back, or a forgery: the node must see it (and judge it).
        assert_eq!(s.sort(&mine(1000), LINK, now), Route::Peer);
        assert_eq!(s.sort(&mine(1000), LINK, now), Route::Refused(Refusal::OwnReplayed));
        assert_eq!(s.sort(&mine(5), LINK, now), Route::Refused(Refusal::OwnReplayed), "too old");
        // Another node's replays still reach the node, which counts them.
        let theirs = signed(&key(1), 1, &notice());
        assert_eq!(s.sort(&theirs, LINK, now), Route::Peer);
        assert_eq!(s.sort(&theirs, LINK, now), Route::Other);
    }

    #[test]
    fn a_new_key_is_used_from_the_next_datagram_on() {
        let (tx, mut s) = sorter(key(1));
        let now = unix_ms();
        assert_eq!(s.sort(&signed(&key(2), 1, &notice()), LINK, now), Route::Other);
        tx.send_replace(key(2));
        assert_eq!(s.sort(&signed(&key(2), 2, &notice()), LINK, now), Route::Peer);
        assert_eq!(s.sort(&signed(&key(1), 3, &notice()), LINK, now), Route::Other);
    }

    fn datagram(n: u8) -> Input {
        Input::Datagram {
            iface: IfaceId(1),
            from: SocketAddr::from((Ipv4Addr::LOCALHOST, 1)),
            bytes: vec![n],
        }
    }

    fn frame(n: u8) -> Input {
        Input::Frame { iface: IfaceId(1), bytes: bytes::Bytes::from(vec![n]) }
    }

    fn probe() -> Input {
        Input::Probe { iface: IfaceId(1), ip: IpAddr::V4(Ipv4Addr::LOCALHOST), rtt: None }
    }

    fn first_byte(i: &Input) -> u8 {
        match i {
            Input::Datagram { bytes, .. } | Input::WolPayload { bytes, .. } => bytes[0],
            Input::Frame { bytes, .. } => bytes[0],
            Input::Probe { .. } => 0,
        }
    }

    /// What the node's loop does: high-priority queues before low-priority ones.
    async fn next(inputs: &mut Inputs) -> Input {
        tokio::select! {
            biased;
            Some(i) = inputs.high.recv() => i,
            Some(i) = inputs.low.recv() => i,
        }
    }

    #[tokio::test]
    async fn a_full_frame_queue_delays_no_peer_datagram_and_no_probe_result_and_its_drops_are_counted()
     {
        let (intake, mut inputs) =
            Intake::new(key(1), Duration::from_secs(30), Arc::new(OsPlatform));
        let sink_of = |i| intake.frame_sink(IfaceId(i));
        let mut sink = sink_of(1);
        for n in 0..(FRAME_QUEUE + 500) {
            sink(bytes::Bytes::from(vec![n as u8]));
        }
        let s = &intake.senders;
        for n in 0..(OTHER_QUEUE + 7) {
            offer(&s.other, &s.stats.other, || datagram(n as u8));
        }
        offer(&s.peer, &s.stats.peer, || datagram(200));
        intake.probe_result().send(probe());

        let st = intake.status(None);
        assert_eq!((st.frames.queued, st.frames.dropped), (FRAME_QUEUE as u64, 500));
        assert_eq!((st.other.queued, st.other.dropped), (OTHER_QUEUE as u64, 7));
        assert_eq!((st.peer.queued, st.peer.dropped, st.probes.queued), (1, 0, 1));

        assert!(matches!(next(&mut inputs).await, Input::Probe { .. }), "the probe result first");
        let second = next(&mut inputs).await;
        assert!(matches!(second, Input::Datagram { .. }) && first_byte(&second) == 200);
        // Then the frames, oldest first, and only then the other datagrams.
        for n in 0..FRAME_QUEUE {
            let i = next(&mut inputs).await;
            assert!(matches!(i, Input::Frame { .. }) && first_byte(&i) == n as u8, "frame {n}");
        }
        let i = next(&mut inputs).await;
        assert!(matches!(i, Input::Datagram { .. }) && first_byte(&i) == 0);
    }

    #[tokio::test]
    async fn a_peer_datagram_that_arrives_during_a_flood_is_next() {
        let (intake, mut inputs) =
            Intake::new(key(1), Duration::from_secs(30), Arc::new(OsPlatform));
        let s = intake.senders.clone();
        for n in 0..10 {
            offer(&s.frames, &s.stats.frames, || frame(n));
            offer(&s.other, &s.stats.other, || datagram(n));
        }
        assert!(matches!(next(&mut inputs).await, Input::Frame { .. }));
        offer(&s.peer, &s.stats.peer, || datagram(99));
        let i = next(&mut inputs).await;
        assert!(matches!(i, Input::Datagram { .. }) && first_byte(&i) == 99);
        assert!(matches!(next(&mut inputs).await, Input::Frame { .. }));
    }

    /// The reader on a real socket: authentic datagrams from this link to the peer queue,
    /// junk to the other queue (dropped, and counted, once it is full), authentic ones from
    /// beyond a router refused.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_peer_reader_sorts_counts_and_refuses_on_a_real_socket() {
        let (intake, mut inputs) =
            Intake::new(key(1), Duration::from_secs(30), Arc::new(OsPlatform));
        let lo = crate::daemon::os::ifaces::lo_link();
        let sink = intake.peer_sink(IfaceId(1), ME);
        let sock = OsPlatform.open_udp(&lo, 0, SocketKind::Peer, Some(sink)).expect("lo");
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, sock.local_addr().unwrap().port()));
        // A neighbour on this link sends with TTL 255, as peer sockets do.
        let peer = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        peer.set_ttl(255).unwrap();
        let routed = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        routed.set_ttl(63).unwrap();

        let junk = OTHER_QUEUE + 100;
        for n in 0..junk {
            peer.send_to(&[n as u8; 100], to).unwrap();
        }
        let from_router = signed(&key(1), 1, &notice());
        routed.send_to(&from_router, to).unwrap();
        let wake = signed(&key(1), 2, &wake_request());
        routed.send_to(&wake, to).unwrap();
        let good = signed(&key(1), 3, &notice());
        peer.send_to(&good, to).unwrap();

        // The peer queue holds the WakeRequest and the notice, in order, whatever the junk did.
        for want in [&wake, &good] {
            let got = tokio::time::timeout(Duration::from_secs(5), inputs.high.recv())
                .await
                .expect("an authentic datagram reaches the peer queue")
                .unwrap();
            let Input::Datagram { bytes, .. } = got else { panic!("{got:?}") };
            assert_eq!(&bytes, want);
        }
        let st = intake.status(None);
        assert_eq!((st.peer.queued, st.peer.dropped), (2, 0));
        assert_eq!(st.other.queued, OTHER_QUEUE as u64);
        assert_eq!(st.other.dropped, 100, "{st:?}");
        assert_eq!(st.refused.ttl_below_255, 1);
        assert_eq!(st.refused.last_ttl, Some(63));
        assert_eq!(
            st.refused.last_from.map(|a| a.port()),
            Some(routed.local_addr().unwrap().port())
        );
        assert!(st.ttl_checked);
    }
}
