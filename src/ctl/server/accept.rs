//! The one accept loop, for every platform: it takes each new client from an [`Endpoint`] (a
//! Unix socket, a Windows named pipe), admits it through the [`Gate`] or tells it which limit
//! it hit, and serves it in a task of its own until shutdown.

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

use super::connection::{Gate, refusal_line};
use super::policy::Caller;

/// What the accept loop needs of a platform's endpoint.
pub(super) trait Endpoint {
    /// One client's connection.
    type Stream: AsyncRead + AsyncWrite + Send + 'static;

    /// What the log calls it ("control socket").
    const NAME: &'static str;

    /// Where it is (the socket path, the pipe name).
    fn path(&self) -> &Path;

    /// The next client and who it is. The loop may drop this future for another branch, so no
    /// client may be lost then. An error is for this attempt only: the loop waits and asks again.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, Caller)>> + Send;

    /// Writes `bytes` only if that needs no wait: a refused client may not be reading.
    fn try_write(stream: &Self::Stream, bytes: &[u8]);
}

/// The first pause after a failed accept; each failure in a row doubles it, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Accepts and serves clients until `shutdown` completes; then closes every connection, and
/// only then drops the endpoint (which removes a socket file).
pub(super) async fn serve<E: Endpoint, F: Future>(mut endpoint: E, gate: Gate, shutdown: F) {
    tracing::info!(path = %endpoint.path().display(), "{} ready", E::NAME);
    let mut tasks = JoinSet::new();
    let mut pause = FIRST_PAUSE;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = endpoint.accept() => match accepted {
                Ok((stream, caller)) => {
                    pause = FIRST_PAUSE;
                    match gate.admit(&caller) {
                        Ok(conn) => {
                            let (rd, wr) = tokio::io::split(stream);
                            tasks.spawn(conn.run(rd, wr));
                        }
                        // Dropping the stream then closes it.
                        Err(refused) => E::try_write(&stream, refusal_line(&refused).as_bytes()),
                    }
                }
                Err(e) => {
                    // Usually out of file descriptors or pipe instances: wait for some to be
                    // freed.
                    tracing::warn!(error = %e, "{}: accept failed", E::NAME);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            },
        }
    }
    tasks.shutdown().await;
    tracing::info!(path = %endpoint.path().display(), "{} closed", E::NAME);
}
