//! The node's task: one loop that serves the inputs in priority order, the node's timers and
//! the chores (port reads, interface rescans, the watchdog, the daily reconciliation), and
//! carries out the node's actions after each.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::platform::{Platform, Timer};
use super::{Daemon, Inputs, Link, PowerLink, reload};

/// How often interfaces and addresses are re-read where the OS does not tell of changes, and
/// after an interface's sockets could not be opened.
const RESCAN_EVERY: Duration = Duration::from_secs(2);
/// How often the listening TCP ports are re-read, once the daemon has run a while.
const PORTS_EVERY: Duration = Duration::from_secs(30);
/// The first re-read of the listening ports after start; the wait then doubles up to
/// [`PORTS_EVERY`], so services that start just after the daemon (at boot) are announced
/// within a second, and an idle daemon is not woken for them.
const PORTS_FIRST: Duration = Duration::from_millis(250);

impl Daemon {
    /// Runs until `shutdown` completes, then tells peers this node leaves. `power` brings the
    /// power manager's sleep and resume and takes the guardian role to it.
    pub async fn run(
        mut self,
        mut inputs: Inputs,
        mut control: mpsc::Receiver<crate::ctl::CtlCall>,
        mut power: PowerLink,
        notifier: &dyn crate::os::host::Notifier,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        // The role the power manager follows is the node's, from the first action on.
        power.guardian.send_replace(*self.guardian.borrow());
        self.guardian = power.guardian.clone();
        // Interfaces are read again when the OS says they changed; where it cannot say, and
        // after a scan that could not open an interface's sockets, every RESCAN_EVERY.
        let mut link_changes = self.platform.link_changes();
        let polls_links = link_changes.is_none();
        let mut rescan = Retimer::new(
            &*self.platform,
            polls_links.then(|| tokio::time::Instant::now() + RESCAN_EVERY),
        );
        let mut rescan_error: Option<String> = None;
        // One answer in flight at most: a scan that finds the last one unread is dropped.
        let (links_tx, mut links_rx) = mpsc::channel::<Vec<Link>>(1);
        let (ports_tx, mut ports_rx) = mpsc::channel::<Vec<u16>>(1);
        let mut ports_wait = PORTS_FIRST;
        let mut ports =
            Retimer::new(&*self.platform, Some(tokio::time::Instant::now() + ports_wait));
        // Pinged from this loop, so a loop that hangs is restarted by the service manager.
        let watchdog_period = notifier.watchdog_period();
        let mut watchdog =
            Retimer::new(&*self.platform, watchdog_period.map(|_| tokio::time::Instant::now()));
        let mut hangup = reload::Hangup::new();
        // The node's next timeout and the next reconciliation: one timer each, moved only
        // when the deadline changes (not a new timer per turn).
        let mut node_timer = Retimer::new(&*self.platform, self.next_deadline());
        let mut reconcile_timer = Retimer::new(&*self.platform, self.next_reconcile);
        tokio::pin!(shutdown);
        self.execute();
        loop {
            node_timer.set(self.next_deadline());
            reconcile_timer.set(self.next_reconcile);
            // In priority order (`biased`): a flood of frames or junk datagrams, which only the
            // last branch serves, never delays a heartbeat, a probe result, a timer or a status
            // request. What is bounded comes first: probe results (one per probe), authentic
            // peer datagrams (as many as peers send), the node's own timers.
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = power.next() => self.power_event(event),
                Some(input) = inputs.high.recv() => self.handle_input(input),
                () = node_timer.wait() => self.handle_timeout(),
                Some(call) = control.recv() => self.answer(call),
                () = watchdog.wait() => {
                    watchdog.set(watchdog_period.map(|p| tokio::time::Instant::now() + p));
                    notifier.watchdog();
                }
                Some(()) = recv_or_pending(&mut link_changes) => self.scan_links(&links_tx),
                () = rescan.wait() => {
                    rescan.set(None);
                    self.scan_links(&links_tx);
                }
                Some(links) = links_rx.recv() => {
                    // Said once, not at every scan, until it changes or stops.
                    let failed = self.apply_links(&links).err().map(|e| e.to_string());
                    if let Some(e) = failed.as_ref().filter(|e| Some(*e) != rescan_error.as_ref()) {
                        warn!("{e}");
                    }
                    let again = if std::mem::take(&mut self.rescan_soon) {
                        Some(Duration::from_millis(100))
                    } else {
                        (polls_links || failed.is_some()).then_some(RESCAN_EVERY)
                    };
                    rescan_error = failed;
                    rescan.set(again.map(|d| tokio::time::Instant::now() + d));
                }
                () = ports.wait() => {
                    ports_wait = (ports_wait * 2).min(PORTS_EVERY);
                    ports.set(Some(tokio::time::Instant::now() + ports_wait));
                    let (tx, scan) = (ports_tx.clone(), self.platform.listening_tcp_ports());
                    tokio::spawn(async move { drop(tx.try_send(scan.await)) });
                }
                Some(listening) = ports_rx.recv() => self.node.set_tcp_ports(listening),
                () = hangup.recv() => self.reload_on_signal(),
                () = reconcile_timer.wait() => self.reconcile(),
                Some(input) = inputs.low.recv() => self.handle_input(input),
            }
            self.execute();
        }
        notifier.stopping();
        info!(target: crate::os::host::LIFECYCLE, "stopping: telling peers this node leaves");
        self.guardian.send_replace(false);
        let now = self.now();
        self.node.leave(now);
        self.execute();
        if let Some(writer) = self.state.take() {
            writer.finish().await;
        }
    }

    /// Asks the platform for the interfaces; the answer comes back through `tx`.
    pub(super) fn scan_links(&self, tx: &mpsc::Sender<Vec<Link>>) {
        let (tx, scan) = (tx.clone(), self.platform.links());
        tokio::spawn(async move { drop(tx.try_send(scan.await)) });
    }
}

/// One timer whose deadline moves: reset only when the deadline changes, never when it is
/// already right, so a turn of the loop costs no timer of its own. The timer is the platform's
/// (on Linux a timerfd: one wake-up at the deadline).
struct Retimer {
    timer: Box<dyn Timer>,
    deadline: Option<tokio::time::Instant>,
}

impl Retimer {
    fn new(platform: &dyn Platform, deadline: Option<tokio::time::Instant>) -> Self {
        let mut timer = platform.timer();
        timer.set(deadline);
        Self { timer, deadline }
    }

    /// Moves the timer to `deadline` (`None`: never), if it is not there already.
    fn set(&mut self, deadline: Option<tokio::time::Instant>) {
        if deadline != self.deadline {
            self.deadline = deadline;
            self.timer.set(deadline);
        }
    }

    /// Completes at the deadline (and at once after it, until it is moved); never, without one.
    async fn wait(&mut self) {
        std::future::poll_fn(|cx| self.timer.poll_expired(cx)).await;
    }
}

async fn recv_or_pending(rx: &mut Option<mpsc::Receiver<()>>) -> Option<()> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// Starts the daily reconciliation (only the manager of a LAN schedules wakes).
    fn reconcile(&mut self) {
        let Some(((h, m), window)) = self.opts.reconciliation else { return };
        let now = self.now();
        let n = self.node.reconcile(now, window);
        if n > 0 {
            info!(
                "daily reconciliation: waking {n} sleepers, spread over {}",
                humantime::format_duration(window)
            );
        }
        self.next_reconcile = Some(next_local_time(h, m));
    }
}

/// The next time the local clock reads `hour:minute`, on tokio's clock.
pub(super) fn next_local_time(hour: u8, minute: u8) -> tokio::time::Instant {
    use chrono::{Duration as Days, Local};
    let now = Local::now();
    let at = |date: chrono::NaiveDate| {
        date.and_hms_opt(u32::from(hour), u32::from(minute), 0)
            .and_then(|t| t.and_local_timezone(Local).earliest())
    };
    let today = at(now.date_naive());
    let next = match today {
        Some(t) if t > now => Some(t),
        _ => at(now.date_naive() + Days::days(1)),
    };
    let wait = next.and_then(|t| (t - now).to_std().ok()).unwrap_or(Duration::from_secs(86_400));
    tokio::time::Instant::now() + wait
}
