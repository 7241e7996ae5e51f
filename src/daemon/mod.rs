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
//!
//! Its files: this one (the daemon's parts and how it starts), `run_loop` (the node's task),
//! `intake` (the queues and the peer datagrams' sorter), `actions` (what the node asked for,
//! carried out), `links` (the managed interfaces' sockets), `control` (control requests),
//! `power` (sleep and resume), `persist` (the registry's writer), `reload` (the key re-read),
//! `start` (the OS entry: key, state directory, control socket, platform).

mod actions;
mod control;
pub mod intake;
mod links;
pub mod os;
mod persist;
pub mod platform;
mod power;
mod reload;
mod run_loop;
mod start;
#[cfg(test)]
pub(crate) mod tests;
pub mod virtual_lan;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

pub use crate::os::host::{PowerEvent, PowerHooks, PowerLink, power_channel};
pub use intake::Inputs;
pub use os::ifaces::{Link, directed_broadcast, scan as scan_links, select as select_links};
pub use os::ports::{listening_tcp_ports, parse_proc_net_tcp};
pub use os::probe::{NetProber, Probe};
pub use platform::Platform;
pub use reload::ReloadError;
pub use start::{boot_time_s, options, run, runtime};

use crate::core::node::{IfaceId, Node, NodeConfig};
use crate::core::proto::SiteKey;
use crate::core::time::Instant;
use links::{LanIo, socket_hint};
use platform::{LinkSocket, SleeperStore};
use run_loop::next_local_time;

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
    /// The metrics endpoint, as opened by [`run`] (`status` shows it); `None` when off.
    pub metrics: Option<crate::ctl::MetricsEndpoint>,
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
}
