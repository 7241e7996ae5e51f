//! logind's sleep hooks over the system D-Bus.
//!
//! The daemon holds a *delay* inhibitor lock on sleep. When logind announces
//! `PrepareForSleep(true)`, the daemon's SleepNotice goes out (the [`PowerEvent::Suspending`]
//! round trip) and only then is the lock released, so the sleep waits for the announcement (at
//! most logind's `InhibitDelayMaxSec`, 5 s by default). `PrepareForSleep(false)` takes a new delay
//! lock and tells the daemon it resumed. While the node is a manager or a guardian it also holds
//! a *block* lock, so the machine does not sleep under it unless forced.
//!
//! The bus is `DBUS_SYSTEM_BUS_ADDRESS` when set (tests run a private bus), else the system bus.
//! Without a bus or logind the daemon runs on and says that sleep announcements are off.

use std::os::fd::OwnedFd;
use std::time::Duration;

use futures_lite::StreamExt;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::os::host::{PowerEvent, PowerHooks};

/// How long the daemon may take to send its SleepNotice before the sleep goes on anyway:
/// below logind's default `InhibitDelayMaxSec` of 5 s.
const ANNOUNCE_WITHIN: Duration = Duration::from_secs(4);

const WHO: &str = "wakeproxy";
const DELAY_WHY: &str = "wakeproxy announces this host's sleep to its wake-up proxy peers";
const BLOCK_WHY: &str =
    "wakeproxy guardian: this node keeps its subnet's wake-up proxy running for sleeping hosts";

#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
trait Manager {
    /// Takes an inhibitor lock; it lasts as long as the returned descriptor is open.
    fn inhibit(
        &self,
        what: &str,
        who: &str,
        why: &str,
        mode: &str,
    ) -> zbus::Result<zbus::zvariant::OwnedFd>;

    /// Sent before the system sleeps (`true`) and after it resumed (`false`).
    #[zbus(signal)]
    fn prepare_for_sleep(&self, start: bool) -> zbus::Result<()>;
}

/// Why the sleep hooks are off.
#[derive(Debug, thiserror::Error)]
pub enum LogindError {
    /// No bus, no logind, or logind refused.
    #[error(
        "cannot reach logind on the system D-Bus ({0}); sleep announcements are off: call `wakeproxy sleep-notice` and `wakeproxy resume-notice` from your sleep hooks instead"
    )]
    Bus(#[from] zbus::Error),
}

/// Connects to logind, takes the delay lock and follows sleep, resume and the guardian role
/// until the daemon goes away (its end of `hooks` closes). Returns an error only if logind
/// cannot be reached at the start; the caller logs it and the daemon runs without sleep hooks.
pub async fn run(hooks: PowerHooks) -> Result<(), LogindError> {
    let conn = zbus::Connection::system().await?;
    let manager = ManagerProxy::new(&conn).await?;
    let mut signals = manager.receive_prepare_for_sleep().await?;
    let mut delay = Some(take(&manager, "delay", DELAY_WHY).await?);
    info!("logind: holding a delay lock on sleep; this host announces its sleep to its peers");
    let PowerHooks { events, mut guardian } = hooks;
    let mut block: Option<OwnedFd> = None;
    loop {
        tokio::select! {
            signal = signals.next() => {
                let Some(signal) = signal else {
                    warn!("logind: the D-Bus connection closed; sleep announcements are off");
                    return Ok(());
                };
                let start = match signal.args() {
                    Ok(a) => a.start,
                    Err(e) => {
                        debug!("logind: unreadable PrepareForSleep: {e}");
                        continue;
                    }
                };
                if start {
                    let (announced, done) = oneshot::channel();
                    if events.send(PowerEvent::Suspending { announced }).await.is_err() {
                        return Ok(());
                    }
                    match tokio::time::timeout(ANNOUNCE_WITHIN, done).await {
                        Ok(Ok(())) => debug!("logind: sleep announced; releasing the delay lock"),
                        _ => warn!("logind: the daemon did not announce the sleep within {ANNOUNCE_WITHIN:?}; letting it go on"),
                    }
                    delay = None;
                } else {
                    if delay.is_none() {
                        match take(&manager, "delay", DELAY_WHY).await {
                            Ok(fd) => delay = Some(fd),
                            Err(e) => warn!("logind: cannot take the delay lock again: {e}; the next sleep will not wait for the announcement"),
                        }
                    }
                    if events.send(PowerEvent::Resumed).await.is_err() {
                        return Ok(());
                    }
                }
            }
            changed = guardian.changed() => {
                if changed.is_err() {
                    return Ok(()); // the daemon stopped; dropping the locks releases them
                }
                let on = *guardian.borrow_and_update();
                if on && block.is_none() {
                    match take(&manager, "block", BLOCK_WHY).await {
                        Ok(fd) => {
                            info!("logind: guardian role: blocking sleep");
                            block = Some(fd);
                        }
                        Err(e) => warn!("logind: cannot block sleep for the guardian role: {e}"),
                    }
                } else if !on && block.take().is_some() {
                    info!("logind: no longer a guardian: sleep is allowed again");
                }
            }
        }
    }
}

async fn take(manager: &ManagerProxy<'_>, mode: &str, why: &str) -> zbus::Result<OwnedFd> {
    let fd = manager.inhibit("sleep", WHO, why, mode).await?;
    Ok(fd.into())
}

/// Starts the hooks as a task of the current runtime; without logind, logs why and drops
/// `hooks` (the daemon then never hears of sleep from the OS).
pub fn spawn(hooks: PowerHooks) {
    tokio::spawn(async move {
        if let Err(e) = run(hooks).await {
            warn!("{e}");
        }
    });
}
