//! The control socket: how `wakeproxy status`, `wakeproxy wake` and friends talk to the daemon.
//!
//! A driver module (it does I/O, unlike the core). Layers, each in its own file:
//!
//! - [`protocol`]: the wire format, newline-delimited JSON with a version field; parsing and
//!   formatting of requests and replies, no I/O. Also [`DaemonStatus`], the `status` reply.
//! - [`server`]: [`ControlListener`] (a Unix socket, mode 0660, optional group; on Windows the
//!   named pipe `\\.\pipe\wakeproxy`, open to SYSTEM and Administrators only) and [`serve`],
//!   which turns each request line into a [`CtlCall`] for the daemon and writes its answer back.
//!   The daemon never blocks on a client: it answers through a oneshot and publishes events on a
//!   broadcast channel.
//! - [`client`]: [`call`] one request, or [`follow_events`] for `events --follow`.
//! - [`render`]: the human form of `status`, `peers` and events (100 columns).
//!
//! Both ends speak the same protocol over a Unix socket or a Windows named pipe: only opening the
//! endpoint differs. On other platforms [`ControlListener::bind`], [`serve`] and the client
//! return [`CtlError::Unsupported`].
//!
//! # A session, as `socat - UNIX-CONNECT:/run/wakeproxy/control.sock` shows it
//!
//! ```text
//! > {"v":1,"cmd":"status"}
//! < {"v":1,"ok":true,"data":{"version":"0.1.0","insecure":false,...}}
//! > {"v":1,"cmd":"wake","target":"aa:bb:cc:dd:ee:ff","password":null}
//! < {"v":1,"ok":false,"error":"wake needs root: run it with sudo"}
//! > {"v":1,"cmd":"reload"}
//! < {"v":1,"ok":false,"error":"reload needs root: run it with sudo"}
//! ```

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::os::words::HERE;

pub mod client;
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
mod line;
pub mod protocol;
pub mod render;
pub mod server;

#[cfg(test)]
mod tests;

pub use client::{EventStream, call, follow_events, status};
pub use protocol::{
    CTL_VERSION, DaemonStatus, IntakeStatus, KernelDrops, KeyStatus, MAX_REQUEST_LINE,
    MetricsEndpoint, ProtocolError, QueueStatus, RefusedStatus, ReloadReply, Request,
};
pub use render::{render_event, render_peers, render_reload, render_status};
pub use server::{Caller, ControlListener, CtlCall, ServeConfig, authorize, serve, serve_with};

/// Where the daemon listens unless its configuration says otherwise.
pub const DEFAULT_SOCKET_PATH: &str = "/run/wakeproxy/control.sock";

/// What can go wrong on either end of the control socket. Every message says what is wrong and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// Nothing listens on the socket (no file, or a file nobody accepts on).
    #[error(
        "no wakeproxy daemon is listening on {}: is the service running? ({})",
        path.display(),
        HERE.service_status
    )]
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The caller may not open the socket.
    #[error("permission denied on {}: {}", path.display(), HERE.control_access)]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// `bind` found a daemon answering on the socket.
    #[error(
        "another wakeproxy daemon is running: {} answers; stop it first ({}) or set another \
         control socket path",
        path.display(),
        HERE.service_stop
    )]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// `bind` found something that is not a socket where the socket should go.
    #[error(
        "{} exists and is not a socket: remove it or set another control socket path",
        path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The group to give the socket to does not exist (as the system looks groups up).
    #[error(
        "group `{group}` does not exist here (`getent group {group}` finds nothing): create it \
         (groupadd {group}) or set the control socket group to an existing group"
    )]
    UnknownGroup {
        /// The name asked for.
        group: String,
    },
    /// An operating-system call failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("bind the control socket", "connect to", …).
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The daemon did not answer in time.
    #[error(
        "the daemon on {} did not answer within {} s: see its log ({})",
        path.display(),
        after.as_secs(),
        HERE.logs
    )]
    Timeout {
        /// The socket path.
        path: PathBuf,
        /// How long the client waited.
        after: Duration,
    },
    /// The daemon closed the connection without answering.
    #[error(
        "the daemon on {} closed the connection without answering: see its log ({})",
        path.display(),
        HERE.logs
    )]
    Closed {
        /// The socket path.
        path: PathBuf,
    },
    /// A line on the socket broke the protocol (either direction).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The daemon answered with an error; this is its message.
    #[error("{0}")]
    Daemon(String),
    /// [`call`] was given a request that streams.
    #[error("`events` with follow streams its answer: use ctl::follow_events, not ctl::call")]
    StreamingRequest,
    /// The request or the reply does not have the shape the caller expected.
    #[error("the daemon's answer to `{cmd}` has an unexpected shape ({detail}): {hint}", hint = VERSION_HINT)]
    UnexpectedReply {
        /// The command.
        cmd: &'static str,
        /// What serde said.
        detail: String,
    },
    /// The control socket is not implemented on this platform (only Unix and Windows have one).
    #[error(
        "the control socket is not implemented on this platform: wakeproxy's control socket \
         needs Unix or Windows"
    )]
    Unsupported,
}

/// What to do when client and daemon disagree about the protocol.
const VERSION_HINT: &str = "use the wakeproxy binary that matches the daemon";
