//! What a node asks its driver to do, and what it reports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::core::addr::{MacAddr, NodeId};
use crate::core::frame::FrameBuf;
use crate::core::node::config::IfaceId;
use crate::core::peers::Transition;
use crate::core::proto::Role;
use crate::core::wol::MagicPacket;

/// The most TCP ports one probe tries besides the ICMP echo.
pub const MAX_PROBE_PORTS: usize = 2;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The subnet-directed broadcast address of the interface, peer port.
    Broadcast,
    /// One address reached through the interface, peer port.
    Unicast(IpAddr),
    /// An address the operating system routes (another subnet), whatever the interface.
    Routed(SocketAddr),
}

/// Something the driver must do. Actions come out of [`crate::core::node::Node::poll_action`] in the
/// order the node decided them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a signed peer-protocol datagram.
    SendDatagram {
        /// Out of which interface (ignored for [`Destination::Routed`]).
        iface: IfaceId,
        /// To whom.
        dst: Destination,
        /// The whole datagram.
        bytes: Vec<u8>,
    },
    /// Send a raw Ethernet frame (ARP reply, neighbour advertisement, gratuitous ARP…).
    SendFrame {
        /// Out of which interface.
        iface: IfaceId,
        /// The frame.
        frame: FrameBuf,
    },
    /// Send a Wake-on-LAN magic packet to the WoL port as the subnet-directed broadcast of the
    /// interface (and, if `unicast` is set, to that address too).
    SendMagicPacket {
        /// Out of which interface.
        iface: IfaceId,
        /// The packet.
        packet: MagicPacket,
        /// The target's last known IPv4 address, for an additional unicast copy.
        unicast: Option<Ipv4Addr>,
    },
    /// Ask whether the host at `ip` is up, and answer with `handle_probe_result` within
    /// `timeout`: an ICMP echo, and at the same time a TCP connection attempt to each of
    /// `tcp_ports` (ports the host announced it listens on). Any echo reply, SYN-ACK or RST
    /// proves the host up; a sleeping NIC's ARP offload never answers TCP, and a host that
    /// blocks echo (the Windows default) still answers on its listening ports.
    Probe {
        /// Through which interface.
        iface: IfaceId,
        /// Whom.
        ip: IpAddr,
        /// How long to wait.
        timeout: Duration,
        /// TCP ports to try besides the echo (at most [`MAX_PROBE_PORTS`]).
        tcp_ports: Vec<u16>,
    },
    /// Hold (true) or release (false) the operating system's sleep: guardians stay awake.
    InhibitSleep(bool),
    /// Something worth a log line and a place in `status`.
    Event(Event),
}

/// Why a proxy stopped answering for a sleeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The sleeper woke up (signed heartbeat or ResumeNotice).
    Woken,
    /// A frame from the sleeper's own MAC was seen: its owner is using the address.
    OwnerSeen,
    /// The election gave the sleeper to another proxy.
    Reassigned,
    /// Another proxy claimed it and is closer on the ring.
    Yielded,
    /// This node is going to sleep, leaving, or lost its interface.
    Leaving,
    /// The sleeper is no longer tracked (gone).
    Forgotten,
    /// Another station, not a proxy for it, uses the sleeper's address (DHCP gave it away, or
    /// the address floated to another host).
    AddressInUse,
    /// This node cannot hear its LAN (a firewall drops its inbound peer traffic, or it does
    /// not understand its peers): it takes no duty there.
    Deaf,
}

/// Why a wake was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum WakeCause {
    /// An operator asked (`wakeproxy wake`).
    Operator,
    /// A TCP SYN to a port the sleeper listened on.
    TcpSyn {
        /// Who connected.
        src: IpAddr,
        /// To which port.
        port: u16,
    },
    /// A signed WakeRequest from another node (usually another subnet).
    Request {
        /// The requesting node.
        from: NodeId,
    },
    /// The daily reconciliation: is the sleeper still there?
    Reconciliation,
}

/// A log-worthy event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    /// A peer changed liveness state.
    PeerChanged {
        /// On which interface.
        iface: IfaceId,
        /// What changed.
        #[serde(flatten)]
        transition: Transition,
    },
    /// This node's role, the manager or the term changed on an interface.
    ElectionChanged {
        /// On which interface.
        iface: IfaceId,
        /// This node's role now.
        role: Role,
        /// The manager now.
        manager: Option<NodeId>,
        /// The term now.
        term: u64,
        /// The guardians now, best first.
        guardians: Vec<NodeId>,
    },
    /// This node started answering for a sleeper.
    ProxyStarted {
        /// On which interface.
        iface: IfaceId,
        /// The sleeper.
        sleeper: NodeId,
        /// Its MAC.
        mac: MacAddr,
    },
    /// This node stopped answering for a sleeper.
    ProxyStopped {
        /// On which interface.
        iface: IfaceId,
        /// The sleeper.
        sleeper: NodeId,
        /// Its MAC.
        mac: MacAddr,
        /// Why.
        reason: StopReason,
    },
    /// A magic packet was sent.
    WakeSent {
        /// On which interface.
        iface: IfaceId,
        /// The target.
        mac: MacAddr,
        /// Why.
        cause: WakeCause,
        /// 1 for the first packet, then retries.
        attempt: u32,
    },
    /// A WakeRequest was sent to another subnet.
    WakeRequested {
        /// The target.
        mac: MacAddr,
        /// Where the request went.
        to: SocketAddr,
    },
    /// The target of a wake spoke (signed heartbeat or ResumeNotice).
    WakeConfirmed {
        /// The target.
        mac: MacAddr,
        /// From the cause (the SYN, the request) to the first magic packet.
        to_packet: Duration,
        /// From the cause to the target's first signed message.
        to_awake: Duration,
    },
    /// A wake was retried for `wake_retry_for` without an answer.
    WakeGaveUp {
        /// The target.
        mac: MacAddr,
        /// How many packets were sent.
        attempts: u32,
    },
    /// A probe before a claim (or a conflict while claimed) showed that this node must not
    /// answer for a sleeper now.
    ClaimBlocked {
        /// On which interface.
        iface: IfaceId,
        /// The sleeper.
        sleeper: NodeId,
        /// Its MAC.
        mac: MacAddr,
        /// What the probe found.
        why: super::ClaimBlocked,
    },
    /// The node this node's election named for a sleeper did not claim it in time: it is passed
    /// over for that sleeper for a while, and the next node on the ring takes it.
    ClaimMissing {
        /// On which interface.
        iface: IfaceId,
        /// The sleeper.
        sleeper: NodeId,
        /// The node that was expected to claim it.
        by: NodeId,
    },
    /// This node stopped or started hearing its LAN.
    HearingChanged {
        /// On which interface.
        iface: IfaceId,
        /// Why it is deaf now; `None`: it hears again.
        deaf: Option<super::Deafness>,
    },
    /// A signed message claimed to come from this node but was not sent by it: someone holding
    /// the site key is impersonating it. This node re-announces itself.
    Impersonated {
        /// On which interface.
        iface: IfaceId,
        /// From which address.
        from: SocketAddr,
    },
}
