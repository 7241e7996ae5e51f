//! Node unit tests: two or three nodes wired by hand, on a hand-driven clock (the fixture
//! here; the tests by subject beside it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;
use crate::core::proto::{Ipv4Prefix, Ipv6Prefix};

const H: Duration = Duration::from_secs(5);
const UNIX0: u64 = 1_800_000_000_000;

fn key() -> SiteKey {
    SiteKey::new(&[7u8; 32]).unwrap()
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn node(n: u8, now: Instant) -> Node {
    let mut cfg =
        NodeConfig::new(NodeId::from_u128(u128::from(n)), 1000 + u64::from(n), u64::from(n));
    cfg.guardians = 2;
    let mut node = Node::new(cfg, key(), now, UNIX0 + now.as_micros() / 1000);
    node.add_iface(
        now,
        IfaceConfig {
            id: IfaceId(1),
            name: "eth0".into(),
            mac: mac(n),
            ipv4: vec![Ipv4Prefix { addr: ip(n), len: 24 }],
            ipv6: vec![Ipv6Prefix { addr: format!("fd00::{n}").parse().unwrap(), len: 64 }],
        },
    );
    node.set_tcp_ports(vec![22, 3389]);
    node
}

/// A tiny lossless LAN: every datagram a node sends reaches every other node at once.
struct Lan {
    nodes: Vec<Node>,
    asleep: Vec<bool>,
    now: Instant,
    frames: Vec<(usize, Vec<u8>)>,
    magic: Vec<(usize, MacAddr)>,
    /// When each magic packet of `magic` was sent.
    magic_at: Vec<Instant>,
    /// Probes of sleeping hosts fail (awake ones always answer).
    probes_fail: bool,
}

impl Lan {
    fn new(n: u8) -> Self {
        let now = Instant::ZERO;
        Self {
            nodes: (1..=n).map(|i| node(i, now)).collect(),
            asleep: vec![false; n as usize],
            now,
            frames: Vec::new(),
            magic: Vec::new(),
            magic_at: Vec::new(),
            probes_fail: true,
        }
    }

    fn from(i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(ip(i as u8 + 1)), 25536)
    }

    fn drain(&mut self) {
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..self.nodes.len() {
                while let Some(a) = self.nodes[i].poll_action() {
                    progress = true;
                    match a {
                        Action::SendDatagram { bytes, .. } => {
                            for j in 0..self.nodes.len() {
                                if j != i && !self.asleep[j] {
                                    let now = self.now;
                                    self.nodes[j].handle_datagram(
                                        now,
                                        IfaceId(1),
                                        Self::from(i),
                                        &bytes,
                                    );
                                }
                            }
                        }
                        Action::SendFrame { frame, .. } => {
                            self.frames.push((i, frame.as_slice().to_vec()))
                        }
                        Action::SendMagicPacket { packet, .. } => {
                            self.magic.push((i, packet.target));
                            self.magic_at.push(self.now);
                        }
                        Action::Probe { ip: probed, .. } => {
                            let now = self.now;
                            // Awake hosts answer; sleeping ones too unless `probes_fail`.
                            let target = match probed {
                                IpAddr::V4(v4) => usize::from(v4.octets()[3]).checked_sub(1),
                                IpAddr::V6(_) => None,
                            };
                            let awake =
                                target.is_some_and(|t| t < self.asleep.len() && !self.asleep[t]);
                            let rtt =
                                (awake || !self.probes_fail).then_some(Duration::from_millis(1));
                            let ip = probed;
                            self.nodes[i].handle_probe_result(now, IfaceId(1), ip, rtt);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Advances the clock in 100 ms steps to `now + d`, firing timers on time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(100);
            for i in 0..self.nodes.len() {
                if !self.asleep[i] && self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    let now = self.now;
                    self.nodes[i].handle_timeout(now);
                }
            }
            self.drain();
        }
    }

    fn managers(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.asleep[i] && self.nodes[i].role(IfaceId(1)) == Some(Role::Manager))
            .collect()
    }
}

/// Three nodes; node 3 announces its sleep. Returns the node the election gave it to, which is
/// now probing (pending), and clears the frames sent so far.
fn sleeping_third(lan: &mut Lan) -> usize {
    lan.run(H * 2);
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    let sleeper = NodeId::from_u128(3);
    (0..2).find(|&i| lan.nodes[i].lans[0].pending.contains_key(&sleeper)).expect("a pending claim")
}

fn arp_reply_from(mac_: MacAddr, ip_: Ipv4Addr) -> Vec<u8> {
    crate::core::frame::arp_reply(mac_, ip_, mac(9), Ipv4Addr::new(10, 0, 0, 9)).as_slice().to_vec()
}

/// A SYN from `caller`:`port` to the third node's 3389, as captured by proxy `p`.
fn syn_from(p: usize, caller: u8, port: u16) -> Vec<u8> {
    crate::core::frame::tcp_syn(
        mac(caller),
        mac(p as u8 + 1),
        Ipv4Addr::new(10, 0, 0, caller),
        ip(3),
        port,
        3389,
    )
    .as_slice()
    .to_vec()
}

/// A SYN from 10.0.0.9:40000 to the sleeping third node's port 3389, handed to its proxy `p`.
fn syn_to_third(lan: &mut Lan, p: usize) {
    let now = lan.now;
    lan.nodes[p].handle_frame(now, IfaceId(1), &syn_from(p, 9, 40000));
    lan.drain();
}

fn caller() -> WakeCause {
    WakeCause::TcpSyn { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), port: 3389 }
}

/// The frames proxy `p` sent that carry a TCP segment (the replayed SYNs).
fn replayed(lan: &Lan, p: usize) -> Vec<Vec<u8>> {
    lan.frames
        .iter()
        .filter(|(i, f)| *i == p && f[12..14] == [8, 0] && f[23] == 6)
        .map(|(_, f)| f.clone())
        .collect()
}

mod claims;
mod hostile;
mod roles;
mod wakes;
