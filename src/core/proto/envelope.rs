//! The datagram envelope: header, body length, tag; and the order in which a receiver checks
//! them.
//!
//! ```text
//! magic[4] | major | minor | kind | flags | sender[16] | seq u64 | timestamp_ms u64 | body_len u16 | body | tag[16]
//! ```
//!
//! `decode` checks cheap, unauthenticated facts first (length, magic, version, sizes), then the
//! tag, and only then looks at anything the body or the kind byte say. So an attacker without
//! the key can reach the HMAC but never the body parser, and a newer peer is reported as a
//! version problem rather than as a bad tag.

use super::auth::{SiteKey, VerifiedWith};
use super::codec::{decode_body, encode_body};
use super::error::{DecodeError, EncodeError};
use super::message::{Decoded, Header, Message, MessageKind};
use super::{MAGIC, MAX_DATAGRAM, TAG_LEN, VERSION_MAJOR, VERSION_MINOR};
use crate::core::addr::NodeId;

/// Bytes before the body.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 1 + 1 + 16 + 8 + 8 + 2;

/// The shortest valid datagram: a header, an empty body and the tag.
pub const MIN_DATAGRAM: usize = HEADER_LEN + TAG_LEN;

/// Encodes `msg` as one datagram into `out` (cleared first), tagged with `key`.
///
/// Refuses a message whose datagram would exceed [`MAX_DATAGRAM`] bytes or that breaks a list
/// limit; `out` is then left empty, so a half-built datagram can never be sent by mistake.
pub fn encode(
    key: &SiteKey,
    header: &Header,
    msg: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.clear();
    let result = encode_into(key, header, msg, out);
    if result.is_err() {
        out.clear();
    }
    result
}

fn encode_into(
    key: &SiteKey,
    header: &Header,
    msg: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[VERSION_MAJOR, VERSION_MINOR, msg.kind() as u8, 0]);
    out.extend_from_slice(&header.sender.0);
    out.extend_from_slice(&header.seq.to_be_bytes());
    out.extend_from_slice(&header.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // body_len, patched below
    encode_body(msg, out)?;

    let len = out.len() + TAG_LEN;
    if len > MAX_DATAGRAM {
        return Err(EncodeError::TooLarge { len, max: MAX_DATAGRAM });
    }
    // Lossless: bounded by MAX_DATAGRAM just above.
    let body_len = (out.len() - HEADER_LEN) as u16;
    if let Some(slot) = out.get_mut(HEADER_LEN - 2..HEADER_LEN) {
        slot.copy_from_slice(&body_len.to_be_bytes());
    }
    let tag = key.tag(out);
    out.extend_from_slice(&tag);
    Ok(())
}

/// Decodes and authenticates one datagram. Never panics, whatever the input.
///
/// Checks, in order: length, magic, major version, size limit, body length, tag; then the
/// kind (an unknown one yields [`Decoded::Unknown`]), the reserved flags and the body. Replay
/// is not checked here: pass the header to a [`ReplayGuard`](super::ReplayGuard).
pub fn decode(key: &SiteKey, datagram: &[u8]) -> Result<Decoded, DecodeError> {
    decode_verified_with(key, datagram).map(|(decoded, _)| decoded)
}

/// [`decode`], also saying which of `key`'s keys verified the tag: the current one, or the
/// other accepted one (a peer that is a phase ahead or behind in a key rollover).
pub fn decode_verified_with(
    key: &SiteKey,
    datagram: &[u8],
) -> Result<(Decoded, VerifiedWith), DecodeError> {
    let too_short = DecodeError::TooShort { len: datagram.len() };
    let Some((signed, tag)) = datagram.split_last_chunk::<TAG_LEN>() else {
        return Err(too_short);
    };
    let Some((head, body)) = signed.split_first_chunk::<HEADER_LEN>() else {
        return Err(too_short);
    };
    let raw = RawHeader::parse(head);

    if raw.magic != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if raw.major != VERSION_MAJOR {
        return Err(DecodeError::UnsupportedVersion { major: raw.major, minor: raw.minor });
    }
    if datagram.len() > MAX_DATAGRAM {
        return Err(DecodeError::Malformed { kind: raw.kind, what: OVERSIZE });
    }
    if usize::from(raw.body_len) != body.len() {
        return Err(DecodeError::LengthMismatch {
            declared: raw.body_len.into(),
            actual: body.len(),
        });
    }
    let Some(verified_with) = key.verify(signed, tag) else {
        return Err(DecodeError::BadTag);
    };

    // Authenticated from here on: what follows trusts the sender to hold the site key.
    let Some(kind) = MessageKind::from_u8(raw.kind) else {
        return Ok((Decoded::Unknown { header: raw.header, kind: raw.kind }, verified_with));
    };
    // A newer minor may define flags and append fields; from an equal or older one both are
    // faults, and tolerating them would hide the bug.
    let newer_minor = raw.minor > VERSION_MINOR;
    if raw.flags != 0 && !newer_minor {
        return Err(DecodeError::Malformed { kind: raw.kind, what: "reserved flags set" });
    }
    let msg = decode_body(kind, body, raw.minor)?;
    Ok((Decoded::Message(raw.header, msg), verified_with))
}

const OVERSIZE: &str = "datagram longer than 1400 bytes";
const _: () = assert!(MAX_DATAGRAM == 1400, "update OVERSIZE");

/// The header fields as they came, before any is judged.
struct RawHeader {
    magic: [u8; 4],
    major: u8,
    minor: u8,
    kind: u8,
    flags: u8,
    header: Header,
    body_len: u16,
}

impl RawHeader {
    // Destructuring a fixed-size array: every field exists, so no read can fail.
    fn parse(b: &[u8; HEADER_LEN]) -> Self {
        let (magic, rest) = split::<4>(b);
        let ([major, minor, kind, flags], rest) = split::<4>(rest);
        let (sender, rest) = split::<16>(rest);
        let (seq, rest) = split::<8>(rest);
        let (timestamp_ms, rest) = split::<8>(rest);
        let (body_len, _) = split::<2>(rest);
        Self {
            magic,
            major,
            minor,
            kind,
            flags,
            header: Header {
                sender: NodeId(sender),
                seq: u64::from_be_bytes(seq),
                timestamp_ms: u64::from_be_bytes(timestamp_ms),
            },
            body_len: u16::from_be_bytes(body_len),
        }
    }
}

/// The first `N` bytes and the rest; zeros if short, which `RawHeader::parse` never is.
fn split<const N: usize>(b: &[u8]) -> ([u8; N], &[u8]) {
    match b.split_first_chunk::<N>() {
        Some((head, rest)) => (*head, rest),
        None => ([0; N], &[]),
    }
}

/// Builds an authenticated datagram with any header bytes and any body, for tests that need
/// what `encode` refuses to produce.
#[cfg(test)]
pub(crate) fn seal_raw(
    key: &SiteKey,
    [major, minor, kind, flags]: [u8; 4],
    header: &Header,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(MIN_DATAGRAM + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[major, minor, kind, flags]);
    out.extend_from_slice(&header.sender.0);
    out.extend_from_slice(&header.seq.to_be_bytes());
    out.extend_from_slice(&header.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    let tag = key.tag(&out);
    out.extend_from_slice(&tag);
    out
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::core::addr::MacAddr;
    use crate::core::proto::error::ErrorClass;
    use crate::core::proto::message::{HostInfo, Ipv4Prefix, Ipv6Prefix, ProxyClaim};
    use crate::core::proto::{MAX_IPV4, MAX_IPV6, MAX_TCP_PORTS, message::Heartbeat};

    fn key() -> SiteKey {
        SiteKey::new(&[0x42; 32]).unwrap()
    }

    fn header() -> Header {
        Header { sender: NodeId::from_u128(0xabc), seq: 77, timestamp_ms: 1_700_000_000_000 }
    }

    fn claim() -> Message {
        Message::ProxyClaim(ProxyClaim {
            sleeper: NodeId::from_u128(5),
            sleeper_mac: MacAddr([2, 0, 0, 0, 0, 5]),
            term: 3,
            asleep_for_s: 0,
            host: HostInfo::default(),
        })
    }

    fn enc(msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&key(), &header(), msg, &mut out).unwrap();
        out
    }

    /// The length of `claim()`'s body: id, MAC, term, age, and an empty host info.
    const CLAIM_BODY: usize = 16 + 6 + 8 + 4 + 6 + 1 + 1 + 2;

    /// ProxyClaim's body, for sealing with unusual headers.
    fn claim_body() -> Vec<u8> {
        enc(&claim())[HEADER_LEN..][..CLAIM_BODY].to_vec()
    }

    #[test]
    fn round_trip_and_layout() {
        let d = enc(&claim());
        assert_eq!(d.len(), HEADER_LEN + CLAIM_BODY + TAG_LEN);
        assert_eq!(&d[..8], b"WKPX\x01\x01\x04\x00");
        assert_eq!(&d[40..42], &[0, CLAIM_BODY as u8]);
        assert_eq!(decode(&key(), &d).unwrap(), Decoded::Message(header(), claim()));
    }

    #[test]
    fn short_datagrams() {
        let d = enc(&Message::Leave);
        assert_eq!(d.len(), MIN_DATAGRAM);
        assert!(decode(&key(), &d).is_ok());
        for len in [0, 1, HEADER_LEN, MIN_DATAGRAM - 1] {
            assert_eq!(decode(&key(), &d[..len]), Err(DecodeError::TooShort { len }));
        }
    }

    #[test]
    fn bad_magic() {
        let mut d = enc(&claim());
        d[0] = b'X';
        assert_eq!(decode(&key(), &d), Err(DecodeError::BadMagic));
    }

    #[test]
    fn newer_major_is_a_version_error_with_advice() {
        // The tag is right, but a v2 peer may have changed anything after the version bytes.
        let d = seal_raw(&key(), [2, 1, 4, 0], &header(), &claim_body());
        let err = decode(&key(), &d).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedVersion { major: 2, minor: 1 });
        assert_eq!(err.class(), ErrorClass::Version);
        assert!(err.to_string().contains("v2.1, this node speaks v1.1: upgrade this node"));

        // Even with a wrong tag and a nonsense body: the version is judged first.
        let mut d = seal_raw(&key(), [2, 0, 99, 0xff], &header(), &[1, 2, 3]);
        *d.last_mut().unwrap() ^= 1;
        assert!(matches!(decode(&key(), &d), Err(DecodeError::UnsupportedVersion { .. })));

        let d = seal_raw(&key(), [0, 9, 4, 0], &header(), &claim_body());
        let err = decode(&key(), &d).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedVersion { major: 0, minor: 9 });
        assert!(err.to_string().ends_with("upgrade the peer"));
    }

    #[test]
    fn length_mismatch() {
        let mut d = enc(&claim());
        d.push(0);
        let declared = CLAIM_BODY;
        assert_eq!(
            decode(&key(), &d),
            Err(DecodeError::LengthMismatch { declared, actual: declared + 1 })
        );
        d.truncate(d.len() - 2);
        assert_eq!(
            decode(&key(), &d),
            Err(DecodeError::LengthMismatch { declared, actual: declared - 1 })
        );
    }

    #[test]
    fn oversize_datagram_is_malformed_before_the_tag_is_computed() {
        let d = seal_raw(&key(), [1, 0, 2, 0], &header(), &[0; MAX_DATAGRAM]);
        assert_eq!(decode(&key(), &d), Err(DecodeError::Malformed { kind: 2, what: OVERSIZE }));
    }

    #[test]
    fn wrong_key_is_bad_tag() {
        let d = enc(&claim());
        let other = SiteKey::new(&[0x43; 32]).unwrap();
        let err = decode(&other, &d).unwrap_err();
        assert_eq!(err, DecodeError::BadTag);
        assert_eq!(err.class(), ErrorClass::Unauthenticated);
    }

    #[test]
    fn decode_says_which_key_verified_and_decode_agrees() {
        let d = enc(&claim());
        let next = SiteKey::new(&[0x43; 32]).unwrap();
        let mut theirs = Vec::new();
        encode(&next, &header(), &claim(), &mut theirs).unwrap();
        let both = key().with_accepted(&[0x43; 32]).unwrap();
        let want = Decoded::Message(header(), claim());
        assert_eq!(decode_verified_with(&both, &d), Ok((want.clone(), VerifiedWith::Current)));
        assert_eq!(
            decode_verified_with(&both, &theirs),
            Ok((want.clone(), VerifiedWith::Accepted))
        );
        assert_eq!(decode(&both, &theirs), Ok(want.clone()));
        // Unknown kinds report the key too; failures are the same errors as `decode`'s.
        let unknown = seal_raw(&next, [1, 0, 200, 0], &header(), &[]);
        assert_eq!(
            decode_verified_with(&both, &unknown),
            Ok((Decoded::Unknown { header: header(), kind: 200 }, VerifiedWith::Accepted))
        );
        assert_eq!(decode(&key(), &theirs), Err(DecodeError::BadTag));
        assert_eq!(decode_verified_with(&key(), &theirs), Err(DecodeError::BadTag));
        let mut flipped = theirs.clone();
        flipped[HEADER_LEN] ^= 1;
        assert_eq!(decode_verified_with(&both, &flipped), Err(DecodeError::BadTag));
    }

    #[test]
    fn unknown_kind_is_skipped_only_when_authenticated() {
        let d = seal_raw(&key(), [1, 3, 200, 0x80], &header(), &[9; 40]);
        assert_eq!(decode(&key(), &d), Ok(Decoded::Unknown { header: header(), kind: 200 }));
        // Kind 0 is unassigned, not special.
        let d = seal_raw(&key(), [1, 0, 0, 0], &header(), &[]);
        assert_eq!(decode(&key(), &d), Ok(Decoded::Unknown { header: header(), kind: 0 }));

        let mut d = seal_raw(&key(), [1, 3, 200, 0], &header(), &[9; 40]);
        d[HEADER_LEN] ^= 1;
        assert_eq!(decode(&key(), &d), Err(DecodeError::BadTag));
    }

    #[test]
    fn newer_minor_may_append_fields_and_set_flags() {
        let mut body = claim_body();
        body.extend_from_slice(b"future extension");
        let d = seal_raw(&key(), [1, VERSION_MINOR + 1, 4, 0x01], &header(), &body);
        assert_eq!(decode(&key(), &d), Ok(Decoded::Message(header(), claim())));
    }

    #[test]
    fn same_or_older_minor_may_not() {
        let mut body = claim_body();
        body.push(0);
        let d = seal_raw(&key(), [1, VERSION_MINOR, 4, 0], &header(), &body);
        assert_eq!(
            decode(&key(), &d),
            Err(DecodeError::Malformed { kind: 4, what: "bytes after the last field" })
        );
        let d = seal_raw(&key(), [1, VERSION_MINOR, 4, 0x01], &header(), &claim_body());
        assert_eq!(
            decode(&key(), &d),
            Err(DecodeError::Malformed { kind: 4, what: "reserved flags set" })
        );
    }

    #[test]
    fn a_flipped_bit_anywhere_is_an_error() {
        let hb = Message::Heartbeat(Heartbeat {
            host: HostInfo {
                mac: MacAddr([2, 0, 0, 0, 0, 9]),
                ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 1, 2, 3), len: 16 }],
                ipv6: vec![Ipv6Prefix { addr: Ipv6Addr::LOCALHOST, len: 128 }],
                tcp_ports: vec![22, 80],
            },
            term: 4,
            ..Heartbeat::default()
        });
        for msg in [hb, claim(), Message::Leave] {
            let d = enc(&msg);
            for bit in 0..d.len() * 8 {
                let mut m = d.clone();
                m[bit / 8] ^= 1 << (bit % 8);
                assert!(decode(&key(), &m).is_err(), "bit {bit} of {msg:?}");
            }
        }
    }

    #[test]
    fn oversize_encode_is_refused_and_leaves_out_empty() {
        let host = HostInfo {
            mac: MacAddr::ZERO,
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::UNSPECIFIED, len: 0 }; MAX_IPV4],
            ipv6: vec![Ipv6Prefix { addr: Ipv6Addr::UNSPECIFIED, len: 0 }; MAX_IPV6],
            tcp_ports: vec![0; MAX_TCP_PORTS],
        };
        let msg = Message::Heartbeat(Heartbeat { host, ..Heartbeat::default() });
        let mut out = vec![1, 2, 3];
        let err = encode(&key(), &header(), &msg, &mut out).unwrap_err();
        let len = HEADER_LEN + 18 + 6 + 1 + 80 + 1 + 272 + 2 + 1024 + 2 + 1 + 2 + TAG_LEN;
        assert_eq!(err, EncodeError::TooLarge { len, max: MAX_DATAGRAM });
        assert!(out.is_empty());
    }

    #[test]
    fn largest_datagram_fits_exactly() {
        // Full address lists, then ports up to MAX_DATAGRAM exactly, then one more.
        let fixed = MIN_DATAGRAM + 6 + 1 + MAX_IPV4 * 5 + 1 + MAX_IPV6 * 17 + 2;
        let ports = (MAX_DATAGRAM - fixed) / 2;
        assert!(ports < MAX_TCP_PORTS && (MAX_DATAGRAM - fixed) % 2 == 0);
        let mut host = HostInfo {
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::LOCALHOST, len: 8 }; MAX_IPV4],
            ipv6: vec![Ipv6Prefix { addr: Ipv6Addr::LOCALHOST, len: 128 }; MAX_IPV6],
            tcp_ports: vec![7; ports],
            ..HostInfo::default()
        };
        let mut out = Vec::new();
        encode(&key(), &header(), &Message::SleepNotice(host.clone()), &mut out).unwrap();
        assert_eq!(out.len(), MAX_DATAGRAM);
        assert!(decode(&key(), &out).is_ok());
        host.tcp_ports.push(7);
        let err = encode(&key(), &header(), &Message::SleepNotice(host), &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::TooLarge { len: 1402, .. }));
    }
}
