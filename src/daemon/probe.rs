//! ICMP echo probes, sent only to peers whose heartbeats lapsed, to tell "asleep" from "up".
//!
//! A probe sends up to three echo requests spread over its timeout and succeeds on the first
//! reply: one lost packet must not put an awake host to sleep in everyone's view. As root or
//! with `CAP_NET_RAW` surge-ping uses a raw socket (Linux's unprivileged ping sockets are off by
//! default: `net.ipv4.ping_group_range = 1 0`).

use std::net::IpAddr;
use std::time::Duration;

use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};

/// Sends probes through one interface.
#[derive(Clone)]
pub struct Prober {
    v4: Client,
    v6: Option<Client>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prober")
    }
}

impl Prober {
    /// ICMP sockets bound to `iface`.
    pub fn new(iface: &str) -> std::io::Result<Self> {
        let v4 = Client::new(&Config::builder().kind(ICMP::V4).interface(iface).build())?;
        let v6 = Client::new(&Config::builder().kind(ICMP::V6).interface(iface).build()).ok();
        Ok(Self { v4, v6 })
    }

    /// `Some(rtt)` if `ip` answered within `timeout`.
    pub async fn probe(&self, ip: IpAddr, timeout: Duration, ident: u16) -> Option<Duration> {
        let client = match ip {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => self.v6.as_ref()?,
        };
        let mut pinger = client.pinger(ip, PingIdentifier(ident)).await;
        let per_try = timeout / 3;
        pinger.timeout(per_try);
        let payload = [0u8; 16];
        for seq in 0..3u16 {
            if let Ok((_, rtt)) = pinger.ping(PingSequence(seq), &payload).await {
                return Some(rtt);
            }
        }
        None
    }
}
