//! The Windows endpoint: the named pipe (default `\\.\pipe\wakeproxy`). Only SYSTEM and
//! Administrators may open it (its DACL, set on every instance), so every caller is privileged.
//!
//! A pipe serves one client per instance: one instance always waits for the next client, and
//! each connected one is replaced at once.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::ControlListener;
use super::accept::Endpoint;
use super::policy::Caller;
use crate::ctl::CtlError;
use crate::os::sys::windows::{CONTROL_PIPE_SDDL, create_pipe_instance};

/// `ERROR_ACCESS_DENIED`: what creating a `first_pipe_instance` of an existing pipe fails with.
const ERROR_ACCESS_DENIED: i32 = 5;
/// `ERROR_PIPE_BUSY`: the pipe exists and has no free instance.
const ERROR_PIPE_BUSY: i32 = 231;

/// Every caller that could open the pipe: SYSTEM or an Administrator.
const CALLER: Caller = Caller { uid: None, pid: None, privileged: true };

/// A new server instance of the pipe `name`; `first` makes it fail if the pipe exists.
fn instance(name: &Path, first: bool) -> io::Result<NamedPipeServer> {
    let mut options = ServerOptions::new();
    options.first_pipe_instance(first).reject_remote_clients(true);
    create_pipe_instance(&options, OsStr::new(name), CONTROL_PIPE_SDDL)
}

pub(super) fn bind(path: &Path, group: Option<&str>) -> Result<ControlListener, CtlError> {
    if let Some(group) = group {
        tracing::warn!(
            group,
            "control_group has no effect on Windows: only SYSTEM and Administrators may open the \
             control pipe"
        );
    }
    let io_err = |source| CtlError::Io {
        action: "create the control pipe",
        path: path.to_path_buf(),
        source,
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io_err(io::Error::other("the control pipe needs a tokio runtime")));
    }
    let first = instance(path, true).map_err(|e| match e.raw_os_error() {
        Some(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY) => {
            CtlError::AlreadyRunning { path: path.to_path_buf() }
        }
        _ => io_err(e),
    })?;
    Ok(ControlListener { path: path.to_path_buf(), first })
}

pub(super) struct Pipe {
    path: PathBuf,
    /// The instance the next client connects to; `None` after creating one failed.
    waiting: Option<NamedPipeServer>,
}

impl Pipe {
    pub(super) fn open(listener: ControlListener) -> Self {
        let ControlListener { path, first } = listener;
        Self { path, waiting: Some(first) }
    }
}

/// `e`, saying what was being done.
fn doing(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Endpoint for Pipe {
    type Stream = NamedPipeServer;

    const NAME: &'static str = "control pipe";

    fn path(&self) -> &Path {
        &self.path
    }

    async fn accept(&mut self) -> io::Result<(NamedPipeServer, Caller)> {
        let server = match self.waiting.take() {
            Some(server) => server,
            None => instance(&self.path, false).map_err(|e| doing("create an instance", e))?,
        };
        // It waits in `waiting`: if the loop drops this future, the instance is still there.
        let waiting = self.waiting.insert(server);
        if let Err(e) = waiting.connect().await {
            // This instance is broken: drop it; the next accept makes another.
            self.waiting = None;
            return Err(doing("connect", e));
        }
        // The next instance first, so a client always finds one waiting.
        let next = instance(&self.path, false)
            .inspect_err(|e| {
                tracing::warn!(error = %e, "control pipe: could not create an instance");
            })
            .ok();
        match std::mem::replace(&mut self.waiting, next) {
            Some(connected) => Ok((connected, CALLER)),
            // Unreachable: it was put there above.
            None => Err(io::Error::other("the connected pipe instance is gone")),
        }
    }

    fn try_write(stream: &NamedPipeServer, bytes: &[u8]) {
        let _ = stream.try_write(bytes);
    }
}
