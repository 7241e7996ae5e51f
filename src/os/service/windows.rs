//! The Windows service: install, uninstall, start, stop, and the service itself under the
//! service control manager (SCM), with power events and the guardian's keep-awake.
//!
//! The SCM starts `wakeproxy.exe service run --config PATH`. The control handler runs on an SCM
//! thread and never blocks on the daemon's runtime: it flips a `watch` to stop, and hands power
//! events to the daemon's [`PowerHooks`]; only a suspend waits (at most 1.5 s of Windows' ~2 s)
//! for the SleepNotice to leave. A dedicated thread follows the guardian role with
//! `SetThreadExecutionState`, whose state belongs to the thread that sets it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};
use windows_service::service::{
    PowerEventParam, ServiceAccess, ServiceAction, ServiceActionType, ServiceControl,
    ServiceControlAccept, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus,
    ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::eventlog::LIFECYCLE;
use super::eventlog::windows as eventlog;
use super::power_events::{ResumeGate, launch_arguments};
use crate::os::host::{PowerEvent, PowerHooks, power_channel};
use crate::store::config::Config;

/// The service's name.
pub const NAME: &str = "wakeproxy";
/// What the Services console shows.
pub const DISPLAY_NAME: &str = "wakeproxy Wake-up Proxy";
const DESCRIPTION: &str = "Answers for sleeping computers of this subnet and wakes them with Wake-on-LAN when they are needed (a ConfigMgr wake-up proxy). Peers on UDP 25536.";
/// How long a suspend waits for the SleepNotice (Windows allows about 2 s).
const ANNOUNCE_WITHIN: Duration = Duration::from_millis(1500);

use super::scm::os_error;
pub use super::scm::{ServiceError, Status};

/// The error of `what`, from `windows_service`: the system's error in Windows words, with its
/// code and text when there are no better words.
fn scm_error(what: &'static str, e: windows_service::Error) -> ServiceError {
    match e {
        windows_service::Error::Winapi(io) => os_error(what, io),
        other => ServiceError::Invalid { what, detail: other.to_string() },
    }
}

fn open_manager(access: ServiceManagerAccess) -> Result<ServiceManager, ServiceError> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| scm_error("opening the service control manager", e))
}

/// Installs the service (automatic start, LocalSystem, restart on failure) to run with
/// `config`, and registers its event source in the Application log. Nothing is left behind if
/// a step fails: each undoes the ones before it.
pub fn install(config: &Path) -> Result<(), ServiceError> {
    let manager =
        open_manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let exe = std::env::current_exe()
        .map_err(|source| ServiceError::Os { what: "finding wakeproxy.exe", source })?;
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe.clone(),
        launch_arguments: launch_arguments(config),
        dependencies: vec![],
        // LocalSystem: raw sockets for ICMP and the capture, the firewall, and the key under
        // %ProgramData% readable by SYSTEM and Administrators only.
        account_name: None,
        account_password: None,
    };
    // The service first: if it exists already, nothing of the installed one is touched.
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::DELETE)
        .map_err(|e| scm_error("creating the service", e))?;
    let undo = |e: ServiceError| {
        let _ = service.delete();
        let _ = eventlog::deregister();
        Err(e)
    };
    if let Err(source) = eventlog::register(&exe) {
        return undo(ServiceError::EventLog { what: "cannot register", source });
    }
    let restart = |s| ServiceAction { action_type: ServiceActionType::Restart, delay: s };
    let configured = service.set_description(DESCRIPTION).and_then(|()| {
        service.update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![
                restart(Duration::from_secs(5)),
                restart(Duration::from_secs(30)),
                restart(Duration::from_secs(60)),
            ]),
        })
    });
    if let Err(e) = configured {
        return undo(scm_error("configuring the service", e));
    }
    Ok(())
}

/// Stops (if running) and removes the service, then its event source.
pub fn uninstall() -> Result<(), ServiceError> {
    let manager = open_manager(ServiceManagerAccess::CONNECT)?;
    let service = match manager.open_service(
        NAME,
        ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
    ) {
        Ok(s) => s,
        Err(e) => {
            let e = scm_error("opening the service", e);
            if matches!(e, ServiceError::Missing) {
                // What an earlier, interrupted uninstall may have left.
                let _ = eventlog::deregister();
            }
            return Err(e);
        }
    };
    if service.query_status().is_ok_and(|s| s.current_state != ServiceState::Stopped) {
        let _ = service.stop();
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end
            && service.query_status().is_ok_and(|s| s.current_state != ServiceState::Stopped)
        {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    service.delete().map_err(|e| scm_error("deleting the service", e))?;
    // Only once the service is gone: while it exists, it logs there.
    eventlog::deregister()
        .map_err(|source| ServiceError::EventLog { what: "cannot remove", source })
}

/// Starts the installed service.
pub fn start() -> Result<(), ServiceError> {
    let manager = open_manager(ServiceManagerAccess::CONNECT)?;
    let service = manager
        .open_service(NAME, ServiceAccess::START)
        .map_err(|e| scm_error("opening the service", e))?;
    service.start::<&str>(&[]).map_err(|e| scm_error("starting the service", e))
}

/// Stops the running service (it is told to; `status` shows when it has).
pub fn stop() -> Result<(), ServiceError> {
    let manager = open_manager(ServiceManagerAccess::CONNECT)?;
    let service = manager
        .open_service(NAME, ServiceAccess::STOP)
        .map_err(|e| scm_error("opening the service", e))?;
    service.stop().map(drop).map_err(|e| scm_error("stopping the service", e))
}

/// Whether the service runs, as the SCM says.
pub fn status() -> Result<Status, ServiceError> {
    let manager = open_manager(ServiceManagerAccess::CONNECT)?;
    let service = manager
        .open_service(NAME, ServiceAccess::QUERY_STATUS)
        .map_err(|e| scm_error("opening the service", e))?;
    let s = service.query_status().map_err(|e| scm_error("querying the service", e))?;
    Ok(match s.current_state {
        ServiceState::Running => Status::Running { pid: s.process_id },
        ServiceState::Stopped => Status::Stopped {
            exit_code: match s.exit_code {
                ServiceExitCode::Win32(c) => c,
                ServiceExitCode::ServiceSpecific(c) => c,
            },
        },
        ServiceState::StartPending => Status::Pending("starting"),
        ServiceState::StopPending => Status::Pending("stopping"),
        ServiceState::PausePending => Status::Pending("pausing"),
        ServiceState::Paused => Status::Pending("paused"),
        ServiceState::ContinuePending => Status::Pending("resuming"),
    })
}

/// What `service run` was started with, for [`service_main`].
static CONFIG: OnceLock<(Config, PathBuf)> = OnceLock::new();

/// Runs as the service (the SCM's `service run`): returns when the service stopped.
pub fn run(config: Config, path: PathBuf) -> Result<(), ServiceError> {
    let _ = CONFIG.set((config, path));
    crate::os::sys::windows::service_entry::dispatch(NAME, service_main)
        .map_err(|e| scm_error("connecting to the service control manager", e))
}

/// The service's main function, on the SCM's thread.
fn service_main(_arguments: Vec<OsString>) {
    let Some((config, path)) = CONFIG.get() else { return };
    if let Err(e) = serve(config, path) {
        error!("the wakeproxy service failed: {}", crate::os::words::error_chain(&e));
    }
}

fn scm_status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(10),
        process_id: None,
    }
}

fn serve(config: &Config, path: &Path) -> Result<(), ServiceError> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (link, hooks) = power_channel();
    let PowerHooks { events, guardian } = hooks;
    let gate = Arc::new(ResumeGate::default());
    let hooks_on = config.sleep_hooks;
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            stop_tx.send_replace(true);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::PowerEvent(PowerEventParam::Suspend) => {
            if hooks_on && gate.suspend() {
                announce_suspend(&events);
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::PowerEvent(
            PowerEventParam::ResumeAutomatic | PowerEventParam::ResumeSuspend,
        ) => {
            if hooks_on && gate.resume(false) {
                let _ = events.try_send(PowerEvent::Resumed);
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::PowerEvent(_) | ServiceControl::Interrogate => {
            ServiceControlHandlerResult::NoError
        }
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(NAME, handler)
        .map_err(|e| scm_error("registering the service's control handler", e))?;
    let runtime = match crate::daemon::runtime() {
        Ok(r) => r,
        Err(e) => {
            let _ = handle.set_service_status(scm_status(
                ServiceState::Stopped,
                ServiceControlAccept::empty(),
                1,
            ));
            return Err(ServiceError::Os { what: "starting the runtime", source: e });
        }
    };
    if hooks_on {
        keep_awake_while_guardian(guardian, runtime.handle().clone());
    }
    let accept = ServiceControlAccept::STOP
        | ServiceControlAccept::SHUTDOWN
        | ServiceControlAccept::POWER_EVENT;
    let _ = handle.set_service_status(scm_status(ServiceState::Running, accept, 0));
    info!(target: LIFECYCLE, "the wakeproxy service started with {}", path.display());
    let shutdown = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let result = runtime.block_on(crate::daemon::run(
        config,
        path,
        link,
        &crate::os::host::Silent,
        shutdown,
    ));
    let _ = handle.set_service_status(scm_status(
        ServiceState::StopPending,
        ServiceControlAccept::empty(),
        0,
    ));
    drop(runtime);
    let code = match &result {
        Ok(()) => {
            info!(target: LIFECYCLE, "the wakeproxy service stopped");
            0
        }
        Err(e) => {
            error!("the wakeproxy service stopped: {}", crate::os::words::error_chain(e));
            1
        }
    };
    let _ = handle.set_service_status(scm_status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
    ));
    Ok(())
}

/// Hands the suspend to the daemon and waits, without blocking on its runtime, until the
/// SleepNotice has left or [`ANNOUNCE_WITHIN`] passed.
fn announce_suspend(events: &tokio::sync::mpsc::Sender<PowerEvent>) {
    let (announced, mut done) = oneshot::channel();
    if events.try_send(PowerEvent::Suspending { announced }).is_err() {
        warn!("suspend: the daemon is busy or gone; the sleep is not announced");
        return;
    }
    let end = Instant::now() + ANNOUNCE_WITHIN;
    while Instant::now() < end {
        match done.try_recv() {
            Ok(()) => return,
            Err(oneshot::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(oneshot::error::TryRecvError::Closed) => return,
        }
    }
    warn!("suspend: the SleepNotice did not leave within {ANNOUNCE_WITHIN:?}");
}

/// A thread of its own keeps the machine awake while this node is a manager or guardian.
fn keep_awake_while_guardian(mut guardian: watch::Receiver<bool>, rt: tokio::runtime::Handle) {
    let spawned = std::thread::Builder::new().name("wakeproxy-keep-awake".into()).spawn(move || {
        loop {
            let on = *guardian.borrow_and_update();
            if !crate::os::sys::windows::power::keep_awake(on) {
                warn!("SetThreadExecutionState failed: the guardian role cannot keep this machine awake");
            } else if on {
                info!(target: LIFECYCLE, "guardian role: keeping this machine awake");
            }
            if rt.block_on(guardian.changed()).is_err() {
                crate::os::sys::windows::power::keep_awake(false);
                return;
            }
        }
    });
    if let Err(e) = spawned {
        warn!("cannot start the keep-awake thread: {e}");
    }
}
