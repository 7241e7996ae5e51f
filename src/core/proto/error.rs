//! Why a datagram could not be decoded, or a message could not be encoded.
//!
//! Decode errors are cheap values (no allocation, no boxing): they happen on the receive path
//! for every stray or hostile datagram. Each one says what is wrong and what to do about it, and
//! [`DecodeError::class`] folds them into the three counters a node exposes.

use super::{VERSION_MAJOR, VERSION_MINOR, message::MessageKind};

/// Why [`decode`](super::decode) rejected a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than a header and a tag: not a wakeproxy datagram, or cut short.
    #[error(
        "datagram of {len} bytes is too short for a wakeproxy message: something else sends to \
         the wakeproxy port, or the datagram was truncated"
    )]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// Does not start with `WKPX`: some other protocol uses the port.
    #[error(
        "datagram does not start with the wakeproxy magic \"WKPX\": another program sends to \
         the wakeproxy port; give one of them another port"
    )]
    BadMagic,
    /// A major version this node does not speak; nothing after the version byte was read.
    #[error("{}", version_message(*major, *minor))]
    UnsupportedVersion {
        /// The sender's major version.
        major: u8,
        /// The sender's minor version.
        minor: u8,
    },
    /// The header's body length disagrees with the datagram's length.
    #[error(
        "header declares a {declared}-byte body but the datagram holds {actual}: the datagram \
         was truncated or padded on the way, or the sender is faulty"
    )]
    LengthMismatch {
        /// The body length the header declares.
        declared: usize,
        /// The body length the datagram actually holds.
        actual: usize,
    },
    /// Unauthenticated: the tag does not verify (wrong key, or altered in transit).
    #[error(
        "message tag does not verify: the sender uses a different site key, or the datagram was \
         altered; check that every node has the same key file"
    )]
    BadTag,
    /// A well-formed envelope around a body that breaks the format.
    #[error(
        "malformed {} message (kind {kind}): {what}; the sender's wakeproxy is faulty or \
         incompatible: compare versions and report it",
        kind_name(*kind)
    )]
    Malformed {
        /// The header's kind byte.
        kind: u8,
        /// What is wrong, e.g. "IPv4 prefix length above 32".
        what: &'static str,
    },
}

/// The three counters decode failures are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Not well-formed: noise on the port or a faulty sender.
    Malformed,
    /// Did not verify under the site key: a key mismatch or tampering.
    Unauthenticated,
    /// A protocol version this node does not speak: a mixed-version deployment.
    Version,
}

impl DecodeError {
    /// Which counter this error belongs in.
    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::TooShort { .. }
            | Self::BadMagic
            | Self::LengthMismatch { .. }
            | Self::Malformed { .. } => ErrorClass::Malformed,
            Self::BadTag => ErrorClass::Unauthenticated,
            Self::UnsupportedVersion { .. } => ErrorClass::Version,
        }
    }
}

/// Why [`encode`](super::encode) refused a message. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The datagram would exceed [`MAX_DATAGRAM`](super::MAX_DATAGRAM) bytes and could fragment.
    #[error(
        "message would be {len} bytes, above the {max}-byte limit that keeps a datagram in one \
         LAN frame: advertise fewer addresses or wake ports"
    )]
    TooLarge {
        /// The datagram length the message would need.
        len: usize,
        /// [`MAX_DATAGRAM`](super::MAX_DATAGRAM).
        max: usize,
    },
    /// A list is longer than the protocol allows.
    #[error("{count} {what} exceed the protocol's limit of {max} per message: list fewer")]
    TooMany {
        /// Which list, e.g. "TCP wake ports".
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A prefix length beyond the address width.
    #[error("prefix length /{len} is longer than the address (/{max} at most): fix the address")]
    InvalidPrefix {
        /// The prefix length given.
        len: u8,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

// The advice depends on which side is behind, so the message is built rather than fixed.
fn version_message(major: u8, minor: u8) -> String {
    let advice = if major > VERSION_MAJOR { "upgrade this node" } else { "upgrade the peer" };
    format!(
        "peer speaks wakeproxy protocol v{major}.{minor}, this node speaks \
         v{VERSION_MAJOR}.{VERSION_MINOR}: {advice}"
    )
}

fn kind_name(kind: u8) -> &'static str {
    match MessageKind::from_u8(kind) {
        Some(k) => k.name(),
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_message_tells_which_side_to_upgrade() {
        let newer = DecodeError::UnsupportedVersion { major: 2, minor: 3 }.to_string();
        assert_eq!(
            newer,
            "peer speaks wakeproxy protocol v2.3, this node speaks v1.1: upgrade this node"
        );
        let older = DecodeError::UnsupportedVersion { major: 0, minor: 9 }.to_string();
        assert!(older.ends_with("upgrade the peer"), "{older}");
    }

    #[test]
    fn classes() {
        assert_eq!(DecodeError::BadTag.class(), ErrorClass::Unauthenticated);
        assert_eq!(
            DecodeError::UnsupportedVersion { major: 2, minor: 0 }.class(),
            ErrorClass::Version
        );
        for e in [
            DecodeError::TooShort { len: 3 },
            DecodeError::BadMagic,
            DecodeError::LengthMismatch { declared: 1, actual: 2 },
            DecodeError::Malformed { kind: 1, what: "x" },
        ] {
            assert_eq!(e.class(), ErrorClass::Malformed, "{e}");
        }
    }

    #[test]
    fn malformed_names_the_kind() {
        let e = DecodeError::Malformed { kind: 6, what: "SecureOn password length not 0, 4 or 6" };
        assert!(e.to_string().starts_with("malformed wake-request message (kind 6): SecureOn"));
    }
}
