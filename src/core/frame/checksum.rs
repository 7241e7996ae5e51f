//! The Internet checksum (RFC 1071) with the IPv6 pseudo-header (RFC 8200 §8.1).

use std::net::Ipv6Addr;

/// Adds `data` as big-endian 16-bit words (an odd last byte padded with zero) to `sum`.
fn add_words(mut sum: u32, data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds the carries and complements.
fn finish(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// The plain Internet checksum of `data` (an IPv4 header with its checksum field zeroed).
pub(crate) fn ones_complement(data: &[u8]) -> u16 {
    finish(add_words(0, data))
}

/// The checksum of an upper-layer message over IPv4 (RFC 793's pseudo-header: `addrs` is the
/// source then the destination address, as in the IPv4 header), with its checksum field zeroed.
pub(crate) fn ipv4_upper_layer(addrs: [u8; 8], protocol: u8, message: &[u8]) -> u16 {
    let mut sum = add_words(0, &addrs);
    sum += u32::from(protocol) + message.len() as u32;
    finish(add_words(sum, message))
}

/// The checksum of an upper-layer message over IPv6, with its checksum field zeroed or, to verify,
/// as received (then a correct message gives 0).
///
/// Callers pass messages of at most a frame's size, so the 32-bit sum cannot overflow.
pub(crate) fn ipv6_upper_layer(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    message: &[u8],
) -> u16 {
    let mut sum = add_words(0, &src.octets());
    sum = add_words(sum, &dst.octets());
    // Upper-layer length (32 bits) and next header (32 bits, zero-padded).
    let len = message.len() as u32;
    sum += (len >> 16) + (len & 0xFFFF) + u32::from(next_header);
    finish(add_words(sum, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        assert_eq!(
            finish(add_words(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            !0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(add_words(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }
}
