//! The sleeper registry on disk: saved whenever the set of known sleepers changes (rare: a
//! host going to sleep or waking), restored at start, so a restarted daemon resumes its duties.
//! Writes are atomic (`state::atomic_write`): a kill -9 at any moment leaves the old or the new
//! registry, never a torn one.

use tracing::{info, warn};

use super::{Daemon, unix_ms};
use crate::state::SavedSleeper;

impl Daemon {
    /// Saves the registry if it changed since the last save.
    pub(super) fn save_state_now(&mut self) {
        let Some(state) = &self.state else { return };
        let now = self.now();
        let wall = unix_ms();
        let list: Vec<SavedSleeper> = self
            .node
            .known_sleepers(now)
            .into_iter()
            .map(|s| {
                let since = wall.saturating_sub(s.asleep_for.as_millis() as u64);
                SavedSleeper::new(self.iface_name(s.iface), s.id, &s.host, since, s.proxied_by)
            })
            .collect();
        // `since_ms` drifts by a millisecond between calls; compare what matters.
        let key = |v: &[SavedSleeper]| -> Vec<(
            String,
            crate::addr::NodeId,
            crate::addr::MacAddr,
            Option<crate::addr::NodeId>,
        )> {
            v.iter().map(|s| (s.interface.clone(), s.node_id, s.mac, s.proxied_by)).collect()
        };
        if key(&list) == key(&self.saved) {
            return;
        }
        match state.save_sleepers(&list) {
            Ok(()) => self.saved = list,
            Err(e) => warn!("cannot save the sleeper registry: {e}"),
        }
    }

    /// Restores the registry saved by an earlier run.
    pub(super) fn restore_state(&mut self) {
        let Some(state) = &self.state else { return };
        let loaded = match state.load_sleepers() {
            Ok(l) => l,
            Err(e) => {
                warn!("cannot read the sleeper registry: {e}");
                return;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let now = self.now();
        let wall = unix_ms();
        let mut restored = 0;
        for s in &loaded.value {
            if let Some(&iface) = self.names.get(&s.interface) {
                // Its age keeps counting across restarts (the 7-day sleeper expiry included).
                let asleep_for = std::time::Duration::from_millis(wall.saturating_sub(s.since_ms));
                self.node.restore_sleeper(now, iface, s.node_id, s.host_info(), asleep_for);
                restored += 1;
            }
        }
        if restored > 0 {
            info!("restored {restored} sleepers from {}", state.path().display());
        }
        self.saved = loaded.value;
    }
}
