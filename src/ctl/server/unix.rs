//! The Unix endpoint: the bound socket, and each caller's credentials from the kernel
//! (`SO_PEERCRED`).

use std::io;
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use super::accept::Endpoint;
use super::policy::Caller;
use super::socket_file::{SocketFile, io_err};
use super::{ControlListener, ServeConfig};
use crate::ctl::CtlError;

pub(super) struct Socket {
    listener: UnixListener,
    path: PathBuf,
    is_privileged: fn(Option<u32>) -> bool,
    /// Dropped after the listener (fields drop in order): then the socket file is removed.
    _file: SocketFile,
}

impl Socket {
    /// The bound socket, on the runtime.
    pub(super) fn open(listener: ControlListener, config: &ServeConfig) -> Result<Self, CtlError> {
        let ControlListener { path, listener, file } = listener;
        let listener = UnixListener::from_std(listener)
            .map_err(io_err("listen on the control socket", &path))?;
        Ok(Self { listener, path, is_privileged: config.is_privileged, _file: file })
    }
}

impl Endpoint for Socket {
    type Stream = UnixStream;

    const NAME: &'static str = "control socket";

    fn path(&self) -> &Path {
        &self.path
    }

    async fn accept(&mut self) -> io::Result<(UnixStream, Caller)> {
        let (stream, _) = self.listener.accept().await?;
        let caller = caller_of(&stream, self.is_privileged);
        Ok((stream, caller))
    }

    fn try_write(stream: &UnixStream, bytes: &[u8]) {
        let _ = stream.try_write(bytes);
    }
}

fn caller_of(stream: &UnixStream, is_privileged: fn(Option<u32>) -> bool) -> Caller {
    let (uid, pid) = match stream.peer_cred() {
        Ok(c) => (Some(c.uid()), c.pid()),
        Err(e) => {
            tracing::debug!(error = %e, "control socket: no peer credentials");
            (None, None)
        }
    };
    Caller { uid, pid, privileged: is_privileged(uid) }
}
