//! A LAN in memory: hosts whose [`Platform`] is a switch in this process, so the real daemon
//! loop ([`Daemon::run`], its intake, sorter, timers, control requests and state writer) runs
//! in-process, unprivileged, and under `tokio::time::pause` — seconds of protocol in
//! milliseconds, the same every run.
//!
//! What it models: one IPv4 subnet; UDP datagrams delivered to the sockets bound to their port
//! on the addressed host, or on every host for a broadcast (the sender's own included, as
//! Linux does), with TTL 255; frames flooded to every other host's layer-2 backend, as a hub
//! does; probes answered by a host that is awake and answers echo or listens on a probed TCP
//! port; a wall clock on tokio's clock; a sleeper registry per host that survives its daemon. A host
//! can be put to sleep (it then sends and receives nothing). Anyone can inject a datagram with
//! any source and TTL: the hostile station.
//!
//! What it does not model is what only real sockets show (timing of the kernel, buffer
//! overflows, routing, `SO_BINDTODEVICE`): the namespace tests (`tests/`) keep those.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::os::ifaces::{Link, directed_broadcast};
use super::os::probe::Probe;
use super::os::sockets::Ttl;
use super::platform::{
    Datagram, DatagramSink, FrameLink, LinkSocket, Pending, Platform, Prober, SleeperStore,
    SocketKind,
};
use super::{Daemon, Options};
use crate::core::addr::MacAddr;
use crate::core::proto::Ipv4Prefix;
use crate::ctl::{Caller, CtlCall, Request};
use crate::os::capture::FrameSink;
use crate::store::state::{Loaded, SavedSleeper, StateError};

/// Datagrams kept in [`VirtualLan::sent`], newest last.
const SENT_KEPT: usize = 4096;
/// The Unix time a virtual LAN's clocks start at (2027-01-15), so timestamps look real.
const EPOCH_MS: u64 = 1_800_000_000_000;
/// How long an answered probe takes.
const PROBE_RTT: Duration = Duration::from_millis(1);

/// One datagram a host (or an injection) put on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The sending host's name (`"injected"` for [`VirtualLan::inject`]).
    pub by: String,
    /// Its source address.
    pub from: SocketAddr,
    /// Its destination.
    pub to: SocketAddr,
    /// Its payload.
    pub bytes: Vec<u8>,
}

/// A LAN of hosts in memory. Clones share it.
#[derive(Clone)]
pub struct VirtualLan {
    switch: Arc<Mutex<Switch>>,
}

impl std::fmt::Debug for VirtualLan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualLan").finish_non_exhaustive()
    }
}

struct Switch {
    subnet: Ipv4Prefix,
    hosts: Vec<Host>,
    next_socket: u64,
    next_port: u16,
    sent: VecDeque<Sent>,
    /// Where the clocks start on tokio's clock (paused in tests).
    t0: tokio::time::Instant,
}

struct Host {
    link: Link,
    awake: bool,
    tcp_ports: Vec<u16>,
    sockets: Vec<Bound>,
    frames: Vec<(u64, Arc<Mutex<FrameSink>>)>,
    store: Arc<MemoryStore>,
    /// Keeps the daemon's interface-change channel open (nothing changes a virtual link).
    link_changes: Option<mpsc::Sender<()>>,
}

struct Bound {
    id: u64,
    port: u16,
    sink: Option<Arc<Mutex<DatagramSink>>>,
}

fn lock(switch: &Mutex<Switch>) -> MutexGuard<'_, Switch> {
    // A test that panicked while holding it has failed already; its state is still usable.
    switch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl VirtualLan {
    /// An empty LAN on `subnet` (the network address and its length, e.g. 10.0.1.0/24).
    pub fn new(network: Ipv4Addr, len: u8) -> Self {
        let switch = Switch {
            subnet: Ipv4Prefix { addr: network, len },
            hosts: Vec::new(),
            next_socket: 1,
            next_port: 49152,
            sent: VecDeque::new(),
            t0: tokio::time::Instant::now(),
        };
        Self { switch: Arc::new(Mutex::new(switch)) }
    }

    /// Adds an awake host (awake hosts answer echo), with the next free address (`.10`, `.11`, …) and
    /// a MAC made of it; returns its platform.
    pub fn add_host(&self, name: &str) -> VirtualHost {
        let mut sw = lock(&self.switch);
        let n = sw.hosts.len();
        let base = u32::from(sw.subnet.addr);
        let addr = Ipv4Addr::from(base + 10 + n as u32);
        let [_, _, c, d] = addr.octets();
        let link = Link {
            index: 2,
            name: name.to_owned(),
            device: name.to_owned(),
            mac: MacAddr([0x02, 0x00, 0x5e, 0x10, c, d]),
            ipv4: vec![Ipv4Prefix { addr, len: sw.subnet.len }],
            ipv6: Vec::new(),
            up: true,
            loopback: false,
        };
        sw.hosts.push(Host {
            link,
            awake: true,
            tcp_ports: Vec::new(),
            sockets: Vec::new(),
            frames: Vec::new(),
            store: Arc::new(MemoryStore::default()),
            link_changes: None,
        });
        VirtualHost { lan: self.clone(), index: n }
    }

    /// Every datagram put on the LAN (the last [`SENT_KEPT`]), oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.switch).sent.iter().cloned().collect()
    }

    /// Puts a datagram on the LAN from anyone, with any source and TTL: what a hostile station
    /// (or a router, with TTL below 255) sends.
    pub fn inject(&self, from: SocketAddr, to: SocketAddr, ttl: u8, bytes: &[u8]) {
        self.deliver(None, from, to, Ttl::Known(ttl), bytes);
    }

    /// Delivers one datagram: logs it, finds the sockets it reaches, and hands it to their
    /// sinks outside the lock (a sink only queues).
    fn deliver(&self, by: Option<usize>, from: SocketAddr, to: SocketAddr, ttl: Ttl, bytes: &[u8]) {
        let sinks: Vec<Arc<Mutex<DatagramSink>>> = {
            let mut sw = lock(&self.switch);
            if by.is_some_and(|h| !sw.hosts[h].awake) {
                return;
            }
            let name = by.map_or("injected".to_owned(), |h| sw.hosts[h].link.name.clone());
            if sw.sent.len() == SENT_KEPT {
                sw.sent.pop_front();
            }
            sw.sent.push_back(Sent { by: name, from, to, bytes: bytes.to_vec() });
            let IpAddr::V4(dst) = to.ip() else { return };
            let bcast = directed_broadcast(sw.subnet.addr, sw.subnet.len);
            let everyone = dst == Ipv4Addr::BROADCAST || dst == bcast;
            sw.hosts
                .iter()
                .filter(|h| h.awake)
                .filter(|h| everyone || h.link.ipv4.iter().any(|p| p.addr == dst))
                .flat_map(|h| h.sockets.iter())
                .filter(|s| s.port == to.port())
                .filter_map(|s| s.sink.clone())
                .collect()
        };
        for sink in sinks {
            let mut sink = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = sink(Datagram { bytes, from, ttl, kernel_drops: None });
        }
    }

    /// Floods a frame to every other awake host's layer-2 backend.
    fn flood_frame(&self, by: usize, frame: &[u8]) {
        let sinks: Vec<Arc<Mutex<FrameSink>>> = {
            let sw = lock(&self.switch);
            if !sw.hosts[by].awake {
                return;
            }
            sw.hosts
                .iter()
                .enumerate()
                .filter(|(i, h)| *i != by && h.awake)
                .flat_map(|(_, h)| h.frames.iter().map(|(_, s)| s.clone()))
                .collect()
        };
        for sink in sinks {
            let mut sink = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sink(Bytes::copy_from_slice(frame));
        }
    }
}

/// One host of a [`VirtualLan`]: its [`Platform`], and the switches a test turns.
#[derive(Clone, Debug)]
pub struct VirtualHost {
    lan: VirtualLan,
    index: usize,
}

impl VirtualHost {
    fn with<T>(&self, f: impl FnOnce(&mut Host) -> T) -> T {
        f(&mut lock(&self.lan.switch).hosts[self.index])
    }

    /// Its interface.
    pub fn link(&self) -> Link {
        self.with(|h| h.link.clone())
    }

    /// Its IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        self.with(|h| h.link.ipv4[0].addr)
    }

    /// Its MAC.
    pub fn mac(&self) -> MacAddr {
        self.with(|h| h.link.mac)
    }

    /// Puts the host to sleep (false) or wakes it (true): asleep, it sends, receives and
    /// answers nothing.
    pub fn set_awake(&self, awake: bool) {
        self.with(|h| h.awake = awake);
    }

    /// The TCP ports it listens on.
    pub fn set_tcp_ports(&self, ports: Vec<u16>) {
        self.with(|h| h.tcp_ports = ports);
    }

    /// Its sleeper registry, which outlives its daemons.
    pub fn store(&self) -> Arc<MemoryStore> {
        self.with(|h| h.store.clone())
    }

    /// Starts a daemon on this host with `opts` (its `state` is replaced by the host's
    /// registry); the daemon runs as a task until stopped or killed.
    pub async fn start(&self, mut opts: Options) -> Result<RunningDaemon, super::DaemonError> {
        opts.state = Some(self.store());
        let (daemon, inputs) = Daemon::new(opts, Arc::new(self.clone())).await?;
        let (control, calls) = mpsc::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let power = crate::os::host::PowerLink::none();
            let shutdown = async move {
                let _ = stopped.await;
            };
            daemon.run(inputs, calls, power, &crate::os::host::Silent, shutdown).await;
        });
        Ok(RunningDaemon { control, stop: Some(stop), task })
    }
}

impl Platform for VirtualHost {
    fn links(&self) -> Pending<Vec<Link>> {
        let links = vec![self.link()];
        Box::pin(async move { links })
    }

    fn listening_tcp_ports(&self) -> Pending<Vec<u16>> {
        let ports = self.with(|h| h.tcp_ports.clone());
        Box::pin(async move { ports })
    }

    fn link_changes(&self) -> Option<mpsc::Receiver<()>> {
        let (tx, rx) = mpsc::channel(1);
        self.with(|h| h.link_changes = Some(tx));
        Some(rx)
    }

    fn open_udp(
        &self,
        link: &Link,
        port: u16,
        _kind: SocketKind,
        sink: Option<DatagramSink>,
    ) -> io::Result<Box<dyn LinkSocket>> {
        let mut sw = lock(&self.lan.switch);
        let port = if port == 0 {
            sw.next_port = sw.next_port.checked_add(1).unwrap_or(49152);
            sw.next_port
        } else {
            port
        };
        let id = sw.next_socket;
        sw.next_socket += 1;
        let host = &mut sw.hosts[self.index];
        if host.sockets.iter().any(|s| s.port == port && s.sink.is_some()) && sink.is_some() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("UDP {port} is taken")));
        }
        let sink = sink.map(|s| Arc::new(Mutex::new(s)));
        host.sockets.push(Bound { id, port, sink });
        let src = SocketAddr::new(IpAddr::V4(link.ipv4[0].addr), port);
        Ok(Box::new(VirtualSocket { host: self.clone(), id, src }))
    }

    fn open_routed(&self) -> io::Result<Box<dyn LinkSocket>> {
        let link = self.link();
        self.open_udp(&link, 0, SocketKind::Plain, None)
    }

    fn open_frames(
        &self,
        _link: &Link,
        _wol_port: u16,
        _promiscuous: bool,
        sink: FrameSink,
    ) -> io::Result<Box<dyn FrameLink>> {
        let mut sw = lock(&self.lan.switch);
        let id = sw.next_socket;
        sw.next_socket += 1;
        sw.hosts[self.index].frames.push((id, Arc::new(Mutex::new(sink))));
        Ok(Box::new(VirtualFrames { host: self.clone(), id }))
    }

    fn open_prober(&self, _link: &Link) -> (Box<dyn Prober>, Option<io::Error>) {
        (Box::new(VirtualProber { lan: self.lan.clone() }), None)
    }

    fn unix_ms(&self) -> u64 {
        let elapsed = lock(&self.lan.switch).t0.elapsed().as_millis() as u64;
        EPOCH_MS.saturating_add(elapsed)
    }

    fn reports_ttl(&self) -> bool {
        true
    }

    fn pins_by_address(&self) -> bool {
        false
    }
}

/// A UDP socket of a virtual host.
struct VirtualSocket {
    host: VirtualHost,
    id: u64,
    src: SocketAddr,
}

impl LinkSocket for VirtualSocket {
    fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        // The LAN has no router: everything arrives with the TTL 255 peer sockets send with.
        self.host.lan.deliver(Some(self.host.index), self.src, to, Ttl::Known(255), bytes);
        Ok(())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.src)
    }
}

impl Drop for VirtualSocket {
    fn drop(&mut self) {
        self.host.with(|h| h.sockets.retain(|s| s.id != self.id));
    }
}

/// The layer-2 backend of a virtual host.
struct VirtualFrames {
    host: VirtualHost,
    id: u64,
}

impl FrameLink for VirtualFrames {
    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.host.lan.flood_frame(self.host.index, frame);
        Ok(())
    }

    fn kernel_drops(&self) -> Option<u64> {
        Some(0)
    }
}

impl Drop for VirtualFrames {
    fn drop(&mut self) {
        self.host.with(|h| h.frames.retain(|(id, _)| *id != self.id));
    }
}

/// Probes on a virtual LAN: answered by an awake host, after [`PROBE_RTT`]; otherwise no
/// answer, after the probe's timeout.
struct VirtualProber {
    lan: VirtualLan,
}

impl Prober for VirtualProber {
    fn probe(&self, probe: Probe, _local: Option<IpAddr>) -> Pending<Option<Duration>> {
        let answers = lock(&self.lan.switch)
            .hosts
            .iter()
            .any(|h| h.awake && h.link.ipv4.iter().any(|p| IpAddr::V4(p.addr) == probe.ip));
        Box::pin(async move {
            if answers {
                tokio::time::sleep(PROBE_RTT).await;
                Some(PROBE_RTT)
            } else {
                tokio::time::sleep(probe.timeout).await;
                None
            }
        })
    }
}

/// A sleeper registry in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    saved: Mutex<Vec<SavedSleeper>>,
}

impl MemoryStore {
    /// What was saved last.
    pub fn saved(&self) -> Vec<SavedSleeper> {
        self.saved.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl SleeperStore for MemoryStore {
    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn load(&self) -> Result<Loaded<Vec<SavedSleeper>>, StateError> {
        Ok(Loaded { value: self.saved(), warnings: Vec::new() })
    }

    fn save(&self, sleepers: Vec<SavedSleeper>) -> Pending<Result<(), StateError>> {
        if let Ok(mut s) = self.saved.lock() {
            *s = sleepers;
        }
        Box::pin(async { Ok(()) })
    }
}

/// A daemon running on a virtual host, and its control channel.
#[derive(Debug)]
pub struct RunningDaemon {
    control: mpsc::Sender<CtlCall>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningDaemon {
    /// Asks what `wakeproxy` would ask over the control socket, as root.
    pub async fn request(&self, request: Request) -> Result<Value, String> {
        let (reply, answer) = oneshot::channel();
        let caller = Caller::new(Some(0), None);
        self.control
            .send(CtlCall { request, caller, reply })
            .await
            .map_err(|_| "the daemon is gone".to_owned())?;
        answer.await.map_err(|_| "the daemon is gone".to_owned())?
    }

    /// `wakeproxy status --json`.
    pub async fn status(&self) -> Value {
        self.request(Request::Status).await.expect("status")
    }

    /// Stops it as the service manager does: it tells its peers it leaves.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Kills it (kill -9): it says nothing, its sockets close.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
