//! Numbers and field offsets shared by the classifier and the builders.

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
pub(crate) const ETHERTYPE_VLAN: u16 = 0x8100;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86DD;

pub(crate) const ETHERNET_HEADER_LEN: usize = 14;
/// Shorter frames are padded with zeros: IEEE 802.3's 64-byte minimum, less the FCS.
pub(crate) const ETHERNET_MIN_LEN: usize = 60;
pub(crate) const VLAN_TAG_LEN: usize = 4;

/// Ethernet/IPv4 ARP: `htype 1, ptype 0x0800, hlen 6, plen 4`, then the operation.
pub(crate) const ARP_ETHERNET_IPV4: [u8; 6] = [0, 1, 0x08, 0x00, 6, 4];
pub(crate) const ARP_REQUEST: u16 = 1;
pub(crate) const ARP_REPLY: u16 = 2;

pub(crate) const IPV4_MIN_HEADER_LEN: usize = 20;

pub(crate) const IP_PROTO_TCP: u8 = 6;
pub(crate) const IP_PROTO_UDP: u8 = 17;
pub(crate) const IP_PROTO_ICMPV6: u8 = 58;

pub(crate) const TCP_MIN_HEADER_LEN: usize = 20;
pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_ACK: u8 = 0x10;

pub(crate) const UDP_HEADER_LEN: usize = 8;

pub(crate) const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
pub(crate) const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// Type, code, checksum, 4 bytes of flags or reserved, 16 bytes of target.
pub(crate) const ND_MESSAGE_LEN: usize = 24;
/// RFC 4861 §7.1: neighbour discovery comes from the link itself, never through a router.
pub(crate) const ND_HOP_LIMIT: u8 = 255;
pub(crate) const ND_OPT_SOURCE_LLADDR: u8 = 1;
pub(crate) const ND_OPT_TARGET_LLADDR: u8 = 2;
/// A link-layer address option for Ethernet: type, length 1 (in 8-byte units), 6-byte MAC.
pub(crate) const ND_OPT_LLADDR_LEN: usize = 8;
pub(crate) const NA_FLAG_SOLICITED: u8 = 0x40;
pub(crate) const NA_FLAG_OVERRIDE: u8 = 0x20;
