//! Fuzzes the nodes themselves: the input is a list of faults (sleeps, wakes, crashes, killed
//! and restarted daemons, deaf hosts, blocked echo, clock steps, loss, a key holder's forgeries
//! with arbitrary field values, replays and relays, hostile frames), decoded by
//! `sim::chaos::ops_from_bytes` so every byte string is a run. Each run drives the real nodes in
//! the simulator and checks the promises after every event (`sim::invariants`): a violation,
//! like a panic or an overflow, is a crash. `tests/interleavings.rs` is the same search as a
//! property test.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::sim::chaos;

fuzz_target!(|data: &[u8]| {
    let Some((seed, rest)) = data.split_first_chunk::<8>() else { return };
    let ops = chaos::ops_from_bytes(rest);
    if ops.len() > 80 {
        return;
    }
    let out = chaos::run(u64::from_be_bytes(*seed), &ops);
    assert!(out.violations.is_empty(), "{:#?}", out.violations);
});
