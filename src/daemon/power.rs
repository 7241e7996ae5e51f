//! The daemon's side of the operating system's power manager (logind on Linux, the service
//! control manager's power events on Windows).
//!
//! The platform code owns a [`PowerHooks`]: it reports that the system is about to sleep or has
//! resumed, and follows the guardian role (a guardian keeps the machine awake). The daemon owns
//! the matching [`PowerLink`] and stays free of D-Bus and Win32. Without a power manager the
//! hooks are simply dropped: the link's event stream ends and nothing else changes.

use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use super::{Daemon, unix_ms};

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

/// The daemon's end.
#[derive(Debug)]
pub struct PowerLink {
    pub(super) events: mpsc::Receiver<PowerEvent>,
    pub(super) guardian: watch::Sender<bool>,
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
    pub(super) async fn next(&mut self) -> PowerEvent {
        match self.events.recv().await {
            Some(e) => e,
            None => std::future::pending().await,
        }
    }
}

impl Daemon {
    /// This host is about to sleep: announce it and hand over its duties. The datagrams leave
    /// before this returns (the node's actions are carried out here, not after the next input).
    pub(super) fn going_to_sleep(&mut self) {
        let now = self.now();
        info!(target: crate::service::eventlog::LIFECYCLE, "this host is going to sleep: announcing it and handing over its duties");
        self.node.going_to_sleep(now);
        self.execute();
        self.save_state_now();
    }

    /// This host has resumed: announce it (ResumeNotice, heartbeat, gratuitous ARP / NA).
    pub(super) fn resumed(&mut self) {
        let now = self.now();
        info!(target: crate::service::eventlog::LIFECYCLE, "this host resumed: announcing it");
        self.node.resumed(now, unix_ms());
        self.execute();
    }

    pub(super) fn power_event(&mut self, event: PowerEvent) {
        match event {
            PowerEvent::Suspending { announced } => {
                self.going_to_sleep();
                let _ = announced.send(());
            }
            PowerEvent::Resumed => self.resumed(),
        }
    }
}

#[cfg(test)]
mod tests {
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
