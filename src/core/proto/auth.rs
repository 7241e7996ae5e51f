//! The site key and the message tag: HMAC-SHA256 truncated to its leftmost [`TAG_LEN`] bytes.
//!
//! Every node of a site holds the same key, so a valid tag proves only that *some* key holder
//! sent the message, not which node: any key holder can speak for any node id. That is the
//! documented limit of a shared-key design, accepted because it needs no PKI.
//!
//! # Rollover
//!
//! A [`SiteKey`] holds the **current** key, which signs, and at most one more **accepted** key:
//! a tag made with either verifies. That lets a site change its key without a flag day
//! (`docs/key-rollover.md`): first every node accepts the next key, then every node signs with
//! it, then the old one is dropped.
//!
//! # Key ids
//!
//! [`SiteKey::key_id`] names a key without revealing it: the first [`KEY_ID_LEN`] bytes of
//! HMAC-SHA256(key, [`KEY_ID_LABEL`]). The label does not start with the datagram magic, so no
//! tag the node ever makes is a key id or the other way round.
//!
//! # Key material in memory
//!
//! The keyed HMAC state (the SHA-256 chaining values after the key XOR ipad and opad blocks,
//! which are as good as the key) is cleared when a `SiteKey` and every per-message copy of it
//! is dropped: the `hmac` and `sha2` crates' `zeroize` feature. What they do not clear is the
//! padded key block `Hmac::new_from_slice` builds on its own stack while keying; it is
//! overwritten by later calls, not wiped.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::TAG_LEN;

/// Shortest accepted site key, in bytes (128 bits).
pub const MIN_KEY_LEN: usize = 16;
/// Longest accepted site key, in bytes (one SHA-256 block; longer keys would be hashed first
/// and gain nothing).
pub const MAX_KEY_LEN: usize = 64;

/// Bytes of a [`KeyId`].
pub const KEY_ID_LEN: usize = 4;

/// What a key id is the HMAC of.
pub const KEY_ID_LABEL: &[u8] = b"wakeproxy key id v1";

/// A short public name of a site key: the first [`KEY_ID_LEN`] bytes of
/// HMAC-SHA256(key, [`KEY_ID_LABEL`]), shown as 8 lowercase hexadecimal digits.
///
/// Safe to show and log: it lets an operator see which key a node uses, and that two nodes use
/// the same one, but says nothing about the key that a captured tag would not already let an
/// attacker test a guess against.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Which key of a [`SiteKey`] verified a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedWith {
    /// The current key, the one this node signs with.
    Current,
    /// The other accepted key (during a rollover: the next or the previous key).
    Accepted,
}

/// One key, keyed and named.
#[derive(Clone)]
struct Keyed {
    /// An HMAC state already keyed with the secret; each message clones it, so the key
    /// schedule (two SHA-256 block compressions) is never redone on the hot path.
    mac: Hmac<Sha256>,
    id: KeyId,
}

impl Keyed {
    fn new(secret: &[u8]) -> Result<Self, KeyError> {
        let err = KeyError { len: secret.len() };
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&secret.len()) {
            return Err(err);
        }
        // HMAC accepts keys of any length, so this cannot fail; mapped rather than unwrapped
        // to keep the module free of panics.
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| err)?;
        let mut labelled = mac.clone();
        labelled.update(KEY_ID_LABEL);
        let full = labelled.finalize().into_bytes();
        let mut id = [0; KEY_ID_LEN];
        for (i, f) in id.iter_mut().zip(full) {
            *i = f;
        }
        Ok(Self { mac, id: KeyId(id) })
    }

    fn tag(&self, signed: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(signed);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        for (t, f) in tag.iter_mut().zip(full) {
            *t = f;
        }
        tag
    }

    /// Compares in constant time (`verify_truncated_left`).
    fn verify(&self, signed: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(signed);
        mac.verify_truncated_left(tag).is_ok()
    }
}

/// The site's shared secret, ready to tag and verify messages: the current key, which signs,
/// and at most one more accepted key.
#[derive(Clone)]
pub struct SiteKey {
    current: Keyed,
    accepted: Option<Keyed>,
}

/// A site key of unusable length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "site key is {len} bytes; it must be {MIN_KEY_LEN} to {MAX_KEY_LEN} bytes: use 32 random \
     bytes and give every node the same key file"
)]
pub struct KeyError {
    /// The length that was given.
    pub len: usize,
}

impl SiteKey {
    /// A key that signs and verifies with `secret` alone ([`MIN_KEY_LEN`]`..=`[`MAX_KEY_LEN`]
    /// bytes).
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        Ok(Self { current: Keyed::new(secret)?, accepted: None })
    }

    /// This key, also accepting tags made with `secret` (replacing any accepted key it had).
    /// It still signs with its current key.
    pub fn with_accepted(self, secret: &[u8]) -> Result<Self, KeyError> {
        Ok(Self { accepted: Some(Keyed::new(secret)?), ..self })
    }

    /// The id of the current key, the one this node signs with.
    pub fn key_id(&self) -> KeyId {
        self.current.id
    }

    /// The id of the other accepted key, if there is one.
    pub fn accepted_key_id(&self) -> Option<KeyId> {
        self.accepted.as_ref().map(|k| k.id)
    }

    /// The tag of `signed` with the current key: the leftmost [`TAG_LEN`] bytes of
    /// HMAC-SHA256(key, signed).
    ///
    /// [`encode`](super::encode) appends it for you; this is public so tests and fuzzers can
    /// build authenticated datagrams around arbitrary bodies.
    pub fn tag(&self, signed: &[u8]) -> [u8; TAG_LEN] {
        self.current.tag(signed)
    }

    /// Which key `tag` is the tag of `signed` with, if any. Each comparison is constant-time.
    ///
    /// The accepted key is tried only when the current one fails, so a datagram that verifies
    /// with the current key costs one HMAC as before. The time taken therefore says whether a
    /// *valid* tag was made with the current key; that is no secret (every node shows its key
    /// ids in `status`), and a forged tag fails both in the same time whatever it is.
    pub(crate) fn verify(&self, signed: &[u8], tag: &[u8; TAG_LEN]) -> Option<VerifiedWith> {
        if self.current.verify(signed, tag) {
            return Some(VerifiedWith::Current);
        }
        match &self.accepted {
            Some(k) if k.verify(signed, tag) => Some(VerifiedWith::Accepted),
            _ => None,
        }
    }
}

impl fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret, nor anything derived from it.
        f.write_str("SiteKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_length_is_checked_and_reported() {
        assert!(SiteKey::new(&[7; MIN_KEY_LEN]).is_ok());
        assert!(SiteKey::new(&[7; MAX_KEY_LEN]).is_ok());
        for len in [0, 1, MIN_KEY_LEN - 1, MAX_KEY_LEN + 1] {
            let err = SiteKey::new(&vec![7; len]).unwrap_err();
            assert_eq!(err, KeyError { len });
            assert!(err.to_string().starts_with(&format!("site key is {len} bytes")), "{err}");
            let ok = SiteKey::new(&[7; 32]).unwrap();
            assert_eq!(ok.with_accepted(&vec![8; len]).unwrap_err(), KeyError { len });
        }
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let key = SiteKey::new(b"super-secret-key-material").unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SiteKey(..)");
        let two = key.with_accepted(b"another-secret-key-material").unwrap();
        assert_eq!(format!("{two:?}"), "SiteKey(..)");
    }

    // RFC 4231 test case 1, truncated: the tag must be the *leftmost* 16 bytes.
    #[test]
    fn tag_is_leftmost_bytes_of_hmac_sha256() {
        let key = SiteKey::new(&[0x0b; 20]).unwrap();
        let tag = key.tag(b"Hi There");
        let want = [
            0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b,
            0xf1, 0x2b,
        ];
        assert_eq!(tag, want);
        assert_eq!(key.verify(b"Hi There", &want), Some(VerifiedWith::Current));
        assert_eq!(key.verify(b"Hi there", &want), None);
    }

    #[test]
    fn a_second_key_verifies_too_but_never_signs() {
        let (a, b, c) = ([0xaa; 32], [0xbb; 32], [0xcc; 32]);
        let only_a = SiteKey::new(&a).unwrap();
        let only_b = SiteKey::new(&b).unwrap();
        let a_accepting_b = SiteKey::new(&a).unwrap().with_accepted(&b).unwrap();
        let b_accepting_a = SiteKey::new(&b).unwrap().with_accepted(&a).unwrap();
        let msg = b"a signed header and body";
        let (tag_a, tag_b) = (only_a.tag(msg), only_b.tag(msg));
        // The current key signs: adding an accepted key changes no tag.
        assert_eq!(a_accepting_b.tag(msg), tag_a);
        assert_eq!(b_accepting_a.tag(msg), tag_b);
        assert_eq!(a_accepting_b.verify(msg, &tag_a), Some(VerifiedWith::Current));
        assert_eq!(a_accepting_b.verify(msg, &tag_b), Some(VerifiedWith::Accepted));
        assert_eq!(b_accepting_a.verify(msg, &tag_a), Some(VerifiedWith::Accepted));
        assert_eq!(only_a.verify(msg, &tag_b), None, "one key accepts only itself");
        let tag_c = SiteKey::new(&c).unwrap().tag(msg);
        assert_eq!(a_accepting_b.verify(msg, &tag_c), None, "a third key is refused");
        // Replacing the accepted key forgets the old one.
        let a_accepting_c = a_accepting_b.clone().with_accepted(&c).unwrap();
        assert_eq!(a_accepting_c.verify(msg, &tag_b), None);
        assert_eq!(a_accepting_c.verify(msg, &tag_c), Some(VerifiedWith::Accepted));
        // A tag of another message fails with both keys.
        assert_eq!(a_accepting_b.verify(b"another message", &tag_b), None);
    }

    #[test]
    fn key_ids_are_stable_distinct_and_say_which_key_is_which() {
        let a = SiteKey::new(&[0xaa; 32]).unwrap();
        let b = SiteKey::new(&[0xbb; 32]).unwrap();
        assert_eq!(a.key_id(), SiteKey::new(&[0xaa; 32]).unwrap().key_id(), "stable");
        assert_ne!(a.key_id(), b.key_id(), "distinct");
        assert_eq!(a.accepted_key_id(), None);
        let both = a.clone().with_accepted(&[0xbb; 32]).unwrap();
        assert_eq!((both.key_id(), both.accepted_key_id()), (a.key_id(), Some(b.key_id())));
        // Fixed by the label: HMAC-SHA256(0x00..0x1f, "wakeproxy key id v1"), first 4 bytes.
        let doc: Vec<u8> = (0..32).collect();
        let id = SiteKey::new(&doc).unwrap().key_id();
        let mut mac = Hmac::<Sha256>::new_from_slice(&doc).unwrap();
        mac.update(b"wakeproxy key id v1");
        let full = mac.finalize().into_bytes();
        assert_eq!(id.0, full[..4]);
        let shown = id.to_string();
        assert_eq!(shown, "416960b0", "the id docs/protocol.md gives for its example key");
        assert!(shown.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(format!("{id:?}"), format!("KeyId({shown})"));
        // The id is not a tag of the label: a datagram never starts with it anyway (magic).
        assert!(!KEY_ID_LABEL.starts_with(&super::super::MAGIC));
    }

    /// The keyed state must be cleared on drop: the `zeroize` features of `hmac` and `sha2`.
    /// This fails to compile if one of them is turned off.
    #[test]
    fn the_keyed_hmac_state_is_zeroised_on_drop() {
        fn zeroised_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        // `Hmac<Sha256>` is an `HmacCore<Sha256>` (two SHA-256 cores: the keyed inner and outer
        // states) and a block buffer; the cores and the buffer are the types that clear
        // themselves.
        zeroised_on_drop::<Sha256>();
        zeroised_on_drop::<<Sha256 as hmac::digest::block_api::CoreProxy>::Core>();
        zeroised_on_drop::<hmac::digest::block_api::Buffer<hmac::block_api::HmacCore<Sha256>>>();
    }
}
