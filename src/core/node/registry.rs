//! The registry of known sleepers, as the daemon saves it and restores it after a restart, so a
//! restarted proxy resumes its duties instead of forgetting who sleeps.

use super::{IfaceId, Node};
use crate::core::addr::NodeId;
use crate::core::proto::HostInfo;
use crate::core::time::Instant;

/// A sleeper this node knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSleeper {
    /// On which interface.
    pub iface: IfaceId,
    /// Its id.
    pub id: NodeId,
    /// Its MAC, addresses and listened ports.
    pub host: HostInfo,
    /// Which node answers for it, as this node's election says.
    pub proxied_by: Option<NodeId>,
    /// How long it has been asleep.
    pub asleep_for: std::time::Duration,
}

impl Node {
    /// Every peer believed asleep, on every interface, sorted by interface and id.
    pub fn known_sleepers(&self, now: Instant) -> Vec<KnownSleeper> {
        let mut out: Vec<KnownSleeper> = self
            .lans
            .iter()
            .flat_map(|lan| {
                lan.peers.iter().filter(|p| p.state == crate::core::peers::PeerState::Asleep).map(
                    |p| KnownSleeper {
                        iface: lan.cfg.id,
                        id: p.id,
                        host: p.host.clone(),
                        proxied_by: lan.outcome.proxy_of(&p.id),
                        asleep_for: p.state_for(now),
                    },
                )
            })
            .collect();
        out.sort_by_key(|s| (s.iface, s.id));
        out
    }

    /// The interface on which a peer with this MAC was heard, if any.
    pub fn known_peer_mac(&self, mac: crate::core::addr::MacAddr) -> Option<IfaceId> {
        self.lans.iter().find(|l| l.peers.by_mac(mac).is_some()).map(|l| l.cfg.id)
    }

    /// Restores a sleeper saved before a restart, asleep for `asleep_for` already (so its
    /// `sleeper_ttl` keeps counting across restarts): it is proxied again after the startup
    /// grace unless it speaks (then it is simply awake). Unknown interfaces are ignored.
    pub fn restore_sleeper(
        &mut self,
        now: Instant,
        iface: IfaceId,
        id: NodeId,
        host: HostInfo,
        asleep_for: std::time::Duration,
    ) {
        if id == self.cfg.id {
            return;
        }
        if let Some(li) = self.lan_index(iface) {
            if self.lans[li].peers.len() >= super::MAX_PEERS_PER_LAN {
                return;
            }
            self.lans[li].peers.restore_sleeper(now, id, host, asleep_for);
            self.lans[li].dirty = true;
        }
    }
}
