//! Budget: one election over 1,000 peers ≤ 100 µs (600 awake candidates, 400 sleepers).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wakeproxy::core::addr::NodeId;
use wakeproxy::core::election::{Candidate, Outcome, Scratch, elect_into};

fn id(i: u64) -> NodeId {
    // Spread ids over the whole space, as random ids are.
    NodeId::from_u128(u128::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) << 64 | u128::from(i))
}

fn bench(c: &mut Criterion) {
    let candidates: Vec<Candidate> = (0..600)
        .map(|i| Candidate {
            id: id(i),
            prefers_guardian: i % 97 == 0,
            can_proxy: i % 10 != 0,
            listening: false,
            boot_time_s: 1_700_000_000 + (i * 7919) % 100_000,
        })
        .collect();
    let sleepers: Vec<NodeId> = (600..1000).map(id).collect();
    let mut scratch = Scratch::default();
    let mut out = Outcome::default();
    c.bench_function("election/1000_peers_600_awake_400_asleep", |b| {
        b.iter(|| {
            elect_into(&mut scratch, black_box(&candidates), black_box(&sleepers), 3, &mut out);
            black_box(&out);
        })
    });
    assert_eq!(out.assignment.len(), 400);
}

criterion_group!(benches, bench);
criterion_main!(benches);
