//! This node's own sequence numbers: which ones it really sent.
//!
//! A datagram with this node's id is either its own broadcast heard back (normal: Linux loops
//! broadcasts back) or a forgery by someone holding the site key. Sequence numbers rise by one
//! per datagram, so what this node sent is a few contiguous runs (a new run starts only when it
//! jumps above a forgery's number, see `intake`). A number inside a run is this node's own; one
//! outside every run was made up by someone else. This holds for every datagram ever sent, not
//! only the last 64 (a burst of claims after an election sends hundreds at once).

/// How many runs are kept. Each jump above a forgery starts one; older runs hold only numbers
/// whose datagrams are older than the replay window by now, refused as stale before they get
/// here.
const RUNS: usize = 8;

/// The sequence numbers this node sent, as contiguous runs `[first, last]`, newest last.
#[derive(Debug, Clone)]
pub(crate) struct SentLog {
    runs: [(u64, u64); RUNS],
    len: usize,
}

impl SentLog {
    pub(crate) fn new() -> Self {
        Self { runs: [(0, 0); RUNS], len: 0 }
    }

    /// `seq` was just sent.
    pub(crate) fn record(&mut self, seq: u64) {
        if self.len > 0 {
            let last = &mut self.runs[self.len - 1];
            if last.1.checked_add(1) == Some(seq) {
                last.1 = seq;
                return;
            }
        }
        if self.len == RUNS {
            self.runs.copy_within(1.., 0);
            self.len -= 1;
        }
        self.runs[self.len] = (seq, seq);
        self.len += 1;
    }

    /// True if this node sent `seq`.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.runs[..self.len].iter().any(|&(first, last)| (first..=last).contains(&seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_everything_sent_and_nothing_else() {
        let mut log = SentLog::new();
        assert!(!log.contains(0));
        for seq in 100..1_100 {
            log.record(seq);
        }
        assert!(log.contains(100) && log.contains(1_099));
        assert!(!log.contains(99) && !log.contains(1_100));
        // A jump above a forgery's number starts a new run; the gap was never ours.
        log.record(5_000);
        assert!(log.contains(5_000) && log.contains(500) && !log.contains(3_000));
    }

    #[test]
    fn only_the_newest_runs_are_kept() {
        let mut log = SentLog::new();
        for run in 0..(RUNS as u64 + 2) {
            log.record(run * 100);
        }
        assert!(!log.contains(0) && !log.contains(100));
        assert!(log.contains(200) && log.contains((RUNS as u64 + 1) * 100));
    }

    #[test]
    fn the_top_of_the_range_does_not_overflow() {
        let mut log = SentLog::new();
        log.record(u64::MAX);
        log.record(0);
        assert!(log.contains(u64::MAX) && log.contains(0) && !log.contains(1));
    }
}
