//! The seeded fault schedule of `lab chaos`: given what the lab looks like now, the next fault.
//! Pure (no I/O): the same seed and the same lab give the same faults, and the planner keeps
//! each subnet able to keep its promises — at least two awake hosts with a running daemon, so a
//! sleeper always has someone to answer for it.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// One host, as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostNow {
    /// Its subnet.
    pub subnet: usize,
    /// It sleeps.
    pub asleep: bool,
    /// Since when (microseconds), if asleep: connections are made only to sleepers whose proxy
    /// has had time to take over.
    pub asleep_since_us: u64,
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The host goes to sleep, announced (SleepNotice) or not (a failed hook).
    Sleep {
        /// The host.
        host: usize,
        /// With its SleepNotice.
        announced: bool,
    },
    /// A connection from `caller` to the sleeper `target`, which must wake it.
    Connect {
        /// Who calls.
        caller: usize,
        /// The sleeper.
        target: usize,
    },
    /// `wakeproxy wake` on `via` for the sleeper `target` (a WakeRequest through the daemons).
    Wake {
        /// Where the operator types it.
        via: usize,
        /// The sleeper.
        target: usize,
    },
    /// A daemon killed with SIGKILL, started again after `down` (without its state directory
    /// when `wipe_state`).
    Crash {
        /// The host.
        host: usize,
        /// How long it stays down.
        down: Duration,
        /// Its state directory is removed before it starts again.
        wipe_state: bool,
    },
    /// Whoever answers for the sleeper now is killed the same way.
    KillProxy {
        /// The sleeper.
        sleeper: usize,
        /// How long the proxy's daemon stays down.
        down: Duration,
        /// Its state directory is removed before it starts again.
        wipe_state: bool,
    },
    /// The hosts of `side` and the rest of their subnet cannot reach each other.
    Partition {
        /// One side.
        side: Vec<usize>,
        /// The other.
        rest: Vec<usize>,
        /// For how long.
        lasts: Duration,
    },
    /// A share of the host's packets is lost, both ways.
    Loss {
        /// The host.
        host: usize,
        /// Percent lost.
        percent: u8,
        /// For how long.
        lasts: Duration,
    },
    /// The host's wall clock jumps by `by_s` seconds, and back after `lasts`.
    ClockStep {
        /// The host.
        host: usize,
        /// The step, seconds.
        by_s: i64,
        /// For how long.
        lasts: Duration,
    },
    /// The keyless station relays every peer datagram into the other subnets and replays it
    /// later.
    Hostile {
        /// For how long.
        lasts: Duration,
    },
    /// The keyless station floods a subnet: ARP requests for every address, or junk datagrams
    /// to the peer port.
    Flood {
        /// The subnet.
        subnet: usize,
        /// ARP requests (else junk datagrams).
        arp: bool,
        /// For how long.
        lasts: Duration,
    },
}

impl Fault {
    /// Its kind, as the report counts it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sleep { announced: true, .. } => "sleep (announced)",
            Self::Sleep { announced: false, .. } => "sleep (unannounced)",
            Self::Connect { .. } => "connection that wakes a sleeper",
            Self::Wake { .. } => "wake request",
            Self::Crash { wipe_state: false, .. } => "daemon kill -9 and restart",
            Self::Crash { wipe_state: true, .. } => "daemon kill -9 and restart without state",
            Self::KillProxy { .. } => "proxy killed while it holds a sleeper",
            Self::Partition { .. } => "partition and heal",
            Self::Loss { .. } => "loss burst",
            Self::ClockStep { .. } => "clock step",
            Self::Hostile { .. } => "keyless relay and replay",
            Self::Flood { arp: true, .. } => "ARP flood",
            Self::Flood { arp: false, .. } => "junk-datagram flood",
        }
    }
}

/// Draws faults.
#[derive(Debug)]
pub struct Planner {
    rng: ChaCha8Rng,
    heartbeat: Duration,
    clock_steps: bool,
}

impl Planner {
    /// A planner for daemons with this heartbeat interval; `clock_steps` if the lab can step a
    /// host's clock.
    pub fn new(seed: u64, heartbeat: Duration, clock_steps: bool) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed), heartbeat, clock_steps }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }

    /// Between `lo` and `hi` heartbeat intervals.
    fn beats(&mut self, lo: u32, hi: u32) -> Duration {
        self.heartbeat * (lo + self.below((hi - lo + 1) as usize) as u32)
    }

    /// The next fault for a lab that looks like `hosts` at `now_us`; sleepers whose sleep began
    /// at least `settled_us` ago are ready to be called.
    pub fn next(&mut self, hosts: &[HostNow], now_us: u64, settled_us: u64) -> Fault {
        let subnets = hosts.iter().map(|h| h.subnet + 1).max().unwrap_or(1);
        let awake_in = |s: usize| -> Vec<usize> {
            (0..hosts.len()).filter(|&i| hosts[i].subnet == s && !hosts[i].asleep).collect()
        };
        let awake: Vec<usize> = (0..hosts.len()).filter(|&i| !hosts[i].asleep).collect();
        // Hosts whose loss keeps two awake in their subnet.
        let spare: Vec<usize> =
            awake.iter().copied().filter(|&i| awake_in(hosts[i].subnet).len() >= 3).collect();
        let ready: Vec<usize> = (0..hosts.len())
            .filter(|&i| hosts[i].asleep && now_us >= hosts[i].asleep_since_us + settled_us)
            .collect();
        let sleepers = hosts.iter().filter(|h| h.asleep).count();
        // (weight, kind): sleeps and wakes dominate; a lab with many sleepers wakes them more.
        let mut menu: Vec<(u32, u8)> = vec![(2, 3), (1, 5), (1, 6), (1, 7), (1, 8), (1, 9)];
        if !spare.is_empty() {
            menu.push((if sleepers == 0 { 6 } else { 3 }, 0));
        }
        if !ready.is_empty() {
            menu.push((3 + sleepers as u32, 1));
            menu.push((1, 2));
            menu.push((2, 4));
        }
        if self.clock_steps {
            menu.push((1, 10));
        }
        let total: u32 = menu.iter().map(|m| m.0).sum();
        let mut roll = self.below(total as usize) as u32;
        let kind = menu
            .iter()
            .find(|(w, _)| {
                let hit = roll < *w;
                roll = roll.saturating_sub(*w);
                hit
            })
            .map_or(3, |m| m.1);
        match kind {
            0 => Fault::Sleep { host: self.pick(&spare), announced: self.below(3) != 0 },
            1 => {
                let target = self.pick(&ready);
                Fault::Connect { caller: self.pick(&awake), target }
            }
            2 => {
                let target = self.pick(&ready);
                Fault::Wake { via: self.pick(&awake), target }
            }
            4 => Fault::KillProxy {
                sleeper: self.pick(&ready),
                down: self.beats(2, 12),
                wipe_state: self.below(3) == 0,
            },
            5 => {
                let s = self.below(subnets);
                let all: Vec<usize> = (0..hosts.len()).filter(|&i| hosts[i].subnet == s).collect();
                if all.len() < 2 {
                    return Fault::Hostile { lasts: self.beats(6, 20) };
                }
                let cut = 1 + self.below(all.len() - 1);
                let mut shuffled = all;
                for i in (1..shuffled.len()).rev() {
                    let j = self.below(i + 1);
                    shuffled.swap(i, j);
                }
                let rest = shuffled.split_off(cut);
                Fault::Partition { side: shuffled, rest, lasts: self.beats(4, 16) }
            }
            6 => Fault::Loss {
                host: self.pick(&awake),
                percent: 10 + self.below(21) as u8,
                lasts: self.beats(4, 16),
            },
            7 => Fault::Hostile { lasts: self.beats(6, 20) },
            8 | 9 => Fault::Flood {
                subnet: self.below(subnets),
                arp: kind == 8,
                lasts: self.beats(4, 10),
            },
            10 => {
                let by = 60 + self.below(541) as i64;
                Fault::ClockStep {
                    host: self.pick(&awake),
                    by_s: if self.below(2) == 0 { by } else { -by },
                    lasts: self.beats(8, 20),
                }
            }
            _ => {
                let pool = if spare.is_empty() { awake.clone() } else { spare.clone() };
                Fault::Crash {
                    host: self.pick(&pool),
                    down: self.beats(2, 12),
                    wipe_state: self.below(3) == 0,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(n: usize, subnets: usize) -> Vec<HostNow> {
        (0..n).map(|i| HostNow { subnet: i % subnets, asleep: false, asleep_since_us: 0 }).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_another_seed_others() {
        let hosts = lab(6, 2);
        let run = |seed| {
            let mut p = Planner::new(seed, Duration::from_millis(500), true);
            (0..50).map(|k| p.next(&hosts, k * 1_000_000, 0)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_subnet_always_keeps_two_awake_hosts_and_only_sleepers_are_called() {
        let mut hosts = lab(8, 2);
        let mut p = Planner::new(1, Duration::from_millis(500), false);
        for k in 0..2000u64 {
            match p.next(&hosts, k * 1_000_000, 3_000_000) {
                Fault::Sleep { host, .. } => {
                    assert!(!hosts[host].asleep);
                    hosts[host] =
                        HostNow { asleep: true, asleep_since_us: k * 1_000_000, ..hosts[host] };
                }
                Fault::Connect { target, caller } | Fault::Wake { target, via: caller } => {
                    assert!(hosts[target].asleep && !hosts[caller].asleep);
                    assert!(k * 1_000_000 >= hosts[target].asleep_since_us + 3_000_000);
                    hosts[target].asleep = false;
                }
                Fault::Crash { host, .. } | Fault::Loss { host, .. } => {
                    assert!(!hosts[host].asleep)
                }
                Fault::KillProxy { sleeper, .. } => assert!(hosts[sleeper].asleep),
                Fault::Partition { side, rest, .. } => {
                    assert!(!side.is_empty() && !rest.is_empty())
                }
                _ => {}
            }
            for s in 0..2 {
                let awake = hosts.iter().filter(|h| h.subnet == s && !h.asleep).count();
                assert!(awake >= 2, "subnet {s} has {awake} awake hosts");
            }
        }
    }
}
