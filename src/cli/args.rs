//! The command line's shape: every subcommand and option, as clap derives them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// wakeproxy: an open, cross-platform wake-up proxy.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Check what breaks wakes on this host, per managed interface: the NIC's Wake-on-LAN
    /// setting, the firewall exceptions, the key file, the daemon, its peers, clocks and
    /// wake_relays; each problem with its fix. Exits 0 if healthy, 1 if a check failed, 2 if
    /// some could not run (run it as root).
    Doctor(DoctorArgs),
    /// Print a shell completion script (bash: `source <(wakeproxy completions bash)`).
    Completions {
        /// The shell: bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Write the man pages, wakeproxy.1 and one per command (wakeproxy-status.1, …).
    Man {
        /// The directory to write them to (made if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Write the Prometheus alerting rules and the Grafana dashboard of this version
    /// (wakeproxy-alerts.yml, wakeproxy-dashboard.json; docs/metrics.md says what they show).
    Monitoring {
        /// The directory to write them to (made if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[cfg(windows)]
#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCommand {
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
pub(crate) enum FirewallCommand {
    /// Print the rules for a firewall (nftables script, ufw, firewalld or netsh commands).
    Show {
        /// nftables, ufw, firewalld or windows [default: nftables; on Windows: windows].
        #[arg(long)]
        format: Option<wakeproxy::os::firewall::Format>,
        #[command(flatten)]
        profile: ProfileArg,
        #[command(flatten)]
        config: FirewallConfig,
        /// Print the exceptions as JSON (protocol, direction, port or ICMP type, name, what
        /// for) instead of the firewall's own syntax.
        #[arg(long, conflicts_with = "format")]
        json: bool,
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
pub(crate) struct FirewallConfig {
    /// The configuration file whose ports the rules allow [default:
    /// /etc/wakeproxy/wakeproxy.toml; Windows: %ProgramData%\wakeproxy\wakeproxy.toml]. A missing
    /// default file means: all defaults.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ProfileArg {
    /// Windows Firewall profiles the rules apply to: any of domain, private, public,
    /// comma-separated [default: domain,private].
    #[arg(long)]
    pub(crate) profile: Option<wakeproxy::os::firewall::Profiles>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The configuration file [default: /etc/wakeproxy/wakeproxy.toml; Windows:
    /// %ProgramData%\wakeproxy\wakeproxy.toml]. A missing default file means: all defaults.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Log format, overriding the configuration's `[log] format` (`journal`: structured
    /// records to the systemd journal).
    #[arg(long, value_parser = ["text", "json", "journal"])]
    pub(crate) log_format: Option<String>,
}

#[cfg(target_os = "linux")]
#[derive(Debug, Subcommand)]
pub(crate) enum LabCommand {
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
        /// Print the report as JSON (every sample, in microseconds, and the quantiles).
        #[arg(long)]
        json: bool,
    },
    /// Inject a seeded schedule of faults into a lab and judge it with an independent
    /// monitor (packet capture on the switch, the lab's own record of who sleeps): sleeps,
    /// wakes, kill -9 and restarts, partitions, loss, clock steps, a keyless relay, floods.
    /// Brings its own lab up and down; exits 1 on any violation.
    Chaos {
        #[command(flatten)]
        shape: LabShape,
        /// How long faults are injected, e.g. 3m, 30m.
        #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The schedule's seed: the same seed gives the same faults.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How long a woken host takes to resume.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        resume_delay: Duration,
        /// The lab's name.
        #[arg(long, default_value = "chaos")]
        name: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
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
pub(crate) struct LabShape {
    /// Hosts.
    #[arg(long, default_value_t = 6)]
    pub(crate) hosts: usize,
    /// Subnets the hosts are spread over.
    #[arg(long, default_value_t = 2)]
    pub(crate) subnets: usize,
    /// Heartbeat interval of every daemon, e.g. 250ms (tests), 1s (a person can follow).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub(crate) heartbeat: Duration,
    /// How the daemons answer for sleepers: arp-redirect (the proxy's MAC) or mac-takeover
    /// (the sleeper's MAC, ConfigMgr's way).
    #[arg(long, default_value = "arp-redirect")]
    pub(crate) proxy_mode: wakeproxy::core::node::ProxyMode,
    /// Proxies do not replay the waking SYN to a woken host: callers wait for their own
    /// retransmission (syn_replay = false).
    #[arg(long)]
    pub(crate) no_syn_replay: bool,
}

#[cfg(target_os = "linux")]
impl LabShape {
    pub(crate) fn spec(self, name: String) -> wakeproxy::lab::LabSpec {
        let Self { hosts, subnets, heartbeat, proxy_mode, no_syn_replay } = self;
        let syn_replay = !no_syn_replay;
        wakeproxy::lab::LabSpec {
            name,
            hosts,
            subnets,
            heartbeat,
            proxy_mode,
            syn_replay,
            steppable_clocks: false,
        }
    }
}

#[cfg(target_os = "linux")]
#[derive(Debug, clap::Args)]
pub(crate) struct LabName {
    /// The lab's name (1 to 8 lowercase letters or digits).
    #[arg(long, default_value = "wplab")]
    pub(crate) name: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArg {
    /// The configuration file, to find the daemon's control socket.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Print the report as JSON (every check: check, subject, verdict, summary, fix, details).
    #[arg(long)]
    pub(crate) json: bool,
    /// Turn on waking by magic packet where a NIC supports it but has it off (until the next
    /// reboot; the report says how to make it last).
    #[arg(long)]
    pub(crate) fix: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Keep printing events as they happen.
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WakeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// MAC addresses (aa:bb:cc:dd:ee:ff, aa-bb-…, aabbccddeeff); through the daemon also IP
    /// addresses or host names of peers.
    pub(crate) targets: Vec<String>,
    /// Read more MAC addresses from a file (one per line, # comments).
    #[arg(long)]
    pub(crate) file: Option<String>,
    /// SecureOn password (4 or 6 bytes: a.b.c.d or aa:bb:cc:dd:ee:ff).
    #[arg(long)]
    pub(crate) password: Option<String>,
    /// Send straight from this host instead of through the daemon (implied by --port,
    /// --broadcast, --interface and --raw, as wakeonlan and etherwake take them).
    #[arg(long)]
    pub(crate) direct: bool,
    /// UDP port [default: 9]; sends from here (--direct).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Send to this address instead of each interface's broadcast address; sends from here
    /// (--direct).
    #[arg(long)]
    pub(crate) broadcast: Option<std::net::Ipv4Addr>,
    /// Only this interface; sends from here (--direct).
    #[arg(long, short)]
    pub(crate) interface: Option<String>,
    /// Send EtherType 0x0842 frames (as etherwake does; needs root); sends from here
    /// (--direct).
    #[arg(long)]
    pub(crate) raw: bool,
}

impl WakeArgs {
    /// Whether to send from here: asked for, or implied by an option only a direct send has.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
            || self.port.is_some()
            || self.broadcast.is_some()
            || self.interface.is_some()
            || self.raw
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a configuration file and its key file, and print the effective configuration.
    Check {
        /// The file [default: /etc/wakeproxy/wakeproxy.toml; Windows:
        /// %ProgramData%\wakeproxy\wakeproxy.toml].
        path: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("rollover").multiple(false))]
pub(crate) struct KeygenArgs {
    /// Where to write a new key [default: the default key_file, /etc/wakeproxy/site.key;
    /// Windows: %ProgramData%\wakeproxy\site.key].
    #[arg(conflicts_with = "rollover")]
    pub(crate) path: Option<PathBuf>,
    /// Replace an existing key file outright: every node then needs the new file at once (to
    /// change a site's key without splitting it, use --add-next).
    #[arg(long, conflicts_with = "rollover")]
    pub(crate) force: bool,
    /// Key rollover, phase 1 of 3: add a fresh key to FILE as the next key, which nodes accept
    /// but do not sign with yet.
    #[arg(long, value_name = "FILE", group = "rollover")]
    pub(crate) add_next: Option<PathBuf>,
    /// Phase 2 of 3: make FILE's next key the current one; the old key stays accepted.
    #[arg(long, value_name = "FILE", group = "rollover")]
    pub(crate) promote: Option<PathBuf>,
    /// Phase 3 of 3: drop FILE's previous key.
    #[arg(long, value_name = "FILE", group = "rollover")]
    pub(crate) retire: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Hosts in the network.
    #[arg(long, default_value_t = 100)]
    pub(crate) nodes: usize,
    /// Subnets the hosts are spread over.
    #[arg(long, default_value_t = 2)]
    pub(crate) subnets: usize,
    /// Probability that any one packet is lost (0 to <1).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) loss: f64,
    /// Seed: the same arguments and seed give the same report.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Simulated time to run, e.g. 90s, 10m, 1h.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) duration: Duration,
    /// Heartbeat interval of every node.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) heartbeat: Duration,
    /// A fault every this often.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) fault_every: Duration,
    /// Share of hosts that go to sleep once the network settles (0 to 1).
    #[arg(long, default_value_t = 0.4)]
    pub(crate) asleep: f64,
    /// Threads that run the subnets (default: one per core); the report does not depend on it.
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
