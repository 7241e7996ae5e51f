//! The monitor's eyes: every frame that enters the lab's switch from a host or from the router,
//! captured on the switch port it came in by (an `AF_PACKET` socket per port that ignores the
//! frames the switch sends out of it), so each frame is seen once and its sender's port is
//! known whatever addresses the frame claims.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::super::truth::unix_us;
use super::super::{Lab, LabError, netns, switch_ns};
use crate::os::sys::linux as sys;

/// Classic BPF: ARP, IPv4, IPv6 and EtherType 0x0842 (magic packets) only.
const FILTER: [(u16, u8, u8, u32); 7] = [
    (0x28, 0, 0, 12),     // ldh [12] (EtherType)
    (0x15, 4, 0, 0x0806), // ARP
    (0x15, 3, 0, 0x0800), // IPv4
    (0x15, 2, 0, 0x86dd), // IPv6
    (0x15, 1, 0, 0x0842), // Wake-on-LAN
    (0x06, 0, 0, 0),      // drop
    (0x06, 0, 0, 0xffff), // accept
];

/// Where a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    /// Host `i`'s port.
    Host(usize),
    /// The router's port on subnet `k`.
    Router(usize),
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Captured {
    /// When it was read, Unix microseconds.
    pub at_us: u64,
    /// The port it entered the switch by.
    pub port: Port,
    /// The frame.
    pub frame: Vec<u8>,
}

/// What one port's capture saw and missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortCount {
    /// The port.
    pub port: Port,
    /// Frames captured.
    pub frames: u64,
    /// Frames the kernel dropped before the monitor could read them.
    pub missed: u64,
}

/// A running capture on every port of a lab's switch.
#[derive(Debug)]
pub struct Capture {
    stop: Arc<AtomicBool>,
    frames: Arc<Mutex<Vec<Captured>>>,
    thread: Option<JoinHandle<Vec<PortCount>>>,
}

impl Capture {
    /// Starts capturing on every host's and the router's switch port.
    pub fn start(lab: &Lab) -> Result<Self, LabError> {
        let mut ports: Vec<(String, Port)> = (0..lab.hosts.len())
            .map(|i| (format!("{}h{}b", lab.name, i + 1), Port::Host(i)))
            .collect();
        ports.extend((0..lab.subnets).map(|k| (format!("{}r{k}b", lab.name), Port::Router(k))));
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let sw = switch_ns(&lab.name);
        let thread = {
            let (stop, frames) = (stop.clone(), frames.clone());
            std::thread::spawn(move || {
                let opened = netns::enter(&sw).and_then(|()| {
                    ports
                        .iter()
                        .map(|(name, port)| {
                            sys::packet_socket(name, &FILTER).map(|(fd, _)| (fd, *port))
                        })
                        .collect::<std::io::Result<Vec<(OwnedFd, Port)>>>()
                });
                match opened {
                    Ok(socks) => {
                        let _ = ready_tx.send(Ok(()));
                        read_until_stopped(&socks, &stop, &frames)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        Vec::new()
                    }
                }
            })
        };
        match ready.recv() {
            Ok(Ok(())) => Ok(Self { stop, frames, thread: Some(thread) }),
            Ok(Err(e)) => Err(LabError::Command {
                command: "the chaos monitor's capture".into(),
                message: e.to_string(),
            }),
            Err(_) => Err(LabError::Command {
                command: "the chaos monitor's capture".into(),
                message: "its thread ended before it started".into(),
            }),
        }
    }

    /// The frames captured so far.
    pub fn frames(&self) -> Vec<Captured> {
        self.frames.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Stops; every frame captured, in order of capture, and what each port saw and missed.
    pub fn stop(mut self) -> (Vec<Captured>, Vec<PortCount>) {
        self.stop.store(true, Ordering::Relaxed);
        let counts = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let frames = std::mem::take(&mut *self.frames.lock().unwrap_or_else(|p| p.into_inner()));
        (frames, counts)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_until_stopped(
    socks: &[(OwnedFd, Port)],
    stop: &AtomicBool,
    frames: &Mutex<Vec<Captured>>,
) -> Vec<PortCount> {
    let mut counts: Vec<PortCount> =
        socks.iter().map(|&(_, port)| PortCount { port, frames: 0, missed: 0 }).collect();
    let mut buf = vec![0u8; 2048];
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut fds: Vec<PollFd<'_>> =
            socks.iter().map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
        if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) <= 0 {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect();
        for (k, (fd, port)) in socks.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            // Drain what is queued: one read per wake-up would fall behind a flood.
            while let Ok(n) = sys::recv_frame(fd, &mut buf) {
                counts[k].frames += 1;
                batch.push(Captured { at_us: unix_us(), port: *port, frame: buf[..n].to_vec() });
            }
        }
        if let Ok(mut all) = frames.lock() {
            all.append(&mut batch);
        }
    }
    for (k, (fd, _)) in socks.iter().enumerate() {
        counts[k].missed += sys::packet_drops(fd).unwrap_or(0);
    }
    counts
}
