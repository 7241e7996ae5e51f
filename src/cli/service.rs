//! `wakeproxy service …` (Windows): install, start, stop and remove the service, and the
//! service's own logging.

use std::process::ExitCode;

use wakeproxy::store::config::Config;

use super::args::*;
use super::common::*;

#[cfg(windows)]
pub(crate) fn service(cmd: ServiceCommand) -> ExitCode {
    use wakeproxy::os::service::windows as svc;
    let result = match cmd {
        ServiceCommand::Install { config } => {
            let path = config.unwrap_or_else(Config::default_path);
            if let Err(e) = Config::load_or_default(&path, true) {
                return fail(&e, EXIT_BAD_INPUT);
            }
            svc::install(&path).map(|()| {
                println!(
                    "installed the {} service ({}) with {}",
                    svc::NAME,
                    svc::DISPLAY_NAME,
                    path.display()
                );
                println!("next: wakeproxy service start");
            })
        }
        ServiceCommand::Uninstall => {
            svc::uninstall().map(|()| println!("removed the {} service", svc::NAME))
        }
        ServiceCommand::Start => {
            svc::start().map(|()| println!("started the {} service", svc::NAME))
        }
        ServiceCommand::Stop => {
            svc::stop().map(|()| println!("stopping the {} service", svc::NAME))
        }
        ServiceCommand::Status => match svc::status() {
            Ok(status) => {
                println!("{}", status.describe());
                return ExitCode::from(status.exit_code());
            }
            Err(e) => Err(e),
        },
        ServiceCommand::Run { config } => {
            let (config, path) = match load_config(config) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            init_service_logging(config.log.level.as_str());
            svc::run(config, path)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

/// Under the service control manager there is no console. Warnings, errors and lifecycle
/// lines go to the Windows Event Log (Application, source wakeproxy); every line at the
/// configured level also goes to `%ProgramData%\wakeproxy\logs\wakeproxy.log` (appended;
/// rotate it with your usual tools). Whichever of the two cannot be opened is said in the other.
#[cfg(windows)]
pub(crate) fn init_service_logging(level: &str) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};
    use wakeproxy::os::service::eventlog::{self, EventLogLayer, windows::EventLogSink};

    let path = wakeproxy::store::fsutil::windows_data_dir().join("logs").join("wakeproxy.log");
    let file = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path));
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("wakeproxy={level}")));
    let (file_layer, file_error) = match file {
        Ok(f) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .with_filter(filter),
            ),
            None,
        ),
        Err(e) => (None, Some(e)),
    };
    let (event_layer, event_error) = match EventLogSink::open() {
        Ok(sink) => (Some(EventLogLayer::new(sink).with_filter(eventlog::filter())), None),
        Err(e) => (None, Some(e)),
    };
    tracing_subscriber::registry().with(file_layer).with(event_layer).init();
    if let Some(e) = file_error {
        tracing::warn!(
            "cannot write the log file {}: {e}; only the Event Log has the service's lines",
            path.display()
        );
    }
    if let Some(e) = event_error {
        tracing::warn!(
            "cannot open the Windows Event Log ({e}); the service logs only to {}",
            path.display()
        );
    }
}
