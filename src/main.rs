//! The `wakeproxy` command: thin on purpose. It parses arguments and hands over to the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use wakeproxy::sim::{ScenarioConfig, SimConfig, run_scenario};

/// wakeproxy: an open, cross-platform wake-up proxy.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a network of wakeproxy nodes on a virtual clock and report how it behaved.
    Simulate(SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Hosts in the network.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Subnets the hosts are spread over.
    #[arg(long, default_value_t = 2)]
    subnets: usize,
    /// Probability that any one packet is lost (0 to <1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Seed: the same arguments and seed give the same report.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated time to run, e.g. 90s, 10m, 1h.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Heartbeat interval of every node.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// A fault every this often.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    fault_every: Duration,
    /// Share of hosts that go to sleep once the network settles (0 to 1).
    #[arg(long, default_value_t = 0.4)]
    asleep: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate(args),
    }
}

fn simulate(a: SimulateArgs) -> ExitCode {
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
    match run_scenario(&cfg) {
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
