//! The platform of a real machine, Linux or Windows: the daemon's [`Platform`] over the OS's
//! sockets, layer-2 backend, probes, interface and port discovery, clock and state directory.
//! What differs between the two systems lives in the modules this one calls (`sockets.rs`,
//! `ifaces.rs`, `ports.rs`, `probe.rs`, `crate::os::capture`); this file is the same for both.
//! Only this folder (and `start.rs`, the OS entry) touches the machine (`.ci/check-core`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::platform::{
    Datagram, DatagramSink, FrameLink, LinkSocket, Pending, Platform, Prober, SleeperStore,
    SocketKind,
};
use crate::os::capture::{FrameBackend, FrameSink};
use crate::store::state::{Loaded, SavedSleeper, StateDir, StateError};
use ifaces::Link;
use probe::{NetProber, Probe};
use sockets::{Pin, Ttl};

pub(super) mod ifaces;
#[cfg(target_os = "linux")]
mod netlink;
pub(super) mod ports;
pub(super) mod probe;
pub(super) mod sockets;
#[cfg(target_os = "linux")]
mod timer;

/// The largest datagram a reader takes whole: more than any wakeproxy datagram.
const RECV_BUF: usize = 2048;

/// This machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsPlatform;

/// Runs `f` on tokio's blocking pool; `fallback` if the pool could not run it.
fn off_the_loop<T: Send + 'static>(f: fn() -> T, fallback: T) -> Pending<T> {
    Box::pin(async move { tokio::task::spawn_blocking(f).await.unwrap_or(fallback) })
}

impl Platform for OsPlatform {
    fn links(&self) -> Pending<Vec<Link>> {
        off_the_loop(ifaces::scan, Vec::new())
    }

    fn listening_tcp_ports(&self) -> Pending<Vec<u16>> {
        off_the_loop(ports::listening_tcp_ports, Vec::new())
    }

    fn link_changes(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        #[cfg(target_os = "linux")]
        match netlink::watch() {
            Ok(rx) => return Some(rx),
            Err(e) => tracing::debug!(
                "cannot subscribe to interface changes ({e}): re-reading interfaces every 2 s"
            ),
        }
        None
    }

    fn open_udp(
        &self,
        link: &Link,
        port: u16,
        kind: SocketKind,
        sink: Option<DatagramSink>,
    ) -> io::Result<Box<dyn LinkSocket>> {
        let pin = Pin::from(link);
        let sock = Arc::new(match kind {
            SocketKind::Peer => sockets::bind_peer(pin, port)?,
            SocketKind::Plain => sockets::bind_udp(pin, port)?,
        });
        let reader = sink.map(|sink| match kind {
            SocketKind::Peer => tokio::spawn(read_peer(sock.clone(), sink)),
            SocketKind::Plain => tokio::spawn(read_plain(sock.clone(), sink)),
        });
        Ok(Box::new(OsSocket { sock, reader }))
    }

    fn open_routed(&self) -> io::Result<Box<dyn LinkSocket>> {
        Ok(Box::new(OsSocket { sock: Arc::new(sockets::bind_routed()?), reader: None }))
    }

    fn open_frames(
        &self,
        link: &Link,
        wol_port: u16,
        promiscuous: bool,
        sink: FrameSink,
    ) -> io::Result<Box<dyn FrameLink>> {
        let backend = crate::os::capture::Backend::open(&link.device, wol_port, promiscuous, sink)?;
        Ok(Box::new(backend))
    }

    fn open_prober(&self, link: &Link) -> (Box<dyn Prober>, Option<io::Error>) {
        match NetProber::new(link) {
            Ok(p) => (Box::new(p), None),
            Err(e) => (Box::new(NetProber::tcp_only(link)), Some(e)),
        }
    }

    fn unix_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    #[cfg(target_os = "linux")]
    fn timer(&self) -> Box<dyn super::platform::Timer> {
        match timer::KernelTimer::new() {
            Ok(t) => Box::new(t),
            Err(e) => {
                tracing::debug!("no timerfd ({e}): the loop uses tokio's timers");
                Box::new(super::platform::TokioTimer::default())
            }
        }
    }

    fn reports_ttl(&self) -> bool {
        sockets::REPORTS_TTL
    }

    fn pins_by_address(&self) -> bool {
        sockets::PINNED_BY_ADDRESS
    }
}

/// A socket and the task that reads it.
struct OsSocket {
    sock: Arc<UdpSocket>,
    reader: Option<JoinHandle<()>>,
}

impl LinkSocket for OsSocket {
    fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        self.sock.try_send_to(bytes, to).map(drop)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }
}

impl Drop for OsSocket {
    fn drop(&mut self) {
        if let Some(r) = &self.reader {
            r.abort();
        }
    }
}

/// Hands every datagram of a peer socket to `sink`, with its TTL and the socket's drop count.
async fn read_peer(sock: Arc<UdpSocket>, mut sink: DatagramSink) {
    let mut buf = vec![0u8; RECV_BUF];
    let mut control = sockets::control_buffer();
    loop {
        match sockets::recv_peer(&sock, &mut buf, &mut control).await {
            Ok(got) => {
                let bytes = &buf[..got.len.min(buf.len())];
                let d = Datagram {
                    bytes,
                    from: got.from,
                    ttl: got.ttl,
                    kernel_drops: got.kernel_drops,
                };
                if !sink(d) {
                    return;
                }
            }
            Err(e) => pause_after(e).await,
        }
    }
}

/// Hands every datagram of a plain socket to `sink`.
async fn read_plain(sock: Arc<UdpSocket>, mut sink: DatagramSink) {
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let d =
                    Datagram { bytes: &buf[..n], from, ttl: Ttl::Unsupported, kernel_drops: None };
                if !sink(d) {
                    return;
                }
            }
            Err(e) => pause_after(e).await,
        }
    }
}

/// A receive error (Windows reports an ICMP port unreachable as one): not a reason to spin.
async fn pause_after(e: io::Error) {
    tracing::debug!("socket: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

impl SleeperStore for StateDir {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn load(&self) -> Result<Loaded<Vec<SavedSleeper>>, StateError> {
        self.load_sleepers()
    }

    fn save(&self, sleepers: Vec<SavedSleeper>) -> Pending<Result<(), StateError>> {
        let dir = self.clone();
        let dir_path = self.path().to_path_buf();
        Box::pin(async move {
            // Two fsyncs (the file, then its directory): on the blocking pool.
            match tokio::task::spawn_blocking(move || dir.save_sleepers(&sleepers)).await {
                Ok(r) => r,
                Err(e) => Err(StateError::Write {
                    path: dir_path,
                    source: io::Error::other(e.to_string()),
                }),
            }
        })
    }
}

impl Prober for NetProber {
    fn probe(&self, probe: Probe, local: Option<IpAddr>) -> Pending<Option<Duration>> {
        let me = self.clone();
        Box::pin(async move { me.ask(&probe, local).await })
    }
}
