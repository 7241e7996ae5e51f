//! The daemon's end of the control socket.
//!
//! [`ControlListener::bind`] claims the socket path; [`serve`] accepts connections until its
//! shutdown future completes. Each connection runs in its own task: it parses request lines,
//! checks them against the caller's credentials ([`authorize`]), hands each allowed request to
//! the daemon as a [`CtlCall`] and writes the answer back. The daemon never waits for a client:
//! it answers through a oneshot and publishes events on a broadcast channel, and every write to
//! a client has a timeout, so a slow or dead client only loses its own connection.
//!
//! On Unix the endpoint is a socket file; on Windows a named pipe (default `\\.\pipe\wakeproxy`)
//! whose DACL admits only SYSTEM and Administrators, so every Windows caller is privileged. Only
//! opening the endpoint and taking a client from it differ; on other platforms `bind` and
//! `serve` return [`CtlError::Unsupported`]. One idea per file:
//!
//! - `policy`: who may do what ([`authorize`]) and how many connections each may hold;
//! - `connection`: one client's requests and answers, and `events --follow`;
//! - `accept`: the one accept loop, over a platform's `Endpoint`;
//! - `socket_file` (Unix): claiming the socket path and removing the file again;
//! - `unix`, `windows`: the endpoints (a Unix socket with its callers' uids; named pipe
//!   instances).
//!
//! # Nobody can lock root out
//!
//! Anyone in the socket's group may open connections, and `events --follow` keeps one open for
//! as long as it likes. So the limits are per caller ([`ServeConfig`]): of the
//! `max_connections`, `reserved_for_privileged` are kept for privileged callers (root) and
//! never given to anyone else; every other uid may hold at most `max_per_user` connections, of
//! which at most `max_followers_per_user` follow events. A connection that asks nothing for
//! `idle_timeout` is closed (followers excepted), and every write has `write_timeout`, so a
//! follower whose client stops reading is dropped. A connection over a limit gets one error line
//! naming the limit, then is closed. On Windows every caller is an administrator (the pipe's
//! DACL), so only `max_connections` applies there.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::CtlError;
use super::protocol::Request;

#[cfg(any(unix, windows))]
mod accept;
#[cfg(any(unix, windows))]
mod connection;
mod policy;
#[cfg(unix)]
mod socket_file;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(all(test, any(unix, windows)))]
pub(crate) use connection::{Gate, refusal_line};
use policy::root_only;
pub use policy::{Caller, authorize};

/// One request for the daemon. The daemon answers through `reply` (dropping it answers "the
/// daemon dropped the request"):
///
/// - `Status` → a [`super::DaemonStatus`];
/// - `Peers` → `Vec<IfaceStatus>`, the interfaces with their peers;
/// - `Events { .. }` → an array of the recent events, oldest first, whatever `follow` says (the
///   server streams the rest from the broadcast channel). If events carry a numeric `"seq"`
///   field that grows by event, live events already in that history are not sent twice;
/// - `Wake`, `SleepNotice`, `ResumeNotice` → whatever tells the operator what was done.
///
/// An `Err` is shown to the operator as it is: say what is wrong and what to do.
#[derive(Debug)]
pub struct CtlCall {
    /// What is asked.
    pub request: Request,
    /// Who asks (already authorized for `request`).
    pub caller: Caller,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Value, String>>,
}

/// Limits of [`serve_with`]. [`ServeConfig::default`] is what [`serve`] uses.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Connections served at once, from everyone together; more are told to try again and
    /// closed (default 64).
    pub max_connections: usize,
    /// Of `max_connections`, how many only privileged callers (root) may use: the others can
    /// never hold more than `max_connections - reserved_for_privileged` (default 8).
    pub reserved_for_privileged: usize,
    /// Connections one unprivileged uid may hold at once (default 16). Privileged callers are
    /// limited by `max_connections` only.
    pub max_per_user: usize,
    /// `events --follow` streams one unprivileged uid may hold at once, within its
    /// `max_per_user` (default 4).
    pub max_followers_per_user: usize,
    /// How long one reply line may take to write before the client is dropped (default 5 s).
    pub write_timeout: Duration,
    /// How long the daemon may take to take and answer one call (default 10 s).
    pub call_timeout: Duration,
    /// How long a connection may stay silent between requests, except while it follows events
    /// (default 60 s).
    pub idle_timeout: Duration,
    /// Decides [`Caller::privileged`] from the caller's uid (default: uid 0). Tests, which run
    /// as root, inject `|_| false` to see a refusal. Not used on Windows, where the pipe's DACL
    /// admits only SYSTEM and Administrators and every caller is privileged.
    pub is_privileged: fn(Option<u32>) -> bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            max_connections: 64,
            reserved_for_privileged: 8,
            max_per_user: 16,
            max_followers_per_user: 4,
            write_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            is_privileged: root_only,
        }
    }
}

/// Serves the control socket with the default limits until `shutdown` completes; then stops
/// accepting, closes every connection and removes the socket file.
///
/// `requests` carries the calls to the daemon; `events` is the daemon's event channel, which
/// `events --follow` subscribes to. Returns an error only if the listener cannot be used.
pub async fn serve<F: Future>(
    listener: ControlListener,
    requests: mpsc::Sender<CtlCall>,
    events: broadcast::Sender<Value>,
    shutdown: F,
) -> Result<(), CtlError> {
    serve_with(ServeConfig::default(), listener, requests, events, shutdown).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with<F: Future>(
    config: ServeConfig,
    listener: ControlListener,
    requests: mpsc::Sender<CtlCall>,
    events: broadcast::Sender<Value>,
    shutdown: F,
) -> Result<(), CtlError> {
    #[cfg(unix)]
    let endpoint = unix::Socket::open(listener, &config)?;
    #[cfg(windows)]
    let endpoint = windows::Pipe::open(listener);
    #[cfg(any(unix, windows))]
    {
        accept::serve(endpoint, connection::Gate::new(config, requests, events), shutdown).await;
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (config, listener, requests, events, shutdown);
        Err(CtlError::Unsupported)
    }
}

/// The socket, bound and ready for [`serve`]. Dropping it (or `serve` returning) removes the
/// socket file, unless another process has replaced it meanwhile. On Windows it holds the first
/// instance of the named pipe; the pipe goes away with its last instance.
#[derive(Debug)]
pub struct ControlListener {
    path: PathBuf,
    #[cfg(unix)]
    listener: std::os::unix::net::UnixListener,
    #[cfg(unix)]
    file: socket_file::SocketFile,
    #[cfg(windows)]
    first: tokio::net::windows::named_pipe::NamedPipeServer,
}

impl ControlListener {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Claims the control socket at `path`: creates its directory (mode 0755) if needed, refuses
    /// if another daemon answers there, removes a stale socket file, binds, sets mode 0660 and,
    /// if `group` is given (a group name as the system knows it, or a numeric gid), gives the
    /// socket to that group so its members may run the read-only commands.
    ///
    /// Needs no runtime on Unix: call it before starting tokio if that suits.
    ///
    /// On Windows `path` is the pipe name (`\\.\pipe\wakeproxy`): `bind` creates the pipe's
    /// first instance, which fails with [`CtlError::AlreadyRunning`] if the pipe exists, with a
    /// DACL that admits only SYSTEM and Administrators. `group` has no meaning there and is
    /// ignored with a warning. It needs a tokio runtime with I/O enabled.
    pub fn bind(path: &Path, group: Option<&str>) -> Result<Self, CtlError> {
        #[cfg(unix)]
        {
            socket_file::bind(path, group)
        }
        #[cfg(windows)]
        {
            windows::bind(path, group)
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (path, group);
            Err(CtlError::Unsupported)
        }
    }
}
