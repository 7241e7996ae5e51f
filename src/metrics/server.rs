//! The HTTP side of the metrics endpoint: hyper's HTTP/1 server, one task per connection, with
//! limits a hostile station on the LAN cannot get past: few connections at once (more are
//! closed at once), a deadline for the request headers (slowloris) and one for the whole
//! connection, and a deadline for the daemon's answer.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{debug, warn};

use crate::ctl::{Caller, CtlCall, DaemonStatus, Request as CtlRequest};

/// The endpoint's limits. [`Limits::default`] is what [`serve`] uses.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more are closed without an answer (default 8: a few
    /// Prometheus servers and a person with curl).
    pub max_connections: usize,
    /// How long a client may take to send its request headers (default 5 s).
    pub header_timeout: Duration,
    /// How long one connection may stay open, keep-alive included (default 60 s).
    pub connection_timeout: Duration,
    /// How long the daemon may take to answer for a scrape before it gets a 503 (default 5 s).
    pub status_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 8,
            header_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(60),
            status_timeout: Duration::from_secs(5),
        }
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes, asking the daemon for its
/// status through `calls`.
pub async fn serve(
    listener: TcpListener,
    calls: mpsc::Sender<CtlCall>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, calls, Limits::default(), shutdown).await;
}

/// [`serve`] with other limits (tests).
pub async fn serve_with(
    listener: TcpListener,
    calls: mpsc::Sender<CtlCall>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, from) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    warn!("metrics endpoint: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%from, "metrics endpoint: too many connections, closing this one");
            continue;
        };
        let (calls, limits) = (calls.clone(), limits.clone());
        tokio::spawn(async move {
            let for_requests = limits.clone();
            let service = hyper::service::service_fn(move |req| {
                let (calls, limits) = (calls.clone(), for_requests.clone());
                async move { Ok::<_, Infallible>(answer(&req, &calls, &limits).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(limits.connection_timeout, conn).await {
                Ok(Err(e)) => debug!(%from, "metrics endpoint: {e}"),
                Err(_) => debug!(%from, "metrics endpoint: connection open too long, closed"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

async fn answer(
    req: &Request<Incoming>,
    calls: &mpsc::Sender<CtlCall>,
    limits: &Limits,
) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "wakeproxy serves its metrics at /metrics\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match status(calls, limits.status_timeout).await {
        Ok(s) => {
            // OpenMetrics for whoever asks for it (Prometheus does), the 0.0.4 text format for
            // everyone else, as Prometheus' own clients do.
            let openmetrics = req
                .headers()
                .get_all(ACCEPT)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.contains("application/openmetrics-text")));
            let (body, kind) = if openmetrics {
                (super::render(&s), super::CONTENT_TYPE)
            } else {
                (super::render_text(&s), super::TEXT_CONTENT_TYPE)
            };
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
            r
        }
        Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}\n")),
    }
}

/// The daemon's status, asked for like `wakeproxy status` does.
async fn status(calls: &mpsc::Sender<CtlCall>, wait: Duration) -> Result<DaemonStatus, String> {
    let (reply, answer) = oneshot::channel();
    // Status is read-only: any caller may ask for it.
    let caller = Caller { uid: None, pid: None, privileged: false };
    let call = CtlCall { request: CtlRequest::Status, caller, reply };
    let asked = async {
        calls.send(call).await.map_err(|_| "the daemon is stopping".to_owned())?;
        answer.await.map_err(|_| "the daemon dropped the request".to_owned())?
    };
    let value = tokio::time::timeout(wait, asked)
        .await
        .map_err(|_| format!("the daemon did not answer within {wait:?}"))??;
    serde_json::from_value(value).map_err(|e| format!("the daemon's status did not parse: {e}"))
}

fn text(code: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}
