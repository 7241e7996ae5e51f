//! The metrics endpoint (`metrics_listen`): Prometheus scrapes `GET /metrics` over HTTP/1.
//!
//! A driver beside the control socket: each scrape asks the daemon's task for its status
//! through the same queue as `wakeproxy status` (a read-only request, which never blocks the
//! node) and renders it ([`render`]). The endpoint is optional in every sense: if its address
//! cannot be had, the daemon logs why and runs without it, and a scraper that misbehaves (too
//! many connections, headers never finished) is cut off without touching the node.
//!
//! Its files: this one (binding, with the errors an administrator reads), `server` (the HTTP
//! side, with its limits), `render` (status → OpenMetrics text).

mod render;
mod server;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use render::{CONTENT_TYPE, TEXT_CONTENT_TYPE, render, render_text};
pub use server::{Limits, serve, serve_with};

/// Why the metrics endpoint could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr} (metrics_listen): {source}: {}", bind_hint(source))]
pub struct MetricsError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the OS said.
    pub source: std::io::Error,
}

/// Binds the endpoint's listener.
pub fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, MetricsError> {
    let open = || -> std::io::Result<tokio::net::TcpListener> {
        let std = std::net::TcpListener::bind(addr)?;
        std.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(std)
    };
    open().map_err(|source| MetricsError { addr, source })
}

fn bind_hint(e: &std::io::Error) -> String {
    let w = crate::os::words::HERE;
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program listens on that port (see {}); choose another `metrics_listen` \
             in the configuration file, or stop that program",
            w.tcp_listeners
        ),
        std::io::ErrorKind::AddrNotAvailable => "that address is not one of this host's: use \
             one of its addresses, 127.0.0.1, or 0.0.0.0 for all"
            .to_owned(),
        std::io::ErrorKind::PermissionDenied => {
            format!("ports below 1024 need {}: choose a port above 1023", w.superuser)
        }
        _ => "check `metrics_listen` in the configuration file".to_owned(),
    }
}
