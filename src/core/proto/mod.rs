//! The peer protocol, version 1: the signed UDP datagrams wake-up proxies exchange.
//!
//! Contract:
//!
//! - **Sans-IO.** Bytes in, values out: no sockets, no clock. Times are arguments.
//! - **[`decode`] never panics** on any input and checks, in this order: length, magic, major
//!   version, size, body length, then the HMAC tag (in constant time), and only then the kind
//!   and body. Nothing the body says is looked at before the tag verified.
//! - **[`encode`]** produces at most [`MAX_DATAGRAM`] bytes, so a datagram never fragments on a
//!   1500-byte LAN, and refuses (never truncates) what does not fit.
//! - **Versioning.** A different major version is refused as [`DecodeError::UnsupportedVersion`].
//!   Within major 1, an unknown kind is [`Decoded::Unknown`] (skip it), and a sender with a
//!   newer minor version may append fields, which are ignored.
//! - **Freshness is separate.** A tag proves a key holder built the datagram, not that it is
//!   new: pass every decoded header to a [`ReplayGuard`].
//!
//! The byte-level specification, with hex dumps checked against this code by a test, is
//! `docs/protocol.md`.

mod auth;
mod codec;
mod envelope;
mod error;
mod message;
mod replay_window;

#[cfg(test)]
mod doc_examples;
#[cfg(test)]
mod proptests;

pub use auth::{
    KEY_ID_LABEL, KEY_ID_LEN, KeyError, KeyId, MAX_KEY_LEN, MIN_KEY_LEN, SiteKey, VerifiedWith,
};
pub use codec::MAX_CLAIMS;
pub use envelope::{HEADER_LEN, MIN_DATAGRAM, decode, decode_verified_with, encode};
pub use error::{DecodeError, EncodeError, ErrorClass};
pub use message::{
    Capabilities, Decoded, Header, Heartbeat, HostInfo, Ipv4Prefix, Ipv6Prefix, Message,
    MessageKind, ProxyClaim, ProxyRelease, ReleaseReason, Role, SleeperInfo, WakePassword,
    WakeReason, WakeRequest,
};
pub use replay_window::{DEFAULT_REPLAY_WINDOW, MAX_SENDERS, ReplayError, ReplayGuard};

/// The first four bytes of every datagram.
pub const MAGIC: [u8; 4] = *b"WKPX";
/// Incompatible changes bump the major version; peers refuse every other major.
pub const VERSION_MAJOR: u8 = 1;
/// Compatible additions (new kinds, appended fields, flags) bump the minor version.
pub const VERSION_MINOR: u8 = 1;
/// The UDP port peers listen on and send to.
pub const DEFAULT_PEER_PORT: u16 = 25536;
/// Length of the message tag: HMAC-SHA256 truncated to its leftmost 16 bytes (128 bits).
pub const TAG_LEN: usize = 16;
/// The largest datagram, header and tag included: 1500-byte MTU minus IPv4/IPv6 and UDP
/// headers, with room to spare for tunnels.
pub const MAX_DATAGRAM: usize = 1400;
/// Most IPv4 prefixes one host may advertise.
pub const MAX_IPV4: usize = 16;
/// Most IPv6 prefixes one host may advertise.
pub const MAX_IPV6: usize = 16;
/// Most TCP wake ports one host may advertise.
pub const MAX_TCP_PORTS: usize = 512;
