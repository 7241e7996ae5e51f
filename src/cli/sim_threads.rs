//! `simulate` on several threads: the fleet's parts (one per subnet) of each window are split
//! into one shard per thread. The simulator runs no thread itself (`.ci/check-core` keeps it
//! pure): it defines the windows and what happens between them (`sim::Fleet`), and the report
//! does not depend on how many threads ran them, or in which order.

use std::sync::mpsc::{Receiver, Sender, channel};

use wakeproxy::core::time::Instant;
use wakeproxy::sim::{Sequential, Sim, Windows};

/// Some of a fleet's parts (boxed: handing one to a thread moves eight bytes).
type Shard = Vec<Box<Sim>>;
/// A shard and the end of the window to run it to.
type Job = (Shard, Instant);

/// Worker threads, each running the shard it is handed, window after window.
struct Pool {
    workers: Vec<(Sender<Job>, Receiver<Shard>)>,
}

impl Windows for Pool {
    fn run(&mut self, parts: &mut Shard, until: Instant) {
        let chunk = parts.len().div_ceil(self.workers.len() + 1);
        let mut rest = parts.split_off(chunk.min(parts.len()));
        let mut handed = 0;
        for (tx, _) in &self.workers {
            if rest.is_empty() {
                break;
            }
            let tail = rest.split_off(chunk.min(rest.len()));
            let shard = std::mem::replace(&mut rest, tail);
            // A worker is gone only if it panicked; the scope then reports that panic.
            if let Err(back) = tx.send((shard, until)) {
                let (mut shard, _) = back.0;
                Sequential.run(&mut shard, until);
                rest.splice(0..0, shard);
                break;
            }
            handed += 1;
        }
        Sequential.run(parts, until);
        for (_, rx) in self.workers.iter().take(handed) {
            match rx.recv() {
                Ok(shard) => parts.extend(shard),
                Err(_) => panic!("a simulation thread panicked"),
            }
        }
        // Shards that were not handed out (a gone worker) are run here.
        Sequential.run(&mut rest, until);
        parts.extend(rest);
    }
}

/// Calls `f` with a [`Windows`] that runs each window on `threads` threads (this one and
/// `threads - 1` workers).
pub(crate) fn with_threads<R>(threads: usize, f: impl FnOnce(&mut dyn Windows) -> R) -> R {
    if threads <= 1 {
        return f(&mut Sequential);
    }
    std::thread::scope(|scope| {
        let workers = (1..threads)
            .map(|_| {
                let (tx, rx) = channel::<Job>();
                let (back_tx, back_rx) = channel();
                scope.spawn(move || {
                    for (mut shard, until) in rx {
                        Sequential.run(&mut shard, until);
                        if back_tx.send(shard).is_err() {
                            break;
                        }
                    }
                });
                (tx, back_rx)
            })
            .collect();
        let mut pool = Pool { workers };
        // The workers end when their senders drop, with the pool, before the scope joins them.
        f(&mut pool)
    })
}
