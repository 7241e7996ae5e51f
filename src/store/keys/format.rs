//! The key file's format (the module `keys`'s "Format"): its keys as read, and the parser,
//! which never puts any of the file's text into an error.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::rollover::Rollover;
use super::{KeyError, SecretBytes};
use crate::core::proto::{KeyId, MAX_KEY_LEN, MIN_KEY_LEN, SiteKey};

/// One key of a key file.
pub(super) struct Secret {
    pub(super) bytes: SecretBytes,
    pub(super) id: KeyId,
    /// Its 1-based line.
    pub(super) line: usize,
}

impl Secret {
    pub(super) fn new(bytes: SecretBytes, line: usize) -> Result<Self, KeyError> {
        // Only lengths `parse` and `generate` produce reach here, so this does not fail.
        let id = SiteKey::new(&bytes)
            .map_err(|e| KeyError::Malformed {
                path: PathBuf::new(),
                line,
                problem: e.to_string(),
            })?
            .key_id();
        Ok(Self { bytes, id, line })
    }
}

/// What the comment before the second key line says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    Next,
    Previous,
    None,
}

/// A key file's keys, as read: the current key and at most one more accepted key. The secrets
/// are zeroised when it is dropped; `Debug` shows only key ids.
pub struct KeyFile {
    pub(super) current: Secret,
    pub(super) second: Option<(Secret, Marker)>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile").field("rollover", &self.rollover()).finish()
    }
}

impl KeyFile {
    /// Where the file stands in a key rollover.
    pub fn rollover(&self) -> Rollover {
        let current = self.current.id;
        match &self.second {
            None => Rollover::Single { current },
            Some((k, Marker::Next)) => Rollover::NextAdded { current, next: k.id },
            Some((k, Marker::Previous)) => Rollover::Promoted { current, previous: k.id },
            Some((k, Marker::None)) => Rollover::Unmarked { current, accepted: k.id },
        }
    }

    /// The key a node with this file signs and verifies with (`path` names the file in errors).
    pub fn site_key(&self, path: &Path) -> Result<SiteKey, KeyError> {
        let malformed = |line, e: crate::core::proto::KeyError| KeyError::Malformed {
            path: path.to_path_buf(),
            line,
            problem: e.to_string(),
        };
        // `parse` checked the lengths, so these cannot fail; mapped, not unwrapped.
        let key = SiteKey::new(&self.current.bytes).map_err(|e| malformed(self.current.line, e))?;
        match &self.second {
            None => Ok(key),
            Some((k, _)) => key.with_accepted(&k.bytes).map_err(|e| malformed(k.line, e)),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum ParseError {
    Empty,
    Line { line: usize, problem: String },
}

/// The keys of a key file, as parsed.
pub(super) struct Parsed {
    /// The current key and its line.
    pub(super) first: (usize, SecretBytes),
    /// The second key, its line, and what the comment before it said.
    pub(super) second: Option<(usize, SecretBytes, Marker)>,
}

impl Parsed {
    pub(super) fn into_file(self) -> Result<KeyFile, KeyError> {
        let (line, bytes) = self.first;
        let current = Secret::new(bytes, line)?;
        let second = match self.second {
            None => None,
            Some((line, bytes, marker)) => Some((Secret::new(bytes, line)?, marker)),
        };
        Ok(KeyFile { current, second })
    }
}

/// The keys in a key file's bytes. Never puts any of the file's text into an error.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let mut first: Option<(usize, SecretBytes)> = None;
    let mut second: Option<(usize, SecretBytes, Marker)> = None;
    // The last comment since the previous key line.
    let mut comment: Option<&[u8]> = None;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = raw.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Some(c) = text.strip_prefix(b"#") {
            comment = Some(c.trim_ascii());
            continue;
        }
        let marker = match comment.take() {
            Some(c) if starts_with_ignore_case(c, b"next key") => Marker::Next,
            Some(c) if starts_with_ignore_case(c, b"previous key") => Marker::Previous,
            _ => Marker::None,
        };
        let key = decode_hex(text).map_err(|problem| ParseError::Line { line, problem })?;
        match (&first, &second) {
            (None, _) => first = Some((line, key)),
            (Some((l1, k1)), None) => {
                if *k1 == key {
                    return Err(ParseError::Line {
                        line,
                        problem: format!(
                            "the same key as line {l1}: a second key must be another key (the \
                             next or the previous one)"
                        ),
                    });
                }
                second = Some((line, key, marker));
            }
            (Some((l1, _)), Some((l2, ..))) => {
                return Err(ParseError::Line {
                    line,
                    problem: format!(
                        "a third key line (the keys are on lines {l1} and {l2}): a file holds \
                         the current key and at most one more accepted key"
                    ),
                });
            }
        }
    }
    let first = first.ok_or(ParseError::Empty)?;
    Ok(Parsed { first, second })
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

pub(super) fn decode_hex(text: &[u8]) -> Result<SecretBytes, String> {
    if let Some(col) = text.iter().position(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("character {} is not a hexadecimal digit", col + 1));
    }
    let digits = text.len();
    if digits % 2 != 0 {
        return Err(format!("it has an odd number of hexadecimal digits ({digits})"));
    }
    if !(2 * MIN_KEY_LEN..=2 * MAX_KEY_LEN).contains(&digits) {
        return Err(format!("it has {digits} hexadecimal digits"));
    }
    let mut key = Zeroizing::new(Vec::with_capacity(digits / 2));
    key.extend(text.chunks_exact(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])));
    Ok(key)
}

/// The value of an ASCII hex digit (callers checked it is one).
fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}
