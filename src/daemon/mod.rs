//! The daemon: drives the core's [`Node`] on real sockets and does nothing the core should
//! decide.
//!
//! One task owns the node. Socket readers, probes and control-socket connections run as their
//! own tasks and hand their results to it through bounded queues, one per kind of input
//! ([`intake`]), which the task serves in priority order: probe results, authentic peer
//! datagrams, the node's timers, control requests and chores, and only then frames, Wake-on-LAN
//! datagrams and everything else that arrived on the peer port. The node sees one input at a
//! time, as in the simulator. After every input the task carries out the actions the node asked
//! for and sleeps until the node's next timeout, the next input, or the next periodic chore
//! (re-reading listening ports every 30 s, sooner just after start; interfaces when the OS says they changed, or every
//! 2 s where it cannot say).
//!
//! Everything the daemon touches of the machine goes through a [`Platform`]
//! ([`platform`]): [`os::OsPlatform`] on Linux and Windows, [`virtual_lan`] in the daemon's
//! own tests.

mod control;
pub mod intake;
pub mod os;
mod persist;
pub mod platform;
mod power;
mod reload;
mod start;
#[cfg(test)]
mod tests;
pub mod virtual_lan;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

pub use crate::os::host::{PowerEvent, PowerHooks, PowerLink, power_channel};
pub use intake::Inputs;
pub use os::ifaces::{Link, directed_broadcast, scan as scan_links, select as select_links};
pub use os::ports::{listening_tcp_ports, parse_proc_net_tcp};
pub use os::probe::{NetProber, Probe};
pub use platform::Platform;
pub use reload::ReloadError;
pub use start::{boot_time_s, options, run, runtime};

use crate::core::node::{Action, Destination, Event, IfaceConfig, IfaceId, Node, NodeConfig};
use crate::core::proto::SiteKey;
use crate::core::time::Instant;
use platform::{FrameLink, LinkSocket, Prober, SleeperStore, SocketKind, Timer};

/// How often interfaces and addresses are re-read where the OS does not tell of changes, and
/// after an interface's sockets could not be opened.
const RESCAN_EVERY: Duration = Duration::from_secs(2);
/// How often the listening TCP ports are re-read, once the daemon has run a while.
const PORTS_EVERY: Duration = Duration::from_secs(30);
/// The first re-read of the listening ports after start; the wait then doubles up to
/// [`PORTS_EVERY`], so services that start just after the daemon (at boot) are announced
/// within a second, and an idle daemon is not woken for them.
const PORTS_FIRST: Duration = Duration::from_millis(250);
/// Events kept for `wakeproxy events`.
const EVENT_HISTORY: usize = 256;

/// Everything the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The node's configuration (id, timing, roles, wake ports…).
    pub node: NodeConfig,
    /// The site key.
    pub key: SiteKey,
    /// Where the key was read from, to read it again on `wakeproxy reload` and SIGHUP; `None`
    /// with `insecure = true` (the built-in lab key has no file).
    pub key_file: Option<std::path::PathBuf>,
    /// Running with the public lab key.
    pub insecure: bool,
    /// Interfaces to manage; empty for every suitable one.
    pub interfaces: Vec<String>,
    /// UDP port of the peer protocol.
    pub peer_port: u16,
    /// Also send magic packets unicast to the target's last known address.
    pub wake_unicast: bool,
    /// Where WakeRequests for targets on other subnets go.
    pub wake_relays: Vec<SocketAddr>,
    /// The configuration file it runs with (shown by `status`).
    pub config_path: String,
    /// Where the sleeper registry is kept; `None` keeps nothing.
    pub state: Option<Arc<dyn SleeperStore>>,
    /// The daily reconciliation wake: local time of day (hour, minute) and the window its
    /// wakes are spread over; `None` when off (the default).
    pub reconciliation: Option<((u8, u8), Duration)>,
}

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The site key could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::store::keys::KeyError),
    /// The state directory could not be used.
    #[error(transparent)]
    State(#[from] crate::store::state::StateError),
    /// No randomness for the node's seed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] crate::ctl::CtlError),
    /// The tokio runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// No interface to manage.
    #[error("{0}")]
    NoInterface(String),
    /// A socket could not be opened.
    #[error("cannot open {what} on {iface}: {source} ({})", socket_hint(source, *port))]
    Socket {
        /// Which socket.
        what: &'static str,
        /// On which interface.
        iface: String,
        /// Which port.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What to do about a socket that could not be opened, by what the OS said.
fn socket_hint(e: &std::io::Error, port: u16) -> String {
    let w = crate::os::words::HERE;
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program holds UDP port {port} here: is wakeproxy running already? see {}",
            w.service_status
        ),
        std::io::ErrorKind::PermissionDenied => w.raw_sockets.to_owned(),
        _ => format!("is another program using UDP port {port}? if not: {}", w.raw_sockets),
    }
}

/// Something for the node, from another task.
#[derive(Debug)]
pub enum Input {
    /// A datagram on the peer port.
    Datagram {
        /// Where it arrived.
        iface: IfaceId,
        /// Who sent it.
        from: SocketAddr,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A datagram on the Wake-on-LAN port (someone else's magic packet).
    WolPayload {
        /// Where it arrived.
        iface: IfaceId,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A frame from the layer-2 capture.
    Frame {
        /// Where it was seen.
        iface: IfaceId,
        /// Its bytes (a view into the capture's receive buffer).
        bytes: bytes::Bytes,
    },
    /// The answer to a probe.
    Probe {
        /// Through which interface.
        iface: IfaceId,
        /// Whom.
        ip: IpAddr,
        /// Round-trip time, if it answered.
        rtt: Option<Duration>,
    },
}

/// The sockets of one managed interface (each closes, and its reader stops, when dropped).
struct LanIo {
    link: Link,
    peer: Box<dyn LinkSocket>,
    wol: Box<dyn LinkSocket>,
    /// The listener on the Wake-on-LAN port, if it could be had.
    _wol_listener: Option<Box<dyn LinkSocket>>,
    prober: Box<dyn Prober>,
    /// The layer-2 backend, if it could be opened (`words::Words::capture` says what it needs).
    capture: Option<Box<dyn FrameLink>>,
}

/// The running daemon.
pub struct Daemon {
    opts: Options,
    platform: Arc<dyn Platform>,
    node: Node,
    start: tokio::time::Instant,
    lans: BTreeMap<IfaceId, LanIo>,
    names: BTreeMap<String, IfaceId>,
    next_iface: u32,
    intake: intake::Intake,
    routed: Option<Box<dyn LinkSocket>>,
    events: VecDeque<serde_json::Value>,
    event_tx: broadcast::Sender<serde_json::Value>,
    probe_ident: u16,
    /// Interfaces asked for by name that are missing, with the reason, as last reported.
    missing: Vec<(String, &'static str)>,
    /// An interface's sockets were closed to be opened again: scan again soon.
    rescan_soon: bool,
    /// The sleeper registry's writer (a task of its own), and what was last handed to it.
    state: Option<persist::Writer>,
    saved: Vec<crate::store::state::SavedSleeper>,
    /// Numbers events, so followers of the control socket never see one twice.
    event_seq: u64,
    /// When the next daily reconciliation starts.
    next_reconcile: Option<tokio::time::Instant>,
    /// The guardian role, as last told to the power manager.
    guardian: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Daemon {
    /// Sets the daemon up on `platform`: the node, the sockets of every interface to manage.
    pub async fn new(
        opts: Options,
        platform: Arc<dyn Platform>,
    ) -> Result<(Self, Inputs), DaemonError> {
        let start = tokio::time::Instant::now();
        let now_ms = platform.unix_ms();
        let node = Node::new(opts.node.clone(), opts.key.clone(), Instant::ZERO, now_ms);
        let (intake, rx) =
            intake::Intake::new(opts.key.clone(), opts.node.replay_window, platform.clone());
        let (event_tx, _) = broadcast::channel(EVENT_HISTORY);
        let mut d = Self {
            node,
            start,
            lans: BTreeMap::new(),
            names: BTreeMap::new(),
            next_iface: 1,
            intake,
            routed: platform.open_routed().ok(),
            events: VecDeque::new(),
            event_tx,
            probe_ident: (opts.node.seed & 0xffff) as u16,
            missing: Vec::new(),
            rescan_soon: false,
            state: opts.state.clone().map(persist::Writer::spawn),
            saved: Vec::new(),
            event_seq: 0,
            next_reconcile: opts.reconciliation.map(|((h, m), _)| next_local_time(h, m)),
            guardian: tokio::sync::watch::Sender::new(false),
            opts,
            platform: platform.clone(),
        };
        d.node.set_tcp_ports(platform.listening_tcp_ports().await);
        let links = platform.links().await;
        d.apply_links(&links)?;
        if d.lans.is_empty() {
            let why = if d.opts.interfaces.is_empty() {
                "no interface to manage: wakeproxy needs an up, non-loopback Ethernet interface with an IPv4 address".to_owned()
            } else {
                let list: Vec<String> =
                    d.missing.iter().map(|(n, why)| format!("{n} {why}")).collect();
                // What could be named instead, as this system names it.
                let here: Vec<String> = select_links(&links, &[])
                    .0
                    .iter()
                    .map(|l| format!("\"{}\" (index {})", l.name, l.index))
                    .collect();
                let here = if here.is_empty() { "none".to_owned() } else { here.join(", ") };
                format!(
                    "none of the configured interfaces can be managed: {}; usable interfaces here: {here} (check `interfaces` in the configuration)",
                    list.join(", ")
                )
            };
            return Err(DaemonError::NoInterface(why));
        }
        if d.opts.node.can_proxy && d.lans.values().any(|l| l.capture.is_none()) {
            d.node.set_can_proxy(false);
        }
        d.restore_state();
        Ok((d, rx))
    }

    /// The node (for status and tests).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node, mutably (local events: sleep and resume notices, wakes).
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// Installs `key` (a key rollover): the node signs with its current key and accepts its
    /// keys from now on, and the peer-socket readers sort by it from their next datagram on.
    /// The only place a key is installed after start (`reload.rs` ends here).
    pub fn set_key(&mut self, key: SiteKey) {
        self.node.set_key(key.clone());
        self.intake.set_key(key.clone());
        self.opts.key = key;
    }

    /// Now, on the node's clock.
    pub fn now(&self) -> Instant {
        Instant::from_duration(self.start.elapsed())
    }

    /// The events kept for `wakeproxy events`, oldest first.
    pub fn recent_events(&self) -> impl Iterator<Item = &serde_json::Value> {
        self.events.iter()
    }

    /// Subscribes to events as they happen.
    pub fn subscribe_events(&self) -> broadcast::Receiver<serde_json::Value> {
        self.event_tx.subscribe()
    }

    /// The interfaces managed now.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.lans.values().map(|l| &l.link)
    }

    /// Applies the interfaces the OS reported: opens sockets for new ones, updates addresses,
    /// drops vanished ones. An interface whose sockets cannot be opened is left out (and tried
    /// again at the next scan) without keeping the others from being managed; the first such
    /// error is returned (at start it stops the daemon: another program, or a second daemon,
    /// has the port).
    fn apply_links(&mut self, links: &[Link]) -> Result<(), DaemonError> {
        let mut failed = None;
        let (chosen, missing) = select_links(links, &self.opts.interfaces);
        for (name, why) in &missing {
            if !self.missing.iter().any(|(n, w)| n == name && w == why) {
                warn!(iface = %name, "configured interface {name} {why}: not managing it");
            }
        }
        self.missing = missing;
        let now = self.now();
        let gone: Vec<IfaceId> = self
            .lans
            .iter()
            .filter(|(_, l)| !chosen.iter().any(|c| c.device == l.link.device))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(l) = self.lans.remove(&id) {
                warn!(iface = %l.link.name, "interface {} is gone or down: no longer managing it", l.link.name);
                self.node.remove_iface(now, id);
            }
        }
        for link in chosen {
            // By device: on Windows the adapter GUID, which survives a rename.
            let id = match self.names.get(&link.device) {
                Some(id) => *id,
                None => {
                    let id = IfaceId(self.next_iface);
                    self.next_iface += 1;
                    self.names.insert(link.device.clone(), id);
                    id
                }
            };
            match self.lans.get_mut(&id) {
                Some(l) if l.link == link => continue,
                Some(l)
                    if self.platform.pins_by_address()
                        && os::sockets::Pin::from(&l.link) != os::sockets::Pin::from(&link) =>
                {
                    // Its sockets are bound to the address it no longer has. They close once
                    // their reader tasks are gone (after this scan returns): a scan 100 ms
                    // later opens new ones. The node keeps what it knows of the LAN meanwhile.
                    info!(iface = %link.name, "the address of {} changed: reopening its sockets", link.name);
                    self.lans.remove(&id);
                    self.rescan_soon = true;
                    continue;
                }
                Some(l) => {
                    info!(iface = %link.name, "addresses of {} changed", link.name);
                    l.link = link.clone();
                }
                None => match self.open(id, &link) {
                    Ok(lan) => {
                        info!(iface = %link.name, mac = %link.mac, "managing {}", link.name);
                        self.lans.insert(id, lan);
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                        continue;
                    }
                },
            }
            let cfg = IfaceConfig {
                id,
                name: link.name.clone(),
                mac: link.mac,
                ipv4: link.ipv4.clone(),
                ipv6: link.ipv6.clone(),
            };
            self.node.add_iface(now, cfg);
        }
        failed.map_or(Ok(()), Err)
    }

    fn open(&self, id: IfaceId, link: &Link) -> Result<LanIo, DaemonError> {
        let port = self.opts.peer_port;
        let sock_err = |what, port, source| DaemonError::Socket {
            what,
            iface: link.name.clone(),
            port,
            source,
        };
        let p = &self.platform;
        let sink = self.intake.peer_sink(id, self.opts.node.id);
        let peer = p
            .open_udp(link, port, SocketKind::Peer, Some(sink))
            .map_err(|e| sock_err("the peer socket", port, e))?;
        let wol = p
            .open_udp(link, 0, SocketKind::Plain, None)
            .map_err(|e| sock_err("the magic-packet socket", 0, e))?;
        let (prober, no_icmp) = p.open_prober(link);
        if let Some(e) = no_icmp {
            warn!(iface = %link.name, "cannot send ICMP probes on {}: {e}; probes try only the TCP ports peers announced, so a silent peer that announced none is taken for asleep even if it is up ({})", link.name, crate::os::words::HERE.raw_sockets);
        }
        // Hearing other nodes' magic packets on the WoL port avoids sending duplicates. The port
        // is privileged and may be taken: without it the node still works.
        let wol_port = self.opts.node.wol_port;
        let wol_listener =
            match p.open_udp(link, wol_port, SocketKind::Plain, Some(self.intake.wol_sink(id))) {
                Ok(s) => Some(s),
                Err(e) => {
                    debug!(iface = %link.name, "not listening on UDP {wol_port}: {e}");
                    None
                }
            };
        let capture = self.open_capture(id, link);
        Ok(LanIo { link: link.clone(), peer, wol, _wol_listener: wol_listener, prober, capture })
    }

    /// Opens the layer-2 backend on `iface`, its frames flowing into the node's channel; `None`
    /// (with a warning) if it cannot be had: this node then announces that it cannot answer for
    /// sleepers.
    fn open_capture(&self, id: IfaceId, link: &Link) -> Option<Box<dyn FrameLink>> {
        if !self.opts.node.can_proxy {
            return None;
        }
        let iface = link.name.as_str();
        let takeover = self.opts.node.proxy_mode == crate::core::node::ProxyMode::MacTakeover;
        let sink = self.intake.frame_sink(id);
        match self.platform.open_frames(link, self.opts.node.wol_port, takeover, sink) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(
                    iface,
                    "cannot open the layer-2 capture on {iface}: {e}; this node will not answer for sleepers"
                );
                None
            }
        }
    }

    /// Hands one input to the node.
    pub fn handle_input(&mut self, input: Input) {
        let now = self.sync_wall_clock();
        match input {
            Input::Datagram { iface, from, bytes } => {
                self.node.handle_datagram(now, iface, from, &bytes)
            }
            Input::WolPayload { iface, bytes } => self.node.handle_wol_payload(now, iface, &bytes),
            Input::Frame { iface, bytes } => self.node.handle_frame(now, iface, &bytes),
            Input::Probe { iface, ip, rtt } => self.node.handle_probe_result(now, iface, ip, rtt),
        }
    }

    /// Fires the node's timers if due.
    pub fn handle_timeout(&mut self) {
        let now = self.sync_wall_clock();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
    }

    /// Tells the node the wall clock (every turn: a step of the clock is seen at the next
    /// input, and no timer wakes the daemon to look); returns now, on the node's clock.
    fn sync_wall_clock(&mut self) -> Instant {
        let now = self.now();
        self.node.handle_wall_clock(now, self.platform.unix_ms());
        now
    }

    /// When the node next needs `handle_timeout`, on tokio's clock.
    pub fn next_deadline(&self) -> Option<tokio::time::Instant> {
        self.node.poll_timeout().map(|t| self.start + t.since_origin())
    }

    /// Carries out everything the node asked for, and saves the sleeper registry if it may
    /// have changed.
    pub fn execute(&mut self) {
        let mut registry_changed = false;
        while let Some(action) = self.node.poll_action() {
            if let Action::Event(
                Event::PeerChanged { .. } | Event::ProxyStarted { .. } | Event::ProxyStopped { .. },
            ) = &action
            {
                registry_changed = true;
            }
            match action {
                Action::SendDatagram { iface, dst, bytes } => {
                    self.send_datagram(iface, dst, &bytes)
                }
                Action::SendMagicPacket { iface, packet, unicast } => {
                    let Some(lan) = self.lans.get(&iface) else { continue };
                    let (payload, n) = packet.payload();
                    let port = self.opts.node.wol_port;
                    // The subnet-directed broadcast of the interface the target lives on, never
                    // only 255.255.255.255 (Windows sends that out of a single interface).
                    let bcast = lan.link.broadcast_v4().unwrap_or(std::net::Ipv4Addr::BROADCAST);
                    let mut targets = vec![SocketAddr::V4(SocketAddrV4::new(bcast, port))];
                    if let (true, Some(ip)) = (self.opts.wake_unicast, unicast) {
                        targets.push(SocketAddr::V4(SocketAddrV4::new(ip, port)));
                    }
                    for t in targets {
                        if let Err(e) = lan.wol.send_to(&payload[..n], t) {
                            warn!(iface = %lan.link.name, "cannot send the magic packet for {} to {t}: {e}", packet.target);
                        }
                    }
                }
                Action::Probe { iface, ip, timeout, tcp_ports } => {
                    let results = self.intake.probe_result();
                    let Some(lan) = self.lans.get(&iface) else {
                        // The interface is gone: no answer, so the peer is judged by silence.
                        results.send(Input::Probe { iface, ip, rtt: None });
                        continue;
                    };
                    self.probe_ident = self.probe_ident.wrapping_add(1);
                    let probe = Probe { ip, timeout, tcp_ports, ident: self.probe_ident };
                    let answer = lan.prober.probe(probe, lan.link.local_addr(ip));
                    tokio::spawn(async move {
                        let rtt = answer.await;
                        results.send(Input::Probe { iface, ip, rtt });
                    });
                }
                Action::SendFrame { iface, frame } => {
                    let Some(lan) = self.lans.get(&iface) else { continue };
                    match &lan.capture {
                        Some(c) => {
                            if let Err(e) = c.send(frame.as_slice()) {
                                debug!(iface = %lan.link.name, "cannot send a frame: {e}");
                            }
                        }
                        None => {
                            debug!(iface = %lan.link.name, "no layer-2 backend: frame not sent")
                        }
                    }
                }
                Action::InhibitSleep(on) => {
                    info!(
                        inhibit = on,
                        "{} the system's sleep (guardian role)",
                        if on { "holding" } else { "releasing" }
                    );
                    self.guardian.send_replace(on);
                }
                Action::Event(e) => self.record(e),
            }
        }
        if registry_changed {
            self.save_state_now();
        }
    }

    fn send_datagram(&self, iface: IfaceId, dst: Destination, bytes: &[u8]) {
        let port = self.opts.peer_port;
        let (sock, to, name) = match dst {
            Destination::Routed(to) => match &self.routed {
                Some(s) => (&**s, to, "routed"),
                None => return,
            },
            Destination::Broadcast | Destination::Unicast(_) => {
                let Some(lan) = self.lans.get(&iface) else { return };
                let to = match dst {
                    Destination::Unicast(ip) => SocketAddr::new(ip, port),
                    _ => SocketAddr::V4(SocketAddrV4::new(
                        lan.link.broadcast_v4().unwrap_or(std::net::Ipv4Addr::BROADCAST),
                        port,
                    )),
                };
                (&*lan.peer, to, lan.link.name.as_str())
            }
        };
        if let Err(e) = sock.send_to(bytes, to) {
            debug!(iface = name, "cannot send to {to}: {e}");
        }
    }

    /// Logs an event, keeps it for `wakeproxy events` and hands it to followers.
    fn record(&mut self, e: Event) {
        log_event(&e, self);
        let mut v = serde_json::to_value(&e).unwrap_or(serde_json::Value::Null);
        self.event_seq += 1;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("unix_ms".into(), self.platform.unix_ms().into());
            m.insert("seq".into(), self.event_seq.into());
        }
        if self.events.len() == EVENT_HISTORY {
            self.events.pop_front();
        }
        self.events.push_back(v.clone());
        let _ = self.event_tx.send(v);
    }

    /// What the kernel dropped on the layer-2 captures still open; `None` if none can tell.
    fn capture_drops(&self) -> Option<u64> {
        let drops = self.lans.values().filter_map(|l| l.capture.as_ref()?.kernel_drops());
        drops.reduce(|a, b| a + b)
    }

    fn iface_name(&self, id: IfaceId) -> &str {
        self.lans.get(&id).map_or("?", |l| l.link.name.as_str())
    }

    /// The sender of the event channel (for the control socket's followers).
    pub fn event_sender(&self) -> broadcast::Sender<serde_json::Value> {
        self.event_tx.clone()
    }

    /// Runs until `shutdown` completes, then tells peers this node leaves. `power` brings the
    /// power manager's sleep and resume and takes the guardian role to it.
    pub async fn run(
        mut self,
        mut inputs: Inputs,
        mut control: mpsc::Receiver<crate::ctl::CtlCall>,
        mut power: PowerLink,
        notifier: &dyn crate::os::host::Notifier,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        // The role the power manager follows is the node's, from the first action on.
        power.guardian.send_replace(*self.guardian.borrow());
        self.guardian = power.guardian.clone();
        // Interfaces are read again when the OS says they changed; where it cannot say, and
        // after a scan that could not open an interface's sockets, every RESCAN_EVERY.
        let mut link_changes = self.platform.link_changes();
        let polls_links = link_changes.is_none();
        let mut rescan = Retimer::new(
            &*self.platform,
            polls_links.then(|| tokio::time::Instant::now() + RESCAN_EVERY),
        );
        let mut rescan_error: Option<String> = None;
        // One answer in flight at most: a scan that finds the last one unread is dropped.
        let (links_tx, mut links_rx) = mpsc::channel::<Vec<Link>>(1);
        let (ports_tx, mut ports_rx) = mpsc::channel::<Vec<u16>>(1);
        let mut ports_wait = PORTS_FIRST;
        let mut ports =
            Retimer::new(&*self.platform, Some(tokio::time::Instant::now() + ports_wait));
        // Pinged from this loop, so a loop that hangs is restarted by the service manager.
        let watchdog_period = notifier.watchdog_period();
        let mut watchdog =
            Retimer::new(&*self.platform, watchdog_period.map(|_| tokio::time::Instant::now()));
        let mut hangup = reload::Hangup::new();
        // The node's next timeout and the next reconciliation: one timer each, moved only
        // when the deadline changes (not a new timer per turn).
        let mut node_timer = Retimer::new(&*self.platform, self.next_deadline());
        let mut reconcile_timer = Retimer::new(&*self.platform, self.next_reconcile);
        tokio::pin!(shutdown);
        self.execute();
        loop {
            node_timer.set(self.next_deadline());
            reconcile_timer.set(self.next_reconcile);
            // In priority order (`biased`): a flood of frames or junk datagrams, which only the
            // last branch serves, never delays a heartbeat, a probe result, a timer or a status
            // request. What is bounded comes first: probe results (one per probe), authentic
            // peer datagrams (as many as peers send), the node's own timers.
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = power.next() => self.power_event(event),
                Some(input) = inputs.high.recv() => self.handle_input(input),
                () = node_timer.wait() => self.handle_timeout(),
                Some(call) = control.recv() => self.answer(call),
                () = watchdog.wait() => {
                    watchdog.set(watchdog_period.map(|p| tokio::time::Instant::now() + p));
                    notifier.watchdog();
                }
                Some(()) = recv_or_pending(&mut link_changes) => self.scan_links(&links_tx),
                () = rescan.wait() => {
                    rescan.set(None);
                    self.scan_links(&links_tx);
                }
                Some(links) = links_rx.recv() => {
                    // Said once, not at every scan, until it changes or stops.
                    let failed = self.apply_links(&links).err().map(|e| e.to_string());
                    if let Some(e) = failed.as_ref().filter(|e| Some(*e) != rescan_error.as_ref()) {
                        warn!("{e}");
                    }
                    let again = if std::mem::take(&mut self.rescan_soon) {
                        Some(Duration::from_millis(100))
                    } else {
                        (polls_links || failed.is_some()).then_some(RESCAN_EVERY)
                    };
                    rescan_error = failed;
                    rescan.set(again.map(|d| tokio::time::Instant::now() + d));
                }
                () = ports.wait() => {
                    ports_wait = (ports_wait * 2).min(PORTS_EVERY);
                    ports.set(Some(tokio::time::Instant::now() + ports_wait));
                    let (tx, scan) = (ports_tx.clone(), self.platform.listening_tcp_ports());
                    tokio::spawn(async move { drop(tx.try_send(scan.await)) });
                }
                Some(listening) = ports_rx.recv() => self.node.set_tcp_ports(listening),
                () = hangup.recv() => self.reload_on_signal(),
                () = reconcile_timer.wait() => self.reconcile(),
                Some(input) = inputs.low.recv() => self.handle_input(input),
            }
            self.execute();
        }
        notifier.stopping();
        info!(target: crate::os::host::LIFECYCLE, "stopping: telling peers this node leaves");
        self.guardian.send_replace(false);
        let now = self.now();
        self.node.leave(now);
        self.execute();
        if let Some(writer) = self.state.take() {
            writer.finish().await;
        }
    }

    /// Asks the platform for the interfaces; the answer comes back through `tx`.
    fn scan_links(&self, tx: &mpsc::Sender<Vec<Link>>) {
        let (tx, scan) = (tx.clone(), self.platform.links());
        tokio::spawn(async move { drop(tx.try_send(scan.await)) });
    }
}

/// One timer whose deadline moves: reset only when the deadline changes, never when it is
/// already right, so a turn of the loop costs no timer of its own. The timer is the platform's
/// (on Linux a timerfd: one wake-up at the deadline).
struct Retimer {
    timer: Box<dyn Timer>,
    deadline: Option<tokio::time::Instant>,
}

impl Retimer {
    fn new(platform: &dyn Platform, deadline: Option<tokio::time::Instant>) -> Self {
        let mut timer = platform.timer();
        timer.set(deadline);
        Self { timer, deadline }
    }

    /// Moves the timer to `deadline` (`None`: never), if it is not there already.
    fn set(&mut self, deadline: Option<tokio::time::Instant>) {
        if deadline != self.deadline {
            self.deadline = deadline;
            self.timer.set(deadline);
        }
    }

    /// Completes at the deadline (and at once after it, until it is moved); never, without one.
    async fn wait(&mut self) {
        std::future::poll_fn(|cx| self.timer.poll_expired(cx)).await;
    }
}

async fn recv_or_pending(rx: &mut Option<mpsc::Receiver<()>>) -> Option<()> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// Starts the daily reconciliation (only the manager of a LAN schedules wakes).
    fn reconcile(&mut self) {
        let Some(((h, m), window)) = self.opts.reconciliation else { return };
        let now = self.now();
        let n = self.node.reconcile(now, window);
        if n > 0 {
            info!(
                "daily reconciliation: waking {n} sleepers, spread over {}",
                humantime::format_duration(window)
            );
        }
        self.next_reconcile = Some(next_local_time(h, m));
    }
}

/// The next time the local clock reads `hour:minute`, on tokio's clock.
fn next_local_time(hour: u8, minute: u8) -> tokio::time::Instant {
    use chrono::{Duration as Days, Local};
    let now = Local::now();
    let at = |date: chrono::NaiveDate| {
        date.and_hms_opt(u32::from(hour), u32::from(minute), 0)
            .and_then(|t| t.and_local_timezone(Local).earliest())
    };
    let today = at(now.date_naive());
    let next = match today {
        Some(t) if t > now => Some(t),
        _ => at(now.date_naive() + Days::days(1)),
    };
    let wait = next.and_then(|t| (t - now).to_std().ok()).unwrap_or(Duration::from_secs(86_400));
    tokio::time::Instant::now() + wait
}

/// One log line per event, with its reason.
fn log_event(e: &Event, d: &Daemon) {
    match e {
        Event::PeerChanged { iface, transition: t } => {
            let from = t.from.map_or("new".to_owned(), |s| s.to_string());
            info!(iface = d.iface_name(*iface), peer = %t.peer, mac = %t.mac, "peer {:?} {from} -> {} ({:?})", t.peer, t.to, t.reason);
        }
        Event::ElectionChanged { iface, role, manager, term, guardians } => {
            let m = manager.map_or("none".to_owned(), |m| format!("{m:?}"));
            info!(target: crate::os::host::LIFECYCLE, iface = d.iface_name(*iface), %role, term, "election: this node is {role}, manager {m}, term {term}, {} guardians", guardians.len());
        }
        Event::ProxyStarted { iface, sleeper, mac } => {
            info!(iface = d.iface_name(*iface), %mac, "answering for sleeper {sleeper:?} ({mac})")
        }
        Event::ProxyStopped { iface, sleeper, mac, reason } => {
            info!(iface = d.iface_name(*iface), %mac, "stopped answering for {sleeper:?} ({mac}): {reason:?}")
        }
        Event::WakeSent { iface, mac, cause, attempt } => {
            info!(iface = d.iface_name(*iface), %mac, attempt, "magic packet for {mac} ({cause:?}), attempt {attempt}")
        }
        Event::WakeRequested { mac, to } => info!(%mac, "asked {to} to wake {mac}"),
        Event::WakeConfirmed { mac, to_packet, to_awake } => {
            info!(%mac, "{mac} is awake: packet after {to_packet:?}, awake after {to_awake:?}")
        }
        Event::WakeGaveUp { mac, attempts } => {
            warn!(%mac, "{mac} did not wake after {attempts} magic packets")
        }
        Event::ClaimBlocked { iface, sleeper, mac, why } => {
            info!(iface = d.iface_name(*iface), %mac, "not answering for {sleeper:?} ({mac}) now: {why:?}")
        }
        Event::ClaimMissing { iface, sleeper, by } => warn!(
            iface = d.iface_name(*iface),
            "{by:?} was given sleeper {sleeper:?} but did not claim it in time: passing it over for that sleeper"
        ),
        Event::HearingChanged { iface, deaf: Some(why) } => warn!(
            iface = d.iface_name(*iface),
            "this node cannot hear its peers on {}: {}; it takes no role and answers for no sleeper there",
            d.iface_name(*iface),
            why.explain(d.opts.peer_port)
        ),
        Event::HearingChanged { iface, deaf: None } => {
            info!(
                iface = d.iface_name(*iface),
                "this node hears its peers on {} again",
                d.iface_name(*iface)
            )
        }
        Event::Impersonated { iface, from } => warn!(
            iface = d.iface_name(*iface),
            "a message signed with the site key claims to come from this node (sent from {from}): someone holding the key is impersonating it"
        ),
    }
}

#[cfg(test)]
mod socket_hint_tests {
    use std::io::{Error, ErrorKind};

    use super::socket_hint;

    #[test]
    fn a_taken_port_points_at_a_second_daemon_and_a_refusal_at_privileges() {
        let w = crate::os::words::HERE;
        let taken = socket_hint(&Error::from(ErrorKind::AddrInUse), 25536);
        assert!(taken.contains("UDP port 25536") && taken.contains("running already"), "{taken}");
        assert!(taken.contains(w.service_status), "{taken}");
        let denied = socket_hint(&Error::from(ErrorKind::PermissionDenied), 25536);
        assert_eq!(denied, w.raw_sockets);
        let other = socket_hint(&Error::from(ErrorKind::Other), 9);
        assert!(other.contains("UDP port 9") && other.contains(w.raw_sockets), "{other}");
    }
}
