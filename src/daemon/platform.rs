//! The seam between the daemon and the machine it runs on: everything the daemon touches of the
//! operating system, as a few small traits.
//!
//! The daemon's loop ([`super::Daemon::run`]) decides nothing about sockets, devices, files or
//! clocks itself: it asks a [`Platform`] to open an interface's sockets, its layer-2 backend and
//! its prober, to list interfaces and listening ports, to say what time it is, and to keep the
//! sleeper registry. Two platforms exist:
//!
//! - [`super::os::OsPlatform`]: Linux and Windows, the real sockets (`sockets.rs`), captures
//!   (`crate::os::capture`), probes (`probe.rs`), discovery (`ifaces.rs`, `ports.rs`) and the state
//!   directory;
//! - [`super::virtual_lan`]: hosts on a LAN in memory, so the real daemon loop runs in-process,
//!   unprivileged, under `tokio::time::pause` (the daemon's own tests).
//!
//! What may block (reading the interface list or the TCP table, writing state with its fsyncs)
//! is asked for as a future, and the platform decides where it runs (the OS platform: tokio's
//! blocking pool): the node's task only awaits the answer in a task of its own.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::os::ifaces::Link;
use super::os::probe::Probe;
pub use super::os::sockets::Ttl;
use crate::os::capture::FrameSink;
use crate::store::state::{Loaded, SavedSleeper, StateError};

/// A future the platform runs wherever it must (blocking work off the node's task).
pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A timer the daemon's loop moves from deadline to deadline (the node's next timeout, the
/// next port read, the watchdog). The OS platform keeps it in the kernel where it can: tokio's
/// timer wheel wakes the process at each level a far deadline cascades through (two or three
/// times for a 5 s heartbeat, measured with strace), Linux's timerfd once, at the deadline.
pub trait Timer: Send {
    /// Arms the timer for `deadline`, or disarms it (`None`).
    fn set(&mut self, deadline: Option<tokio::time::Instant>);
    /// Ready from the armed deadline on, until the timer is set again; pending while disarmed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// tokio's own timer: the virtual LAN's (it follows `tokio::time::pause`), and the OS
/// platform's where the OS has no better one.
#[derive(Debug)]
pub struct TokioTimer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
}

impl Default for TokioTimer {
    fn default() -> Self {
        let never = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        Self { sleep: Box::pin(tokio::time::sleep_until(never)), armed: false }
    }
}

impl Timer for TokioTimer {
    fn set(&mut self, deadline: Option<tokio::time::Instant>) {
        self.armed = deadline.is_some();
        if let Some(at) = deadline {
            self.sleep.as_mut().reset(at);
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            return Poll::Pending;
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// One datagram a socket received, with what the OS said about it.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Its bytes.
    pub bytes: &'a [u8],
    /// Who sent it.
    pub from: SocketAddr,
    /// Its IP TTL on arrival, as far as the platform reports it.
    pub ttl: Ttl,
    /// The socket's running count of datagrams the OS dropped, if it reports one.
    pub kernel_drops: Option<u32>,
}

/// Where a socket hands every datagram it receives, from the platform's own task. It must not
/// block; it returns false once nobody takes datagrams any more (the reader then stops).
pub type DatagramSink = Box<dyn FnMut(Datagram<'_>) -> bool + Send>;

/// Which UDP socket of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// The peer port: TTL 255 on what it sends, TTL and drop count reported on what it
    /// receives, a large receive buffer.
    Peer,
    /// A plain socket (magic packets out, the Wake-on-LAN port in).
    Plain,
}

/// A UDP socket of one interface. Dropping it closes it and stops its reader.
pub trait LinkSocket: Send + Sync {
    /// Sends one datagram without waiting; an error says why it could not be sent.
    fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()>;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A layer-2 capture/inject backend on one interface (see [`crate::os::capture::FrameBackend`]).
/// Dropping it closes it.
pub trait FrameLink: Send + Sync {
    /// Sends one complete Ethernet frame.
    fn send(&self, frame: &[u8]) -> io::Result<()>;
    /// Frames the OS dropped before the backend read them, since it opened; `None` if it
    /// cannot tell.
    fn kernel_drops(&self) -> Option<u64>;
}

impl<T: crate::os::capture::FrameBackend> FrameLink for T {
    fn send(&self, frame: &[u8]) -> io::Result<()> {
        crate::os::capture::FrameBackend::send(self, frame)
    }

    fn kernel_drops(&self) -> Option<u64> {
        crate::os::capture::FrameBackend::kernel_drops(self)
    }
}

/// Sends liveness probes through one interface.
pub trait Prober: Send + Sync {
    /// `Some(time to the first answer)` if the host answered `probe` within its timeout; `local`
    /// is the interface's address of the probed address's family.
    fn probe(&self, probe: Probe, local: Option<IpAddr>) -> Pending<Option<Duration>>;
}

/// Where the sleeper registry is kept across restarts.
pub trait SleeperStore: Debug + Send + Sync {
    /// Where it is, for messages (a path).
    fn location(&self) -> String;
    /// What an earlier run saved (read once, at start).
    fn load(&self) -> Result<Loaded<Vec<SavedSleeper>>, StateError>;
    /// Saves `sleepers` atomically: a kill at any moment leaves the old list or the new one.
    fn save(&self, sleepers: Vec<SavedSleeper>) -> Pending<Result<(), StateError>>;
}

/// Everything the daemon needs from the machine it runs on.
pub trait Platform: Send + Sync + 'static {
    /// Every interface, as the OS reports it now.
    fn links(&self) -> Pending<Vec<Link>>;
    /// The TCP ports this host listens on, reachable from outside, sorted.
    fn listening_tcp_ports(&self) -> Pending<Vec<u16>>;
    /// Wakes whenever interfaces or their addresses may have changed (Linux: netlink); `None`
    /// if the platform cannot tell, and the daemon polls [`Platform::links`] instead.
    fn link_changes(&self) -> Option<tokio::sync::mpsc::Receiver<()>>;
    /// Opens a UDP socket of `kind` on `port` (0: any) that hears only interface `link`, with
    /// broadcast allowed; what it receives goes to `sink` (none: it only sends).
    fn open_udp(
        &self,
        link: &Link,
        port: u16,
        kind: SocketKind,
        sink: Option<DatagramSink>,
    ) -> io::Result<Box<dyn LinkSocket>>;
    /// Opens a socket for datagrams the OS routes to other subnets (WakeRequests to relays).
    fn open_routed(&self) -> io::Result<Box<dyn LinkSocket>>;
    /// Opens the layer-2 backend of `link` (see [`crate::os::capture::FrameBackend::open`]).
    fn open_frames(
        &self,
        link: &Link,
        wol_port: u16,
        promiscuous: bool,
        sink: FrameSink,
    ) -> io::Result<Box<dyn FrameLink>>;
    /// A prober through `link`, and why it cannot send ICMP echo if it cannot (then it tries
    /// only TCP ports).
    fn open_prober(&self, link: &Link) -> (Box<dyn Prober>, Option<io::Error>);
    /// The wall clock, in Unix milliseconds.
    fn unix_ms(&self) -> u64;
    /// A timer for the daemon's loop.
    fn timer(&self) -> Box<dyn Timer> {
        Box::new(TokioTimer::default())
    }
    /// Whether peer sockets report each datagram's TTL (the GTSM check needs it).
    fn reports_ttl(&self) -> bool;
    /// Whether sockets are tied to their interface by its address (Windows), so that an
    /// address change means new sockets; otherwise by device (Linux).
    fn pins_by_address(&self) -> bool;
}
