//! Everything `doctor` asks of the machine, behind one trait, so the checks can be driven with
//! made-up answers (`tests.rs`) and [`OsSystem`] is the only part that touches the OS.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crate::ctl::{CtlError, DaemonStatus};
use crate::daemon::Link;
use crate::os::wol_setting::{NicWake, WolSettingError};
use crate::store::keys::{KeyError, Rollover};

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolOutput {
    /// It exited 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its error output.
    pub stderr: String,
}

/// A site key file that [`crate::store::keys::read`] accepted, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// Its keys (ids only).
    pub rollover: Rollover,
    /// Its permission bits (Unix).
    pub mode: Option<u32>,
    /// Its owner's uid (Unix).
    pub owner: Option<u32>,
}

/// The machine, as `doctor` sees it.
pub trait System {
    /// Every network interface.
    fn links(&self) -> Vec<Link>;
    /// The NIC's Wake-on-LAN setting.
    fn wol(&self, iface: &str) -> Result<NicWake, WolSettingError>;
    /// Turns on waking by magic packet, and reads the setting back.
    fn enable_wol(&self, iface: &str) -> Result<NicWake, WolSettingError>;
    /// Runs `program` with `args` (the firewall's tools); `Err` if it could not be started
    /// (`NotFound`: not installed). On Windows the arguments are passed as written (netsh
    /// parses its own quotes).
    fn run(&self, program: &str, args: &[&str]) -> io::Result<ToolOutput>;
    /// Reads and checks the key file as the daemon does.
    fn key_file(&self, path: &Path) -> Result<KeyFacts, KeyError>;
    /// The daemon's `status`, from its control socket.
    fn daemon_status(&self, socket: &Path) -> Result<DaemonStatus, CtlError>;
    /// The source address this host would send from to `to`, that is whether it has a route.
    fn route_to(&self, to: SocketAddr) -> io::Result<IpAddr>;
    /// Whether this process runs as root (Administrator).
    fn privileged(&self) -> bool;
}

/// The real machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSystem;

impl System for OsSystem {
    fn links(&self) -> Vec<Link> {
        crate::daemon::scan_links()
    }

    fn wol(&self, iface: &str) -> Result<NicWake, WolSettingError> {
        crate::os::wol_setting::query(iface)
    }

    fn enable_wol(&self, iface: &str) -> Result<NicWake, WolSettingError> {
        crate::os::wol_setting::enable_magic(iface)
    }

    fn run(&self, program: &str, args: &[&str]) -> io::Result<ToolOutput> {
        let mut command = std::process::Command::new(program);
        #[cfg(windows)]
        {
            // netsh parses `name="…"` itself: the arguments go as written, as in os::firewall.
            use std::os::windows::process::CommandExt;
            for a in args {
                command.raw_arg(a);
            }
        }
        #[cfg(not(windows))]
        command.args(args);
        let out = command.stdin(std::process::Stdio::null()).output()?;
        Ok(ToolOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn key_file(&self, path: &Path) -> Result<KeyFacts, KeyError> {
        let file = crate::store::keys::read(path)?;
        #[cfg(unix)]
        let (mode, owner) = {
            use std::os::unix::fs::MetadataExt;
            // `read` checked the open file; this only says what it found.
            std::fs::symlink_metadata(path)
                .map(|m| (Some(m.mode() & 0o7777), Some(m.uid())))
                .unwrap_or((None, None))
        };
        #[cfg(not(unix))]
        let (mode, owner) = (None, None);
        Ok(KeyFacts { rollover: file.rollover(), mode, owner })
    }

    fn daemon_status(&self, socket: &Path) -> Result<DaemonStatus, CtlError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(
            |source| CtlError::Io {
                action: "start a runtime to connect to",
                path: socket.to_path_buf(),
                source,
            },
        )?;
        rt.block_on(crate::ctl::status(socket))
    }

    fn route_to(&self, to: SocketAddr) -> io::Result<IpAddr> {
        let any: SocketAddr = match to {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = std::net::UdpSocket::bind(any)?;
        // A relay may be a subnet-directed broadcast address, which connect refuses without it.
        socket.set_broadcast(true)?;
        // connect(2) on UDP sends nothing: it only looks the route up (ENETUNREACH without one).
        socket.connect(to)?;
        Ok(socket.local_addr()?.ip())
    }

    fn privileged(&self) -> bool {
        #[cfg(unix)]
        {
            crate::os::sys::unix::effective_uid() == 0
        }
        #[cfg(not(unix))]
        {
            // Windows: whether the checks that need it succeeded says it; assume so here.
            true
        }
    }
}
