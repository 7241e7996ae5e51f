//! From a configuration to a running daemon: the key, the state directory, the node's identity,
//! the sockets, and the loop until shutdown.

use std::future::Future;
use std::path::Path;

use tracing::{Instrument as _, error, info, warn};

use super::{Daemon, DaemonError, Options, PowerLink};
use tokio::sync::{mpsc, oneshot};

use crate::ctl::{self, ControlListener, MetricsEndpoint};
use crate::store::config::Config;
use crate::store::keys;
use crate::store::state::StateDir;

/// The runtime the daemon runs on, as a command and as the Windows service: one thread for the
/// node, its readers and probes (`docs/performance.md` says why), and tokio's blocking pool for
/// what the OS platform must not do on it.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// When this host booted, in Unix seconds (Linux: `btime` in `/proc/stat`; elsewhere: now,
/// which only makes this node rank as recently booted).
pub fn boot_time_s() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(now)
}

/// Builds the daemon's options from a configuration: loads the key (or the lab key when
/// `insecure`), opens the state directory and reads (or creates) the node's id.
pub fn options(config: &Config, config_path: &Path) -> Result<Options, DaemonError> {
    let key = keys::for_config(config)?;
    if config.insecure {
        warn!(
            "INSECURE: insecure = true, messages are signed with the published lab key; anyone can forge them. Use this only in a lab."
        );
    }
    let state = StateDir::open(&config.state_dir)?;
    let id = state.node_id()?;
    for w in &id.warnings {
        warn!("{w}");
    }
    let seed = getrandom::u64().map_err(|e| DaemonError::Random(e.to_string()))?;
    // The daemon turns this off if the layer-2 backend cannot be opened on an interface.
    let node = config.node_config(id.value, boot_time_s(), seed, true);
    Ok(Options {
        node,
        key,
        key_file: (!config.insecure).then(|| config.key_file.clone()),
        insecure: config.insecure,
        interfaces: config.interfaces.clone(),
        peer_port: config.peer_port,
        wake_unicast: config.wake_unicast,
        wake_relays: config.wake_relay_addrs(),
        config_path: config_path.display().to_string(),
        state: Some(std::sync::Arc::new(state)),
        reconciliation: config.reconciliation.enabled.then(|| {
            (
                (config.reconciliation.at.hour(), config.reconciliation.at.minute()),
                config.reconciliation.window,
            )
        }),
        metrics: None,
    })
}

/// Runs the daemon described by `config` until `shutdown` completes; `power` connects it to
/// the system's power manager ([`PowerLink::none`] for none), `notifier` to its service
/// manager ([`crate::os::host::Silent`] for none).
pub async fn run(
    config: &Config,
    config_path: &Path,
    power: PowerLink,
    notifier: &dyn crate::os::host::Notifier,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    // The control socket first: it refuses to start a second daemon on the same socket.
    let listener = ControlListener::bind(&config.control_socket, config.control_group.as_deref())?;
    let mut opts = options(config, config_path)?;
    // The metrics endpoint is optional: if its port cannot be had, say why and run without it.
    let metrics = config.metrics_listen.map(|addr| match crate::metrics::bind(addr) {
        Ok(listener) => (Some(listener), MetricsEndpoint { listen: addr, error: None }),
        Err(e) => {
            error!("{e}; running without the metrics endpoint");
            (None, MetricsEndpoint { listen: addr, error: Some(e.to_string()) })
        }
    });
    let (metrics_listener, endpoint) = match metrics {
        Some((l, e)) => (l, Some(e)),
        None => (None, None),
    };
    opts.metrics = endpoint;
    let id = opts.node.id;
    let (daemon, inputs) = Daemon::new(opts, std::sync::Arc::new(super::os::OsPlatform)).await?;
    let names: Vec<String> = daemon.links().map(|l| l.name.clone()).collect();
    info!(target: crate::os::host::LIFECYCLE, node = %id, "wakeproxy {} running on {}", env!("CARGO_PKG_VERSION"), names.join(", "));
    notifier.ready(&format!("node {id}, managing {}", names.join(", ")));
    let (calls, control) = mpsc::channel(64);
    let (stop_ctl, ctl_stopped) = oneshot::channel::<()>();
    let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
    if let Some(l) = metrics_listener {
        info!(
            "serving metrics at http://{}/metrics",
            l.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string())
        );
        tokio::spawn(crate::metrics::serve(l, calls.clone(), async move {
            let _ = metrics_stopped.await;
        }));
    }
    let server = tokio::spawn(ctl::serve(listener, calls, daemon.event_sender(), async move {
        let _ = ctl_stopped.await;
    }));
    // Every record of the node's task carries its id (the journal's NODE field).
    let span = tracing::info_span!("daemon", node = %id);
    daemon.run(inputs, control, power, notifier, shutdown).instrument(span).await;
    let _ = stop_ctl.send(());
    let _ = stop_metrics.send(());
    if let Ok(Err(e)) = server.await {
        warn!("control socket: {e}");
    }
    Ok(())
}
