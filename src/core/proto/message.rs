//! The message values of protocol v1: what a datagram means once it has been authenticated.
//!
//! These are plain data. They say nothing about the wire (see `codec`) and enforce no limits
//! themselves: the encoder refuses values it cannot send (too many addresses, a prefix length
//! beyond the address width) and the decoder never produces them.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::core::addr::{MacAddr, NodeId};

/// The envelope fields every message carries besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The node that sent the message.
    pub sender: NodeId,
    /// Per-sender sequence number; strictly increasing over the sender's lifetime (see
    /// [`ReplayGuard`](super::ReplayGuard)).
    pub seq: u64,
    /// The sender's wall clock when it sent the message, in unix milliseconds.
    pub timestamp_ms: u64,
}

/// A decoded message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// "I am alive, this is who I am and what I think my role is."
    Heartbeat(Heartbeat),
    /// "I am about to sleep: answer for these addresses and wake me on these ports."
    SleepNotice(HostInfo),
    /// "I am awake again: stop answering for me."
    ResumeNotice(HostInfo),
    /// The manager announces that it now answers for a sleeping host.
    ProxyClaim(ProxyClaim),
    /// The manager announces that it no longer answers for a sleeping host.
    ProxyRelease(ProxyRelease),
    /// Asks the subnet's manager to send a Wake-on-LAN packet.
    WakeRequest(WakeRequest),
    /// The sender is shutting down its wakeproxy (not going to sleep): forget it now rather
    /// than after it stops sending heartbeats.
    Leave,
    /// What the sender knows of a sleeper nobody may have told a newcomer about: the subnet's
    /// manager sends it for the sleepers it knows and does not answer for itself (since v1.1).
    SleeperInfo(SleeperInfo),
}

impl Message {
    /// The kind byte this message is sent with.
    pub const fn kind(&self) -> MessageKind {
        match self {
            Self::Heartbeat(_) => MessageKind::Heartbeat,
            Self::SleepNotice(_) => MessageKind::SleepNotice,
            Self::ResumeNotice(_) => MessageKind::ResumeNotice,
            Self::ProxyClaim(_) => MessageKind::ProxyClaim,
            Self::ProxyRelease(_) => MessageKind::ProxyRelease,
            Self::WakeRequest(_) => MessageKind::WakeRequest,
            Self::Leave => MessageKind::Leave,
            Self::SleeperInfo(_) => MessageKind::SleeperInfo,
        }
    }
}

/// The kind byte of the header: which body follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageKind {
    /// [`Message::Heartbeat`].
    Heartbeat = 1,
    /// [`Message::SleepNotice`].
    SleepNotice = 2,
    /// [`Message::ResumeNotice`].
    ResumeNotice = 3,
    /// [`Message::ProxyClaim`].
    ProxyClaim = 4,
    /// [`Message::ProxyRelease`].
    ProxyRelease = 5,
    /// [`Message::WakeRequest`].
    WakeRequest = 6,
    /// [`Message::Leave`].
    Leave = 7,
    /// [`Message::SleeperInfo`].
    SleeperInfo = 8,
}

impl MessageKind {
    /// Every kind this version knows, in wire order.
    pub const ALL: [Self; 8] = [
        Self::Heartbeat,
        Self::SleepNotice,
        Self::ResumeNotice,
        Self::ProxyClaim,
        Self::ProxyRelease,
        Self::WakeRequest,
        Self::Leave,
        Self::SleeperInfo,
    ];

    /// The kind for a wire byte, or `None` for a kind this version does not know.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Heartbeat,
            2 => Self::SleepNotice,
            3 => Self::ResumeNotice,
            4 => Self::ProxyClaim,
            5 => Self::ProxyRelease,
            6 => Self::WakeRequest,
            7 => Self::Leave,
            8 => Self::SleeperInfo,
            _ => return None,
        })
    }

    /// A lowercase name for logs and error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Heartbeat => "heartbeat",
            Self::SleepNotice => "sleep-notice",
            Self::ResumeNotice => "resume-notice",
            Self::ProxyClaim => "proxy-claim",
            Self::ProxyRelease => "proxy-release",
            Self::WakeRequest => "wake-request",
            Self::Leave => "leave",
            Self::SleeperInfo => "sleeper-info",
        }
    }
}

/// An IPv4 address with its prefix length (`len` ≤ 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    /// The host's address (not the network address).
    pub addr: Ipv4Addr,
    /// Prefix length in bits.
    pub len: u8,
}

/// An IPv6 address with its prefix length (`len` ≤ 128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    /// The host's address (not the network address).
    pub addr: Ipv6Addr,
    /// Prefix length in bits.
    pub len: u8,
}

/// What a proxy needs to stand in for a host: where to send the magic packet, which addresses
/// to answer ARP / neighbour solicitations for, and which TCP ports should wake it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostInfo {
    /// The MAC address Wake-on-LAN targets.
    pub mac: MacAddr,
    /// At most [`MAX_IPV4`](super::MAX_IPV4) entries.
    pub ipv4: Vec<Ipv4Prefix>,
    /// At most [`MAX_IPV6`](super::MAX_IPV6) entries.
    pub ipv6: Vec<Ipv6Prefix>,
    /// TCP ports whose SYN should wake the host; at most [`MAX_TCP_PORTS`](super::MAX_TCP_PORTS).
    pub tcp_ports: Vec<u16>,
}

/// The sender's view of its own role on the subnet (see `election`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Role {
    /// An ordinary peer: it may still proxy sleepers the election gives it.
    #[default]
    Member = 0,
    /// The best-ranked node of the subnet; also its first guardian.
    Manager = 1,
    /// One of the best-ranked nodes that keep themselves awake so that someone can always
    /// answer for the sleepers.
    Guardian = 2,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Member => "member",
            Self::Manager => "manager",
            Self::Guardian => "guardian",
        })
    }
}

impl Role {
    /// The role for a wire byte, or `None` for a value this version does not define.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Member,
            1 => Self::Manager,
            2 => Self::Guardian,
            _ => return None,
        })
    }
}

/// Capability bits a node advertises in its heartbeat.
///
/// Bits this version does not name are kept as they came, so a node relaying or logging them
/// loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(pub u8);

impl Capabilities {
    /// No capability.
    pub const NONE: Self = Self(0);
    /// The node can act as a layer-2 proxy (answer ARP / NS for others, see their SYNs).
    pub const CAN_PROXY: Self = Self(1 << 0);
    /// The administrator prefers this node as guardian.
    pub const PREFERS_GUARDIAN: Self = Self(1 << 1);
    /// The node is in its startup (or resume) grace: it only listens for now. It ranks as
    /// usual but is given no sleeper until it sends a heartbeat without this bit (since v1.1).
    pub const LISTENING: Self = Self(1 << 2);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// See [`Self::CAN_PROXY`].
    pub const fn can_proxy(self) -> bool {
        self.contains(Self::CAN_PROXY)
    }

    /// See [`Self::PREFERS_GUARDIAN`].
    pub const fn prefers_guardian(self) -> bool {
        self.contains(Self::PREFERS_GUARDIAN)
    }

    /// See [`Self::LISTENING`].
    pub const fn listening(self) -> bool {
        self.contains(Self::LISTENING)
    }
}

impl std::ops::BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

/// The periodic liveness and election message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heartbeat {
    /// The sender's own addresses and wake ports.
    pub host: HostInfo,
    /// The role the sender believes it holds.
    pub role: Role,
    /// The election term the sender's role belongs to.
    pub term: u64,
    /// Unix seconds at which the sender booted; lets peers tell a reboot from a long silence.
    pub boot_time_s: u64,
    /// What the sender can do.
    pub caps: Capabilities,
    /// How many peers the sender heard (accepted a signed message from) on this LAN within the
    /// last 2.5 heartbeat intervals; `Some(0)` from a node that hears nobody (alone, just
    /// started, or deaf: a firewall drops its inbound UDP), which is then no candidate for any
    /// role. `None` from a v1.0 sender, which does not say (on the wire: `0xffff`). Since v1.1.
    pub peers_heard: Option<u16>,
    /// The sleepers the sender answers for now (v1.1), so that two proxies of one sleeper
    /// meet at the next heartbeat whatever claims were lost. At most as many as fit.
    pub claims: Vec<NodeId>,
    /// `claims` lists every sleeper the sender answers for (v1.1). When false (too many to
    /// fit), a sleeper missing from the list may still be claimed.
    pub claims_complete: bool,
}

/// A proxy's announcement that it answers for `sleeper`, with everything another node needs to
/// answer for it in its place (v1.1): a node that never heard the sleeper's own SleepNotice
/// (it joined later, or lost its state) learns the sleeper from the claims of others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyClaim {
    /// The sleeping node.
    pub sleeper: NodeId,
    /// Its MAC address.
    pub sleeper_mac: MacAddr,
    /// The claimant's election term.
    pub term: u64,
    /// How long the sleeper has been asleep, in seconds (saturating). Since v1.1; 0 from v1.0.
    pub asleep_for_s: u32,
    /// The sleeper's MAC, addresses and wake ports, as its SleepNotice said. Since v1.1; from a
    /// v1.0 sender only `mac` is set (to `sleeper_mac`) and the lists are empty.
    pub host: HostInfo,
}

/// A sleeper's host information, from a node that knows it (v1.1): the subnet's manager
/// announces every sleeper it does not answer for itself when a node joins (or restarts) and
/// every few heartbeats, so no node is left unable to serve a sleeper it never heard sleep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SleeperInfo {
    /// The sleeping node.
    pub sleeper: NodeId,
    /// How long it has been asleep, in seconds (saturating).
    pub asleep_for_s: u32,
    /// Its MAC, addresses and wake ports, as its SleepNotice said.
    pub host: HostInfo,
}

/// The manager's announcement that it stopped answering for `sleeper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyRelease {
    /// The node that was being proxied.
    pub sleeper: NodeId,
    /// Its MAC address.
    pub sleeper_mac: MacAddr,
    /// The term of the claim being released.
    pub term: u64,
    /// Why.
    pub reason: ReleaseReason,
}

/// Why a proxy let go of a sleeper. One byte on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseReason {
    /// The proxy woke the host.
    Woken,
    /// The host was seen on the network itself.
    OwnerSeen,
    /// Another node took over (new manager).
    Reassigned,
    /// The proxy itself is shutting down.
    Leaving,
    /// A code this version does not name. Holding a named code here (`Other(1)`) encodes the
    /// same byte as the named variant; [`Self::from_u8`] never builds such a value.
    Other(u8),
}

impl ReleaseReason {
    /// The reason for a wire byte. Every byte is valid, so newer reasons pass through.
    pub const fn from_u8(b: u8) -> Self {
        match b {
            1 => Self::Woken,
            2 => Self::OwnerSeen,
            3 => Self::Reassigned,
            4 => Self::Leaving,
            other => Self::Other(other),
        }
    }

    /// The wire byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Woken => 1,
            Self::OwnerSeen => 2,
            Self::Reassigned => 3,
            Self::Leaving => 4,
            Self::Other(b) => b,
        }
    }
}

/// A request to the subnet's manager to wake a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WakeRequest {
    /// The MAC address to put in the magic packet.
    pub target: MacAddr,
    /// The SecureOn password to append, if the target's NIC wants one.
    pub password: WakePassword,
    /// Chosen by the requester so it can match logs and retries.
    pub request_id: u32,
    /// Why the wake is wanted.
    pub reason: WakeReason,
}

/// A SecureOn password: none, or 4 or 6 bytes appended to the magic packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WakePassword {
    /// No password.
    #[default]
    None,
    /// A 4-byte password (often written as an IPv4 address).
    Four([u8; 4]),
    /// A 6-byte password (often written as a MAC address).
    Six([u8; 6]),
}

impl WakePassword {
    /// The password bytes (empty for [`Self::None`]).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::None => &[],
            Self::Four(b) => b,
            Self::Six(b) => b,
        }
    }
}

/// Why a wake was requested. One byte on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WakeReason {
    /// An operator asked for it.
    Operator,
    /// A TCP SYN arrived for one of the sleeper's wake ports.
    TcpSyn,
    /// A scheduled wake.
    Schedule,
    /// A code this version does not name (see [`ReleaseReason::Other`] for the same caveat).
    Other(u8),
}

impl WakeReason {
    /// The reason for a wire byte. Every byte is valid, so newer reasons pass through.
    pub const fn from_u8(b: u8) -> Self {
        match b {
            1 => Self::Operator,
            2 => Self::TcpSyn,
            3 => Self::Schedule,
            other => Self::Other(other),
        }
    }

    /// The wire byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Operator => 1,
            Self::TcpSyn => 2,
            Self::Schedule => 3,
            Self::Other(b) => b,
        }
    }
}

/// The result of decoding an authenticated datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message this version understands.
    Message(Header, Message),
    /// A kind this version does not know, from a peer with the same major version and the right
    /// key: skip it (it is not an error; a newer minor version added it).
    Unknown {
        /// The envelope, which is still meaningful (e.g. for replay checks and liveness).
        header: Header,
        /// The unknown kind byte.
        kind: u8,
    },
}

impl Decoded {
    /// The envelope, whatever the kind.
    pub const fn header(&self) -> &Header {
        match self {
            Self::Message(h, _) | Self::Unknown { header: h, .. } => h,
        }
    }
}

impl std::fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl serde::Serialize for Ipv4Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for Ipv6Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Splits `addr/len` and checks `len ≤ max`; the error says what a valid value looks like.
fn parse_prefix<A: std::str::FromStr>(s: &str, max: u8, example: &str) -> Result<(A, u8), String> {
    let bad = || format!("`{s}` is not an address with a prefix length: write it as {example}");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > max {
        return Err(format!("`{s}`: the prefix length is {len}, at most {max} is possible"));
    }
    Ok((addr, len))
}

impl<'de> serde::Deserialize<'de> for Ipv4Prefix {
    /// The form [`Serialize`](serde::Serialize) writes: `"10.0.0.5/24"`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (addr, len) = parse_prefix(&s, 32, "10.0.0.5/24").map_err(serde::de::Error::custom)?;
        Ok(Self { addr, len })
    }
}

impl<'de> serde::Deserialize<'de> for Ipv6Prefix {
    /// The form [`Serialize`](serde::Serialize) writes: `"fe80::1/64"`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (addr, len) = parse_prefix(&s, 128, "fe80::1/64").map_err(serde::de::Error::custom)?;
        Ok(Self { addr, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_deserialize_from_what_they_serialize_to() {
        let v4 = Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, 5), len: 24 };
        let v6 = Ipv6Prefix { addr: "fe80::1".parse().unwrap(), len: 64 };
        let j4 = serde_json::to_string(&v4).unwrap();
        let j6 = serde_json::to_string(&v6).unwrap();
        assert_eq!(j4, r#""10.0.0.5/24""#);
        assert_eq!(serde_json::from_str::<Ipv4Prefix>(&j4).unwrap(), v4);
        assert_eq!(serde_json::from_str::<Ipv6Prefix>(&j6).unwrap(), v6);
        for bad in [r#""10.0.0.5""#, r#""10.0.0.5/33""#, r#""x/24""#, r#""10.0.0.5/-1""#, "5"] {
            assert!(serde_json::from_str::<Ipv4Prefix>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Ipv6Prefix>(r#""::1/129""#).unwrap_err().to_string();
        assert!(err.contains("at most 128"), "{err}");
    }

    #[test]
    fn kind_bytes_round_trip_and_unknown_bytes_are_none() {
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(MessageKind::from_u8(0), None);
        assert_eq!(MessageKind::from_u8(9), None);
    }

    #[test]
    fn reason_codes_round_trip_for_every_byte() {
        for b in 0..=u8::MAX {
            assert_eq!(ReleaseReason::from_u8(b).to_u8(), b);
            assert_eq!(WakeReason::from_u8(b).to_u8(), b);
        }
    }

    #[test]
    fn capabilities_keep_unknown_bits() {
        let c = Capabilities(0b1000_0001);
        assert!(c.can_proxy());
        assert!(!c.prefers_guardian());
        assert_eq!(c.0 & 0x80, 0x80);
        let both = Capabilities::CAN_PROXY | Capabilities::PREFERS_GUARDIAN;
        assert!(both.can_proxy() && both.prefers_guardian());
    }
}
