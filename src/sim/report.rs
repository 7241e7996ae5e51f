//! What a simulation run measured.

use std::fmt;
use std::time::Duration;

/// The outcome of a simulation run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// Nodes simulated.
    pub nodes: usize,
    /// Subnets.
    pub subnets: usize,
    /// Simulated time.
    pub duration: Duration,
    /// Times a subnet's manager changed (a different node became the only manager).
    pub manager_changes: u64,
    /// Faults injected, with the time each took to converge back to one manager per subnet.
    pub faults: Vec<FaultRecord>,
    /// Datagrams sent per node per second of simulated time.
    pub messages_per_node_per_s: f64,
    /// Magic packets sent (first packets and retries).
    pub wakes_sent: u64,
    /// Wake sequences started (first packets): more than one per wake means duplicates.
    pub wake_sequences: u64,
    /// Wakes confirmed by the target's own message.
    pub wakes_confirmed: u64,
    /// Wakes given up.
    pub wakes_gave_up: u64,
    /// Hosts woken (their NIC saw their magic packet).
    pub hosts_woken: u64,
    /// Periods in which some subnet had two or more managers at once, outside partitions.
    pub dual_manager_periods: u64,
    /// The longest such period.
    pub dual_manager_longest: Duration,
    /// Such periods that began while the subnet was partitioned (each side then elects its own
    /// manager, by design).
    pub dual_manager_partitioned: u64,
    /// Periods in which some sleeper was answered for by two or more nodes at once, outside
    /// partitions.
    pub dual_proxy_periods: u64,
    /// The longest such period.
    pub dual_proxy_longest: Duration,
    /// Such periods that began during a partition (each side answers for its sleepers).
    pub dual_proxy_partitioned: u64,
    /// Messages dropped by receivers as malformed, unauthenticated or replayed.
    pub rejected_messages: u64,
    /// Datagrams handed to a running node (each copy of a broadcast counts once per receiver):
    /// the simulator's unit of work.
    pub datagrams_delivered: u64,
}

/// One injected fault and how long the network took to recover.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultRecord {
    /// When it happened (simulated time).
    pub at: Duration,
    /// What happened.
    pub what: String,
    /// Time until every subnet had exactly one manager again and every running node of the
    /// subnet named it; `None` if that was not the case when the next fault came.
    pub converged_after: Option<Duration>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulated {} nodes on {} subnets for {}",
            self.nodes,
            self.subnets,
            secs(self.duration)
        )?;
        writeln!(f, "  manager changes        {}", self.manager_changes)?;
        writeln!(f, "  messages / node / s    {:.3}", self.messages_per_node_per_s)?;
        writeln!(
            f,
            "  wakes                  {} sequences ({} packets), {} confirmed, {} given up, {} hosts woken",
            self.wake_sequences,
            self.wakes_sent,
            self.wakes_confirmed,
            self.wakes_gave_up,
            self.hosts_woken
        )?;
        writeln!(f, "  rejected messages      {}", self.rejected_messages)?;
        writeln!(f, "  datagrams delivered    {}", self.datagrams_delivered)?;
        writeln!(
            f,
            "  two managers in a subnet: {} times, longest {} (and {} during partitions)",
            self.dual_manager_periods,
            secs(self.dual_manager_longest),
            self.dual_manager_partitioned
        )?;
        writeln!(
            f,
            "  two proxies for a sleeper: {} times, longest {} (and {} during partitions)",
            self.dual_proxy_periods,
            secs(self.dual_proxy_longest),
            self.dual_proxy_partitioned
        )?;
        if !self.faults.is_empty() {
            writeln!(
                f,
                "  faults, and the time until every subnet had one manager that all its nodes name"
            )?;
            writeln!(f, "  (\"not before the next fault\" is expected while a subnet is split):")?;
            let converged: Vec<Duration> =
                self.faults.iter().filter_map(|r| r.converged_after).collect();
            for r in &self.faults {
                let c = r.converged_after.map_or("not before the next fault".to_owned(), secs);
                writeln!(f, "    {:>9}  {:<40} {}", secs(r.at), r.what, c)?;
            }
            if let Some(max) = converged.iter().max() {
                writeln!(f, "  slowest convergence    {}", secs(*max))?;
            }
        }
        Ok(())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
