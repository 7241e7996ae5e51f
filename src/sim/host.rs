//! A simulated host: its node, its address and clock, and what happens to it (it sleeps, with
//! or without notice, crashes, loses its daemon, restarts, has its clock stepped).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rustc_hash::FxHashSet;

use super::{EPOCH_UNIX_MS, IFACE, Sim, addressing};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::node::{IfaceConfig, Node, NodeConfig};
use crate::core::proto::{Ipv4Prefix, Role, SiteKey};
use crate::core::time::Instant;

/// What a simulated host is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    /// Running its daemon.
    Up,
    /// Asleep; its NIC watches for magic packets.
    Asleep,
    /// Its daemon is dead but the host answers pings.
    DaemonDead,
    /// Powered off or frozen: answers nothing.
    Down,
}

/// One simulated host.
#[derive(Debug)]
pub struct Host {
    /// Its node (replaced on restart).
    pub node: Node,
    /// Its subnet.
    pub subnet: usize,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
    /// What it is doing.
    pub state: HostState,
    /// It holds the OS's sleep (a guardian).
    pub inhibits_sleep: bool,
    /// Its role, as its last ElectionChanged event said.
    pub role: Role,
    /// The sleepers it answers for, as its events said.
    pub proxied: FxHashSet<NodeId>,
    /// The TCP ports it listens on.
    pub tcp_ports: Vec<u16>,
    /// Its firewall drops every inbound peer datagram (its own echoes too).
    pub deaf: bool,
    /// Its firewall drops ICMP echo requests (the Windows default).
    pub echo_blocked: bool,
    /// Since when the host has been up (awake, daemon running or not), if it is.
    pub up_since: Option<Instant>,
    pub(super) cfg: NodeConfig,
    pub(super) timer: Option<Instant>,
    pub(super) resume_at: Option<Instant>,
    pub(super) mute: bool,
    pub(super) group: u32,
    pub(super) skew_ms: i64,
}

impl Sim {
    pub(super) fn boot(
        key: &SiteKey,
        cfg: &NodeConfig,
        now: Instant,
        skew_ms: i64,
        ip: Ipv4Addr,
        mac: MacAddr,
        ports: &[u16],
    ) -> Node {
        let unix = wall(now, skew_ms);
        let mut node = Node::new(cfg.clone(), key.clone(), now, unix);
        let ipv6 = crate::core::proto::Ipv6Prefix { addr: link_local(mac), len: 64 };
        node.add_iface(
            now,
            IfaceConfig {
                id: IFACE,
                name: "eth0".into(),
                mac,
                ipv4: vec![Ipv4Prefix { addr: ip, len: 16 }],
                ipv6: vec![ipv6],
            },
        );
        node.set_tcp_ports(ports.to_vec());
        node
    }

    /// Host `i` loses power (or freezes): no notice, answers nothing, its NIC is dead too.
    pub fn crash(&mut self, i: usize) {
        self.hosts[i].state = HostState::Down;
        self.hosts[i].up_since = None;
        self.vanish(i);
    }

    /// Host `i`'s daemon is killed; the host stays up and answers pings.
    pub fn kill_daemon(&mut self, i: usize) {
        self.hosts[i].state = HostState::DaemonDead;
        self.vanish(i);
    }

    /// Host `i` starts again with a fresh daemon (same id, new process).
    pub fn restart(&mut self, i: usize) {
        self.forget_daemon_run(i);
        let h = &mut self.hosts[i];
        h.node = Self::boot(&self.key, &h.cfg, self.now, h.skew_ms, h.ip, h.mac, &h.tcp_ports);
        if h.state != HostState::DaemonDead {
            h.up_since = Some(self.now);
        }
        h.state = HostState::Up;
        h.timer = None;
        h.resume_at = None;
        h.mute = false;
        self.reschedule(i);
    }

    /// Host `i`'s daemon starts again with the sleeper registry its last run saved, as a
    /// daemon with its state directory does (`restart` is one without it).
    pub fn restart_with_state(&mut self, i: usize) {
        let saved = self.hosts[i].node.known_sleepers(self.now);
        self.restart(i);
        let now = self.now;
        for s in saved {
            self.hosts[i].node.restore_sleeper(now, s.iface, s.id, s.host, s.asleep_for);
        }
        self.drain(i);
    }

    /// Host `i` reloads its key file, which now holds `key` (a step of a key rollover). A
    /// restart boots it with the simulation's key again.
    pub fn set_key(&mut self, i: usize, key: SiteKey) {
        self.hosts[i].node.set_key(key);
    }

    /// Host `i` goes to sleep; with `announce` it sends its SleepNotice first, without it just
    /// goes quiet (a failed hook, a forced suspend).
    pub fn sleep(&mut self, i: usize, announce: bool) {
        if self.hosts[i].state != HostState::Up {
            return;
        }
        self.hosts[i].mute = !announce;
        let now = self.now;
        self.hosts[i].node.going_to_sleep(now);
        self.drain(i);
        self.hosts[i].state = HostState::Asleep;
        self.hosts[i].up_since = None;
        self.hosts[i].mute = true;
        self.vanish(i);
    }

    /// Host `i` announces its sleep but the suspend fails: its daemon hangs (sends nothing more)
    /// while the host stays up, answering pings and ARP. Nobody may answer for it.
    pub fn failed_suspend(&mut self, i: usize) {
        if self.hosts[i].state != HostState::Up {
            return;
        }
        let now = self.now;
        self.hosts[i].node.going_to_sleep(now);
        self.drain(i);
        self.hosts[i].state = HostState::DaemonDead;
        self.vanish(i);
    }

    /// An operator on host `from` wakes host `target` by MAC: locally if they share a subnet,
    /// otherwise with a WakeRequest to the target subnet's broadcast address.
    pub fn operator_wake(&mut self, from: usize, target: usize) {
        let (mac, subnet) = (self.hosts[target].mac, self.hosts[target].subnet);
        self.operator_wake_mac(from, subnet, mac);
    }

    /// An operator on host `from` wakes the host with `mac` on subnet `subnet` (which another
    /// part of a fleet may hold).
    pub(super) fn operator_wake_mac(&mut self, from: usize, subnet: usize, mac: MacAddr) {
        let now = self.now;
        let same = self.hosts[from].subnet == subnet;
        let to = SocketAddr::new(
            IpAddr::V4(addressing::broadcast_ip(subnet)),
            crate::core::proto::DEFAULT_PEER_PORT,
        );
        let node = &mut self.hosts[from].node;
        let _ = if same {
            node.wake(now, crate::core::node::WakeTarget::Mac(mac), None).map(|_| ())
        } else {
            node.request_remote_wake(now, to, mac, None)
        };
        self.drain(from);
    }

    /// Host `i`'s firewall starts (or stops) dropping every inbound peer datagram.
    pub fn set_deaf(&mut self, i: usize, deaf: bool) {
        self.hosts[i].deaf = deaf;
    }

    /// Host `i`'s firewall starts (or stops) dropping ICMP echo requests.
    pub fn set_echo_blocked(&mut self, i: usize, blocked: bool) {
        self.hosts[i].echo_blocked = blocked;
    }

    /// Host `i`'s wall clock is stepped by `ms` (NTP correcting it, an administrator setting
    /// it): its node is told at once, as the daemon tells it before each input it hands over.
    pub fn jump_clock(&mut self, i: usize, ms: i64) {
        let h = &mut self.hosts[i];
        h.skew_ms = h.skew_ms.saturating_add(ms);
        if h.state == HostState::Up {
            let (now, unix) = (self.now, wall(self.now, h.skew_ms));
            h.node.handle_wall_clock(now, unix);
        }
    }
}

pub(super) fn wall(now: Instant, skew_ms: i64) -> u64 {
    (EPOCH_UNIX_MS as i64 + (now.as_micros() / 1000) as i64 + skew_ms) as u64
}

/// The EUI-64 link-local address of a MAC.
pub(super) fn link_local(mac: MacAddr) -> std::net::Ipv6Addr {
    let m = mac.octets();
    std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}
