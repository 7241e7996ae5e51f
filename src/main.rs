//! The `wakeproxy` command: thin on purpose. It parses arguments and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use wakeproxy::config::{Config, LogFormat};
use wakeproxy::keys::{self, KeyError};
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
    /// Run the daemon (as the systemd or Windows service does).
    Run(RunArgs),
    /// Simulate a network of wakeproxy nodes on a virtual clock and report how it behaved.
    Simulate(SimulateArgs),
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create a new site key file (every node of a site needs the same one).
    Keygen(KeygenArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The configuration file [default: /etc/wakeproxy/wakeproxy.toml; Windows:
    /// %ProgramData%\wakeproxy\wakeproxy.toml]. A missing default file means: all defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log format, overriding the configuration's `[log] format`.
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and its key file, and print the effective configuration.
    Check {
        /// The file [default: /etc/wakeproxy/wakeproxy.toml; Windows:
        /// %ProgramData%\wakeproxy\wakeproxy.toml].
        path: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Where to write the key [default: the default key_file, /etc/wakeproxy/site.key;
    /// Windows: %ProgramData%\wakeproxy\site.key].
    path: Option<PathBuf>,
    /// Replace an existing key file (then copy the new one to every node).
    #[arg(long)]
    force: bool,
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
        Command::Run(args) => run(args),
        Command::Simulate(args) => simulate(args),
        Command::Config(ConfigCommand::Check { path }) => config_check(path),
        Command::Keygen(args) => keygen(args),
    }
}

/// Exit code of a bad configuration, key file or invocation (as clap's own errors).
const EXIT_BAD_INPUT: u8 = 2;

fn config_check(path: Option<PathBuf>) -> ExitCode {
    let explicit = path.is_some();
    let path = path.unwrap_or_else(Config::default_path);
    let config = match Config::load_or_default(&path, explicit) {
        Ok(c) => c,
        Err(e) => return fail(&e, EXIT_BAD_INPUT),
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

fn keygen(args: KeygenArgs) -> ExitCode {
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

fn run(args: RunArgs) -> ExitCode {
    let explicit = args.config.is_some();
    let path = args.config.unwrap_or_else(Config::default_path);
    let config = match Config::load_or_default(&path, explicit) {
        Ok(c) => c,
        Err(e) => return fail(&e, EXIT_BAD_INPUT),
    };
    let json = args.log_format.as_deref().map_or(config.log.format == LogFormat::Json, |f| f == "json");
    init_logging(config.log.level.as_str(), json);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    match runtime.block_on(wakeproxy::daemon::run(&config, &path, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

/// Logs to stderr: human lines on a terminal or under systemd (which adds its own timestamps),
/// JSON lines with `--log-format json`. `RUST_LOG` overrides the configured level.
fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("wakeproxy={level}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_target(false).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn fail(e: &dyn std::error::Error, code: u8) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(code)
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
