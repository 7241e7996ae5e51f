//! The command line's end of the control socket.
//!
//! [`call`] sends one request and returns the daemon's `data`; [`follow_events`] streams
//! `events --follow`. Errors name the socket and say what to do ([`CtlError`]).
//!
//! Only opening the endpoint differs between Unix (a socket file) and Windows (a named pipe);
//! the exchange on it is the same.

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
    #[cfg(any(unix, windows))]
    {
        exchange::call(path, request).await
    }
    #[cfg(not(any(unix, windows)))]
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
    #[cfg(any(unix, windows))]
    {
        exchange::follow(path).await
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = path;
        Err(CtlError::Unsupported)
    }
}

/// The events of `events --follow`, one JSON object each (render them with
/// [`super::render_event`]). Dropping the stream closes the connection.
#[derive(Debug)]
pub struct EventStream {
    #[cfg(any(unix, windows))]
    inner: exchange::Stream<transport::ReadHalf, transport::WriteHalf>,
}

impl EventStream {
    /// The next event; `None` once the daemon closed the connection. An `Err` (say, "missed 12
    /// events") does not end the stream: keep calling `next`.
    pub async fn next(&mut self) -> Option<Result<Value, CtlError>> {
        #[cfg(any(unix, windows))]
        {
            self.inner.next().await
        }
        #[cfg(not(any(unix, windows)))]
        {
            None
        }
    }
}

/// Maps a failed connect to what the operator should do. The same `io::ErrorKind`s come from
/// a Unix socket and a named pipe (`ERROR_FILE_NOT_FOUND` is `NotFound`, `ERROR_ACCESS_DENIED`
/// is `PermissionDenied`).
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
pub(in crate::ctl) fn connect_error(path: &Path, e: std::io::Error) -> CtlError {
    use std::io::ErrorKind;
    let path = path.to_path_buf();
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => CtlError::NotRunning { path },
        ErrorKind::PermissionDenied => CtlError::PermissionDenied { path },
        _ => CtlError::Io { action: "connect to the control socket", path, source: e },
    }
}

/// Opening the endpoint: a Unix socket.
#[cfg(unix)]
mod transport {
    use std::path::Path;

    use tokio::net::UnixStream;

    use super::connect_error;
    use crate::ctl::CtlError;

    pub(super) type ReadHalf = tokio::net::unix::OwnedReadHalf;
    pub(super) type WriteHalf = tokio::net::unix::OwnedWriteHalf;

    pub(super) async fn open(path: &Path) -> Result<(ReadHalf, WriteHalf), CtlError> {
        let stream = UnixStream::connect(path).await.map_err(|e| connect_error(path, e))?;
        Ok(stream.into_split())
    }
}

/// Opening the endpoint: a named pipe. All its instances busy, the client retries for a while.
#[cfg(windows)]
mod transport {
    use std::ffi::OsStr;
    use std::path::Path;
    use std::time::Duration;

    use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

    use super::connect_error;
    use crate::ctl::CtlError;

    pub(super) type ReadHalf = tokio::io::ReadHalf<NamedPipeClient>;
    pub(super) type WriteHalf = tokio::io::WriteHalf<NamedPipeClient>;

    /// `ERROR_PIPE_BUSY`: every instance of the pipe has a client; the server makes another.
    const ERROR_PIPE_BUSY: i32 = 231;
    /// How long to keep trying a busy pipe.
    const BUSY_WAIT: Duration = Duration::from_secs(2);
    /// The pause between tries.
    const BUSY_RETRY: Duration = Duration::from_millis(50);

    pub(super) async fn open(path: &Path) -> Result<(ReadHalf, WriteHalf), CtlError> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        loop {
            match ClientOptions::new().open(OsStr::new(path)) {
                Ok(client) => return Ok(tokio::io::split(client)),
                Err(e)
                    if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                Err(e) => return Err(connect_error(path, e)),
            }
        }
    }
}

/// One exchange on an open connection, the same on every transport.
#[cfg(any(unix, windows))]
mod exchange {
    use std::io;
    use std::path::{Path, PathBuf};

    use serde_json::Value;
    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

    use super::{CALL_TIMEOUT, EventStream, transport};
    use crate::ctl::CtlError;
    use crate::ctl::line::{LineRead, read_line};
    use crate::ctl::protocol::{MAX_REPLY_LINE, ProtocolError, Request, parse_reply};

    /// Sends `request` on the connection `rd`/`wr` to the daemon at `path`.
    async fn send_request<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        path: &Path,
        rd: R,
        mut wr: W,
        request: &Request,
    ) -> Result<Stream<R, W>, CtlError> {
        let mut line = request.to_line();
        line.push('\n');
        let written = wr.write_all(line.as_bytes()).await;
        let mut stream =
            Stream { path: path.to_path_buf(), rd: BufReader::new(rd), _wr: wr, buf: Vec::new() };
        match written {
            Ok(()) => Ok(stream),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                // The daemon closed the connection, maybe after saying why (a connection over
                // its limits gets one error line, then is closed): that is what to show.
                match stream.next().await {
                    Some(Err(said @ CtlError::Daemon(_))) => Err(said),
                    _ => Err(CtlError::Closed { path: path.to_path_buf() }),
                }
            }
            Err(e) => Err(CtlError::Io {
                action: "send the request to",
                path: path.to_path_buf(),
                source: e,
            }),
        }
    }

    async fn connect(
        path: &Path,
        request: &Request,
    ) -> Result<Stream<transport::ReadHalf, transport::WriteHalf>, CtlError> {
        let (rd, wr) = transport::open(path).await?;
        send_request(path, rd, wr, request).await
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
    pub(super) struct Stream<R, W> {
        path: PathBuf,
        rd: BufReader<R>,
        /// Kept open: closing it tells the daemon to stop streaming.
        _wr: W,
        buf: Vec<u8>,
    }

    impl<R: AsyncRead + Unpin, W> Stream<R, W> {
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

    use super::connect_error;

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
            "permission denied on /run/wakeproxy/control.sock: run it as root or join the group \
             that owns the socket"
        );
        assert!(
            e(io::ErrorKind::Other).starts_with("could not connect to the control socket /run")
        );
    }
}
