//! Commands that need no daemon: `config check`, `keygen`, `capture`, `simulate`.

use std::path::PathBuf;
use std::process::ExitCode;
#[cfg(target_os = "linux")]
use std::time::Duration;

#[cfg(target_os = "linux")]
use wakeproxy::os::words;
use wakeproxy::sim::{ScenarioConfig, SimConfig, run_scenario_with};
use wakeproxy::store::config::Config;
use wakeproxy::store::keys::{self, KeyError};

use super::args::*;
use super::common::*;

pub(crate) fn config_check(path: Option<PathBuf>) -> ExitCode {
    let (config, path) = match load_config(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if !path.exists() {
        eprintln!("note: {} does not exist; the daemon runs with the defaults", path.display());
    }
    if config.insecure {
        eprintln!(
            "warning: insecure = true: messages are signed with the published lab key, so \
             anyone can forge them; use this only in a lab"
        );
    } else if let Err(e) = keys::load(&config.key_file) {
        return fail(&e, EXIT_BAD_INPUT);
    }
    println!("# effective configuration of {} (defaults filled in)", path.display());
    print!("{}", config.to_toml());
    ExitCode::SUCCESS
}

pub(crate) fn keygen(args: KeygenArgs) -> ExitCode {
    let rollover = [
        (args.add_next, keys::add_next as fn(&std::path::Path) -> _),
        (args.promote, keys::promote),
        (args.retire, keys::retire),
    ];
    if let Some((path, step)) = rollover.into_iter().find_map(|(p, f)| Some((p?, f))) {
        return match step(&path) {
            Ok(done) => {
                print!("{}", done.report(&path));
                ExitCode::SUCCESS
            }
            Err(e @ (KeyError::Write { .. } | KeyError::Random(_))) => fail(&e, 1),
            Err(e) => fail(&e, EXIT_BAD_INPUT),
        };
    }
    let path = args.path.unwrap_or_else(|| Config::default().key_file);
    match keys::write_new(&path, args.force) {
        Ok(()) => {
            let mode = if cfg!(unix) { " (mode 0600)" } else { "" };
            println!(
                "wrote a new site key to {}{mode}; copy this same file to every node of the site",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e @ KeyError::Exists { .. }) => fail(&e, EXIT_BAD_INPUT),
        Err(e) => fail(&e, 1),
    }
}

#[cfg(target_os = "linux")]
pub(crate) fn capture(
    interface: &str,
    count: Option<usize>,
    duration: Duration,
    wol_port: u16,
) -> ExitCode {
    use wakeproxy::os::capture::{PacketCapture, describe};
    let result = block_on(async {
        let cap = PacketCapture::open(interface, wol_port, false)?;
        let mut buf = vec![0u8; 65536];
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + duration;
        while count.is_none_or(|c| seen < c) {
            match tokio::time::timeout_at(deadline, cap.recv(&mut buf)).await {
                Ok(n) => {
                    println!("{}", describe(&buf[..n?]));
                    seen += 1;
                }
                Err(_) => break,
            }
        }
        Ok::<(), std::io::Error>(())
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!(
                "error: cannot capture on {interface}: {e} (name an existing interface, and {})",
                words::HERE.raw_sockets
            );
            ExitCode::FAILURE
        }
        Err(code) => code,
    }
}

pub(crate) fn simulate(a: SimulateArgs) -> ExitCode {
    let cfg = ScenarioConfig {
        sim: SimConfig {
            nodes: a.nodes,
            subnets: a.subnets,
            loss: a.loss,
            seed: a.seed,
            heartbeat: a.heartbeat,
            ..SimConfig::default()
        },
        duration: a.duration,
        fault_every: a.fault_every,
        asleep_fraction: a.asleep,
    };
    // Progress in simulated time, on a terminal only (indicatif draws nothing into a pipe).
    let bar = indicatif::ProgressBar::new(cfg.duration.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("simulating {bar:40} {msg} ({elapsed} so far)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let total = humantime::format_duration(cfg.duration).to_string();
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, cfg.sim.subnets.max(1));
    let outcome = super::sim_threads::with_threads(threads, |windows| {
        run_scenario_with(&cfg, windows, &mut |done| {
            let secs = std::time::Duration::from_secs(done.as_secs());
            bar.set_message(format!("{} of {total}", humantime::format_duration(secs)));
            bar.set_position(done.as_millis() as u64);
        })
    });
    bar.finish_and_clear();
    match outcome {
        Ok(report) => {
            if a.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: cannot write the report as JSON: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            // Bad arguments, as clap reports its own.
            ExitCode::from(2)
        }
    }
}
