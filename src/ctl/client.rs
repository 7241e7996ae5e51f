//! The command line's end of the control socket.
//!
//! [`call`] sends one request and returns the daemon's `data`; [`follow_events`] streams
//! `events --follow`. Errors name the socket and say what to do ([`CtlError`]).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::CtlError;
use super::protocol::{DaemonStatus, Request};

/// How long [`call`] waits for the daemon (longer than the daemon's own limit for answering, so
/// its message arrives first).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends `request` to the daemon listening on `path` and returns the `data` of its reply. A
/// daemon error reply becomes [`CtlError::Daemon`] with its message.
///
/// `Events { follow: true }` streams: use [`follow_events`] for it.
pub async fn call(path: &Path, request: &Request) -> Result<Value, CtlError> {
    if *request == (Request::Events { follow: true }) {
        return Err(CtlError::StreamingRequest);
    }
    #[cfg(unix)]
    {
        unix::call(path, request).await
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Err(CtlError::Unsupported)
    }
}

/// `status`, as the typed [`DaemonStatus`].
pub async fn status(path: &Path) -> Result<DaemonStatus, CtlError> {
    let data = call(path, &Request::Status).await?;
    serde_json::from_value(data)
        .map_err(|e| CtlError::UnexpectedReply { cmd: "status", detail: e.to_string() })
}

/// Opens `events --follow` on the daemon at `path`: the stream yields the recent events, then
/// every new one, until the daemon closes the connection.
pub async fn follow_events(path: &Path) -> Result<EventStream, CtlError> {
    #[cfg(unix)]
    {
        unix::follow(path).await
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Err(CtlError::Unsupported)
    }
}

/// The events of `events --follow`, one JSON object each (render them with
/// [`super::render_event`]). Dropping the stream closes the connection.
#[derive(Debug)]
pub struct EventStream {
    #[cfg(unix)]
    inner: unix::Stream,
}

impl EventStream {
    /// The next event; `None` once the daemon closed the connection. An `Err` (say, "missed 12
    /// events") does not end the stream: keep calling `next`.
    pub async fn next(&mut self) -> Option<Result<Value, CtlError>> {
        #[cfg(unix)]
        {
            self.inner.next().await
        }
        #[cfg(not(unix))]
        {
            None
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::io;
    use std::path::{Path, PathBuf};

    use serde_json::Value;
    use tokio::io::{AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;
    use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

    use super::{CALL_TIMEOUT, EventStream};
    use crate::ctl::CtlError;
    use crate::ctl::line::{LineRead, read_line};
    use crate::ctl::protocol::{MAX_REPLY_LINE, ProtocolError, Request, parse_reply};

    /// Maps a failed connect to what the operator should do.
    pub(in crate::ctl) fn connect_error(path: &Path, e: io::Error) -> CtlError {
        let path = path.to_path_buf();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                CtlError::NotRunning { path }
            }
            io::ErrorKind::PermissionDenied => CtlError::PermissionDenied { path },
            _ => CtlError::Io { action: "connect to the control socket", path, source: e },
        }
    }

    async fn connect(path: &Path, request: &Request) -> Result<Stream, CtlError> {
        let stream = UnixStream::connect(path).await.map_err(|e| connect_error(path, e))?;
        let (rd, mut wr) = stream.into_split();
        let mut line = request.to_line();
        line.push('\n');
        wr.write_all(line.as_bytes()).await.map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                CtlError::Closed { path: path.to_path_buf() }
            } else {
                CtlError::Io { action: "send the request to", path: path.to_path_buf(), source: e }
            }
        })?;
        Ok(Stream { path: path.to_path_buf(), rd: BufReader::new(rd), _wr: wr, buf: Vec::new() })
    }

    pub(super) async fn call(path: &Path, request: &Request) -> Result<Value, CtlError> {
        let exchange = async {
            let mut stream = connect(path, request).await?;
            stream
                .next()
                .await
                .unwrap_or_else(|| Err(CtlError::Closed { path: path.to_path_buf() }))
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange).await.unwrap_or_else(|_| {
            Err(CtlError::Timeout { path: path.to_path_buf(), after: CALL_TIMEOUT })
        })
    }

    pub(super) async fn follow(path: &Path) -> Result<EventStream, CtlError> {
        let inner =
            tokio::time::timeout(CALL_TIMEOUT, connect(path, &Request::Events { follow: true }))
                .await
                .unwrap_or_else(|_| {
                    Err(CtlError::Timeout { path: path.to_path_buf(), after: CALL_TIMEOUT })
                })?;
        Ok(EventStream { inner })
    }

    /// A connection that reads reply lines.
    #[derive(Debug)]
    pub(super) struct Stream {
        path: PathBuf,
        rd: BufReader<OwnedReadHalf>,
        /// Kept open: closing it tells the daemon to stop streaming.
        _wr: OwnedWriteHalf,
        buf: Vec<u8>,
    }

    impl Stream {
        pub(super) async fn next(&mut self) -> Option<Result<Value, CtlError>> {
            match read_line(&mut self.rd, &mut self.buf, MAX_REPLY_LINE).await {
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
                Err(e) => Some(Err(CtlError::Io {
                    action: "read the reply from",
                    path: self.path.clone(),
                    source: e,
                })),
                Ok(LineRead::Eof) => None,
                Ok(LineRead::TooLong) => {
                    Some(Err(ProtocolError::ReplyTooLong { max: MAX_REPLY_LINE }.into()))
                }
                Ok(LineRead::Line) => Some(match parse_reply(&self.buf) {
                    Ok(Ok(data)) => Ok(data),
                    Ok(Err(message)) => Err(CtlError::Daemon(message)),
                    Err(e) => Err(e.into()),
                }),
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io;
    use std::path::Path;

    use super::unix::connect_error;

    #[test]
    fn connect_errors_say_what_to_do() {
        let p = Path::new("/run/wakeproxy/control.sock");
        let e = |kind| connect_error(p, io::Error::from(kind)).to_string();
        assert_eq!(
            e(io::ErrorKind::NotFound),
            "no wakeproxy daemon is listening on /run/wakeproxy/control.sock: is the service running? \
             (systemctl status wakeproxy)"
        );
        assert_eq!(e(io::ErrorKind::ConnectionRefused), e(io::ErrorKind::NotFound));
        assert_eq!(
            e(io::ErrorKind::PermissionDenied),
            "permission denied on /run/wakeproxy/control.sock: run as root or join the group that \
             owns the socket"
        );
        assert!(
            e(io::ErrorKind::Other).starts_with("could not connect to the control socket /run")
        );
    }
}
