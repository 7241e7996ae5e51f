//! Drives one `core::node::Node` directly with whatever arrives from outside, in any order:
//! peer datagrams (validly signed messages of every kind from made-up peers, the same mutated,
//! signed with the wrong key, raw bytes, replays of earlier ones and of the node's own),
//! captured frames (ARP, NS, NA, TCP SYN, magic packets, raw bytes), probe answers, time
//! (small steps with every timer fired on time, big jumps, the wall clock stepped either way)
//! and local events (sleep, resume, leave, wakes, key rollover, interfaces changing).
//!
//! Unlike `node_interleavings`, nothing here is a simulated network: the fuzzer is every
//! peer, and may say anything a key holder could. So the checks are those the node must keep
//! whatever it is told, after every input:
//!
//! - it never answers for itself, nor for an address of its own interface;
//! - it answers for no address a peer it holds awake announces;
//! - after `handle_timeout(now)` its next deadline lies after `now` (else the daemon spins);
//! - no counter overflows and nothing panics (cargo fuzz builds with overflow checks).
//!
//! The input is a list of operations, one byte of opcode and then its fields, read by
//! [`Reader`] (big-endian; a missing byte reads as 0). Seeds: `fuzz/seeds/node_inputs/`,
//! written by `fuzz/scripts/node_inputs_seeds.py`: a LAN settling, a peer that sleeps and is
//! proxied, asked for by ARP and woken by a SYN, and clock steps around a sleep of this host.

#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wakeproxy::core::addr::{MacAddr, NodeId};
use wakeproxy::core::frame;
use wakeproxy::core::node::{Action, IfaceConfig, IfaceId, Node, NodeConfig, WakeTarget};
use wakeproxy::core::peers::PeerState;
use wakeproxy::core::proto::{
    self, Capabilities, HEADER_LEN, Header, Heartbeat, HostInfo, Ipv4Prefix, Ipv6Prefix, Message,
    ProxyClaim, ProxyRelease, ReleaseReason, Role, SiteKey, SleeperInfo, TAG_LEN, WakePassword,
    WakeReason, WakeRequest,
};
use wakeproxy::core::time::Instant;
use wakeproxy::core::wol::{MagicPacket, SecureOn};

const UNIX0: u64 = 1_800_000_000_000;
const PEER_PORT: u16 = 25536;
const LAN: IfaceId = IfaceId(1);
const OTHER_LAN: IfaceId = IfaceId(2);
/// Host 1 is the node; 2 to 5 its peers; 6 a stranger on the LAN; 7 is off the LAN.
const HOSTS: u8 = 7;
const MAX_OPS: usize = 200;
/// Timeouts fired in one step, at most: more would mean a deadline that does not move.
const MAX_TIMEOUTS: usize = 10_000;

fn key(n: u8) -> SiteKey {
    SiteKey::new(&[n; 32]).expect("32 bytes is a valid key")
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

fn v4(n: u8) -> Ipv4Addr {
    if n == 7 { Ipv4Addr::new(192, 168, 7, 7) } else { Ipv4Addr::new(10, 0, 0, n) }
}

fn v6(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n))
}

fn id(n: u8) -> NodeId {
    NodeId::from_u128(u128::from(n))
}

fn iface(id: IfaceId, addrs: &[u8]) -> IfaceConfig {
    let base = if id == LAN { 1 } else { 101 };
    IfaceConfig {
        id,
        name: format!("eth{}", id.0),
        mac: mac(base),
        ipv4: addrs.iter().map(|&n| Ipv4Prefix { addr: v4(n), len: 24 }).collect(),
        ipv6: addrs.iter().map(|&n| Ipv6Prefix { addr: v6(n), len: 64 }).collect(),
    }
}

/// The fuzz input, read field by field; past its end every field is 0.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }
    fn pick(&mut self, n: u8) -> u8 {
        self.u8() % n
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
    /// A host of [`HOSTS`], 1-based.
    fn host(&mut self) -> u8 {
        self.pick(HOSTS) + 1
    }
    fn sender(&mut self) -> NodeId {
        match self.pick(8) {
            7 => NodeId::from_u128(u128::from(self.u64())),
            n => id(n % 6 + 1),
        }
    }
    /// Host information about host `about`: some of its addresses, perhaps some of another
    /// host's (a key holder may announce anything), and some ports.
    fn host_info(&mut self, about: u8) -> HostInfo {
        let flags = self.u8();
        let other = self.host();
        let mut ipv4 = vec![];
        let mut ipv6 = vec![];
        if flags & 1 != 0 {
            ipv4.push(Ipv4Prefix { addr: v4(about), len: 24 });
        }
        if flags & 2 != 0 {
            ipv6.push(Ipv6Prefix { addr: v6(about), len: 64 });
        }
        if flags & 4 != 0 {
            ipv4.push(Ipv4Prefix { addr: v4(other), len: self.u8() % 33 });
        }
        if flags & 8 != 0 {
            ipv6.push(Ipv6Prefix { addr: v6(other), len: 64 });
        }
        let tcp_ports = (0..(flags >> 4) % 4).map(|_| self.u16()).collect();
        let m = if flags & 0x40 != 0 { mac(other) } else { mac(about) };
        HostInfo { mac: m, ipv4, ipv6, tcp_ports }
    }
}

/// The node, the clocks, and what the fuzzer remembers to replay or answer.
struct Harness {
    node: Node,
    now: Instant,
    /// The wall clock minus the monotonic one, in ms, as the node was last told.
    wall_offset: i64,
    seqs: HashMap<NodeId, u64>,
    /// Datagrams seen so far, the node's own among them.
    sent: Vec<Vec<u8>>,
    probes: Vec<IpAddr>,
    ifaces: Vec<IfaceConfig>,
    keys: [SiteKey; 3],
}

impl Harness {
    fn new() -> Self {
        let now = Instant::ZERO;
        let mut cfg = NodeConfig::new(id(1), 1000, 1);
        cfg.guardians = 2;
        let mut node = Node::new(cfg, key(7), now, UNIX0);
        let ifaces = vec![iface(LAN, &[1]), iface(OTHER_LAN, &[])];
        for i in &ifaces {
            node.add_iface(now, i.clone());
        }
        node.set_tcp_ports(vec![22, 3389]);
        let mut h = Self {
            node,
            now,
            wall_offset: 0,
            seqs: HashMap::new(),
            sent: Vec::new(),
            probes: Vec::new(),
            ifaces,
            keys: [key(7), key(8), key(9)],
        };
        h.drain();
        h
    }

    fn unix_ms(&self) -> u64 {
        let ms = i128::from(UNIX0) + i128::from(self.now.as_micros() / 1000);
        (ms + i128::from(self.wall_offset)).clamp(0, i128::from(u64::MAX)) as u64
    }

    fn drain(&mut self) {
        while let Some(action) = self.node.poll_action() {
            match action {
                Action::SendDatagram { bytes, .. } => self.remember(bytes),
                Action::Probe { ip, .. } => self.probes.push(ip),
                _ => {}
            }
        }
        self.probes.truncate(64);
    }

    fn remember(&mut self, bytes: Vec<u8>) {
        if self.sent.len() >= 64 {
            self.sent.remove(0);
        }
        self.sent.push(bytes);
    }

    fn message(r: &mut Reader) -> Message {
        let about = r.host();
        match r.pick(8) {
            0 => Message::Heartbeat(Heartbeat {
                host: r.host_info(about),
                role: [Role::Member, Role::Manager, Role::Guardian][usize::from(r.pick(3))],
                term: u64::from(r.u8()),
                boot_time_s: u64::from(r.u16()),
                caps: Capabilities(r.u8()),
                peers_heard: r.bool().then(|| u16::from(r.u8())),
                claims: (0..r.pick(3)).map(|_| r.sender()).collect(),
                claims_complete: r.bool(),
            }),
            1 => Message::SleepNotice(r.host_info(about)),
            2 => Message::ResumeNotice(r.host_info(about)),
            3 => Message::ProxyClaim(ProxyClaim {
                sleeper: r.sender(),
                sleeper_mac: mac(r.host()),
                term: u64::from(r.u8()),
                asleep_for_s: r.u32(),
                host: r.host_info(about),
            }),
            4 => Message::ProxyRelease(ProxyRelease {
                sleeper: r.sender(),
                sleeper_mac: mac(r.host()),
                term: u64::from(r.u8()),
                reason: ReleaseReason::from_u8(r.u8()),
            }),
            5 => Message::WakeRequest(WakeRequest {
                target: mac(r.host()),
                password: match r.pick(3) {
                    0 => WakePassword::None,
                    1 => WakePassword::Four([1, 2, 3, 4]),
                    _ => WakePassword::Six([1, 2, 3, 4, 5, 6]),
                },
                request_id: r.u32(),
                reason: WakeReason::from_u8(r.u8()),
            }),
            6 => Message::SleeperInfo(SleeperInfo {
                sleeper: r.sender(),
                asleep_for_s: r.u32(),
                host: r.host_info(about),
            }),
            _ => Message::Leave,
        }
    }

    /// A signed datagram: the sender's next sequence number (or an old one), a timestamp near
    /// the node's wall clock (or far off), signed with the site key, the next key or a wrong one.
    fn datagram(&mut self, r: &mut Reader) -> (Vec<u8>, u8) {
        let sender = r.sender();
        let msg = Self::message(r);
        let unix = self.unix_ms();
        let seq = self.seqs.entry(sender).or_insert(unix.saturating_mul(1000));
        match r.pick(8) {
            0 => *seq = seq.saturating_sub(u64::from(r.u8())),
            7 => *seq = r.u64(),
            _ => *seq = seq.saturating_add(1 + u64::from(r.u8())),
        }
        let skew = match r.pick(8) {
            0 => i64::from(r.u32() as i32),
            1 => i64::from(r.u16() as i16) * 1000,
            _ => i64::from(r.u8() as i8),
        };
        let timestamp_ms = (i128::from(unix) + i128::from(skew)).clamp(0, i128::from(u64::MAX));
        let header = Header { sender, seq: *seq, timestamp_ms: timestamp_ms as u64 };
        let k = &self.keys[usize::from(r.pick(8).saturating_sub(5))];
        let mut buf = Vec::new();
        // A message the encoder refuses is still a test: of the encoder.
        let _ = proto::encode(k, &header, &msg, &mut buf);
        // Mostly from the sender's own address, as the node requires.
        let from = match r.pick(4) {
            0 => r.host(),
            _ => (1..=HOSTS).find(|&n| id(n) == sender).unwrap_or(6),
        };
        (buf, from)
    }

    fn deliver(&mut self, on: IfaceId, from: u8, v6_from: bool, bytes: Vec<u8>) {
        let ip = if v6_from { IpAddr::V6(v6(from)) } else { IpAddr::V4(v4(from)) };
        self.node.handle_datagram(self.now, on, SocketAddr::new(ip, PEER_PORT), &bytes);
        self.remember(bytes);
    }

    fn frame(&mut self, r: &mut Reader) -> Vec<u8> {
        let (a, b) = (r.host(), r.host());
        let f = match r.pick(9) {
            0 => frame::arp_request(mac(a), v4(a), v4(b)),
            1 => frame::arp_probe(mac(a), v4(b)),
            2 => frame::gratuitous_arp(mac(a), v4(b)),
            3 => return neighbour_solicitation(mac(a), v6(a), v6(b)),
            4 => frame::dad_probe(mac(a), v6(b)),
            5 => frame::unsolicited_na(mac(a), v6(b)),
            6 => frame::tcp_syn(mac(a), mac(1), v4(a), v4(b), r.u16(), r.u16()),
            7 => frame::arp_reply(mac(a), v4(a), mac(1), v4(b)),
            _ => {
                let (payload, len) = MagicPacket::new(mac(b)).payload();
                let mut f = [&mac(0xff).0[..], &mac(a).0, &[0x08, 0x42]].concat();
                f.extend_from_slice(&payload[..len]);
                return f;
            }
        };
        f.as_slice().to_vec()
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        for _ in 0..MAX_TIMEOUTS {
            match self.node.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.timeout();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("more than {MAX_TIMEOUTS} timeouts before {end:?}: a deadline does not move");
    }

    fn timeout(&mut self) {
        self.node.handle_timeout(self.now);
        self.drain();
        if let Some(next) = self.node.poll_timeout() {
            assert!(
                next > self.now,
                "after handle_timeout({:?}) the next deadline is {next:?}",
                self.now
            );
        }
    }

    fn local(&mut self, r: &mut Reader) {
        let now = self.now;
        match r.pick(11) {
            0 => self.node.going_to_sleep(now),
            1 => {
                self.wall_offset =
                    self.wall_offset.saturating_add(i64::from(r.u16() as i16) * 1000);
                self.node.resumed(now, self.unix_ms());
            }
            2 => self.node.leave(now),
            3 => {
                let target = match r.pick(3) {
                    0 => WakeTarget::Mac(mac(r.host())),
                    1 => WakeTarget::Ip(IpAddr::V4(v4(r.host()))),
                    _ => WakeTarget::Node(r.sender()),
                };
                let password = r.bool().then_some(SecureOn::Four([1, 2, 3, 4]));
                let _ = self.node.wake(now, target, password);
            }
            4 => {
                let to = SocketAddr::new(IpAddr::V4(v4(7)), PEER_PORT);
                let _ = self.node.request_remote_wake(now, to, mac(r.host()), None);
            }
            5 => self.node.set_can_proxy(r.bool()),
            6 => self.node.set_tcp_ports((0..r.pick(4)).map(|_| r.u16()).collect()),
            7 => {
                // A rollover step: sign with 7 or 8, accept the other.
                let (current, accepted) = if r.bool() { (7, 8) } else { (8, 7) };
                let k = key(current).with_accepted(&[accepted; 32]).expect("a valid key");
                self.node.set_key(k);
            }
            8 => {
                let about = r.host();
                let host = r.host_info(about);
                let asleep_for = Duration::from_secs(u64::from(r.u32()));
                self.node.restore_sleeper(now, LAN, id(about), host, asleep_for);
            }
            9 => {
                let _ = self.node.reconcile(now, Duration::from_secs(u64::from(r.u16())));
            }
            _ => {
                let _ = self.node.status(now);
                let _ = self.node.known_sleepers(now);
            }
        }
    }

    fn step(&mut self, r: &mut Reader) {
        let op = r.pick(15);
        if tracing() {
            eprintln!("{:?} op {op}, next deadline {:?}", self.now, self.node.poll_timeout());
        }
        match op {
            0 => {
                let (bytes, from) = self.datagram(r);
                let on = if r.pick(8) == 0 { OTHER_LAN } else { LAN };
                self.deliver(on, from, r.pick(4) == 0, bytes);
            }
            1 => {
                // Mutated: a byte changed, cut or added, then perhaps sealed again with the key.
                let (mut bytes, from) = self.datagram(r);
                let at = usize::from(r.u16()) % (bytes.len() + 1);
                match r.pick(3) {
                    0 => bytes.truncate(at),
                    1 => bytes.insert(at, r.u8()),
                    _ => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b ^= r.u8() | 1;
                        }
                    }
                }
                if r.bool() && bytes.len() >= HEADER_LEN + TAG_LEN {
                    bytes.truncate(bytes.len() - TAG_LEN);
                    let body = (bytes.len() - HEADER_LEN) as u16;
                    bytes[HEADER_LEN - 2..HEADER_LEN].copy_from_slice(&body.to_be_bytes());
                    let tag = self.keys[0].tag(&bytes);
                    bytes.extend_from_slice(&tag);
                }
                self.deliver(LAN, from, false, bytes);
            }
            2 => {
                let (from, n) = (r.host(), usize::from(r.u8()));
                let bytes = r.bytes(n);
                self.deliver(LAN, from, false, bytes);
            }
            3 => {
                let (from, i) = (r.host(), usize::from(r.u8()));
                if let Some(bytes) = self.sent.get(i % self.sent.len().max(1)).cloned() {
                    self.deliver(LAN, from, false, bytes);
                }
            }
            4 => {
                let f = self.frame(r);
                self.node.handle_frame(self.now, LAN, &f);
            }
            5 => {
                let n = usize::from(r.u8());
                let f = r.bytes(n);
                self.node.handle_frame(self.now, LAN, &f);
            }
            6 => {
                let p = MagicPacket { target: mac(r.host()), password: None };
                let (payload, len) = p.payload();
                self.node.handle_wol_payload(self.now, LAN, &payload[..len]);
            }
            7 => {
                // The answer to a probe the node asked for.
                let i = usize::from(r.u8());
                if !self.probes.is_empty() {
                    let ip = self.probes.remove(i % self.probes.len());
                    let rtt = r.bool().then(|| Duration::from_millis(u64::from(r.u8())));
                    self.node.handle_probe_result(self.now, LAN, ip, rtt);
                }
            }
            8 => {
                let ip = if r.bool() { IpAddr::V4(v4(r.host())) } else { IpAddr::V6(v6(r.host())) };
                let rtt = r.bool().then_some(Duration::from_millis(1));
                self.node.handle_probe_result(self.now, LAN, ip, rtt);
            }
            9 => self.advance(Duration::from_millis(u64::from(r.u16()))),
            10 => {
                for _ in 0..=r.pick(8) {
                    if let Some(t) = self.node.poll_timeout() {
                        self.now = self.now.max(t);
                        self.timeout();
                    }
                }
            }
            11 => {
                // A jump with no timer fired on the way: the process was stopped, or the
                // machine slept without telling (a hang, a VM paused).
                self.now += Duration::from_secs(u64::from(r.u32()));
                self.timeout();
            }
            12 => {
                // The wall clock is stepped (NTP, an operator), forwards or back.
                self.wall_offset = match r.pick(3) {
                    0 => self.wall_offset.saturating_add(i64::from(r.u32() as i32)),
                    1 => self.wall_offset.saturating_add(i64::from(r.u16() as i16) * 60_000),
                    _ => -(i64::try_from(UNIX0).unwrap_or(0)) + i64::from(r.u32()),
                };
                self.node.handle_wall_clock(self.now, self.unix_ms());
            }
            13 => self.local(r),
            _ => {
                // An interface changes: addresses (perhaps a peer's), or it goes and comes back.
                let which = if r.bool() { LAN } else { OTHER_LAN };
                match r.pick(3) {
                    0 => self.node.remove_iface(self.now, which),
                    _ => {
                        let addrs: Vec<u8> = (0..r.pick(3)).map(|_| r.host()).collect();
                        let cfg = iface(
                            which,
                            if which == LAN && addrs.is_empty() { &[1] } else { &addrs },
                        );
                        self.node.add_iface(self.now, cfg.clone());
                        self.ifaces.retain(|i| i.id != which);
                        self.ifaces.push(cfg);
                    }
                }
            }
        }
        self.drain();
    }

    /// The promises the node keeps whatever it was told.
    fn check(&self) {
        let status = self.node.status(self.now);
        for cfg in &self.ifaces {
            let answered = self.node.answered_addresses(cfg.id);
            assert!(
                answered.iter().all(|(s, _)| *s != self.node.id()),
                "answers for itself on {}",
                cfg.name
            );
            let own = cfg.ipv4.iter().map(|p| IpAddr::V4(p.addr));
            let own: Vec<IpAddr> = own.chain(cfg.ipv6.iter().map(|p| IpAddr::V6(p.addr))).collect();
            let Some(lan) = status.ifaces.iter().find(|l| l.name == cfg.name) else { continue };
            for (sleeper, addrs) in &answered {
                for a in addrs {
                    assert!(!own.contains(a), "answers for its own {a} (sleeper {sleeper})");
                    let awake = lan.peers.iter().find(|p| {
                        p.id != *sleeper
                            && p.state == PeerState::Awake
                            && p.ipv4.iter().any(|q| IpAddr::V4(q.addr) == *a)
                    });
                    assert!(
                        awake.is_none(),
                        "answers for {a} (sleeper {sleeper}) of awake {awake:?}"
                    );
                }
            }
        }
        let c = self.node.counters();
        assert!(c.accepted <= c.datagrams, "{c:?}");
    }
}

/// `WAKEPROXY_FUZZ_TRACE=1` prints each operation (to read a crash).
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WAKEPROXY_FUZZ_TRACE").is_some())
}

fn neighbour_solicitation(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    // The DAD probe's layout, from a real source address, with the checksum made again.
    let mut f = frame::dad_probe(src_mac, target).as_slice().to_vec();
    f[22..38].copy_from_slice(&src.octets());
    let icmp_len = usize::from(u16::from_be_bytes([f[18], f[19]]));
    f[56..58].fill(0);
    let mut words: u64 = 0;
    let pseudo = [&f[22..54], &(icmp_len as u32).to_be_bytes()[..], &[0, 0, 0, 58]].concat();
    for part in [&pseudo[..], &f[54..54 + icmp_len]] {
        for pair in part.chunks(2) {
            words += u64::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    }
    while words > 0xFFFF {
        words = (words & 0xFFFF) + (words >> 16);
    }
    f[56..58].copy_from_slice(&(!(words as u16)).to_be_bytes());
    f
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader(data);
    let mut h = Harness::new();
    for _ in 0..MAX_OPS {
        if r.0.is_empty() {
            break;
        }
        h.step(&mut r);
        h.check();
    }
});
