//! `wakeproxy run`: the daemon in the foreground (what the systemd unit starts), its logging,
//! its power link and its shutdown signal.

use std::process::ExitCode;

use wakeproxy::store::config::{Config, LogFormat};

use super::args::*;
use super::common::*;

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let (config, path) = match load_config(args.config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let json =
        args.log_format.as_deref().map_or(config.log.format == LogFormat::Json, |f| f == "json");
    init_logging(config.log.level.as_str(), json);
    let runtime = match wakeproxy::daemon::runtime() {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    let daemon = async {
        let power = power_link(&config);
        wakeproxy::daemon::run(
            &config,
            &path,
            power,
            &wakeproxy::os::service::notify::Systemd,
            shutdown_signal(),
        )
        .await
    };
    match runtime.block_on(daemon) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

/// Logs to stderr: human lines on a terminal or under systemd (which adds its own timestamps),
/// JSON lines with `--log-format json`. `RUST_LOG` overrides the configured level.
pub(crate) fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("wakeproxy={level}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// The daemon's link to the OS's sleep and resume: logind on Linux (a task of the current
/// runtime), none when `sleep_hooks` is off.
pub(crate) fn power_link(config: &Config) -> wakeproxy::daemon::PowerLink {
    if !config.sleep_hooks {
        tracing::info!(
            "sleep_hooks = false: sleep announcements come only from `wakeproxy sleep-notice`"
        );
        return wakeproxy::daemon::PowerLink::none();
    }
    #[cfg(target_os = "linux")]
    {
        let (link, hooks) = wakeproxy::daemon::power_channel();
        wakeproxy::os::service::logind::spawn(hooks);
        link
    }
    #[cfg(not(target_os = "linux"))]
    wakeproxy::daemon::PowerLink::none()
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
