//! Budget: decode + HMAC verify + apply one heartbeat ≤ 1 µs, on a node that knows 1,000 peers.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallInstant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wakeproxy::core::addr::{MacAddr, NodeId};
use wakeproxy::core::node::{IfaceConfig, IfaceId, Node, NodeConfig};
use wakeproxy::core::proto::{
    self, Capabilities, Header, Heartbeat, HostInfo, Ipv4Prefix, Ipv6Prefix, Message, Role, SiteKey,
};
use wakeproxy::core::time::Instant;

const PEERS: u32 = 1000;
const UNIX: u64 = 1_800_000_000_000;

fn heartbeat_of(i: u32) -> Heartbeat {
    let b = i.to_be_bytes();
    Heartbeat {
        host: HostInfo {
            mac: MacAddr([2, 0, b[0], b[1], b[2], b[3]]),
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, b[1], b[2], b[3]), len: 16 }],
            ipv6: vec![Ipv6Prefix { addr: format!("fe80::{i:x}").parse().unwrap(), len: 64 }],
            tcp_ports: vec![22, 445, 3389],
        },
        role: Role::Member,
        term: 1,
        boot_time_s: 1_700_000_000 + u64::from(i),
        caps: Capabilities::CAN_PROXY,
        peers_heard: Some(7),
        claims: Vec::new(),
        claims_complete: true,
    }
}

/// Where peer `i`'s heartbeats come from: the address it announces (peers must be on-link).
fn source_of(i: u32) -> SocketAddr {
    let b = i.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, b[1], b[2], b[3])), 25536)
}

fn bench(c: &mut Criterion) {
    let key = SiteKey::new(&[0x42; 32]).unwrap();
    let now = Instant::from_millis(60_000);
    let mut node = Node::new(
        NodeConfig::new(NodeId::from_u128(u128::MAX), 1_600_000_000, 1),
        key.clone(),
        now,
        UNIX,
    );
    let iface = IfaceId(0);
    node.add_iface(
        now,
        IfaceConfig {
            id: iface,
            name: "eth0".into(),
            mac: MacAddr([2, 9, 9, 9, 9, 9]),
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 255, 255, 254), len: 8 }],
            ipv6: vec![],
        },
    );
    let froms: Vec<SocketAddr> = (0..PEERS).map(source_of).collect();
    let beats: Vec<Message> = (0..PEERS).map(|i| Message::Heartbeat(heartbeat_of(i))).collect();
    let mut seq = 1u64;
    let batch = |seq: &mut u64| -> Vec<Vec<u8>> {
        *seq += 1;
        (0..PEERS)
            .map(|i| {
                let header = Header {
                    sender: NodeId::from_u128(u128::from(i) + 1),
                    seq: *seq,
                    timestamp_ms: UNIX,
                };
                let mut out = Vec::new();
                proto::encode(&key, &header, &beats[i as usize], &mut out).unwrap();
                out
            })
            .collect()
    };
    // Every peer known and awake before measuring.
    for (d, from) in batch(&mut seq).iter().zip(&froms) {
        node.handle_datagram(now, iface, *from, d);
    }
    while node.poll_action().is_some() {}
    assert_eq!(node.status(now).ifaces[0].peers.len(), PEERS as usize);

    let mut g = c.benchmark_group("heartbeat");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_verify_apply_1000_peers", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let msgs = batch(&mut seq);
                let n = left.min(u64::from(PEERS)) as usize;
                let start = WallInstant::now();
                for (d, from) in msgs[..n].iter().zip(&froms) {
                    node.handle_datagram(black_box(now), iface, *from, black_box(d));
                }
                spent += start.elapsed();
                while node.poll_action().is_some() {}
                left -= n as u64;
            }
            spent
        });
    });
    g.finish();
    let c = node.counters();
    assert_eq!(c.replayed + c.off_link, 0, "the bench must measure accepted heartbeats");
}

criterion_group!(benches, bench);
criterion_main!(benches);
