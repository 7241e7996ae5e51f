//! Identifiers: Ethernet MAC addresses and 128-bit node ids.
//!
//! Both are plain `Copy` values with a strict text form, so that a malformed address typed by an
//! operator is an error that quotes the offending text.

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);
    /// `00:00:00:00:00:00`, used where ARP leaves a field unknown.
    pub const ZERO: Self = Self([0; 6]);

    /// The six bytes, most significant first.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for the broadcast address and for every group (multicast) address.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for an address that names one station: not zero, not a group address.
    pub const fn is_unicast(self) -> bool {
        !self.is_multicast() && !matches!(self.0, [0, 0, 0, 0, 0, 0])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address that could not be parsed; carries the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a MAC address: write six hexadecimal byte pairs separated by `:` or `-` \
     (aa:bb:cc:dd:ee:ff), or twelve hexadecimal digits"
)]
pub struct ParseMacError {
    /// What was given.
    pub text: String,
}

impl FromStr for MacAddr {
    type Err = ParseMacError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and `aabbccddeeff`, in either case:
    /// the forms `wakeonlan`, `etherwake` and Windows print.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError { text: s.to_owned() };
        let t = s.trim();
        let mut out = [0u8; 6];
        let hex_pairs: Vec<&str> = if t.len() == 12 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..6).map(|i| &t[2 * i..2 * i + 2]).collect()
        } else {
            let sep = if t.contains(':') { ':' } else { '-' };
            t.split(sep).collect()
        };
        if hex_pairs.len() != 6 {
            return Err(err());
        }
        for (slot, pair) in out.iter_mut().zip(hex_pairs) {
            if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *slot = u8::from_str_radix(pair, 16).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A node's stable identity: 128 random bits created once and persisted by the daemon.
///
/// Ordering is numeric (big-endian bytes), which the election uses as its last tie-break.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 16]);

impl NodeId {
    /// The id as one 128-bit number (big-endian).
    pub const fn as_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Builds an id from a 128-bit number (big-endian).
    pub const fn from_u128(v: u128) -> Self {
        Self(v.to_be_bytes())
    }
}

impl fmt::Display for NodeId {
    /// 32 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.as_u128())
    }
}

impl fmt::Debug for NodeId {
    /// The first 8 hex digits are enough to tell peers apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", (self.as_u128() >> 96) as u32)
    }
}

/// A node id that could not be parsed; carries the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a node id: write 32 hexadecimal digits")]
pub struct ParseNodeIdError {
    /// What was given.
    pub text: String,
}

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseNodeIdError { text: s.to_owned() });
        }
        u128::from_str_radix(t, 16)
            .map(Self::from_u128)
            .map_err(|_| ParseNodeIdError { text: s.to_owned() })
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_accepts_the_usual_forms() {
        let want = MacAddr([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        for text in
            ["00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a2b3c4d5e", " 00:1a:2b:3c:4d:5e "]
        {
            assert_eq!(text.parse::<MacAddr>().unwrap(), want, "{text}");
        }
        assert_eq!(want.to_string(), "00:1a:2b:3c:4d:5e");
    }

    #[test]
    fn mac_rejects_malformed_text_and_quotes_it() {
        for text in [
            "",
            "00:1a:2b:3c:4d",
            "00:1a:2b:3c:4d:5e:6f",
            "0:1a:2b:3c:4d:5e",
            "zz:1a:2b:3c:4d:5e",
            "00:1a-2b:3c:4d:5e",
            "+0:1a:2b:3c:4d:5e",
        ] {
            let err = text.parse::<MacAddr>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{text}`")), "{err}");
        }
    }

    #[test]
    fn node_id_round_trips_through_text() {
        let id = NodeId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
        assert!("xyz".parse::<NodeId>().is_err());
    }

    #[test]
    fn multicast_and_unicast() {
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::ZERO.is_unicast());
        assert!(MacAddr([0x02, 0, 0, 0, 0, 1]).is_unicast());
    }
}
