//! The random fault schedule behind `wakeproxy simulate`.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::{Fleet, HostState, Report, Sequential, SimConfig, SimError, Windows};
use crate::core::proto::Role;

/// A simulation run: a network, how long, and how often something goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    /// The network.
    pub sim: SimConfig,
    /// Simulated time to run.
    pub duration: Duration,
    /// A fault every this often (managers crash, hosts sleep, connections wake sleepers,
    /// partitions, operator wakes across subnets, killed daemons).
    pub fault_every: Duration,
    /// The share of hosts that go to sleep after the network settles.
    pub asleep_fraction: f64,
}

impl ScenarioConfig {
    /// Checks that the scenario can run.
    pub fn validate(&self) -> Result<(), SimError> {
        self.sim.validate()?;
        if !(0.0..=1.0).contains(&self.asleep_fraction) {
            return Err(SimError::AsleepFraction(self.asleep_fraction));
        }
        Ok(())
    }
}

enum Later {
    Restart(usize),
    Heal,
}

/// Runs a scenario and returns its report.
pub fn run_scenario(cfg: &ScenarioConfig) -> Result<Report, SimError> {
    run_scenario_with(cfg, &mut Sequential, &mut |_| {})
}

/// [`run_scenario`] on a [`Fleet`] whose windows `windows` runs (on threads, if it likes: the
/// report is the same), telling `progress` how much simulated time has passed after each step
/// (a fault, a restart, the end), for a progress bar.
pub fn run_scenario_with(
    cfg: &ScenarioConfig,
    windows: &mut dyn Windows,
    progress: &mut dyn FnMut(std::time::Duration),
) -> Result<Report, SimError> {
    cfg.validate()?;
    let mut sim = Fleet::new(cfg.sim.clone())?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.sim.seed ^ 0x5eed);
    let h = cfg.sim.heartbeat;
    let end = sim.now() + cfg.duration;
    sim.note_fault("cold start");

    // Let the network settle, then send a share of the hosts to sleep, most of them announced.
    sim.run_until((sim.now() + h * 2).min(end), windows);
    for i in 0..sim.len() {
        let host = sim.host(i);
        if host.state == HostState::Up
            && !host.inhibits_sleep
            && chance(&mut rng, cfg.asleep_fraction)
        {
            let announce = !chance(&mut rng, 0.2);
            sim.sleep(i, announce);
        }
    }

    let mut later: Vec<(crate::core::time::Instant, Later)> = Vec::new();
    let mut next_fault = sim.now() + cfg.fault_every;
    while sim.now() < end {
        let next_later = later.iter().map(|(t, _)| *t).min();
        let step_to =
            [Some(next_fault), next_later, Some(end)].into_iter().flatten().min().expect("end");
        sim.run_until(step_to, windows);
        let now = sim.now();
        progress(cfg.duration.saturating_sub(end.saturating_since(now)));
        let (due, rest): (Vec<_>, Vec<_>) = later.into_iter().partition(|(t, _)| *t <= now);
        later = rest;
        for (_, l) in due {
            match l {
                Later::Restart(i) => {
                    sim.restart(i);
                    sim.note_fault(format!("host {i} restarts"));
                }
                Later::Heal => {
                    sim.heal();
                    sim.note_fault("partition heals");
                }
            }
        }
        if now >= next_fault && now < end {
            inject(&mut sim, &mut rng, &mut later);
            next_fault = now + cfg.fault_every;
        }
    }
    Ok(sim.report())
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    (rng.next_u64() as f64 / u64::MAX as f64) < p
}

fn pick(rng: &mut ChaCha8Rng, from: &[usize]) -> Option<usize> {
    (!from.is_empty()).then(|| from[(rng.next_u64() % from.len() as u64) as usize])
}

fn inject(
    sim: &mut Fleet,
    rng: &mut ChaCha8Rng,
    later: &mut Vec<(crate::core::time::Instant, Later)>,
) {
    let subnets = sim.config().subnets;
    let s = (rng.next_u64() % subnets as u64) as usize;
    let in_subnet = |sim: &Fleet, pred: &dyn Fn(&super::Host) -> bool| -> Vec<usize> {
        sim.subnet(s).into_iter().filter(|&i| pred(sim.host(i))).collect()
    };
    let awake = in_subnet(sim, &|h| h.state == HostState::Up);
    let asleep = in_subnet(sim, &|h| h.state == HostState::Asleep);
    let ordinary = in_subnet(sim, &|h| h.state == HostState::Up && !h.inhibits_sleep);
    let now = sim.now();
    let restart_after = sim.config().heartbeat * 12;
    match rng.next_u64() % 7 {
        0 => {
            let Some(m) = sim.managers(s).first().copied() else {
                return;
            };
            // Never take down the last awake host of a subnet: nobody would be left to notice.
            if awake.len() < 2 {
                return;
            }
            sim.crash(m);
            sim.note_fault(format!("manager {m} of subnet {s} crashes"));
            later.push((now + restart_after, Later::Restart(m)));
        }
        1 | 2 => {
            let Some(i) = pick(rng, &ordinary) else {
                return;
            };
            let announce = rng.next_u64() % 4 != 0;
            sim.sleep(i, announce);
            sim.note_fault(format!(
                "host {i} sleeps{}",
                if announce { "" } else { " without notice" }
            ));
        }
        3 => {
            let Some(i) = pick(rng, &asleep) else { return };
            let Some(&port) = sim.host(i).tcp_ports.first() else {
                return;
            };
            sim.connect(i, port);
            sim.note_fault(format!("connection to sleeping host {i}:{port}"));
        }
        4 => {
            let Some(i) = pick(rng, &asleep) else { return };
            let other = (s + 1) % subnets;
            let from: Vec<usize> = sim
                .subnet(other)
                .into_iter()
                .filter(|&j| sim.host(j).state == HostState::Up)
                .collect();
            let Some(f) = pick(rng, &from) else { return };
            sim.operator_wake(f, i);
            sim.note_fault(format!("operator on {f} wakes sleeping host {i}"));
        }
        5 => {
            let Some(i) = pick(rng, &ordinary) else {
                return;
            };
            if sim.host(i).role == Role::Manager {
                return;
            }
            sim.kill_daemon(i);
            sim.note_fault(format!("daemon of host {i} killed"));
            later.push((now + restart_after, Later::Restart(i)));
        }
        _ => {
            if later.iter().any(|(_, l)| matches!(l, Later::Heal)) || awake.len() < 4 {
                return;
            }
            let half: Vec<usize> = awake.iter().copied().step_by(2).collect();
            sim.partition(&half);
            sim.note_fault(format!("subnet {s} split in two"));
            later.push((now + sim.config().heartbeat * 6, Later::Heal));
        }
    }
}
