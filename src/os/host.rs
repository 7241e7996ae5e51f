//! What the daemon exchanges with the system that hosts it, in types neither side owns: the
//! power manager's sleep and resume and the guardian role it follows ([`PowerLink`] for the
//! daemon, [`PowerHooks`] for the platform: logind on Linux, the service control manager's
//! power events on Windows), and what the daemon tells its service manager ([`Notifier`]:
//! systemd's readiness, watchdog and stopping). The daemon is given both; the platform code in
//! `service` provides them; neither calls the other.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

/// The tracing target of the daemon's lifecycle lines (started, stopping, role changes, sleep
/// and resume, key reloads): what a service log such as the Windows Event Log keeps at info.
pub const LIFECYCLE: &str = "wakeproxy::lifecycle";

/// What the power manager tells the daemon.
#[derive(Debug)]
pub enum PowerEvent {
    /// The system is about to sleep. The daemon announces it (SleepNotice, sleepers handed
    /// over, registry saved) and then answers on `announced`, after which the platform lets the
    /// sleep go on (releases logind's delay lock, returns from the Windows power event).
    Suspending {
        /// Answered once the SleepNotice has left.
        announced: oneshot::Sender<()>,
    },
    /// The system has resumed: the daemon announces it (ResumeNotice, heartbeat, gratuitous ARP).
    Resumed,
}

/// The daemon's end. Without a power manager the hooks are simply dropped: the event stream
/// ends and nothing else changes.
#[derive(Debug)]
pub struct PowerLink {
    pub(crate) events: mpsc::Receiver<PowerEvent>,
    pub(crate) guardian: watch::Sender<bool>,
}

/// The platform's end.
#[derive(Debug)]
pub struct PowerHooks {
    /// Where to report sleep and resume.
    pub events: mpsc::Sender<PowerEvent>,
    /// Whether this node is a guardian (or a manager) now and must keep the machine awake.
    pub guardian: watch::Receiver<bool>,
}

/// A connected pair.
pub fn power_channel() -> (PowerLink, PowerHooks) {
    let (events_tx, events) = mpsc::channel(4);
    let (guardian, guardian_rx) = watch::channel(false);
    (PowerLink { events, guardian }, PowerHooks { events: events_tx, guardian: guardian_rx })
}

impl PowerLink {
    /// A link with no power manager behind it (tests, systems without one).
    pub fn none() -> Self {
        power_channel().0
    }

    /// The next event; pending forever once the platform end is gone.
    pub(crate) async fn next(&mut self) -> PowerEvent {
        match self.events.recv().await {
            Some(e) => e,
            None => std::future::pending().await,
        }
    }
}

/// What the daemon tells the service manager that started it. Every call is cheap and never
/// fails the daemon: a manager that is not listening is not an error.
pub trait Notifier: Send + Sync {
    /// The daemon is set up and serving; `status` says on what.
    fn ready(&self, status: &str);
    /// The main loop is alive (called every [`Notifier::watchdog_period`]).
    fn watchdog(&self);
    /// The daemon is stopping (it still says goodbye to its peers).
    fn stopping(&self);
    /// How often to call [`Notifier::watchdog`]; `None` when nothing watches.
    fn watchdog_period(&self) -> Option<Duration>;
}

/// No service manager to tell (a console, tests; Windows reports to its service control
/// manager from the service's own thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Notifier for Silent {
    fn ready(&self, _status: &str) {}
    fn watchdog(&self) {}
    fn stopping(&self) {}
    fn watchdog_period(&self) -> Option<Duration> {
        None
    }
}

/// Whether `journal_stream` (systemd's `$JOURNAL_STREAM`, `DEVICE:INODE`) names this
/// process's stderr: then systemd connected stderr to the journal, and records with fields
/// are better sent to the journal's own socket. (A child that inherited the variable but not
/// the stream, like a shell's, does not match.)
#[cfg(unix)]
pub fn stderr_is_journal_stream(journal_stream: &str) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self/fd/2")
        .is_ok_and(|m| journal_stream_is(journal_stream, m.dev(), m.ino()))
}

/// `DEVICE:INODE`, both decimal, names this device and inode.
pub fn journal_stream_is(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let parse = |s: &str| s.parse::<u64>().ok();
    match journal_stream.split_once(':') {
        Some((d, i)) => parse(d) == Some(dev) && parse(i) == Some(ino),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_journal_stream_names_one_device_and_inode() {
        use super::journal_stream_is;
        assert!(journal_stream_is("8:12345", 8, 12345));
        assert!(!journal_stream_is("8:12345", 8, 12346));
        assert!(!journal_stream_is("9:12345", 8, 12345));
        for bad in ["", "8", "8:", ":1", "8:1:2", "-8:1", "8:0x10", "99999999999999999999:1"] {
            assert!(!journal_stream_is(bad, 8, 1), "{bad}");
        }
    }

    use super::*;

    #[tokio::test]
    async fn a_link_without_hooks_never_yields() {
        let mut link = PowerLink::none();
        let r = tokio::time::timeout(std::time::Duration::from_millis(20), link.next()).await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn the_guardian_role_reaches_the_platform() {
        let (link, mut hooks) = power_channel();
        assert!(!*hooks.guardian.borrow());
        link.guardian.send_replace(true);
        hooks.guardian.changed().await.unwrap();
        assert!(*hooks.guardian.borrow_and_update());
    }
}
