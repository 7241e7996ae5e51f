//! The `wakeproxy` command: thin on purpose. It parses arguments and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use wakeproxy::config::{Config, LogFormat};
use wakeproxy::ctl::{self, Request};
use wakeproxy::keys::{self, KeyError};
use wakeproxy::node::IfaceStatus;
use wakeproxy::sim::{ScenarioConfig, SimConfig, run_scenario};
use wakeproxy::words;

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
    /// Show what the daemon knows: role, manager, peers, sleepers, counters, last wakes.
    Status(ShowArgs),
    /// Show the peers on every interface.
    Peers(ShowArgs),
    /// Show the daemon's recent events; with --follow, keep printing new ones.
    Events(EventsArgs),
    /// Wake hosts: through the daemon (by MAC or by an address a peer announced), or with
    /// --direct straight from here like wakeonlan / etherwake.
    Wake(WakeArgs),
    /// Show the frames the proxy's kernel filter lets through on an interface, one line each
    /// (Linux, root): ARP, neighbour solicitations, TCP SYNs, magic packets.
    #[cfg(target_os = "linux")]
    Capture {
        /// The interface.
        #[arg(long, short)]
        interface: String,
        /// Stop after this many frames.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this long.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The Wake-on-LAN port whose UDP datagrams pass the filter.
        #[arg(long, default_value_t = 9)]
        wol_port: u16,
    },
    /// Tell the daemon this host is about to sleep (what the OS's sleep hook calls).
    SleepNotice(ConfigArg),
    /// Tell the daemon this host has resumed (what the OS's resume hook calls).
    ResumeNotice(ConfigArg),
    /// Simulate a network of wakeproxy nodes on a virtual clock and report how it behaved.
    Simulate(SimulateArgs),
    /// Many wakeproxy hosts on this machine in network namespaces (Linux, root).
    #[cfg(target_os = "linux")]
    #[command(subcommand)]
    Lab(LabCommand),
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create a new site key file (every node of a site needs the same one), or change the
    /// site's key in three steps without splitting the site: --add-next, --promote, --retire.
    Keygen(KeygenArgs),
    /// Make the daemon re-read its site key file (only the key; other settings need a
    /// restart). Needs root. On Unix, SIGHUP does the same.
    Reload(ConfigArg),
    /// The firewall exceptions wakeproxy needs (its configured ports, ICMP echo): print them
    /// for a firewall, or install / remove them on this machine.
    #[command(subcommand)]
    Firewall(FirewallCommand),
    /// The Windows service: install (automatic start, restart on failure, its Event Log
    /// source), uninstall, start, stop, status. Run these from an elevated prompt.
    #[cfg(windows)]
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[cfg(windows)]
#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Install the `wakeproxy` service to run this wakeproxy.exe with a configuration.
    Install {
        /// The configuration file [default: %ProgramData%\wakeproxy\wakeproxy.toml].
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Stop and remove the service.
    Uninstall,
    /// Start the installed service.
    Start,
    /// Stop the service.
    Stop,
    /// Say whether the service runs: exits 0 if it does, 3 if it is installed but not running.
    Status,
    /// What the service control manager runs (not for a console).
    #[command(hide = true)]
    Run {
        /// The configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum FirewallCommand {
    /// Print the rules for a firewall (nftables script, ufw, firewalld or netsh commands).
    Show {
        /// nftables, ufw, firewalld or windows [default: nftables; on Windows: windows].
        #[arg(long)]
        format: Option<wakeproxy::firewall::Format>,
        #[command(flatten)]
        profile: ProfileArg,
        #[command(flatten)]
        config: FirewallConfig,
    },
    /// Install the rules: on Linux the nftables table `inet wakeproxy`, replaced atomically;
    /// on Windows the netsh rules. Idempotent.
    #[cfg(any(target_os = "linux", windows))]
    Apply {
        #[cfg(windows)]
        #[command(flatten)]
        profile: ProfileArg,
        #[command(flatten)]
        config: FirewallConfig,
    },
    /// Remove what `apply` installed. Idempotent.
    #[cfg(any(target_os = "linux", windows))]
    Remove {
        #[command(flatten)]
        config: FirewallConfig,
    },
}

#[derive(Debug, clap::Args)]
struct FirewallConfig {
    /// The configuration file whose ports the rules allow [default:
    /// /etc/wakeproxy/wakeproxy.toml; Windows: %ProgramData%\wakeproxy\wakeproxy.toml]. A missing
    /// default file means: all defaults.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ProfileArg {
    /// Windows Firewall profiles the rules apply to: any of domain, private, public,
    /// comma-separated [default: domain,private].
    #[arg(long)]
    profile: Option<wakeproxy::firewall::Profiles>,
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

#[cfg(target_os = "linux")]
#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Bring a lab up: namespaces, bridges, a router, and a wakeproxy daemon per host.
    Up {
        #[command(flatten)]
        shape: LabShape,
        #[command(flatten)]
        name: LabName,
    },
    /// Tell the story on a real lab: election, sleep, a proxy, a wake from the other subnet, a
    /// connection that wakes a sleeper, the manager killed and replaced. Tears the lab down;
    /// exits 0 only if every step happened.
    Demo {
        #[command(flatten)]
        shape: LabShape,
        /// The lab's name.
        #[arg(long, default_value = "demo")]
        name: String,
    },
    /// Measure SYN-on-the-wire → magic-packet-on-the-wire over many wakes in a row, from the lab
    /// switch's clock (needs tcpdump). Brings its own lab up and down.
    WakeLatency {
        #[command(flatten)]
        shape: LabShape,
        /// Wakes to measure.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// The lab's name.
        #[arg(long, default_value = "wlat")]
        name: String,
    },
    /// Remove everything a lab made (idempotent; also after a lab whose process died).
    Down {
        #[command(flatten)]
        name: LabName,
    },
    /// Every host's role, state and term.
    Status {
        #[command(flatten)]
        name: LabName,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a host, e.g. `lab exec h1 -- curl 10.0.2.10:8080`.
    Exec {
        /// The host (h1, h2, …).
        host: String,
        /// The command.
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
        #[command(flatten)]
        name: LabName,
    },
    /// Put a host to sleep: it announces it (unless --no-notice), freezes, answers nothing, and
    /// its simulated Wake-on-LAN NIC waits for a magic packet.
    Sleep {
        /// The host (h1, h2, …).
        host: String,
        /// Sleep without the SleepNotice (a failed hook, a forced suspend).
        #[arg(long)]
        no_notice: bool,
        /// How long the host takes to resume after its magic packet.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        resume_delay: Duration,
        /// A SecureOn password the NIC requires (a.b.c.d or aa:bb:cc:dd:ee:ff).
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        name: LabName,
    },
    /// Kill a host's daemon with SIGKILL (no goodbye; the host stays up).
    Crash {
        /// The host (h1, h2, …).
        host: String,
        #[command(flatten)]
        name: LabName,
    },
    /// Start a host's daemon again.
    Restart {
        /// The host (h1, h2, …).
        host: String,
        #[command(flatten)]
        name: LabName,
    },
    /// Cut two groups of hosts off from each other, e.g. `lab partition h1,h3 h2,h4`.
    Partition {
        /// One side (comma-separated hosts).
        a: String,
        /// The other side.
        b: String,
        #[command(flatten)]
        name: LabName,
    },
    /// End every partition.
    Heal {
        #[command(flatten)]
        name: LabName,
    },
    /// Drop a share of a host's packets at random (0 removes the loss).
    Loss {
        /// The host (h1, h2, …).
        host: String,
        /// Percent of packets lost, both ways.
        percent: u8,
        #[command(flatten)]
        name: LabName,
    },
    /// Print a host's daemon log.
    Logs {
        /// The host (h1, h2, …).
        host: String,
        #[command(flatten)]
        name: LabName,
    },
    /// (Internal) the simulated Wake-on-LAN NIC of a sleeping host.
    #[command(hide = true)]
    Nic {
        #[arg(long)]
        host: String,
        #[arg(long, value_parser = humantime::parse_duration)]
        resume_delay: Duration,
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        name: LabName,
    },
    /// (Internal) connect to ADDR:PORT and print the first line the service sends.
    #[command(hide = true)]
    Connect {
        addr: std::net::SocketAddr,
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// (Internal) flood from the namespace this runs in, as fast as one thread can, and print
    /// the rate: `junk` or `magic` (valid header, bad tag) datagrams, `hex:<bytes>` (one
    /// datagram, repeated), or `arp` requests for every address of the interface's subnet.
    #[command(hide = true)]
    Flood {
        kind: wakeproxy::lab::flood::FloodKind,
        /// Where datagrams go.
        #[arg(long, default_value = "255.255.255.255:25536")]
        to: std::net::SocketAddr,
        /// The IP TTL of the datagrams.
        #[arg(long, default_value_t = 255)]
        ttl: u8,
        /// Where ARP requests go out.
        #[arg(long, default_value = "eth0")]
        interface: String,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// (Internal) the TCP service each lab host runs.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        host: String,
        #[arg(long, value_delimiter = ',')]
        ports: Vec<u16>,
    },
}

#[cfg(target_os = "linux")]
#[derive(Debug, clap::Args)]
struct LabShape {
    /// Hosts.
    #[arg(long, default_value_t = 6)]
    hosts: usize,
    /// Subnets the hosts are spread over.
    #[arg(long, default_value_t = 2)]
    subnets: usize,
    /// Heartbeat interval of every daemon, e.g. 250ms (tests), 1s (a person can follow).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// How the daemons answer for sleepers: arp-redirect (the proxy's MAC) or mac-takeover
    /// (the sleeper's MAC, ConfigMgr's way).
    #[arg(long, default_value = "arp-redirect")]
    proxy_mode: wakeproxy::node::ProxyMode,
    /// Proxies do not replay the waking SYN to a woken host: callers wait for their own
    /// retransmission (syn_replay = false).
    #[arg(long)]
    no_syn_replay: bool,
}

#[cfg(target_os = "linux")]
impl LabShape {
    fn spec(self, name: String) -> wakeproxy::lab::LabSpec {
        let Self { hosts, subnets, heartbeat, proxy_mode, no_syn_replay } = self;
        let syn_replay = !no_syn_replay;
        wakeproxy::lab::LabSpec { name, hosts, subnets, heartbeat, proxy_mode, syn_replay }
    }
}

#[cfg(target_os = "linux")]
#[derive(Debug, clap::Args)]
struct LabName {
    /// The lab's name (1 to 8 lowercase letters or digits).
    #[arg(long, default_value = "wplab")]
    name: String,
}

#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// The configuration file, to find the daemon's control socket.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct EventsArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Keep printing events as they happen.
    #[arg(long, short)]
    follow: bool,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct WakeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// MAC addresses (aa:bb:cc:dd:ee:ff, aa-bb-…, aabbccddeeff); through the daemon also IP
    /// addresses or host names of peers.
    targets: Vec<String>,
    /// Read more MAC addresses from a file (one per line, # comments).
    #[arg(long)]
    file: Option<String>,
    /// SecureOn password (4 or 6 bytes: a.b.c.d or aa:bb:cc:dd:ee:ff).
    #[arg(long)]
    password: Option<String>,
    /// Send straight from this host instead of through the daemon.
    #[arg(long)]
    direct: bool,
    /// With --direct: UDP port.
    #[arg(long, default_value_t = 9, requires = "direct")]
    port: u16,
    /// With --direct: send to this address instead of each interface's broadcast address.
    #[arg(long, requires = "direct")]
    broadcast: Option<std::net::Ipv4Addr>,
    /// With --direct: only this interface.
    #[arg(long, short, requires = "direct")]
    interface: Option<String>,
    /// With --direct: send EtherType 0x0842 frames (as etherwake does; needs root).
    #[arg(long, requires = "direct")]
    raw: bool,
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
#[command(group = clap::ArgGroup::new("rollover").multiple(false))]
struct KeygenArgs {
    /// Where to write a new key [default: the default key_file, /etc/wakeproxy/site.key;
    /// Windows: %ProgramData%\wakeproxy\site.key].
    #[arg(conflicts_with = "rollover")]
    path: Option<PathBuf>,
    /// Replace an existing key file outright: every node then needs the new file at once (to
    /// change a site's key without splitting it, use --add-next).
    #[arg(long, conflicts_with = "rollover")]
    force: bool,
    /// Key rollover, phase 1 of 3: add a fresh key to FILE as the next key, which nodes accept
    /// but do not sign with yet.
    #[arg(long, value_name = "FILE", group = "rollover")]
    add_next: Option<PathBuf>,
    /// Phase 2 of 3: make FILE's next key the current one; the old key stays accepted.
    #[arg(long, value_name = "FILE", group = "rollover")]
    promote: Option<PathBuf>,
    /// Phase 3 of 3: drop FILE's previous key.
    #[arg(long, value_name = "FILE", group = "rollover")]
    retire: Option<PathBuf>,
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
        Command::Status(args) => show(args, Request::Status),
        Command::Peers(args) => show(args, Request::Peers),
        Command::Events(args) => events(args),
        Command::Wake(args) => wake(args),
        #[cfg(target_os = "linux")]
        Command::Capture { interface, count, duration, wol_port } => {
            capture(&interface, count, duration, wol_port)
        }
        Command::SleepNotice(args) => notice(args, Request::SleepNotice),
        Command::ResumeNotice(args) => notice(args, Request::ResumeNotice),
        Command::Simulate(args) => simulate(args),
        #[cfg(target_os = "linux")]
        Command::Lab(cmd) => lab(cmd),
        Command::Config(ConfigCommand::Check { path }) => config_check(path),
        Command::Keygen(args) => keygen(args),
        Command::Reload(args) => reload(args),
        Command::Firewall(cmd) => firewall(cmd),
        #[cfg(windows)]
        Command::Service(cmd) => service(cmd),
    }
}

#[cfg(windows)]
fn service(cmd: ServiceCommand) -> ExitCode {
    use wakeproxy::service::windows as svc;
    let result = match cmd {
        ServiceCommand::Install { config } => {
            let path = config.unwrap_or_else(Config::default_path);
            if let Err(e) = Config::load_or_default(&path, true) {
                return fail(&e, EXIT_BAD_INPUT);
            }
            svc::install(&path).map(|()| {
                println!(
                    "installed the {} service ({}) with {}",
                    svc::NAME,
                    svc::DISPLAY_NAME,
                    path.display()
                );
                println!("next: wakeproxy service start");
            })
        }
        ServiceCommand::Uninstall => {
            svc::uninstall().map(|()| println!("removed the {} service", svc::NAME))
        }
        ServiceCommand::Start => {
            svc::start().map(|()| println!("started the {} service", svc::NAME))
        }
        ServiceCommand::Stop => {
            svc::stop().map(|()| println!("stopping the {} service", svc::NAME))
        }
        ServiceCommand::Status => match svc::status() {
            Ok(status) => {
                println!("{}", status.describe());
                return ExitCode::from(status.exit_code());
            }
            Err(e) => Err(e),
        },
        ServiceCommand::Run { config } => {
            let (config, path) = match load_config(config) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            init_service_logging(config.log.level.as_str());
            svc::run(config, path)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

/// Under the service control manager there is no console. Warnings, errors and lifecycle
/// lines go to the Windows Event Log (Application, source wakeproxy); every line at the
/// configured level also goes to `%ProgramData%\wakeproxy\logs\wakeproxy.log` (appended;
/// rotate it with your usual tools). Whichever of the two cannot be opened is said in the other.
#[cfg(windows)]
fn init_service_logging(level: &str) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};
    use wakeproxy::service::eventlog::{self, EventLogLayer, windows::EventLogSink};

    let path = wakeproxy::fsutil::windows_data_dir().join("logs").join("wakeproxy.log");
    let file = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path));
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("wakeproxy={level}")));
    let (file_layer, file_error) = match file {
        Ok(f) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .with_filter(filter),
            ),
            None,
        ),
        Err(e) => (None, Some(e)),
    };
    let (event_layer, event_error) = match EventLogSink::open() {
        Ok(sink) => (Some(EventLogLayer::new(sink).with_filter(eventlog::filter())), None),
        Err(e) => (None, Some(e)),
    };
    tracing_subscriber::registry().with(file_layer).with(event_layer).init();
    if let Some(e) = file_error {
        tracing::warn!(
            "cannot write the log file {}: {e}; only the Event Log has the service's lines",
            path.display()
        );
    }
    if let Some(e) = event_error {
        tracing::warn!(
            "cannot open the Windows Event Log ({e}); the service logs only to {}",
            path.display()
        );
    }
}

fn firewall(cmd: FirewallCommand) -> ExitCode {
    use wakeproxy::firewall::{self, Format};
    let rules_of =
        |arg: &FirewallConfig| load_config(arg.config.clone()).map(|(c, _)| firewall::rules(&c));
    let (rules, result, done): (Vec<firewall::Rule>, Result<(), firewall::FirewallError>, &str) =
        match cmd {
            FirewallCommand::Show { format, profile, config } => {
                let rules = match rules_of(&config) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let format = format.unwrap_or_else(Format::native);
                if profile.profile.is_some() && format != Format::Windows {
                    eprintln!("note: --profile only applies to --format windows");
                }
                print!("{}", firewall::render(&rules, format, profile.profile.unwrap_or_default()));
                return ExitCode::SUCCESS;
            }
            #[cfg(any(target_os = "linux", windows))]
            FirewallCommand::Apply {
                #[cfg(windows)]
                profile,
                config,
            } => {
                #[cfg(windows)]
                let profiles = profile.profile.unwrap_or_default();
                #[cfg(not(windows))]
                let profiles = firewall::Profiles::default();
                let rules = match rules_of(&config) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let result = firewall::apply(&rules, profiles);
                (rules, result, "installed")
            }
            #[cfg(any(target_os = "linux", windows))]
            FirewallCommand::Remove { config } => {
                let rules = match rules_of(&config) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let result = firewall::remove(&rules);
                (rules, result, "removed")
            }
        };
    match result {
        Ok(()) => {
            let what = if cfg!(windows) {
                format!("{} Windows Firewall rules \"wakeproxy …\"", rules.len())
            } else {
                format!("the nftables table {}", firewall::NFT_TABLE)
            };
            println!("{done} {what}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, 1),
    }
}

/// Exit code of a bad configuration, key file or invocation (as clap's own errors).
const EXIT_BAD_INPUT: u8 = 2;

fn config_check(path: Option<PathBuf>) -> ExitCode {
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

fn keygen(args: KeygenArgs) -> ExitCode {
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

fn reload(args: ConfigArg) -> ExitCode {
    let socket = match socket_of(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let reply = match block_on(ctl::call(&socket, &Request::Reload)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return fail(&e, 1),
        Err(code) => return code,
    };
    match serde_json::from_value::<ctl::ReloadReply>(reply) {
        Ok(r) => {
            print!("{}", ctl::render_reload(&r));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: the daemon's answer is not what this wakeproxy expects ({e}): is it the same version?"
            );
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let (config, path) = match load_config(args.config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let json =
        args.log_format.as_deref().map_or(config.log.format == LogFormat::Json, |f| f == "json");
    init_logging(config.log.level.as_str(), json);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    let daemon = async {
        let power = power_link(&config);
        wakeproxy::daemon::run(
            &config,
            &path,
            power,
            &wakeproxy::service::notify::Systemd,
            shutdown_signal(),
        )
        .await
    };
    match runtime.block_on(daemon) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

/// Logs to stderr: human lines on a terminal or under systemd (which adds its own timestamps),
/// JSON lines with `--log-format json`. `RUST_LOG` overrides the configured level.
fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("wakeproxy={level}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// The daemon's link to the OS's sleep and resume: logind on Linux (a task of the current
/// runtime), none when `sleep_hooks` is off.
fn power_link(config: &Config) -> wakeproxy::daemon::PowerLink {
    if !config.sleep_hooks {
        tracing::info!(
            "sleep_hooks = false: sleep announcements come only from `wakeproxy sleep-notice`"
        );
        return wakeproxy::daemon::PowerLink::none();
    }
    #[cfg(target_os = "linux")]
    {
        let (link, hooks) = wakeproxy::daemon::power_channel();
        wakeproxy::service::logind::spawn(hooks);
        link
    }
    #[cfg(not(target_os = "linux"))]
    wakeproxy::daemon::PowerLink::none()
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

/// The control socket named by the configuration (the default one if none is given).
fn socket_of(arg: &ConfigArg) -> Result<PathBuf, ExitCode> {
    load_config(arg.config.clone()).map(|(c, _)| c.control_socket)
}

/// The configuration `given` on the command line, or the one at the default path, with its
/// path; a bad one is said and is exit code 2. A missing file is an error only when it was
/// named: without one the daemon runs with the defaults.
fn load_config(given: Option<PathBuf>) -> Result<(Config, PathBuf), ExitCode> {
    let explicit = given.is_some();
    let path = given.unwrap_or_else(Config::default_path);
    let config = Config::load_or_default(&path, explicit).map_err(|e| fail(&e, EXIT_BAD_INPUT))?;
    Ok((config, path))
}

/// Runs one async client call on a small runtime.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, ExitCode> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Ok(rt.block_on(f)),
        Err(e) => Err(fail(&e, 1)),
    }
}

fn show(args: ShowArgs, request: Request) -> ExitCode {
    let socket = match socket_of(&args.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let reply = match block_on(ctl::call(&socket, &request)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return fail(&e, 1),
        Err(code) => return code,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let text = match request {
        Request::Status => {
            serde_json::from_value::<ctl::DaemonStatus>(reply).map(|s| ctl::render_status(&s))
        }
        _ => serde_json::from_value::<Vec<IfaceStatus>>(reply).map(|i| ctl::render_peers(&i)),
    };
    match text {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: the daemon's answer is not what this wakeproxy expects ({e}): is it the same version?"
            );
            ExitCode::FAILURE
        }
    }
}

fn events(args: EventsArgs) -> ExitCode {
    let socket = match socket_of(&args.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let print = |e: &serde_json::Value| {
        if args.json {
            println!("{e}");
        } else {
            println!("{}", ctl::render_event(e));
        }
    };
    let result = block_on(async {
        if args.follow {
            let mut stream = ctl::follow_events(&socket).await?;
            while let Some(e) = stream.next().await {
                print(&e?);
            }
        } else {
            let v = ctl::call(&socket, &Request::Events { follow: false }).await?;
            for e in v.as_array().into_iter().flatten() {
                print(e);
            }
        }
        Ok::<(), ctl::CtlError>(())
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e, 1),
        Err(code) => code,
    }
}

#[cfg(target_os = "linux")]
fn capture(interface: &str, count: Option<usize>, duration: Duration, wol_port: u16) -> ExitCode {
    use wakeproxy::capture::{PacketCapture, describe};
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

fn notice(args: ConfigArg, request: Request) -> ExitCode {
    let socket = match socket_of(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match block_on(ctl::call(&socket, &request)) {
        Ok(Ok(_)) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e, 1),
        Err(code) => code,
    }
}

fn wake(args: WakeArgs) -> ExitCode {
    use wakeproxy::direct_wake::{DirectWake, parse_macs, read_mac_file};
    if args.direct {
        let mut macs = match parse_macs(&args.targets) {
            Ok(m) => m,
            Err(e) => return fail(&e, EXIT_BAD_INPUT),
        };
        if let Some(f) = &args.file {
            match read_mac_file(f) {
                Ok(more) => macs.extend(more),
                Err(e) => return fail(&e, EXIT_BAD_INPUT),
            }
        }
        let password = match args.password.as_deref().map(str::parse).transpose() {
            Ok(p) => p,
            Err(e) => return fail(&e, EXIT_BAD_INPUT),
        };
        let w = DirectWake {
            macs,
            port: args.port,
            broadcast: args.broadcast,
            interface: args.interface,
            password,
            raw: args.raw,
        };
        return match w.send() {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
                ExitCode::SUCCESS
            }
            Err(e @ wakeproxy::direct_wake::WakeCmdError::BadMac { .. }) => {
                fail(&e, EXIT_BAD_INPUT)
            }
            Err(e) => fail(&e, 1),
        };
    }
    let socket = match socket_of(&args.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut targets = args.targets.clone();
    if let Some(f) = &args.file {
        match read_mac_file(f) {
            Ok(more) => targets.extend(more.iter().map(ToString::to_string)),
            Err(e) => return fail(&e, EXIT_BAD_INPUT),
        }
    }
    if targets.is_empty() {
        eprintln!(
            "error: no target given: name MAC addresses, addresses or host names, or use --file"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let mut status = ExitCode::SUCCESS;
    for t in targets {
        // The daemon takes MACs and addresses; a host name is resolved here.
        let target = match resolve(&t) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                status = ExitCode::from(EXIT_BAD_INPUT);
                continue;
            }
        };
        let request = Request::Wake { target, password: args.password.clone() };
        match block_on(ctl::call(&socket, &request)) {
            Ok(Ok(v)) => println!("waking {t}: {}", v["mac"].as_str().unwrap_or("?")),
            Ok(Err(e)) => {
                eprintln!("error: {t}: {e}");
                status = ExitCode::FAILURE;
            }
            Err(code) => return code,
        }
    }
    status
}

/// A MAC or an address as given; a host name resolved to its first IPv4 address.
fn resolve(target: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    if target.parse::<wakeproxy::addr::MacAddr>().is_ok()
        || target.parse::<std::net::IpAddr>().is_ok()
    {
        return Ok(target.to_owned());
    }
    if target.contains(':') || target.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        // Looks like a MAC but is not one: say so rather than try DNS.
        return target
            .parse::<wakeproxy::addr::MacAddr>()
            .map(|m| m.to_string())
            .map_err(|e| e.to_string());
    }
    let addrs = (target, 0).to_socket_addrs().map_err(|e| {
        format!("`{target}` is not a MAC address, an IP address or a host name that resolves: {e}")
    })?;
    addrs
        .map(|a| a.ip())
        .find(std::net::IpAddr::is_ipv4)
        .map(|ip| ip.to_string())
        .ok_or_else(|| format!("{target} has no IPv4 address"))
}

#[cfg(target_os = "linux")]
fn lab(cmd: LabCommand) -> ExitCode {
    use wakeproxy::lab::{self, Lab, LabError};
    let code = |e: &LabError| match e {
        LabError::Command { .. } | LabError::File { .. } => 1,
        _ => EXIT_BAD_INPUT,
    };
    let exe = || {
        std::env::current_exe()
            .map_err(|e| LabError::File { path: "wakeproxy".into(), message: e.to_string() })
    };
    let result: Result<ExitCode, LabError> = (|| match cmd {
        LabCommand::Up { shape, name } => {
            let spec = shape.spec(name.name);
            let lab = Lab::up(&spec, &exe()?)?;
            println!(
                "lab {} is up: {} hosts on {} subnets (10.0.1.0/24 …), files in {}",
                lab.name,
                lab.hosts.len(),
                lab.subnets,
                lab.dir.display()
            );
            println!(
                "next: wakeproxy lab status --name {}    wakeproxy lab down --name {}",
                lab.name, lab.name
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Demo { shape, name } => {
            let spec = shape.spec(name);
            lab::demo::run(&spec, &exe()?)?;
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::WakeLatency { shape, count, name } => {
            let spec = shape.spec(name);
            let r = lab::measure::wake_latency(&spec, &exe()?, count)?;
            println!(
                "SYN -> magic packet, {} wakes ({} missed): p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us",
                r.samples_us.len(),
                r.missed,
                r.quantile(0.5),
                r.quantile(0.9),
                r.quantile(0.99),
                r.quantile(1.0)
            );
            Ok(if r.missed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        LabCommand::Down { name } => {
            lab::preconditions()?;
            let n = lab::down(&name.name);
            println!("lab {}: removed {n} namespaces", name.name);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { name, json } => {
            let lab = Lab::load(&name.name)?;
            let rows = match block_on(lab::status_rows(&lab)) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else {
                print!("{}", lab::render_status(&lab, &rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Exec { host, command, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            Ok(ExitCode::from(lab.exec(i, &command)?.clamp(0, 255) as u8))
        }
        LabCommand::Sleep { host, no_notice, resume_delay, password, name } => {
            if let Some(p) = &password {
                p.parse::<wakeproxy::wol::SecureOn>()
                    .map_err(|e| LabError::BadArgs(e.to_string()))?;
            }
            let mut lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            lab.sleep(i, &exe()?, !no_notice, resume_delay, password.as_deref())?;
            println!(
                "{host} sleeps{}; its NIC wakes it on a magic packet for {}",
                if no_notice { " (unannounced)" } else { "" },
                lab.hosts[i].mac
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Crash { host, name } => {
            let mut lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            lab.crash(i)?;
            println!("{host}: daemon killed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Restart { host, name } => {
            let mut lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            lab.restart(i, &exe()?)?;
            println!("{host}: daemon started");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Nic { host, resume_delay, password, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            let mac = lab.hosts[i]
                .mac
                .parse()
                .map_err(|e: wakeproxy::addr::ParseMacError| LabError::BadArgs(e.to_string()))?;
            let password = password.map(|p| p.parse()).transpose().map_err(
                |e: wakeproxy::wol::ParseSecureOnError| LabError::BadArgs(e.to_string()),
            )?;
            let how = lab::wait_for_magic(mac, password).map_err(|e| LabError::Command {
                command: "the simulated NIC".into(),
                message: e.to_string(),
            })?;
            println!(
                "{host}: magic packet for {mac} in {how}; resuming in {}",
                humantime::format_duration(resume_delay)
            );
            std::thread::sleep(resume_delay);
            // Reload: the lab record may have changed while the host slept.
            let mut lab = Lab::load(&name.name)?;
            lab.resume(i, &exe()?)?;
            println!("{host}: resumed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Partition { a, b, name } => {
            let lab = Lab::load(&name.name)?;
            let side = |s: &str| {
                s.split(',').map(|h| lab.host(h.trim())).collect::<Result<Vec<usize>, LabError>>()
            };
            lab.partition(&side(&a)?, &side(&b)?)?;
            println!("{a} and {b} can no longer reach each other");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Heal { name } => {
            Lab::load(&name.name)?.heal()?;
            println!("every partition healed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Loss { host, percent, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            lab.loss(i, percent)?;
            println!("{host} loses {percent} % of its packets");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Logs { host, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            let path = lab.hosts[i].log();
            let text = std::fs::read_to_string(&path).map_err(|e| LabError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Connect { addr, timeout } => {
            let line = lab::connect(addr, timeout).map_err(|e| LabError::Command {
                command: format!("connect to {addr}"),
                message: e.to_string(),
            })?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Flood { kind, to, ttl, interface, duration } => {
            use lab::flood::{self, FloodKind};
            let (report, what) = match kind {
                FloodKind::Arp => (
                    flood::arp(&interface, duration).map_err(|e| {
                        format!("{e} (an ARP flood needs raw sockets: {})", words::HERE.raw_sockets)
                    }),
                    "ARP requests",
                ),
                datagrams => (
                    flood::udp(&datagrams, to, ttl, duration).map_err(|e| format!("to {to}: {e}")),
                    "datagrams",
                ),
            };
            let r = report
                .map_err(|message| LabError::Command { command: "lab flood".into(), message })?;
            println!(
                "flood: {} {what} in {:.1} s = {:.0}/s ({} sends refused by a full queue)",
                r.sent,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.failed
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Serve { host, ports } => match lab::serve_tcp(&host, &ports) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                Err(LabError::Command { command: "lab serve".into(), message: e.to_string() })
            }
        },
    })();
    result.unwrap_or_else(|e| fail(&e, code(&e)))
}

/// Prints `e` with every cause it does not already name ([`words::error_chain`]) and returns
/// `code`.
fn fail(e: &(dyn std::error::Error + 'static), code: u8) -> ExitCode {
    eprintln!("error: {}", words::error_chain(e));
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
