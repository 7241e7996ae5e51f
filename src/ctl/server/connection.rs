//! One client connection, the same on a Unix socket and a Windows named pipe: parses request
//! lines, authorizes them, asks the daemon and writes the answers back. [`Gate`] admits each
//! new connection within the limits ([`super::policy::Admission`]).

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::policy::{Admission, Caller, Slot, authorize};
use super::{CtlCall, ServeConfig};
use crate::ctl::line::{LineRead, read_line};
use crate::ctl::protocol::{MAX_REQUEST_LINE, ProtocolError, Request, reply_line};
use crate::os::words::HERE;

/// Hands `request` to the daemon and waits for its answer, all within `limit`.
async fn ask(
    requests: &mpsc::Sender<CtlCall>,
    request: Request,
    caller: Caller,
    limit: Duration,
) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + limit;
    let late = || {
        format!(
            "the daemon did not answer within {} s: see its log ({})",
            limit.as_secs(),
            HERE.logs
        )
    };
    let (reply, answer) = oneshot::channel();
    match tokio::time::timeout_at(deadline, requests.send(CtlCall { request, caller, reply })).await
    {
        Err(_) => return Err(late()),
        Ok(Err(_)) => return Err("the daemon is shutting down: try again when it is back".into()),
        Ok(Ok(())) => {}
    }
    match tokio::time::timeout_at(deadline, answer).await {
        Err(_) => Err(late()),
        Ok(Err(_)) => Err(format!(
            "the daemon dropped the request without answering: see its log ({})",
            HERE.logs
        )),
        Ok(Ok(answer)) => answer,
    }
}

/// The `"seq"` of an event, if it has one.
fn seq_of(event: &Value) -> Option<u64> {
    event.get("seq").and_then(Value::as_u64)
}

/// The line a connection over a limit gets before it is closed.
pub(crate) fn refusal_line(why: &str) -> String {
    format!("{}\n", reply_line(&Err(why.to_owned())))
}

/// What every connection of one server shares: its limits, who holds what, and the way to
/// the daemon. The accept loop (and tests, with callers of their choosing) asks it to admit
/// each new connection.
pub(crate) struct Gate {
    config: ServeConfig,
    admission: Admission,
    requests: mpsc::Sender<CtlCall>,
    events: broadcast::Sender<Value>,
}

impl Gate {
    pub(crate) fn new(
        config: ServeConfig,
        requests: mpsc::Sender<CtlCall>,
        events: broadcast::Sender<Value>,
    ) -> Self {
        Self { admission: Admission::new(config.clone()), config, requests, events }
    }

    /// A connection from `caller`, ready to run, or why there is no room for it (send that
    /// with [`refusal_line`], then close).
    pub(crate) fn admit(&self, caller: &Caller) -> Result<Connection, String> {
        let slot = self.admission.admit(caller).inspect_err(|why| {
            tracing::debug!(uid = ?caller.uid, pid = ?caller.pid, "control connection refused: {why}");
        })?;
        Ok(Connection {
            config: self.config.clone(),
            caller: *caller,
            requests: self.requests.clone(),
            events: self.events.clone(),
            slot,
        })
    }

    /// Who holds what (tests).
    #[cfg(test)]
    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }
}

/// The client went away or could not be written to in time: end the connection.
struct Gone;

pub(crate) struct Connection {
    config: ServeConfig,
    caller: Caller,
    requests: mpsc::Sender<CtlCall>,
    events: broadcast::Sender<Value>,
    /// Its place among the connections; given back when the connection ends.
    slot: Slot,
}

impl Connection {
    /// Serves the connection whose two directions are `rd` and `wr` until the client closes
    /// it, breaks the protocol or is too slow.
    pub(crate) async fn run<R, W>(self, rd: R, mut wr: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut rd = BufReader::new(rd);
        let _ = self.serve_requests(&mut rd, &mut wr).await;
        tracing::trace!(uid = ?self.caller.uid, pid = ?self.caller.pid, "control connection closed");
    }

    async fn serve_requests<R, W>(&self, rd: &mut R, wr: &mut W) -> Result<(), Gone>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = Vec::new();
        loop {
            let limit = self.config.idle_timeout;
            match tokio::time::timeout(limit, read_line(rd, &mut buf, MAX_REQUEST_LINE)).await {
                Err(_) => {
                    let msg = format!("no request for {limit:?}: closing the connection");
                    return self.send(wr, &Err(msg)).await;
                }
                Ok(Err(_)) | Ok(Ok(LineRead::Eof)) => return Ok(()),
                Ok(Ok(LineRead::TooLong)) => {
                    let e = ProtocolError::RequestTooLong { max: MAX_REQUEST_LINE };
                    return self.send(wr, &Err(e.to_string())).await;
                }
                Ok(Ok(LineRead::Line)) => {}
            };
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let request = match Request::parse(&buf) {
                Ok(r) => r,
                Err(e) => {
                    self.send(wr, &Err(e.to_string())).await?;
                    continue;
                }
            };
            tracing::debug!(
                cmd = request.name(),
                uid = ?self.caller.uid,
                pid = ?self.caller.pid,
                "control request"
            );
            if let Err(refused) = authorize(&request, &self.caller) {
                self.send(wr, &Err(refused)).await?;
                continue;
            }
            if request == (Request::Events { follow: true }) {
                if let Err(refused) = self.slot.follow() {
                    // The client waits for a stream, not for a prompt: end the connection.
                    return self.send(wr, &Err(refused)).await;
                }
                return self.follow(rd, wr).await;
            }
            let answer = ask(&self.requests, request, self.caller, self.config.call_timeout).await;
            self.send(wr, &answer).await?;
        }
    }

    /// `events --follow`: the history the daemon returns, one line per event, then every
    /// new event until the client closes its end.
    async fn follow<R, W>(&self, rd: &mut R, wr: &mut W) -> Result<(), Gone>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        // Subscribe before asking for the history, so no event falls between the two.
        let mut live = self.events.subscribe();
        let request = Request::Events { follow: true };
        let history =
            match ask(&self.requests, request, self.caller, self.config.call_timeout).await {
                Ok(Value::Array(events)) => events,
                Ok(Value::Null) => Vec::new(),
                Ok(other) => vec![other],
                // The client waits for events, not for a prompt: end the connection.
                Err(e) => return self.send(wr, &Err(e)).await,
            };
        let mut last_seq = None;
        for event in history {
            last_seq = last_seq.max(seq_of(&event));
            self.send(wr, &Ok(event)).await?;
        }
        let mut scratch = [0u8; 512];
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) => {
                        if matches!((seq_of(&event), last_seq), (Some(s), Some(l)) if s <= l) {
                            continue;
                        }
                        self.send(wr, &Ok(event)).await?;
                    }
                    Err(RecvError::Lagged(n)) => {
                        let msg = format!(
                            "missed {n} events: this client read too slowly; the stream goes on"
                        );
                        self.send(wr, &Err(msg)).await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                // Anything the client sends now is ignored; its end of file ends the stream.
                read = rd.read(&mut scratch) => match read {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => {}
                },
            }
        }
    }

    async fn send<W: AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        reply: &Result<Value, String>,
    ) -> Result<(), Gone> {
        let mut line = reply_line(reply);
        line.push('\n');
        match tokio::time::timeout(self.config.write_timeout, wr.write_all(line.as_bytes())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Gone),
            Err(_) => {
                tracing::debug!(uid = ?self.caller.uid, "control client too slow: dropped");
                Err(Gone)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_deduplicated_by_seq_only_when_they_have_one() {
        assert_eq!(seq_of(&serde_json::json!({"seq": 7, "event": "x"})), Some(7));
        assert_eq!(seq_of(&serde_json::json!({"event": "x"})), None);
        assert_eq!(seq_of(&serde_json::json!({"seq": "7"})), None);
    }
}
