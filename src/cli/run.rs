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
    let format = match args.log_format.as_deref() {
        Some("json") => LogFormat::Json,
        Some("journal") => LogFormat::Journal,
        Some(_) => LogFormat::Text,
        None => config.log.format,
    };
    init_logging(config.log.level.as_str(), format);
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

/// Logs to stderr: human lines on a terminal, JSON lines with `--log-format json`; to the
/// journal, with its fields, with `journal` or when systemd connected stderr to the journal.
/// `RUST_LOG` overrides the configured level.
pub(crate) fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("wakeproxy={level}")))
    };
    #[cfg(target_os = "linux")]
    {
        let under_journal = format == LogFormat::Text
            && std::env::var("JOURNAL_STREAM")
                .is_ok_and(|v| wakeproxy::os::host::stderr_is_journal_stream(&v));
        if format == LogFormat::Journal || under_journal {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            // Fields keep their own names (NODE, IFACE, PEER…): none collides with the
            // journal's (MESSAGE, PRIORITY, CODE_*, and the trusted _* ones).
            match tracing_journald::layer() {
                Ok(journal) => {
                    let journal = journal.with_field_prefix(None);
                    tracing_subscriber::registry().with(filter()).with(journal).init();
                    return;
                }
                Err(e) => eprintln!(
                    "wakeproxy: cannot write to the journal ({e}): logging to stderr instead"
                ),
            }
        }
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr);
    if format == LogFormat::Json {
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
