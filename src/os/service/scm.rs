//! What the Windows service commands (`wakeproxy service install|uninstall|start|stop|status`)
//! say when the service control manager refuses: the Win32 error as Windows words that say what
//! to do, and for any other error its code and the system's own text.
//!
//! Plain Rust, compiled and tested on every platform; `service::windows` calls it with the
//! `io::Error` that `windows_service` wraps.

use std::io;

use crate::os::words::WINDOWS;

/// `ERROR_ACCESS_DENIED`.
pub const ERROR_ACCESS_DENIED: i32 = 5;
/// `ERROR_SERVICE_ALREADY_RUNNING`.
pub const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
/// `ERROR_SERVICE_DISABLED`.
pub const ERROR_SERVICE_DISABLED: i32 = 1058;
/// `ERROR_SERVICE_DOES_NOT_EXIST`.
pub const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
/// `ERROR_SERVICE_CANNOT_ACCEPT_CTRL`: starting or stopping already.
pub const ERROR_SERVICE_CANNOT_ACCEPT_CTRL: i32 = 1061;
/// `ERROR_SERVICE_NOT_ACTIVE`.
pub const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
/// `ERROR_FAILED_SERVICE_CONTROLLER_CONNECT`: `service run` outside the SCM.
pub const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
/// `ERROR_SERVICE_MARKED_FOR_DELETE`.
pub const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;
/// `ERROR_SERVICE_EXISTS`.
pub const ERROR_SERVICE_EXISTS: i32 = 1073;
/// `ERROR_SERVICE_NEVER_STARTED`: the exit code of a service not started since boot or install.
pub const ERROR_SERVICE_NEVER_STARTED: u32 = 1077;

/// What went wrong with the service. Every message says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Not elevated.
    #[error("{what}: access denied; {}", WINDOWS.elevate)]
    AccessDenied {
        /// What was being done.
        what: &'static str,
    },
    /// Installed already.
    #[error(
        "the wakeproxy service is already installed; run `wakeproxy service uninstall` first to \
         reinstall it"
    )]
    Exists,
    /// Not installed.
    #[error(
        "the wakeproxy service is not installed; install it with `wakeproxy service install` \
         (from an elevated prompt)"
    )]
    Missing,
    /// Uninstalled, but something still holds it open.
    #[error(
        "the wakeproxy service is marked for deletion: Windows removes it once every program \
         holding it lets go; close Services (services.msc) and Event Viewer, then try again (or \
         restart Windows)"
    )]
    MarkedForDelete,
    /// `service stop` of a stopped service.
    #[error("the wakeproxy service is not running; start it with `wakeproxy service start`")]
    NotRunning,
    /// `service start` of a running service.
    #[error("the wakeproxy service is already running; `wakeproxy service status` shows it")]
    AlreadyRunning,
    /// Starting or stopping already.
    #[error(
        "the wakeproxy service is starting or stopping and takes no command now: try again in a \
         few seconds"
    )]
    Busy,
    /// Its start type is Disabled.
    #[error(
        "the wakeproxy service is disabled: set its startup type to Automatic in Services \
         (services.msc), or reinstall it"
    )]
    Disabled,
    /// `service run` outside the SCM.
    #[error(
        "`wakeproxy service run` is what the service control manager starts; to run the daemon \
         in this console use `wakeproxy run`"
    )]
    NotUnderScm,
    /// Any other error of the system: its code and text.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The system's error, which prints its text and code ("… (os error 1053)").
        source: io::Error,
    },
    /// A value the service's API refused before calling the system.
    #[error("{what}: {detail}")]
    Invalid {
        /// What was being done.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The event source could not be registered or removed.
    #[error(
        "{what} the event source {} in the Windows Event Log: {source}",
        super::eventlog::SOURCE
    )]
    EventLog {
        /// "cannot register", "cannot remove".
        what: &'static str,
        /// The system's error.
        source: io::Error,
    },
}

/// The error of `what` that failed with the system error `e`, in Windows words.
pub fn os_error(what: &'static str, e: io::Error) -> ServiceError {
    match e.raw_os_error() {
        Some(ERROR_ACCESS_DENIED) => ServiceError::AccessDenied { what },
        Some(ERROR_SERVICE_EXISTS) => ServiceError::Exists,
        Some(ERROR_SERVICE_DOES_NOT_EXIST) => ServiceError::Missing,
        Some(ERROR_SERVICE_MARKED_FOR_DELETE) => ServiceError::MarkedForDelete,
        Some(ERROR_SERVICE_NOT_ACTIVE) => ServiceError::NotRunning,
        Some(ERROR_SERVICE_ALREADY_RUNNING) => ServiceError::AlreadyRunning,
        Some(ERROR_SERVICE_CANNOT_ACCEPT_CTRL) => ServiceError::Busy,
        Some(ERROR_SERVICE_DISABLED) => ServiceError::Disabled,
        Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) => ServiceError::NotUnderScm,
        _ => ServiceError::Os { what, source: e },
    }
}

/// What `service status` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Running, with its process id if the SCM gave one.
    Running {
        /// Its process.
        pid: Option<u32>,
    },
    /// Stopped; `exit_code` is its last Win32 exit code (0: it stopped cleanly).
    Stopped {
        /// `dwWin32ExitCode`.
        exit_code: u32,
    },
    /// Between the two.
    Pending(&'static str),
}

impl Status {
    /// The exit code of `service status`, as `systemctl status` has it: 0 running, 3 not.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Running { .. } => 0,
            Self::Stopped { .. } | Self::Pending(_) => 3,
        }
    }

    /// The line `service status` prints.
    pub fn describe(self) -> String {
        match self {
            Self::Running { pid: Some(pid) } => {
                format!("the wakeproxy service is running (process {pid})")
            }
            Self::Running { pid: None } => "the wakeproxy service is running".into(),
            Self::Stopped { exit_code: 0 | ERROR_SERVICE_NEVER_STARTED } => {
                "the wakeproxy service is stopped; start it with `wakeproxy service start`".into()
            }
            Self::Stopped { exit_code } => format!(
                "the wakeproxy service is stopped; it stopped with Windows error {exit_code}: see \
                 its log ({}); start it with `wakeproxy service start`",
                WINDOWS.logs
            ),
            Self::Pending(what) => format!("the wakeproxy service is {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(code: i32) -> String {
        os_error("stopping the service", io::Error::from_raw_os_error(code)).to_string()
    }

    #[test]
    fn the_scms_refusals_say_what_to_do() {
        assert_eq!(
            said(ERROR_SERVICE_NOT_ACTIVE),
            "the wakeproxy service is not running; start it with `wakeproxy service start`"
        );
        assert_eq!(
            said(ERROR_SERVICE_ALREADY_RUNNING),
            "the wakeproxy service is already running; `wakeproxy service status` shows it"
        );
        assert_eq!(
            said(ERROR_ACCESS_DENIED),
            "stopping the service: access denied; run it from an elevated prompt (Run as \
             administrator)"
        );
        assert!(said(ERROR_SERVICE_DOES_NOT_EXIST).contains("`wakeproxy service install`"));
        assert!(said(ERROR_SERVICE_EXISTS).contains("`wakeproxy service uninstall` first"));
        assert!(said(ERROR_SERVICE_MARKED_FOR_DELETE).contains("marked for deletion"));
        assert!(said(ERROR_SERVICE_CANNOT_ACCEPT_CTRL).contains("try again"));
        assert!(said(ERROR_SERVICE_DISABLED).contains("services.msc"));
        assert!(said(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT).contains("`wakeproxy run`"));
    }

    #[test]
    fn any_other_error_keeps_its_code_and_the_systems_text() {
        // ERROR_SERVICE_REQUEST_TIMEOUT: the system's text is the host's, the code is kept.
        let e = os_error("starting the service", io::Error::from_raw_os_error(1053));
        let ServiceError::Os { source, .. } = &e else { panic!("{e:?}") };
        assert_eq!(source.raw_os_error(), Some(1053));
        let text = e.to_string();
        assert!(text.starts_with("starting the service: "), "{text}");
        assert!(text.contains("1053"), "{text}");
    }

    #[test]
    fn no_service_message_speaks_linux() {
        let all = [
            ERROR_ACCESS_DENIED,
            ERROR_SERVICE_ALREADY_RUNNING,
            ERROR_SERVICE_DISABLED,
            ERROR_SERVICE_DOES_NOT_EXIST,
            ERROR_SERVICE_CANNOT_ACCEPT_CTRL,
            ERROR_SERVICE_NOT_ACTIVE,
            ERROR_FAILED_SERVICE_CONTROLLER_CONNECT,
            ERROR_SERVICE_MARKED_FOR_DELETE,
            ERROR_SERVICE_EXISTS,
        ];
        let mut texts: Vec<String> = all.into_iter().map(said).collect();
        texts.push(Status::Stopped { exit_code: 1067 }.describe());
        for text in texts {
            for linux in ["systemctl", "journalctl", "sudo", "root", "CAP_NET_RAW"] {
                assert!(!text.contains(linux), "{text}");
            }
        }
    }

    #[test]
    fn status_says_running_or_not_and_exits_as_systemctl_does() {
        let running = Status::Running { pid: Some(4242) };
        assert_eq!(running.describe(), "the wakeproxy service is running (process 4242)");
        assert_eq!(running.exit_code(), 0);
        let stopped = Status::Stopped { exit_code: 0 };
        assert_eq!(
            stopped.describe(),
            "the wakeproxy service is stopped; start it with `wakeproxy service start`"
        );
        assert_eq!(stopped.exit_code(), 3);
        // Installed and never started (as the SCM reports it under Wine and on Windows).
        let never = Status::Stopped { exit_code: ERROR_SERVICE_NEVER_STARTED };
        assert_eq!(never.describe(), stopped.describe());
        let failed = Status::Stopped { exit_code: 1 }.describe();
        assert!(failed.contains("Windows error 1") && failed.contains("Event Viewer"), "{failed}");
        assert_eq!(Status::Pending("starting").exit_code(), 3);
    }
}
