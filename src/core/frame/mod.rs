//! The proxy's hot path: which captured Ethernet frames concern a sleeping host, and the frames a
//! proxy sends on its behalf.
//!
//! [`classify`] reads one raw Ethernet II frame as captured (no FCS, at most one 802.1Q tag)
//! against a [`SleeperTable`] and says what, if anything, the node must act on: an ARP request or
//! IPv6 neighbour solicitation to answer, a TCP SYN that may wake a sleeper, a magic packet someone
//! else sent, a sign that a sleeper (or some other station) is using a sleeper's address.
//! The builders ([`arp_reply`], [`neighbor_advertisement`], …) write the ARP and
//! neighbour-discovery frames the node answers with.
//!
//! Contract: sans-IO, no clock, no allocation per frame. Classification never panics: every field
//! read is behind a length check on a fixed-size view, a property the unit tests, proptests and
//! the `frame_classify` fuzz target exercise. Checksums of received frames are not verified: with
//! checksum offload a capture holds garbage checksums on frames the host sent, and the worst a
//! corrupted frame can cause here is one needless answer or wake-up, which the receiver's own
//! checks make harmless.

mod build;
mod checksum;
mod classify;
mod sleepers;
mod syn_replay;
/// Hand-built frames of any layout, for tests and benches only (`synth.rs` says why).
#[cfg(any(test, feature = "testkit"))]
pub(crate) mod synth;
mod wire;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::core::addr::{MacAddr, NodeId};
use crate::core::wol::SecureOn;

pub use build::{
    FrameBuf, NaFlags, arp_probe, arp_reply, arp_request, dad_probe, gratuitous_arp,
    gratuitous_arp_for, neighbor_advertisement, tcp_syn, unsolicited_na, unsolicited_na_for,
};
pub use classify::{MAX_FRAME_LEN, classify};
pub use sleepers::{Sleeper, SleeperTable};
pub use syn_replay::replayable_syn;

/// What a captured frame means to the proxy. Each variant carries what the node needs to act.
///
/// Variants other than [`FromSleeper`](Self::FromSleeper) describe frames whose Ethernet source
/// is *not* a registered sleeper's MAC. Frames the node sent itself come back in a capture too
/// (e.g. its own [`dad_probe`]); telling them apart by source MAC or capture direction is the
/// caller's job.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Classified {
    /// Nothing the proxy acts on.
    Irrelevant,
    /// A frame of a kind the proxy parses (ARP, IPv4, IPv6, TCP, ICMPv6 neighbour discovery, UDP
    /// to the Wake-on-LAN port, EtherType 0x0842) that is truncated or inconsistent.
    Malformed,
    /// An Ethernet/IPv4 ARP request for a sleeper's IPv4 address.
    ArpRequest {
        /// The sleeper that owns `target_ip`.
        sleeper: NodeId,
        /// The sender hardware address: where the reply goes.
        requester_mac: MacAddr,
        /// The sender protocol address; `0.0.0.0` in a probe.
        requester_ip: Ipv4Addr,
        /// The sleeper's address being asked for.
        target_ip: Ipv4Addr,
        /// An RFC 5227 probe (sender IP `0.0.0.0`): another station checking whether the address
        /// is free, typically before taking it.
        probe: bool,
    },
    /// An ICMPv6 neighbour solicitation (hop limit 255) for a sleeper's IPv6 address.
    NeighborSolicitation {
        /// The sleeper that owns `target`.
        sleeper: NodeId,
        /// The source link-layer address option if present, else the Ethernet source.
        requester_mac: MacAddr,
        /// The IPv6 source; `::` in duplicate address detection.
        requester_ip: Ipv6Addr,
        /// The sleeper's address being asked for.
        target: Ipv6Addr,
        /// Duplicate address detection (source `::`): another station wants to use `target`.
        /// Answering it would make that station give the address up (RFC 4862 §5.4.3), which is
        /// wrong if the station is the sleeper itself, rebooted with another MAC.
        dad: bool,
    },
    /// A TCP SYN without ACK (or RST) to a sleeper's address.
    TcpSyn {
        /// The sleeper that owns `dst`.
        sleeper: NodeId,
        /// Who connects.
        src: IpAddr,
        /// Their port.
        src_port: u16,
        /// The sleeper's address.
        dst: IpAddr,
        /// The port connected to.
        dst_port: u16,
        /// `dst_port` is one of the sleeper's wake ports.
        wake: bool,
    },
    /// A magic packet in an EtherType 0x0842 frame or a UDP datagram (IPv4 or IPv6) to the
    /// Wake-on-LAN port given to [`classify`]; for any target, sleeper or not.
    MagicPacket {
        /// The MAC it wakes.
        target: MacAddr,
        /// Its SecureOn password, if any.
        password: Option<SecureOn>,
    },
    /// A frame whose Ethernet source is a sleeper's own MAC.
    FromSleeper {
        /// The sleeper.
        sleeper: NodeId,
        /// What kind of frame, enough to tell whether it proves the sleeper awake.
        what: FromSleeperKind,
    },
    /// Another station uses a sleeper's address: an Ethernet/IPv4 ARP packet whose sender IP is
    /// the sleeper's with a sender MAC that is not, or a neighbour advertisement for the sleeper's
    /// IPv6 address whose link-layer address (option, else Ethernet source) is not the sleeper's.
    ///
    /// This is how RFC 5227 and RFC 4862 detect an address conflict, and how the answer to an
    /// [`arp_probe`] or [`dad_probe`] arrives. It can mean the address was handed to someone else
    /// (DHCP reuse), or another proxy answering for the sleeper with its own MAC.
    AddressInUse {
        /// The sleeper whose address it is.
        sleeper: NodeId,
        /// The address.
        addr: IpAddr,
        /// The MAC the other station claims it for.
        by: MacAddr,
    },
}

/// The kind of a frame sent from a sleeper's MAC.
///
/// A sleeping NIC with ARP / NS power offload (NDIS `NET_POWER_OFFLOAD_ARP_PARAMETERS`) answers
/// requests by itself, so [`ArpReply`](Self::ArpReply) and
/// [`NeighborAdvertisement`](Self::NeighborAdvertisement) prove nothing; every other kind does
/// come from a running host.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FromSleeperKind {
    /// An ARP request (including an RFC 5227 probe) that is not an announcement.
    ArpRequest,
    /// An ARP reply that is not an announcement.
    ArpReply,
    /// A gratuitous ARP, request or reply, whose sender IP equals its target IP (RFC 5227
    /// announcement). Power offload only answers, so this comes from a running host.
    ArpAnnouncement,
    /// A neighbour solicitation, including duplicate address detection.
    NeighborSolicitation,
    /// A neighbour advertisement.
    NeighborAdvertisement,
    /// A TCP SYN without ACK, to anyone.
    TcpSyn,
    /// Anything else, including frames that would be [`Classified::Malformed`].
    Other,
}

/// `ff02::1:ffXX:XXXX`: the solicited-node multicast group of `addr` (RFC 4291 §2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// `33:33:` followed by the low 32 bits of the group: the Ethernet address of an IPv6 multicast
/// group (RFC 2464 §7).
pub fn ipv6_multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests;
