//! The daemon's side of the operating system's power manager: what it does when the host is
//! about to sleep and when it resumed ([`crate::os::host::PowerLink`] brings the events).

use tracing::info;

use super::Daemon;
use crate::os::host::{LIFECYCLE, PowerEvent};

impl Daemon {
    /// This host is about to sleep: announce it and hand over its duties. The datagrams leave
    /// before this returns (the node's actions are carried out here, not after the next input).
    pub(super) fn going_to_sleep(&mut self) {
        let now = self.now();
        info!(target: LIFECYCLE, "this host is going to sleep: announcing it and handing over its duties");
        self.node.going_to_sleep(now);
        self.execute();
        self.save_state_now();
    }

    /// This host has resumed: announce it (ResumeNotice, heartbeat, gratuitous ARP / NA).
    pub(super) fn resumed(&mut self) {
        let now = self.now();
        info!(target: LIFECYCLE, "this host resumed: announcing it");
        self.node.resumed(now, self.platform.unix_ms());
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
