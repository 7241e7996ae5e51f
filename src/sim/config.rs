//! The shape of a simulated network, and the arguments it cannot run with.

use std::time::Duration;

/// The shape of a simulated network.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Hosts in all.
    pub nodes: usize,
    /// Subnets they are spread over (round robin).
    pub subnets: usize,
    /// Probability that any one packet is lost (0 ≤ loss < 1).
    pub loss: f64,
    /// One-way latency of every packet.
    pub latency: Duration,
    /// Extra random latency, up to this much.
    pub jitter: Duration,
    /// Heartbeat interval of every node.
    pub heartbeat: Duration,
    /// How long a host takes to resume after its NIC sees a magic packet.
    pub resume_delay: Duration,
    /// Guardians per subnet.
    pub guardians: usize,
    /// Largest clock error of any host (each gets a random one up to this, either way).
    pub clock_skew: Duration,
    /// Seeds everything random.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 12,
            subnets: 2,
            loss: 0.0,
            latency: Duration::from_micros(200),
            jitter: Duration::from_micros(300),
            heartbeat: Duration::from_secs(5),
            resume_delay: Duration::from_secs(2),
            guardians: 3,
            clock_skew: Duration::from_millis(500),
            seed: 1,
        }
    }
}

/// Arguments a simulation cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// No nodes.
    #[error("--nodes must be at least 1")]
    NoNodes,
    /// No subnets, or more subnets than nodes.
    #[error("--subnets must be between 1 and the number of nodes ({nodes}), got {subnets}")]
    Subnets {
        /// Nodes asked for.
        nodes: usize,
        /// Subnets asked for.
        subnets: usize,
    },
    /// Too many nodes for the address plan.
    #[error(
        "at most 250 subnets and 60000 nodes per subnet can be simulated, got {nodes} nodes on {subnets} subnets"
    )]
    TooLarge {
        /// Nodes asked for.
        nodes: usize,
        /// Subnets asked for.
        subnets: usize,
    },
    /// A loss outside [0, 1).
    #[error("--loss must be a fraction from 0 up to (not including) 1, got {0}")]
    Loss(f64),
    /// A zero heartbeat interval.
    #[error("--heartbeat must be longer than zero")]
    Heartbeat,
    /// A share of sleeping hosts outside [0, 1].
    #[error("--asleep must be a fraction from 0 to 1, got {0}")]
    AsleepFraction(f64),
}

impl SimConfig {
    /// Checks that the simulation can run.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.nodes == 0 {
            return Err(SimError::NoNodes);
        }
        if self.subnets == 0 || self.subnets > self.nodes {
            return Err(SimError::Subnets { nodes: self.nodes, subnets: self.subnets });
        }
        if self.subnets > 250 || self.nodes.div_ceil(self.subnets) > 60_000 {
            return Err(SimError::TooLarge { nodes: self.nodes, subnets: self.subnets });
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(SimError::Loss(self.loss));
        }
        if self.heartbeat.is_zero() {
            return Err(SimError::Heartbeat);
        }
        Ok(())
    }
}
