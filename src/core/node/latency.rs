//! Wake latencies since the node started, counted into fixed buckets: what the metrics'
//! histograms show. Counting is a comparison and an add; nothing allocates.

use std::time::Duration;

/// The buckets' upper bounds, in milliseconds: from a proxy's reaction to a SYN (milliseconds)
/// to a PC's resume from sleep (seconds to a minute). One more bucket counts everything above.
pub const LATENCY_BOUNDS_MS: [u32; 14] =
    [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 30_000, 60_000];

/// How many latencies fell into each bucket (not cumulative), their sum and their count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencyHistogram {
    /// Per bucket of [`LATENCY_BOUNDS_MS`], and a last one for everything above it.
    pub buckets: [u64; LATENCY_BOUNDS_MS.len() + 1],
    /// The latencies' sum, in microseconds (saturating).
    pub sum_us: u64,
    /// How many were observed.
    pub count: u64,
}

impl LatencyHistogram {
    /// Counts one latency.
    pub fn observe(&mut self, d: Duration) {
        let i = LATENCY_BOUNDS_MS.iter().position(|b| d <= Duration::from_millis(u64::from(*b)));
        let i = i.unwrap_or(LATENCY_BOUNDS_MS.len());
        self.buckets[i] = self.buckets[i].saturating_add(1);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us = self.sum_us.saturating_add(us);
        self.count = self.count.saturating_add(1);
    }
}

/// The two latencies of a wake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WakeLatencies {
    /// From the cause (a SYN, a request) to the first magic packet, for every wake that sent one.
    pub to_packet: LatencyHistogram,
    /// From the cause to the target's first signed message, for every confirmed wake.
    pub to_awake: LatencyHistogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_falls_into_the_first_bucket_that_holds_it() {
        let mut h = LatencyHistogram::default();
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_micros(5_001));
        h.observe(Duration::from_secs(2));
        h.observe(Duration::from_secs(3600));
        assert_eq!(h.buckets[0], 1, "5 ms is at most 5 ms");
        assert_eq!(h.buckets[1], 1, "5.001 ms is more than 5 ms");
        assert_eq!(h.buckets[8], 1, "2 s: at most 2.5 s");
        assert_eq!(h.buckets[LATENCY_BOUNDS_MS.len()], 1, "an hour: above every bound");
        assert_eq!(h.count, 4);
        assert_eq!(h.sum_us, 5_000 + 5_001 + 2_000_000 + 3_600_000_000);
    }

    #[test]
    fn the_sum_saturates_instead_of_wrapping() {
        let mut h = LatencyHistogram::default();
        h.observe(Duration::MAX);
        h.observe(Duration::MAX);
        assert_eq!(h.sum_us, u64::MAX);
        assert_eq!(h.count, 2);
    }
}
