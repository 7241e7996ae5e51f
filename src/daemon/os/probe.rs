//! Liveness probes, sent only to peers whose heartbeats lapsed (and to sleepers before they are
//! claimed), to tell "asleep" from "up".
//!
//! A probe asks two ways at once and the first positive answer wins:
//!
//! - **ICMP echo**: up to three requests spread over the timeout (surge-ping). As root or with
//!   `CAP_NET_RAW` surge-ping uses a raw socket (Linux's unprivileged ping sockets are off by
//!   default: `net.ipv4.ping_group_range = 1 0`); without it, only the TCP half runs.
//! - **TCP**: a connection attempt to each port the host announced (at most
//!   [`MAX_PROBE_PORTS`](crate::core::node::MAX_PROBE_PORTS)), repeated every third of the timeout
//!   so one lost SYN does not put an awake host to sleep. A completed connection (SYN-ACK) or a
//!   refusal (RST) proves the host up; timeouts and unreachable errors do not. This is what
//!   finds a live Windows host, which drops echo requests by default, while its daemon is
//!   silent. Connections close at once with an RST (`SO_LINGER` 0): no `TIME_WAIT`, no data.
//!
//! Sockets are pinned to the probe's interface: on Linux with `SO_BINDTODEVICE`, on Windows by
//! binding to the interface's own address. A sleeping NIC's ARP offload never answers TCP.
//! Windows reports a refusal only after retrying the SYN for about a second, so there a closed
//! port may count as no answer; listening ports answer at once.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};
use tokio::task::JoinSet;

use super::ifaces::Link;

/// TCP attempts per port within one probe's timeout.
const TCP_TRIES: u32 = 3;

/// One probe: whom, for how long, which TCP ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The host's address.
    pub ip: IpAddr,
    /// How long to wait for any answer.
    pub timeout: Duration,
    /// TCP ports to try besides the echo.
    pub tcp_ports: Vec<u16>,
    /// The ICMP identifier.
    pub ident: u16,
}

/// Sends probes through one interface.
#[derive(Clone)]
pub struct NetProber {
    icmp: Option<Icmp>,
    iface: String,
}

#[derive(Clone)]
struct Icmp {
    v4: Client,
    v6: Option<Client>,
}

impl std::fmt::Debug for NetProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetProber")
            .field("iface", &self.iface)
            .field("icmp", &self.icmp.is_some())
            .finish()
    }
}

impl NetProber {
    /// ICMP sockets pinned to `link`, and TCP probes through it. Fails if the ICMP socket
    /// cannot be had (no privilege for raw sockets): [`NetProber::tcp_only`] still works then.
    pub fn new(link: &Link) -> io::Result<Self> {
        let v4 = Client::new(&icmp_config(link, ICMP::V4)?)?;
        let v6 = icmp_config(link, ICMP::V6).and_then(|c| Client::new(&c)).ok();
        Ok(Self { icmp: Some(Icmp { v4, v6 }), iface: link.device.clone() })
    }

    /// TCP probes only, through `link`.
    pub fn tcp_only(link: &Link) -> Self {
        Self { icmp: None, iface: link.device.clone() }
    }

    /// Whether this prober also sends ICMP echo requests.
    pub fn has_icmp(&self) -> bool {
        self.icmp.is_some()
    }

    /// `Some(time to the first answer)` if the host answered within the timeout, by echo
    /// reply, SYN-ACK or RST. `local` is the interface's address of `probe.ip`'s family (where
    /// the platform pins sockets to an interface by its address: Windows).
    pub async fn ask(&self, probe: &Probe, local: Option<IpAddr>) -> Option<Duration> {
        let start = tokio::time::Instant::now();
        let mut asks = JoinSet::new();
        if let Some(icmp) = &self.icmp {
            let (icmp, probe) = (icmp.clone(), probe.clone());
            asks.spawn(async move { icmp.echo(probe.ip, probe.timeout, probe.ident).await });
        }
        for &port in &probe.tcp_ports {
            for n in 0..TCP_TRIES {
                let (iface, addr) = (self.iface.clone(), SocketAddr::new(probe.ip, port));
                let after = probe.timeout * n / TCP_TRIES;
                asks.spawn(async move {
                    tokio::time::sleep(after).await;
                    tcp(addr, &iface, local).await.proves_up().then(|| start.elapsed())
                });
            }
        }
        let first = tokio::time::timeout(probe.timeout, async {
            while let Some(answer) = asks.join_next().await {
                if let Ok(Some(rtt)) = answer {
                    return Some(rtt);
                }
            }
            None
        });
        let answer = first.await.ok().flatten();
        // Dropping the set aborts what is still waiting; unfinished connections just close.
        asks.abort_all();
        answer
    }
}

/// How the ICMP socket of `kind` is pinned to `link`: on Linux by device (`SO_BINDTODEVICE`);
/// on Windows by binding it to the interface's own address. Windows needs the bind anyway: an
/// unbound raw socket has no local address, and surge-ping's receive task needs one (without
/// it every echo went unanswered, and every silent peer looked asleep).
fn icmp_config(link: &Link, kind: ICMP) -> io::Result<Config> {
    let builder = Config::builder().kind(kind);
    if cfg!(any(target_os = "linux", target_os = "android")) {
        return Ok(builder.interface(&link.device).build());
    }
    Ok(builder.bind(icmp_local(link, kind)?).build())
}

/// The address an ICMP socket of `kind` binds to on `link` where sockets are pinned by address.
fn icmp_local(link: &Link, kind: ICMP) -> io::Result<SocketAddr> {
    let local = match kind {
        ICMP::V4 => link.ipv4.first().map(|p| SocketAddr::V4(SocketAddrV4::new(p.addr, 0))),
        ICMP::V6 => link.ipv6.first().map(|p| {
            // A link-local address is only an address together with its interface.
            let scope = if p.addr.segments()[0] & 0xffc0 == 0xfe80 { link.index } else { 0 };
            SocketAddr::V6(SocketAddrV6::new(p.addr, 0, 0, scope))
        }),
    };
    local.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{} has no address of this family to send echo requests from", link.name),
        )
    })
}

impl Icmp {
    async fn echo(&self, ip: IpAddr, timeout: Duration, ident: u16) -> Option<Duration> {
        let client = match ip {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => self.v6.as_ref()?,
        };
        let mut pinger = client.pinger(ip, PingIdentifier(ident)).await;
        pinger.timeout(timeout / 3);
        let payload = [0u8; 16];
        for seq in 0..3u16 {
            if let Ok((_, rtt)) = pinger.ping(PingSequence(seq), &payload).await {
                return Some(rtt);
            }
        }
        None
    }
}

/// How a TCP connection attempt ended.
#[derive(Debug)]
pub(in crate::daemon) enum TcpAnswer {
    /// The host accepted (SYN-ACK): up.
    Connected,
    /// The host refused (RST): up.
    Refused,
    /// Anything else (unreachable, a socket error): no proof either way. A silent host never
    /// ends the attempt; the caller's timeout does.
    #[allow(dead_code)] // read through Debug (tests, logs)
    Failed(io::Error),
}

impl TcpAnswer {
    /// A SYN-ACK or an RST: the host is up.
    pub(in crate::daemon) fn proves_up(&self) -> bool {
        matches!(self, Self::Connected | Self::Refused)
    }
}

/// One TCP connection attempt to `addr` through interface `iface` (Linux: `SO_BINDTODEVICE`;
/// Windows: bound to `local`), closed at once with an RST if it connects. Waits as long as the
/// kernel does: bound it with a timeout.
pub(in crate::daemon) async fn tcp(
    addr: SocketAddr,
    iface: &str,
    local: Option<IpAddr>,
) -> TcpAnswer {
    match connect(addr, iface, local).await {
        Ok(()) => TcpAnswer::Connected,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => TcpAnswer::Refused,
        Err(e) => {
            tracing::debug!(iface, "TCP probe of {addr}: {e}");
            TcpAnswer::Failed(e)
        }
    }
}

async fn connect(addr: SocketAddr, iface: &str, local: Option<IpAddr>) -> io::Result<()> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = local;
        sock.bind_device(Some(iface.as_bytes()))?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = iface;
        if let Some(ip) = local.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
            sock.bind(&SocketAddr::new(ip, 0).into())?;
        }
    }
    // Closing sends an RST: nothing lingers in TIME_WAIT on either side.
    sock.set_linger(Some(Duration::ZERO))?;
    sock.set_nonblocking(true)?;
    let stream = tokio::net::TcpSocket::from_std_stream(sock.into()).connect(addr).await?;
    drop(stream);
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};
    use std::process::Command;

    use super::*;
    use crate::daemon::os::ifaces::lo_link;

    fn lo(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// A port nothing listens on (bound and released).
    /// A loopback port that refuses connections for as long as the socket lives: bound but
    /// not listening, so no parallel test can take it and no connect picks it as its source
    /// port (a port merely freed again can be either, and the SYN is then answered).
    fn closed_port() -> (Socket, u16) {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        sock.bind(&lo(0).into()).unwrap();
        let port = sock.local_addr().unwrap().as_socket().unwrap().port();
        (sock, port)
    }

    fn probe(ports: Vec<u16>, timeout: Duration) -> Probe {
        Probe { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), timeout, tcp_ports: ports, ident: 1 }
    }

    #[test]
    fn where_sockets_are_pinned_by_address_the_echo_socket_binds_to_the_interfaces_own() {
        let link = Link { index: 7, ..lo_link() };
        assert_eq!(icmp_local(&link, ICMP::V4).unwrap(), lo(0));
        let v6 = icmp_local(&link, ICMP::V6).unwrap();
        assert_eq!(v6, "[fe80::1%7]:0".parse::<SocketAddr>().unwrap(), "link-local: scoped");
        let bare = Link { ipv4: vec![], ..link };
        assert!(icmp_local(&bare, ICMP::V4).is_err(), "nothing to bind to: no echo");
    }

    #[tokio::test]
    async fn as_root_the_prober_sends_echo_requests_that_a_host_answers() {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
        if !root {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root");
            eprintln!("SKIPPED: raw ICMP sockets need root");
            return;
        }
        let prober = NetProber::new(&lo_link()).expect("ICMP sockets as root");
        assert!(prober.has_icmp());
        // No TCP port: only the echo can answer.
        let echo = probe(vec![], Duration::from_secs(2));
        assert!(prober.ask(&echo, None).await.is_some(), "127.0.0.1 answers echo");
    }

    #[tokio::test]
    async fn an_open_port_proves_the_host_up_and_leaves_no_time_wait() {
        let listener = TcpListener::bind(lo(0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(matches!(tcp(lo(port), "lo", None).await, TcpAnswer::Connected));
        let one = probe(vec![port], Duration::from_secs(2));
        assert!(NetProber::tcp_only(&lo_link()).ask(&one, None).await.is_some());
        // The accepted connection was reset, not closed: no TIME_WAIT on our side.
        let (conn, _) = listener.accept().unwrap();
        drop(conn);
        let ss = Command::new("ss").args(["-Htan", "state", "time-wait"]).output();
        let out = ss.expect("ss (iproute2) lists the sockets in TIME_WAIT");
        let text = String::from_utf8_lossy(&out.stdout);
        let ours = format!(":{port}");
        let left = text.lines().any(|l| l.split_whitespace().any(|w| w.ends_with(&ours)));
        assert!(!left, "TIME_WAIT left behind:\n{text}");
    }

    #[tokio::test]
    async fn a_closed_port_proves_the_host_up_by_its_reset() {
        let (_held, port) = closed_port();
        assert!(matches!(tcp(lo(port), "lo", None).await, TcpAnswer::Refused));
        let one = probe(vec![port], Duration::from_secs(2));
        assert!(NetProber::tcp_only(&lo_link()).ask(&one, None).await.is_some());
    }

    #[tokio::test]
    async fn without_ports_and_without_icmp_a_probe_is_no_answer_at_once() {
        let prober = NetProber::tcp_only(&lo_link());
        let t = std::time::Instant::now();
        let none = probe(vec![], Duration::from_secs(5));
        assert_eq!(prober.ask(&none, None).await, None);
        assert!(t.elapsed() < Duration::from_secs(1));
        // An interface that does not exist fails every attempt: no answer, not "up".
        let nowhere = NetProber::tcp_only(&Link { device: "wpnosuch0".into(), ..lo_link() });
        let (_held, port) = closed_port();
        let one = probe(vec![port], Duration::from_millis(900));
        assert_eq!(nowhere.ask(&one, None).await, None);
    }

    /// A network namespace of its own (the lab's) with an nft table dropping TCP to `port`;
    /// removed on drop.
    struct DroppingNamespace(crate::os::netns::Namespace);

    impl DroppingNamespace {
        fn new(port: u16) -> Option<Self> {
            let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
            let nft = Command::new("nft").arg("--version").output().is_ok();
            if !(root && nft) {
                let why = "the nft probe test needs root and nft (apt-get install nftables)";
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}: CI has both");
                eprintln!("SKIPPED: {why}");
                return None;
            }
            let name = format!("wpu{}probe", std::process::id());
            let ns = crate::os::netns::Namespace::add(&name).unwrap_or_else(|e| panic!("{e}"));
            let rules = format!(
                "add table inet wptest\nadd chain inet wptest input {{ type filter hook input priority 0; }}\nadd rule inet wptest input tcp dport {port} drop\n"
            );
            let mut nft = Command::new("ip")
                .args(["netns", "exec", &name, "nft", "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            nft.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
            assert!(nft.wait().unwrap().success(), "nft rules");
            // The table goes with the namespace.
            Some(Self(ns))
        }

        /// Runs `f` on a thread inside the namespace, on a runtime of its own there.
        fn run<T: Send + 'static>(
            &self,
            f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
        ) -> T {
            self.0
                .spawn(move || {
                    let rt =
                        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(f())
                })
                .join()
                .unwrap()
        }
    }

    #[test]
    fn a_port_whose_syns_are_dropped_is_not_up_within_the_timeout() {
        let port = 4177;
        let Some(ns) = DroppingNamespace::new(port) else { return };
        let (elapsed, answer, control) = ns.run(move || {
            Box::pin(async move {
                // Something listens, but the firewall drops the SYNs before it sees them.
                let _listener = TcpListener::bind(lo(port)).unwrap();
                let open = TcpListener::bind(lo(0)).unwrap();
                let open_port = open.local_addr().unwrap().port();
                let prober = NetProber::tcp_only(&lo_link());
                let t = tokio::time::Instant::now();
                let dropped = probe(vec![port], Duration::from_millis(600));
                let answer = prober.ask(&dropped, None).await;
                let elapsed = t.elapsed();
                // The same prober, same namespace, a port the firewall lets through: up.
                let both = probe(vec![port, open_port], Duration::from_millis(600));
                (elapsed, answer, prober.ask(&both, None).await)
            })
        });
        assert_eq!(answer, None, "a dropped SYN proves nothing");
        assert!(elapsed >= Duration::from_millis(600), "it waited the whole timeout: {elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "and not longer: {elapsed:?}");
        assert!(control.is_some(), "the second port answered");
    }
}
