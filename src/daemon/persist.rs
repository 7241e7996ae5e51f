//! The sleeper registry on disk: saved whenever the set of known sleepers changes (rare: a
//! host going to sleep or waking), restored at start, so a restarted daemon resumes its duties.
//!
//! The node's task never waits for the disk: it hands each new registry to a [`Writer`], a
//! task of its own that saves the latest one it was given (one it had no time to save before a
//! newer one came is skipped). Writes are atomic (`state::atomic_write`, two fsyncs, on the
//! platform's blocking pool): a kill -9 at any moment leaves the old or the new registry, never
//! a torn one. What a kill can lose is a change of the last few milliseconds not yet written;
//! the peers' heartbeats, which list every claim, bring it back (claims are soft state).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Daemon;
use super::platform::SleeperStore;
use crate::store::state::SavedSleeper;

/// Saves, in a task of its own, the latest registry it was given.
#[derive(Debug)]
pub(super) struct Writer {
    latest: watch::Sender<Vec<SavedSleeper>>,
    task: JoinHandle<()>,
}

impl Writer {
    /// Starts the writer of `store`.
    pub(super) fn spawn(store: Arc<dyn SleeperStore>) -> Self {
        // The initial value counts as seen: only what the daemon hands over is written.
        let (latest, mut rx) = watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            // Ends when the daemon drops its end, after saving what it was last given.
            while rx.changed().await.is_ok() {
                let list = rx.borrow_and_update().clone();
                if let Err(e) = store.save(list).await {
                    warn!("cannot save the sleeper registry: {e}");
                }
            }
        });
        Self { latest, task }
    }

    /// Hands the writer a registry to save.
    fn save(&self, list: Vec<SavedSleeper>) {
        self.latest.send_replace(list);
    }

    /// Waits until what it was given is written (at shutdown).
    pub(super) async fn finish(self) {
        let Self { latest, task } = self;
        drop(latest);
        let _ = task.await;
    }
}

impl Daemon {
    /// Hands the registry to the writer if it changed since it was last handed over.
    pub(super) fn save_state_now(&mut self) {
        let Some(writer) = &self.state else { return };
        let now = self.now();
        let wall = self.platform.unix_ms();
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
            crate::core::addr::NodeId,
            crate::core::addr::MacAddr,
            Option<crate::core::addr::NodeId>,
        )> {
            v.iter().map(|s| (s.interface.clone(), s.node_id, s.mac, s.proxied_by)).collect()
        };
        if key(&list) == key(&self.saved) {
            return;
        }
        writer.save(list.clone());
        self.saved = list;
    }

    /// Restores the registry saved by an earlier run.
    pub(super) fn restore_state(&mut self) {
        let Some(store) = self.opts.state.clone() else { return };
        let loaded = match store.load() {
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
        let wall = self.platform.unix_ms();
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
            info!("restored {restored} sleepers from {}", store.location());
        }
        self.saved = loaded.value;
    }
}
