//! Per-frame cost of `frame::classify` with 1,000 sleepers over a realistic mix of LAN traffic.
//!
//! The frames are generated once, deterministically (a 64-bit LCG, no `rand`), before timing:
//! ~85 % irrelevant traffic (IPv4 TCP ACKs and data, UDP, IPv6 TCP, mDNS, LLDP), ~5 % ARP
//! requests (half for sleepers), ~5 % TCP SYNs (a third to sleepers, some on wake ports), ~2 %
//! neighbour solicitations, ~1 % magic packets, ~2 % ARP replies from sleeping NICs' power
//! offload. Throughput is in frames: criterion's `elem/s` gives the per-frame time.
//! `mixed_backend_buffers` runs the same mix through the buffers the capture backend hands the
//! node (frames split off one reused `BytesMut`).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use wakeproxy::core::addr::{MacAddr, NodeId};
use wakeproxy::core::frame::{Classified, Sleeper, SleeperTable, classify, solicited_node};
use wakeproxy::core::wol::{DEFAULT_WOL_PORT, MagicPacket};

const SLEEPERS: u32 = 1_000;
const FRAMES: usize = 4_096;
const WAKE_PORTS: [u16; 3] = [22, 445, 3389];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

// Sleeper i: MAC 02:5e:00:00:ii:ii, 10.1.ii.ii, 2001:db8:1::i. Awake host i: MAC 02:aa:..,
// 10.2.ii.ii, 2001:db8:2::i. Nobody else.
fn sleeper_mac(i: u32) -> MacAddr {
    let b = i.to_be_bytes();
    MacAddr([0x02, 0x5e, 0, b[1], b[2], b[3]])
}
fn sleeper_v4(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8)
}
fn sleeper_v6(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (i >> 16) as u16, i as u16)
}
fn host_mac(i: u32) -> MacAddr {
    let b = i.to_be_bytes();
    MacAddr([0x02, 0xaa, 0, b[1], b[2], b[3]])
}
fn host_v4(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, (i >> 8) as u8, i as u8)
}
fn host_v6(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, (i >> 16) as u16, i as u16)
}

fn table() -> SleeperTable {
    (0..SLEEPERS)
        .map(|i| Sleeper {
            id: NodeId::from_u128(u128::from(i) + 1),
            mac: sleeper_mac(i),
            ipv4: vec![sleeper_v4(i)],
            ipv6: vec![sleeper_v6(i)],
            wake_ports: WAKE_PORTS.to_vec(),
        })
        .collect()
}

use wakeproxy::testkit::frames::{ACK, PSH, SYN, arp, ethernet, ipv6, tcp, udp};

/// An IPv4 packet without options, don't-fragment.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    wakeproxy::testkit::frames::ipv4(src, dst, proto, 0x4000, &[], l4)
}

fn mixed_frames(rng: &mut Lcg) -> Vec<Vec<u8>> {
    let hosts = 200;
    let mut frames = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        let (a, b) = (rng.below(hosts), rng.below(hosts));
        let s = rng.below(SLEEPERS);
        let port = 1024 + rng.below(60_000) as u16;
        let roll = rng.below(1000);
        let f = match roll {
            // 85 %: irrelevant.
            0..=449 => {
                let ip = ipv4(host_v4(a), host_v4(b), 6, &tcp(port, 443, ACK, 0));
                ethernet(host_mac(b), host_mac(a), 0x0800, &ip)
            }
            450..=649 => {
                let ip = ipv4(host_v4(a), host_v4(b), 6, &tcp(443, port, ACK | PSH, 1448));
                ethernet(host_mac(b), host_mac(a), 0x0800, &ip)
            }
            650..=719 => {
                let ip = ipv4(host_v4(a), host_v4(b), 17, &udp(port, 53, &[0; 40]));
                ethernet(host_mac(b), host_mac(a), 0x0800, &ip)
            }
            720..=789 => {
                let ip = ipv6(host_v6(a), host_v6(b), 6, 64, &tcp(port, 443, ACK, 100));
                ethernet(host_mac(b), host_mac(a), 0x86DD, &ip)
            }
            790..=819 => {
                let ip =
                    ipv4(host_v4(a), Ipv4Addr::new(224, 0, 0, 251), 17, &udp(5353, 5353, &[0; 60]));
                ethernet(MacAddr([1, 0, 0x5e, 0, 0, 0xfb]), host_mac(a), 0x0800, &ip)
            }
            820..=839 => {
                let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
                let ip = ipv6(host_v6(a), group, 17, 255, &udp(5353, 5353, &[0; 60]));
                ethernet(MacAddr([0x33, 0x33, 0, 0, 0, 0xfb]), host_mac(a), 0x86DD, &ip)
            }
            840..=849 => {
                ethernet(MacAddr([1, 0x80, 0xc2, 0, 0, 0xe]), host_mac(a), 0x88CC, &[0; 40])
            }
            // 5 %: ARP requests, half for sleepers.
            850..=899 => {
                let target = if roll < 875 { sleeper_v4(s) } else { host_v4(b) };
                ethernet(
                    MacAddr::BROADCAST,
                    host_mac(a),
                    0x0806,
                    &arp(1, host_mac(a), host_v4(a), MacAddr::ZERO, target),
                )
            }
            // 5 %: SYNs, a third to sleepers (of those, half on a wake port).
            900..=949 => {
                let (dst, dport) = match roll {
                    900..=908 => (sleeper_v4(s), WAKE_PORTS[rng.below(3) as usize]),
                    909..=916 => (sleeper_v4(s), 8080),
                    _ => (host_v4(b), 443),
                };
                let ip = ipv4(host_v4(a), dst, 6, &tcp(port, dport, SYN, 0));
                ethernet(host_mac(b), host_mac(a), 0x0800, &ip)
            }
            // 2 %: neighbour solicitations, half for sleepers.
            950..=969 => {
                let target = if roll < 960 { sleeper_v6(s) } else { host_v6(b) };
                let group = solicited_node(target);
                let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
                m.extend(target.octets());
                m.extend([1, 1]);
                m.extend(host_mac(a).0);
                let ip = ipv6(host_v6(a), group, 58, 255, &m);
                let o = group.octets();
                ethernet(
                    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]),
                    host_mac(a),
                    0x86DD,
                    &ip,
                )
            }
            // 1 %: magic packets, UDP and raw.
            970..=979 => {
                let p = MagicPacket::new(sleeper_mac(s));
                if roll < 975 {
                    let (payload, len) = p.payload();
                    let ip = ipv4(
                        host_v4(a),
                        Ipv4Addr::new(10, 255, 255, 255),
                        17,
                        &udp(port, DEFAULT_WOL_PORT, &payload[..len]),
                    );
                    ethernet(MacAddr::BROADCAST, host_mac(a), 0x0800, &ip)
                } else {
                    let mut buf = [0; 128];
                    let n = p.write_ethernet_frame(host_mac(a), MacAddr::BROADCAST, &mut buf);
                    buf[..n].to_vec()
                }
            }
            // 3 %: ARP replies from sleeping NICs' power offload.
            _ => ethernet(
                host_mac(a),
                sleeper_mac(s),
                0x0806,
                &arp(2, sleeper_mac(s), sleeper_v4(s), host_mac(a), host_v4(a)),
            ),
        };
        frames.push(f);
    }
    frames
}

fn bench(c: &mut Criterion) {
    let table = table();
    let mut rng = Lcg(0x5eed);
    let mixed = mixed_frames(&mut rng);
    let unicast: Vec<Vec<u8>> = (0..FRAMES as u32)
        .map(|i| {
            let ip = ipv4(host_v4(i % 200), host_v4((i * 7) % 200), 6, &tcp(40000, 443, ACK, 0));
            ethernet(host_mac(1), host_mac(2), 0x0800, &ip)
        })
        .collect();

    // What the mix classifies as, so the numbers can be read against it.
    let mut counts = std::collections::BTreeMap::new();
    for f in &mixed {
        let c = format!("{:?}", classify(&table, f, DEFAULT_WOL_PORT));
        let kind = c.split([' ', '{']).next().unwrap_or_default().to_owned();
        *counts.entry(kind).or_insert(0) += 1;
    }
    eprintln!("mixed batch of {FRAMES} frames: {counts:?}");

    let mut group = c.benchmark_group("classify");
    for (name, frames) in [("mixed", &mixed), ("irrelevant_unicast", &unicast)] {
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                // As the node does: match the tag, act on the rest. Black-boxing every 56-byte
                // result instead measures the copy (a store-forwarding stall on reading back the
                // return slot), not the classifier.
                let mut acted = 0u32;
                for f in frames {
                    let c = classify(&table, black_box(f), DEFAULT_WOL_PORT);
                    if !matches!(c, Classified::Irrelevant) {
                        acted += 1;
                        black_box(&c);
                    }
                }
                acted
            })
        });
    }

    // The frames as the daemon's capture reader hands them to the node: received one after
    // another into the spare capacity of a 64 KiB `BytesMut` and split off as `Bytes` (so they
    // sit packed, at unaligned offsets, sharing one allocation), then dropped after use. Timed:
    // classifying each and dropping it; not timed: filling the buffer, which is the kernel's
    // copy in `recv`.
    group.throughput(Throughput::Elements(mixed.len() as u64));
    group.bench_function("mixed_backend_buffers", |b| {
        let mut buf = bytes::BytesMut::with_capacity(64 * 1024);
        b.iter_batched(
            || {
                mixed
                    .iter()
                    .map(|f| {
                        buf.reserve(1518);
                        buf.extend_from_slice(f);
                        buf.split().freeze()
                    })
                    .collect::<Vec<bytes::Bytes>>()
            },
            |frames| {
                let mut acted = 0u32;
                for frame in frames {
                    let c = classify(&table, black_box(&frame), DEFAULT_WOL_PORT);
                    if !matches!(c, Classified::Irrelevant) {
                        acted += 1;
                        black_box(&c);
                    }
                }
                acted
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
