//! The site key and the message tag: HMAC-SHA256 truncated to its leftmost [`TAG_LEN`] bytes.
//!
//! Every node of a site holds the same key, so a valid tag proves only that *some* key holder
//! sent the message, not which node: any key holder can speak for any node id. That is the
//! documented limit of a shared-key design, accepted because it needs no PKI.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::TAG_LEN;

/// Shortest accepted site key, in bytes (128 bits).
pub const MIN_KEY_LEN: usize = 16;
/// Longest accepted site key, in bytes (one SHA-256 block; longer keys would be hashed first
/// and gain nothing).
pub const MAX_KEY_LEN: usize = 64;

/// The site's shared secret, ready to tag and verify messages.
///
/// Holds an HMAC state already keyed with the secret; each message clones it, so the key
/// schedule (two SHA-256 block compressions) is never redone on the hot path.
#[derive(Clone)]
pub struct SiteKey {
    keyed: Hmac<Sha256>,
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
    /// Accepts a secret of [`MIN_KEY_LEN`]`..=`[`MAX_KEY_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        let err = KeyError { len: secret.len() };
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&secret.len()) {
            return Err(err);
        }
        // HMAC accepts keys of any length, so this cannot fail; mapped rather than unwrapped
        // to keep the module free of panics.
        let keyed = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| err)?;
        Ok(Self { keyed })
    }

    /// The tag of `signed`: the leftmost [`TAG_LEN`] bytes of HMAC-SHA256(key, signed).
    ///
    /// [`encode`](super::encode) appends it for you; this is public so tests and fuzzers can
    /// build authenticated datagrams around arbitrary bodies.
    pub fn tag(&self, signed: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(signed);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        for (t, f) in tag.iter_mut().zip(full) {
            *t = f;
        }
        tag
    }

    /// True if `tag` is the tag of `signed`, compared in constant time.
    pub(crate) fn verify(&self, signed: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        let mut mac = self.keyed.clone();
        mac.update(signed);
        mac.verify_truncated_left(tag).is_ok()
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
        }
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let key = SiteKey::new(b"super-secret-key-material").unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SiteKey(..)");
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
        assert!(key.verify(b"Hi There", &want));
        assert!(!key.verify(b"Hi there", &want));
    }
}
