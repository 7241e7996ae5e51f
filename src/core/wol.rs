//! Wake-on-LAN magic packets: building them and finding them in captured payloads.
//!
//! A magic packet (AMD white paper #20213) is six `0xFF` bytes followed by the target MAC sixteen
//! times, 102 bytes, optionally followed by a 4- or 6-byte SecureOn password. The NIC finds it
//! *anywhere* in a frame, whatever carries it; senders put it in a UDP datagram (port 9 by
//! convention) or directly after an Ethernet header with EtherType 0x0842 (`etherwake`).
//!
//! Contract: no I/O, no allocation, and [`find_magic`] never panics, whatever the input. Writers
//! take a caller's buffer and panic only when it is shorter than the length they document, as the
//! `emit` half of a codec does.

use std::fmt;
use std::str::FromStr;

use crate::core::addr::MacAddr;

/// Length of a magic packet without a password: 6 sync bytes and 16 copies of the MAC.
pub const MAGIC_PACKET_LEN: usize = SYNC_LEN + MAC_BLOCK_LEN;
/// EtherType of a raw Wake-on-LAN frame, as `etherwake` sends it.
pub const ETHERTYPE_WOL: u16 = 0x0842;
/// The conventional UDP port for magic packets (discard); the NIC itself ignores the port.
pub const DEFAULT_WOL_PORT: u16 = 9;

const SYNC_LEN: usize = 6;
/// The sixteen MAC copies.
const MAC_BLOCK_LEN: usize = 16 * 6;
/// Longest payload [`MagicPacket::write_payload`] produces (6-byte password).
const MAX_PAYLOAD_LEN: usize = MAGIC_PACKET_LEN + 6;
const ETHERNET_HEADER_LEN: usize = 14;

/// A SecureOn password, sent in clear after the sixteenth MAC copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SecureOn {
    /// A 4-byte password (often written as an IPv4 address).
    Four([u8; 4]),
    /// A 6-byte password (often written as a MAC address).
    Six([u8; 6]),
}

impl SecureOn {
    /// The password bytes as sent.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Four(b) => b,
            Self::Six(b) => b,
        }
    }
}

impl fmt::Display for SecureOn {
    /// Colon-separated hex pairs, a form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A SecureOn password that could not be parsed; carries the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a SecureOn password: write 4 or 6 hexadecimal byte pairs separated by `:` \
     or `-` (aa:bb:cc:dd or aa:bb:cc:dd:ee:ff), or 4 decimal bytes separated by `.` (192.168.1.1)"
)]
pub struct ParseSecureOnError {
    /// What was given.
    pub text: String,
}

impl FromStr for SecureOn {
    type Err = ParseSecureOnError;

    /// Accepts the forms of `etherwake -p`: hex pairs `aa:bb:cc:dd[:ee:ff]` (or `-` separated) and
    /// dotted decimal `a.b.c.d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseSecureOnError { text: s.to_owned() };
        let t = s.trim();
        let mut bytes = [0u8; 6];
        let mut n = 0;
        if t.contains('.') {
            for part in t.split('.') {
                // `u8::from_str` alone would accept a leading `+`.
                if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                *bytes.get_mut(n).ok_or_else(err)? = part.parse().map_err(|_| err())?;
                n += 1;
            }
            if n != 4 {
                return Err(err());
            }
        } else {
            let sep = if t.contains(':') { ':' } else { '-' };
            for part in t.split(sep) {
                if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(err());
                }
                *bytes.get_mut(n).ok_or_else(err)? =
                    u8::from_str_radix(part, 16).map_err(|_| err())?;
                n += 1;
            }
        }
        match n {
            4 => Ok(Self::Four([bytes[0], bytes[1], bytes[2], bytes[3]])),
            6 => Ok(Self::Six(bytes)),
            _ => Err(err()),
        }
    }
}

/// A magic packet: whom it wakes and the password it carries, if any.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MagicPacket {
    /// The MAC repeated sixteen times: the NIC that wakes.
    pub target: MacAddr,
    /// The SecureOn password after the MAC copies.
    pub password: Option<SecureOn>,
}

impl MagicPacket {
    /// A packet without a password.
    pub const fn new(target: MacAddr) -> Self {
        Self { target, password: None }
    }

    /// Bytes [`write_payload`](Self::write_payload) writes: 102, 106 or 108.
    pub fn payload_len(&self) -> usize {
        MAGIC_PACKET_LEN + self.password.as_ref().map_or(0, |p| p.as_bytes().len())
    }

    /// Writes the payload (`6 × 0xFF`, the MAC 16 times, the password) at the start of `out` and
    /// returns its length, [`payload_len`](Self::payload_len).
    ///
    /// # Panics
    ///
    /// If `out` is shorter than [`payload_len`](Self::payload_len).
    pub fn write_payload(&self, out: &mut [u8]) -> usize {
        let len = self.payload_len();
        let out = &mut out[..len];
        out[..SYNC_LEN].fill(0xFF);
        for copy in out[SYNC_LEN..MAGIC_PACKET_LEN].chunks_exact_mut(6) {
            copy.copy_from_slice(&self.target.0);
        }
        if let Some(password) = &self.password {
            out[MAGIC_PACKET_LEN..].copy_from_slice(password.as_bytes());
        }
        len
    }

    /// The payload in an inline buffer: bytes `..len` of the array, `len` being the second value.
    pub fn payload(&self) -> ([u8; MAX_PAYLOAD_LEN], usize) {
        let mut buf = [0; MAX_PAYLOAD_LEN];
        let len = self.write_payload(&mut buf);
        (buf, len)
    }

    /// Bytes [`write_ethernet_frame`](Self::write_ethernet_frame) writes: 14 more than the
    /// payload, which is already above Ethernet's 60-byte minimum.
    pub fn ethernet_frame_len(&self) -> usize {
        ETHERNET_HEADER_LEN + self.payload_len()
    }

    /// Writes an Ethernet II frame with EtherType 0x0842 carrying the payload, what `etherwake`
    /// sends, and returns its length (no FCS; the NIC appends it).
    ///
    /// # Panics
    ///
    /// If `out` is shorter than [`ethernet_frame_len`](Self::ethernet_frame_len).
    pub fn write_ethernet_frame(&self, src: MacAddr, dst: MacAddr, out: &mut [u8]) -> usize {
        let (header, payload) = out.split_at_mut(ETHERNET_HEADER_LEN);
        header[0..6].copy_from_slice(&dst.0);
        header[6..12].copy_from_slice(&src.0);
        header[12..14].copy_from_slice(&ETHERTYPE_WOL.to_be_bytes());
        ETHERNET_HEADER_LEN + self.write_payload(payload)
    }
}

/// Finds a magic packet anywhere in `payload`, as the NIC does.
///
/// A match is a run of at least six `0xFF` followed by one MAC sixteen times. When the run is
/// longer than six, the MAC is taken to start right after it; only if that fails are MACs that
/// themselves begin with `0xFF` bytes (group addresses, never a real NIC's) tried, and last the
/// broadcast MAC, so a stray `0xFF` before the sync never shifts the answer.
///
/// The password follows Wireshark's rule, counted from the start of the six sync bytes: 106 or
/// 107 bytes available give a 4-byte password, 108 or more a 6-byte one. Whatever follows the
/// sixteenth copy is read as the password, so pass the datagram's payload, not a larger buffer.
///
/// Never panics and never allocates; bytes other than `0xFF` are skipped with `memchr`.
pub fn find_magic(payload: &[u8]) -> Option<MagicPacket> {
    let mut from = 0;
    loop {
        let start = from + memchr::memchr(0xFF, payload.get(from..)?)?;
        // No sync starting at or after `start` leaves room for the MAC copies.
        if payload.len() - start < MAGIC_PACKET_LEN {
            return None;
        }
        let run = payload[start..].iter().take_while(|&&b| b == 0xFF).count();
        if run >= SYNC_LEN {
            if let Some(found) = match_after_run(payload, start, run) {
                return Some(found);
            }
        }
        // Every sync inside this run has been tried: the next one starts after it.
        from = start + run;
    }
}

/// Tries the MAC alignments a run of `run ≥ 6` bytes of `0xFF` at `start` allows, latest first.
fn match_after_run(payload: &[u8], start: usize, run: usize) -> Option<MagicPacket> {
    let end = start + run;
    // A MAC starting `lead` bytes before the run's end begins with `lead` bytes of 0xFF; with six
    // or more it is all 0xFF, handled below.
    for lead in 0..SYNC_LEN.min(run - SYNC_LEN + 1) {
        if let Some(found) = match_at(payload, end - lead) {
            return Some(found);
        }
    }
    // A broadcast MAC: 96 more 0xFF after the sync, as late as the run allows.
    if run >= MAGIC_PACKET_LEN {
        return match_at(payload, end - MAC_BLOCK_LEN);
    }
    None
}

/// A magic packet whose MAC block starts at `mac_at` (the sync before it is the caller's check).
fn match_at(payload: &[u8], mac_at: usize) -> Option<MagicPacket> {
    let block = payload.get(mac_at..)?.first_chunk::<MAC_BLOCK_LEN>()?;
    // Sixteen copies of one MAC is exactly "the block equals itself shifted by six".
    if block[6..] != block[..MAC_BLOCK_LEN - 6] {
        return None;
    }
    let target = MacAddr([block[0], block[1], block[2], block[3], block[4], block[5]]);
    let after = &payload[mac_at + MAC_BLOCK_LEN..];
    let password = if let Some(p) = after.first_chunk::<6>() {
        Some(SecureOn::Six(*p))
    } else {
        after.first_chunk::<4>().map(|p| SecureOn::Four(*p))
    };
    Some(MagicPacket { target, password })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: MacAddr = MacAddr([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);

    fn bytes(p: &MagicPacket) -> Vec<u8> {
        let (buf, len) = p.payload();
        buf[..len].to_vec()
    }

    #[test]
    fn payload_layout() {
        let p = MagicPacket::new(MAC);
        let b = bytes(&p);
        assert_eq!(b.len(), 102);
        assert_eq!(&b[..6], &[0xFF; 6]);
        for copy in b[6..].chunks(6) {
            assert_eq!(copy, &MAC.0);
        }
        let four = MagicPacket { password: Some(SecureOn::Four([1, 2, 3, 4])), ..p };
        assert_eq!(four.payload_len(), 106);
        assert_eq!(&bytes(&four)[102..], &[1, 2, 3, 4]);
        let six = MagicPacket { password: Some(SecureOn::Six([1, 2, 3, 4, 5, 6])), ..p };
        assert_eq!(six.payload_len(), 108);
        assert_eq!(&bytes(&six)[102..], &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    #[should_panic]
    fn write_payload_panics_on_short_buffer() {
        MagicPacket::new(MAC).write_payload(&mut [0; 101]);
    }

    #[test]
    fn ethernet_frame() {
        let p = MagicPacket::new(MAC);
        let src = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut buf = [0u8; 200];
        let n = p.write_ethernet_frame(src, MacAddr::BROADCAST, &mut buf);
        assert_eq!(n, 116);
        assert_eq!(n, p.ethernet_frame_len());
        assert_eq!(&buf[..6], &[0xFF; 6]);
        assert_eq!(&buf[6..12], &src.0);
        assert_eq!(&buf[12..14], &[0x08, 0x42]);
        assert_eq!(find_magic(&buf[14..n]), Some(p));
    }

    #[test]
    fn finds_packet_with_and_without_password() {
        for password in [None, Some(SecureOn::Four([9, 8, 7, 6])), Some(SecureOn::Six([1; 6]))] {
            let p = MagicPacket { target: MAC, password };
            assert_eq!(find_magic(&bytes(&p)), Some(p));
        }
    }

    #[test]
    fn password_length_follows_wireshark() {
        let mut b = bytes(&MagicPacket::new(MAC));
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(find_magic(&b).unwrap().password, None, "105 bytes");
        b.push(4);
        assert_eq!(find_magic(&b).unwrap().password, Some(SecureOn::Four([1, 2, 3, 4])));
        b.push(5);
        assert_eq!(find_magic(&b).unwrap().password, Some(SecureOn::Four([1, 2, 3, 4])), "107");
        b.push(6);
        assert_eq!(find_magic(&b).unwrap().password, Some(SecureOn::Six([1, 2, 3, 4, 5, 6])));
    }

    #[test]
    fn longer_sync_run_and_offset() {
        let mut b = vec![0x11, 0xFF, 0xFF, 0xFF];
        b.extend(bytes(&MagicPacket::new(MAC)));
        assert_eq!(find_magic(&b), Some(MagicPacket::new(MAC)));
    }

    #[test]
    fn mac_starting_with_ff_and_broadcast_mac() {
        for target in [
            MacAddr([0xFF, 0xFF, 0, 1, 2, 3]),
            MacAddr([0xFF, 1, 2, 3, 4, 0xFF]),
            MacAddr::BROADCAST,
        ] {
            let p = MagicPacket::new(target);
            assert_eq!(find_magic(&bytes(&p)), Some(p), "{target}");
        }
    }

    #[test]
    fn rejects_near_misses() {
        assert_eq!(find_magic(&[]), None);
        assert_eq!(find_magic(&[0xFF; 101]), None);
        let good = bytes(&MagicPacket::new(MAC));
        assert_eq!(find_magic(&good[..101]), None);
        let mut bad = good.clone();
        bad[3] = 0; // five-byte sync
        assert_eq!(find_magic(&bad), None);
        let mut bad = good;
        bad[101] ^= 1; // sixteenth copy differs
        assert_eq!(find_magic(&bad), None);
    }

    #[test]
    fn secureon_text_forms() {
        let four = SecureOn::Four([0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!("aa:bb:cc:dd".parse(), Ok(four));
        assert_eq!("AA-BB-CC-DD".parse(), Ok(four));
        assert_eq!("192.168.0.1".parse(), Ok(SecureOn::Four([192, 168, 0, 1])));
        let six: SecureOn = "01:02:03:04:05:06".parse().unwrap();
        assert_eq!(six, SecureOn::Six([1, 2, 3, 4, 5, 6]));
        assert_eq!(six.to_string().parse(), Ok(six));
        assert_eq!(four.to_string(), "aa:bb:cc:dd");
    }

    #[test]
    fn secureon_rejects_and_quotes() {
        for text in [
            "",
            "aa:bb:cc",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "a:bb:cc:dd",
            "gg:bb:cc:dd",
            "1.2.3",
            "1.2.3.256",
            "1.2.3.+4",
            "1.2.3.4.5",
            "aa:bb-cc:dd",
            "1..2.3",
        ] {
            let err = text.parse::<SecureOn>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{text}`")) && msg.contains("aa:bb:cc:dd"), "{msg}");
        }
    }

    fn unicast_like_mac() -> impl Strategy<Value = MacAddr> {
        // A first byte of 0xFF makes a group address; real NICs never have one.
        (0u8..0xFF, any::<[u8; 5]>()).prop_map(|(a, r)| MacAddr([a, r[0], r[1], r[2], r[3], r[4]]))
    }

    fn password() -> impl Strategy<Value = Option<SecureOn>> {
        prop_oneof![
            Just(None),
            any::<[u8; 4]>().prop_map(|b| Some(SecureOn::Four(b))),
            any::<[u8; 6]>().prop_map(|b| Some(SecureOn::Six(b))),
        ]
    }

    proptest! {
        #[test]
        fn found_at_any_offset(
            target in unicast_like_mac(),
            password in password(),
            prefix in proptest::collection::vec(any::<u8>(), 0..300),
            suffix in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let p = MagicPacket { target, password };
            // Whatever follows the packet is read as its password (Wireshark's rule), so the
            // suffix may only be as long as leaves the expected password unchanged.
            let max_suffix = match password {
                None => 3,
                Some(SecureOn::Four(_)) => 1,
                Some(SecureOn::Six(_)) => usize::MAX,
            };
            let mut b = prefix;
            b.extend(bytes(&p));
            b.extend(suffix.iter().take(max_suffix));
            prop_assert_eq!(find_magic(&b), Some(p));
        }

        #[test]
        fn found_with_group_mac_when_unambiguous(
            target in any::<[u8; 6]>(),
            prefix in proptest::collection::vec(any::<u8>(), 0..50),
            after in 0u8..0xFF,
        ) {
            // A MAC beginning with 0xFF is ambiguous only if 0xFF also follows the block.
            let p = MagicPacket::new(MacAddr(target));
            let mut b = prefix;
            b.extend(bytes(&p));
            b.push(after);
            prop_assert_eq!(find_magic(&b), Some(p));
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = find_magic(&b);
        }

        #[test]
        fn never_panics_ff_heavy(
            b in proptest::collection::vec(prop_oneof![Just(0xFFu8), any::<u8>()], 0..400),
        ) {
            if let Some(p) = find_magic(&b) {
                // Whatever is found really is in there.
                let needle = bytes(&MagicPacket::new(p.target));
                prop_assert!(b.windows(needle.len()).any(|w| w == needle.as_slice()));
            }
        }
    }
}
