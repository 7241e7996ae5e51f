//! The daemon loop's timers on Linux: a timerfd each, in tokio's reactor.
//!
//! tokio keeps its timers in a hierarchical wheel and parks until the next slot of the wheel
//! whose turn comes first; a deadline seconds away is moved down level by level, and each move is
//! a wake-up: strace of an idle daemon showed two or three per heartbeat. A timerfd is one
//! kernel timer the reactor waits on like a socket: the process wakes once, at the deadline.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

use crate::daemon::platform::Timer;

/// A timerfd on the monotonic clock (`CLOCK_MONOTONIC`, the clock of tokio's `Instant`).
pub(in crate::daemon) struct KernelTimer {
    /// Armed and disarmed through this descriptor…
    timer: TimerFd,
    /// …and waited on through its duplicate in the reactor (the same kernel timer).
    ready: AsyncFd<OwnedFd>,
    armed: bool,
    fired: bool,
}

impl KernelTimer {
    /// A disarmed timer, registered with the running tokio runtime's reactor.
    pub(in crate::daemon) fn new() -> io::Result<Self> {
        let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
        let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, flags)?;
        let ready = crate::os::sys::linux::register(timer.as_fd().try_clone_to_owned()?)?;
        Ok(Self { timer, ready, armed: false, fired: false })
    }
}

impl Timer for KernelTimer {
    fn set(&mut self, deadline: Option<tokio::time::Instant>) {
        self.fired = false;
        self.armed = deadline.is_some();
        let timer = &self.timer;
        let result = match deadline {
            None => timer.unset(),
            Some(at) => {
                // A zero expiration disarms a timerfd: a deadline already passed fires at once.
                let left = at
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(Duration::from_nanos(1));
                timer.set(
                    Expiration::OneShot(TimeSpec::from_duration(left)),
                    TimerSetTimeFlags::empty(),
                )
            }
        };
        if let Err(e) = result {
            // Cannot happen for a valid descriptor and expiration; if it did, the deadline
            // fires at once rather than never.
            tracing::warn!("cannot arm the loop's timer: {e}");
            self.fired = self.armed;
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            return Poll::Pending;
        }
        while !self.fired {
            let mut ready = ready!(self.ready.poll_read_ready(cx)).map_err(drop).ok();
            let Some(guard) = ready.as_mut() else {
                // The reactor is gone (the runtime shuts down): say the deadline passed.
                self.fired = true;
                break;
            };
            let mut count = [0u8; 8];
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref(), &mut count).map_err(io::Error::from))
            {
                Ok(Ok(_)) => self.fired = true,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    tracing::warn!("cannot read the loop's timer: {e}");
                    self.fired = true;
                }
                // Not expired yet: `try_io` cleared the readiness, poll again to wait.
                Err(_would_block) => {}
            }
        }
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn it_fires_at_its_deadline_and_not_before_and_can_be_moved() {
        let mut t = KernelTimer::new().unwrap();
        let start = tokio::time::Instant::now();
        t.set(Some(start + Duration::from_millis(400)));
        // Moved earlier: the new deadline counts.
        t.set(Some(start + Duration::from_millis(50)));
        std::future::poll_fn(|cx| t.poll_expired(cx)).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        // Fired stays fired until it is set again.
        assert!(std::future::poll_fn(|cx| Poll::Ready(t.poll_expired(cx))).await.is_ready());
        // A deadline in the past fires at once; disarmed never does.
        t.set(Some(start));
        std::future::poll_fn(|cx| t.poll_expired(cx)).await;
        t.set(None);
        let waited = tokio::time::timeout(
            Duration::from_millis(100),
            std::future::poll_fn(|cx| t.poll_expired(cx)),
        )
        .await;
        assert!(waited.is_err(), "a disarmed timer never fires");
    }
}
