//! The two stations `lab chaos` plugs into every subnet of the lab, each a namespace of its own
//! with a leg on every bridge and no daemon, no key:
//! - the **monitor's station** (`<lab>-mo`, 10.0.K.250) asks every lab address with a
//!   broadcast ARP request, over and over, so that whoever answers for an address, owner or
//!   proxy, shows it on the wire;
//! - the **hostile station** (`<lab>-ev`, 10.0.K.251), keyless: on demand it relays every peer
//!   datagram it hears into every other subnet and replays each one later on its own subnet, and
//!   it sends the ARP and junk-datagram floods (`wakeproxy lab flood`).

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::{Lab, LabError, netns, switch_ns};
use crate::os::netns::Namespace;
use crate::os::sys::linux as sys;

/// Accepts nothing: a socket that only sends.
const NOTHING: [(u16, u8, u8, u32); 1] = [(0x06, 0, 0, 0)];
/// IPv4 UDP to port 25536 only (no IP options: the lab's daemons send none).
const PEER_DATAGRAMS: [(u16, u8, u8, u32); 8] = [
    (0x28, 0, 0, 12),     // ldh [12]
    (0x15, 0, 5, 0x0800), // IPv4
    (0x30, 0, 0, 23),     // ldb [23] (protocol)
    (0x15, 0, 3, 17),     // UDP
    (0x28, 0, 0, 36),     // ldh [36] (destination port, 20-byte IP header)
    (0x15, 0, 1, 25536),  // the peer port
    (0x06, 0, 0, 0xffff), // accept
    (0x06, 0, 0, 0),      // drop
];

/// A station: its namespace, with a leg `ethK` on bridge `brK` for every subnet.
#[derive(Debug)]
pub struct Station {
    ns: Namespace,
    /// Its MAC on each leg.
    pub macs: Vec<[u8; 6]>,
    /// Its address on each leg.
    pub ips: Vec<[u8; 4]>,
}

impl Station {
    /// Plugs station `tag` (`mo`, `ev`) into every subnet of `lab`, at host number `host` of
    /// each subnet's /24.
    pub fn plug(lab: &Lab, tag: &str, host: u8) -> Result<Self, LabError> {
        let name = format!("{}-{tag}", lab.name);
        netns::run_quiet(&["ip", "netns", "del", &name]);
        let ns = Namespace::add(&name)?;
        let (mut macs, mut ips) = (Vec::new(), Vec::new());
        for k in 0..lab.subnets {
            let mac = [0x02, 0x57, tag.as_bytes()[0], k as u8, 0, host];
            let text = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            let ip = [10, 0, k as u8 + 1, host];
            let cable = format!("{}{}{k}", lab.name, &tag[..1]);
            netns::plug(
                (&name, &format!("eth{k}"), Some(&text)),
                &format!("10.0.{}.{host}/24", k + 1),
                (&switch_ns(&lab.name), &format!("br{k}")),
                &cable,
            )?;
            macs.push(mac);
            ips.push(ip);
        }
        Ok(Self { ns, macs, ips })
    }

    /// Its namespace's name.
    pub fn ns(&self) -> &str {
        self.ns.name()
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        for pid in netns::pids_in(self.ns.name()) {
            netns::signal(pid, "KILL");
        }
    }
}

/// Something a station does on a thread of its own inside its namespace until stopped.
#[derive(Debug)]
pub struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Running {
    fn spawn(
        ns: &str,
        legs: usize,
        filter: &'static [(u16, u8, u8, u32)],
        work: impl FnOnce(&[(OwnedFd, u32)], &AtomicBool) -> u64 + Send + 'static,
    ) -> Result<Self, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let ns_name = ns.to_owned();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let socks = netns::enter(&ns_name).and_then(|()| {
                    (0..legs)
                        .map(|k| sys::packet_socket(&format!("eth{k}"), filter))
                        .collect::<std::io::Result<Vec<_>>>()
                });
                match socks {
                    Ok(socks) => {
                        let _ = ready_tx.send(Ok(()));
                        work(&socks, &stop)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        0
                    }
                }
            })
        };
        match ready.recv() {
            Ok(Ok(())) => Ok(Self { stop, thread: Some(thread) }),
            Ok(Err(e)) => Err(LabError::Command {
                command: format!("a station in {ns}"),
                message: e.to_string(),
            }),
            Err(_) => Err(LabError::Command {
                command: format!("a station in {ns}"),
                message: "its thread ended before it started".into(),
            }),
        }
    }

    /// Stops it; what it counted (frames sent).
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A broadcast ARP request from `mac`/`ip` for `target`.
fn arp_request(mac: [u8; 6], ip: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

/// The monitor's station asks for every address of `targets` (per subnet) every `every`.
pub fn ask_arp(
    station: &Station,
    targets: Vec<Vec<[u8; 4]>>,
    every: Duration,
) -> Result<Running, LabError> {
    let (macs, ips) = (station.macs.clone(), station.ips.clone());
    Running::spawn(station.ns(), targets.len(), &NOTHING, move |socks, stop| {
        let mut sent = 0;
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            for (k, (fd, index)) in socks.iter().enumerate() {
                for &t in &targets[k] {
                    if sys::send_frame_on(fd, *index, &arp_request(macs[k], ips[k], t)).is_ok() {
                        sent += 1;
                    }
                }
            }
            next += every;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        sent
    })
}

/// The hostile station, keyless, relays every peer datagram it hears on one subnet into every
/// other (the frame as it was, from the station's MAC: off-link sources) and replays each on
/// its own subnet `replay_after` later (a stale copy of a genuine datagram), until stopped.
pub fn relay_and_replay(station: &Station, replay_after: Duration) -> Result<Running, LabError> {
    let macs = station.macs.clone();
    Running::spawn(station.ns(), station.macs.len(), &PEER_DATAGRAMS, move |socks, stop| {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut sent = 0u64;
        let mut later: std::collections::VecDeque<(Instant, usize, Vec<u8>)> = Default::default();
        let mut buf = vec![0u8; 2048];
        let from = |k: usize, frame: &[u8]| {
            let mut f = frame.to_vec();
            f[6..12].copy_from_slice(&macs[k]);
            f
        };
        while !stop.load(Ordering::Relaxed) {
            let mut fds: Vec<PollFd<'_>> =
                socks.iter().map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
            let _ = poll(&mut fds, PollTimeout::from(20u16));
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect();
            for (k, (fd, _)) in socks.iter().enumerate() {
                if !ready[k] {
                    continue;
                }
                while let Ok(n) = sys::recv_frame(fd, &mut buf) {
                    let frame = &buf[..n];
                    for (o, (out, index)) in socks.iter().enumerate() {
                        if o != k && sys::send_frame_on(out, *index, &from(o, frame)).is_ok() {
                            sent += 1;
                        }
                    }
                    later.push_back((Instant::now() + replay_after, k, from(k, frame)));
                }
            }
            while later.front().is_some_and(|(at, _, _)| *at <= Instant::now()) {
                let (_, k, frame) = later.pop_front().expect("checked");
                if sys::send_frame_on(&socks[k].0, socks[k].1, &frame).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    })
}
