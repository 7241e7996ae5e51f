//! Windows power events, reduced to what the daemon needs: one "suspending" per sleep and one
//! "resumed" per wake. Windows sends `PBT_APMRESUMEAUTOMATIC` on every resume and
//! `PBT_APMRESUMESUSPEND` as well when a user is present, and may send a resume without a
//! suspend (after a hibernation the service did not see start).

use std::sync::atomic::{AtomicBool, Ordering};

/// Tells which power events to pass on.
#[derive(Debug, Default)]
pub struct ResumeGate {
    suspended: AtomicBool,
}

impl ResumeGate {
    /// A suspend: pass it on, unless one is already pending.
    pub fn suspend(&self) -> bool {
        !self.suspended.swap(true, Ordering::SeqCst)
    }

    /// A resume: pass on the first after a suspend, and a resume the gate never saw the suspend
    /// of only if `unseen` (the node ignores a resume while it believes it is awake anyway).
    pub fn resume(&self, unseen: bool) -> bool {
        self.suspended.swap(false, Ordering::SeqCst) || unseen
    }
}

/// The arguments the service control manager starts wakeproxy with.
pub fn launch_arguments(config: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec!["service".into(), "run".into(), "--config".into(), config.as_os_str().to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_suspend_and_one_resume_per_sleep() {
        let g = ResumeGate::default();
        assert!(g.suspend());
        assert!(!g.suspend(), "a second suspend while suspended");
        assert!(g.resume(false), "ResumeSuspend or ResumeAutomatic, whichever comes first");
        assert!(!g.resume(false), "the other one");
        assert!(g.resume(true), "a resume whose suspend was never seen, if asked");
    }

    #[test]
    fn the_service_runs_the_configured_file() {
        let args =
            launch_arguments(std::path::Path::new("C:\\ProgramData\\wakeproxy\\wakeproxy.toml"));
        assert_eq!(args[..3], ["service", "run", "--config"].map(std::ffi::OsString::from));
        assert_eq!(args[3], "C:\\ProgramData\\wakeproxy\\wakeproxy.toml");
    }
}
