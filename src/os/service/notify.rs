//! systemd's notification protocol (`sd_notify`): `READY=1` once the daemon serves, `WATCHDOG=1`
//! from its main loop, `STOPPING=1` when it stops. Without `NOTIFY_SOCKET` (not started by
//! systemd, or on Windows) every call does nothing.

use std::time::Duration;

/// The daemon is set up and serving; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    #[cfg(target_os = "linux")]
    send(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(status)]);
    #[cfg(not(target_os = "linux"))]
    let _ = status;
}

/// The daemon is stopping (it still says goodbye to its peers).
pub fn stopping() {
    #[cfg(target_os = "linux")]
    send(&[sd_notify::NotifyState::Stopping]);
}

/// The main loop is alive.
pub fn watchdog() {
    #[cfg(target_os = "linux")]
    send(&[sd_notify::NotifyState::Watchdog]);
}

/// How often to call [`watchdog`]: half of systemd's `WatchdogSec`, or `None` when no watchdog
/// watches this process.
pub fn watchdog_period() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    return sd_notify::watchdog_enabled().map(|d| d / 2).filter(|d| !d.is_zero());
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(target_os = "linux")]
fn send(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("cannot notify the service manager: {e}");
    }
}

/// systemd, as the daemon's [`Notifier`](crate::os::host::Notifier): every call does nothing where
/// systemd did not start this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Systemd;

impl crate::os::host::Notifier for Systemd {
    fn ready(&self, status: &str) {
        ready(status);
    }
    fn watchdog(&self) {
        watchdog();
    }
    fn stopping(&self) {
        stopping();
    }
    fn watchdog_period(&self) -> Option<Duration> {
        watchdog_period()
    }
}
