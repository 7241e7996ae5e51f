//! Writing key files: a fresh key (`wakeproxy keygen`), and the text of a file of one or two
//! keys, written atomically with mode 0600.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use zeroize::Zeroizing;

use super::format::{Marker, Secret};
use super::rollover::Phase;
use super::{KeyError, PROTECTION, RELOAD_COMMAND};
use crate::core::proto::MAX_KEY_LEN;
use crate::store::fsutil::atomic_write;

/// Bytes of a key [`generate`] makes and [`write_new`] writes.
pub const GENERATED_KEY_LEN: usize = 32;

/// A fresh 32-byte key from the operating system's random number generator.
pub fn generate() -> Result<Zeroizing<[u8; GENERATED_KEY_LEN]>, KeyError> {
    let mut key = Zeroizing::new([0; GENERATED_KEY_LEN]);
    getrandom::fill(key.as_mut_slice()).map_err(KeyError::Random)?;
    Ok(key)
}

/// Generates a key and writes it to `path` as a key file (mode 0600 on Unix), creating parent
/// directories. Refuses to replace an existing file unless `force`.
///
/// The write is atomic: a crash leaves the old file or the new one, never a torn key.
pub fn write_new(path: &Path, force: bool) -> Result<(), KeyError> {
    // `symlink_metadata` so that a dangling symlink also counts as "exists".
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(KeyError::Exists { path: path.to_path_buf() });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| KeyError::Write { path: path.into(), source })?;
    }
    let key = generate()?;
    write(path, &Secret::new(key.to_vec().into(), 1)?, None)
}

/// Appends `bytes` in lowercase hex to `out` (which has room: no reallocation).
fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Writes a key file: `current`, and `second` with its marker, atomically and 0600.
pub(super) fn write(
    path: &Path,
    current: &Secret,
    second: Option<(&Secret, Marker)>,
) -> Result<(), KeyError> {
    // Room for the comments and two keys of the longest kind: the text never reallocates.
    let mut text = Zeroizing::new(String::with_capacity(2048 + 4 * MAX_KEY_LEN));
    let _ = writeln!(
        text,
        "# wakeproxy site key file. Every node of the site needs this same file; keep it \
         secret ({PROTECTION})."
    );
    let next = |phase: Phase| {
        format!(
            "# Next: copy this file to every node and run `{RELOAD_COMMAND}` there; when every \
             node has it, run `wakeproxy keygen {} FILE`.",
            phase.flag()
        )
    };
    match second {
        None => {
            let _ = writeln!(
                text,
                "# To change the key without splitting the site: `wakeproxy keygen --add-next \
                 FILE` (docs/key-rollover.md)."
            );
        }
        Some((_, Marker::Next)) => {
            let _ = writeln!(
                text,
                "# Key rollover, phase 1 of 3 done: the second key is the next key, accepted \
                 but not signing yet.\n{}",
                next(Phase::Promote)
            );
        }
        Some((_, Marker::Previous)) => {
            let _ = writeln!(
                text,
                "# Key rollover, phase 2 of 3 done: the first key signs now; the second is the \
                 previous key, still accepted.\n{}",
                next(Phase::Retire)
            );
        }
        Some((_, Marker::None)) => {}
    }
    let _ = writeln!(text, "# current key (id {}):", current.id);
    push_hex(&mut text, &current.bytes);
    text.push('\n');
    if let Some((k, marker)) = second {
        let what = match marker {
            Marker::Next => "next key",
            Marker::Previous => "previous key",
            Marker::None => "also accepted key",
        };
        let _ = writeln!(text, "# {what} (id {}), accepted:", k.id);
        push_hex(&mut text, &k.bytes);
        text.push('\n');
    }
    atomic_write(path, text.as_bytes(), 0o600)
        .map_err(|source| KeyError::Write { path: path.to_path_buf(), source })
}
