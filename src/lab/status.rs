//! `wakeproxy lab status`: every host's role, state and term in one table.

use serde::Serialize;

use super::Lab;
use crate::ctl;

/// One host, as `lab status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRow {
    /// `h1`…
    pub host: String,
    /// Its subnet (0-based).
    pub subnet: usize,
    /// Its address.
    pub ip: String,
    /// `up`, `listening` (in its startup grace), `asleep` (the lab put it to sleep: its NIC
    /// waits for a magic packet), `crashed` (daemon killed) or `down` (no answer).
    pub state: String,
    /// Its role on its LAN.
    pub role: String,
    /// The election term.
    pub term: u64,
    /// The manager it sees (short id).
    pub manager: String,
    /// Its node id (short).
    pub id: String,
    /// Peers it has heard, and how many of them are awake.
    pub peers: usize,
    /// …awake.
    pub awake: usize,
    /// The key ids it uses: the current one, then `+` and the other accepted one if any.
    pub key: String,
}

/// Asks every host's daemon for its status.
pub async fn rows(lab: &Lab) -> Vec<HostRow> {
    let mut out = Vec::new();
    for h in &lab.hosts {
        let mut row = HostRow {
            host: h.name.clone(),
            subnet: h.subnet,
            ip: h.ip.clone(),
            state: "down".into(),
            role: "-".into(),
            term: 0,
            manager: "-".into(),
            id: "-".into(),
            peers: 0,
            awake: 0,
            key: "-".into(),
        };
        if h.asleep || h.daemon_pid.is_none() {
            row.state = if h.asleep { "asleep" } else { "crashed" }.into();
            out.push(row);
            continue;
        }
        let answer =
            tokio::time::timeout(std::time::Duration::from_secs(2), ctl::status(&h.socket())).await;
        if let Ok(Ok(s)) = answer {
            let n = &s.node;
            if let Some(k) = &s.key {
                row.key = match &k.accepted_id {
                    Some(a) => format!("{}+{a}", k.id),
                    None => k.id.clone(),
                };
            }
            row.id = format!("{:?}", n.id);
            row.state = if n.asleep {
                "asleep"
            } else if n.listening {
                "listening"
            } else {
                "up"
            }
            .into();
            if let Some(i) = n.ifaces.first() {
                row.role = i.role.to_string();
                row.term = i.term;
                row.manager = i.manager.map_or("-".into(), |m| format!("{m:?}"));
                row.peers = i.peers.len();
                row.awake = i
                    .peers
                    .iter()
                    .filter(|p| p.state == crate::core::peers::PeerState::Awake)
                    .count();
            }
        }
        out.push(row);
    }
    out
}

/// The table, one line per host.
pub fn render(lab: &Lab, rows: &[HostRow]) -> String {
    let mut s = format!(
        "lab {}: {} hosts on {} subnets, heartbeat {} ms\n",
        lab.name,
        lab.hosts.len(),
        lab.subnets,
        lab.heartbeat_ms
    );
    s.push_str(
        "HOST  SUBNET IP            STATE     ROLE      TERM  MANAGER   ID        PEERS (AWAKE)  KEY\n",
    );
    for r in rows {
        let peers = format!("{} ({})", r.peers, r.awake);
        s.push_str(&format!(
            "{:<5} {:<6} {:<13} {:<9} {:<9} {:<5} {:<9} {:<9} {peers:<14} {}\n",
            r.host, r.subnet, r.ip, r.state, r.role, r.term, r.manager, r.id, r.key
        ));
    }
    s
}
