//! `wake_relays`: where WakeRequests for hosts on other subnets go.
//!
//! What can honestly be known from here is whether the host has a route to each relay: a UDP
//! `connect` sends nothing and fails (`ENETUNREACH`) without one, and otherwise names the source
//! address, hence the interface, the request would leave by. Whether a node listens there
//! cannot be seen without an answer, and WakeRequests get none (on the relay's subnet,
//! `wakeproxy status` counts `wake_requests`, and `events` shows each wake). So a route is `ok`
//! with that said, and no route fails.

use std::net::IpAddr;

use super::{Check, System, Topic, Verdict};
use crate::daemon::Link;
use crate::store::config::Config;

pub(super) fn check(config: &Config, managed: &[Link], sys: &dyn System) -> Vec<Check> {
    if config.wake_relays.is_empty() {
        return vec![Check::new(
            Topic::WakeRelay,
            "",
            Verdict::Ok,
            "none configured: hosts of other subnets are woken only by their own subnet's nodes",
        )];
    }
    config
        .wake_relays
        .iter()
        .map(|relay| {
            let to = relay.socket_addr(config.peer_port);
            let subject = relay.to_string();
            match sys.route_to(to) {
                Ok(from) => {
                    let via = interface_of(from, managed)
                        .map(|l| format!(" on {}", l.name))
                        .unwrap_or_default();
                    let on_link = managed.iter().any(|l| {
                        l.ipv4.iter().any(|p| matches!(to.ip(), IpAddr::V4(a) if same_subnet(p.addr, a, p.len)))
                    });
                    if on_link {
                        return Check::new(
                            Topic::WakeRelay,
                            &subject,
                            Verdict::Warn,
                            format!(
                                "{subject} is on this host's own subnet{via}: a relay is for \
                                 another subnet, this one's wakes need none"
                            ),
                        )
                        .fix("name a node or the broadcast address of another subnet in `wake_relays`");
                    }
                    Check::new(
                        Topic::WakeRelay,
                        &subject,
                        Verdict::Ok,
                        format!(
                            "routed from {from}{via} (a route is all that can be seen from \
                             here: WakeRequests get no answer; `wakeproxy status` on a node \
                             there counts its wake_requests)"
                        ),
                    )
                    .details(serde_json::json!({ "to": to, "from": from }))
                }
                Err(e) => Check::new(
                    Topic::WakeRelay,
                    &subject,
                    Verdict::Fail,
                    format!("no route to {to}: {e}; WakeRequests to that subnet cannot leave this host"),
                )
                .fix("add a route (or a default gateway) to that subnet, or correct `wake_relays`"),
            }
        })
        .collect()
}

/// The managed interface that has address `from`.
fn interface_of(from: IpAddr, managed: &[Link]) -> Option<&Link> {
    managed.iter().find(|l| match from {
        IpAddr::V4(a) => l.ipv4.iter().any(|p| p.addr == a),
        IpAddr::V6(a) => l.ipv6.iter().any(|p| p.addr == a),
    })
}

/// Whether `a` and `b` are in one `/len` subnet.
fn same_subnet(a: std::net::Ipv4Addr, b: std::net::Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}
