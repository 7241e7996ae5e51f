//! The site key file: the shared secret every node of a site signs its messages with.
//!
//! # Format
//!
//! One or two lines of hexadecimal digits, 32 to 128 of them each (16 to 64 bytes;
//! `wakeproxy keygen` writes 64, that is 32 bytes). The first key line is the **current** key:
//! the node signs with it and accepts it. A second key line is **also accepted** (a key
//! rollover is under way, `docs/key-rollover.md`); a third is an error. Lines starting with `#`
//! are comments and blank lines are ignored; either case of hex digits is accepted.
//!
//! ```text
//! # wakeproxy site key file. Every node of the site needs this same file; keep it secret.
//! # current key (id 1a2b3c4d):
//! 3f1c...e0 (64 hex digits)
//! # next key (id 5e6f7a8b), accepted:
//! 9d02...41 (64 hex digits)
//! ```
//!
//! The comment right before the second key says which phase of a rollover the file is in:
//! `# next key` (phase 1: the new key is accepted, not used yet) or `# previous key` (phase 2:
//! the new key signs, the old one is still accepted). The daemon ignores it; [`add_next`],
//! [`promote`] and [`retire`] write it and read it back, so each refuses a file in the wrong
//! phase.
//!
//! # Protection
//!
//! On Unix [`read`] opens the file with `O_NOFOLLOW` (a symbolic link is refused: whoever can
//! change the link could swap the key) and then checks, on the open file (`fstat`, so there is
//! no window between check and use), that it is a regular file owned by the user the process
//! runs as and neither readable nor writable by group or others (like ssh with private keys).
//! Every writer here creates the file with mode 0600, atomically. The directories above the
//! file are not checked: keep them owned by root and writable by root only (systemd's
//! `ConfigurationDirectory=` does).
//!
//! On Windows a symbolic link or junction (any reparse point) is refused likewise; owner and
//! mode are not checked: the file inherits its directory's ACL, and restricting
//! `%ProgramData%\wakeproxy` to SYSTEM and Administrators is the installer's job
//! (`windows/install.ps1`).
//!
//! Neither errors nor `Debug` output ever contain key material: a malformed line is reported by
//! its number and the kind of problem, never by its text. The bytes read from the file, the
//! decoded secrets and the text written are held in buffers that are zeroised when dropped
//! ([`zeroize::Zeroizing`]), allocated at their final size so that no reallocation leaves a
//! copy behind.
//!
//! # Files
//!
//! This file reads keys ([`read`], [`load`], [`for_config`], [`from_bytes`]); beside it, `format.rs` is the
//! format and its parser, `protect.rs` opens a file safely (the checks per OS) and reads its
//! bytes, `write.rs` generates keys and writes files 0600, `rollover.rs` holds the three steps
//! of a key rollover, `lab.rs` the insecure lab key, and `error.rs` the errors.

mod error;
mod format;
mod lab;
mod protect;
mod rollover;
mod write;

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use error::KeyError;
pub use format::KeyFile;
use format::{ParseError, parse};
pub use lab::INSECURE_LAB_KEY;
use protect::{MAX_FILE_LEN, open_checked, read_limited};
pub use rollover::{Phase, Rollover, RolloverStep, add_next, promote, retire};
pub use write::{GENERATED_KEY_LEN, generate, write_new};

use crate::core::proto::SiteKey;
use crate::store::config::Config;

/// Secret bytes: zeroised when dropped.
type SecretBytes = Zeroizing<Vec<u8>>;

/// How the files wakeproxy writes are protected, in the words of this OS.
const PROTECTION: &str = crate::os::words::HERE.file_protection;

/// How to make the daemon re-read its key file, in the words of this OS.
pub const RELOAD_COMMAND: &str = crate::os::words::HERE.reload;

/// Reads and checks the key file at `path`: the key a node signs and verifies with.
pub fn load(path: &Path) -> Result<SiteKey, KeyError> {
    read(path)?.site_key(path)
}

/// The key a node with this configuration uses: the well-known [`INSECURE_LAB_KEY`] when
/// `insecure = true` (and then `key_file` is not read), otherwise the key in `key_file`.
pub fn for_config(config: &Config) -> Result<SiteKey, KeyError> {
    if config.insecure {
        SiteKey::new(INSECURE_LAB_KEY).map_err(|e| KeyError::Malformed {
            path: PathBuf::from("<built-in lab key>"),
            line: 1,
            problem: e.to_string(),
        })
    } else {
        load(&config.key_file)
    }
}

/// Reads and checks the key file at `path` (see the module's "Protection").
pub fn read(path: &Path) -> Result<KeyFile, KeyError> {
    let mut file = open_checked(path)?;
    let bytes = read_limited(&mut file)
        .map_err(|source| KeyError::Unreadable { path: path.to_path_buf(), source })?
        .ok_or_else(|| KeyError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            problem: format!("the file is larger than {MAX_FILE_LEN} bytes, so it is not a key"),
        })?;
    from_bytes(&bytes, path)
}

/// The keys in a key file's `bytes` (see the module's "Format"), as [`read`] finds them once
/// the file passed its checks; `path` names the file in errors. No I/O: the fuzz target
/// `key_parse` calls it.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<KeyFile, KeyError> {
    let with_path = |e: KeyError| match e {
        KeyError::Malformed { line, problem, .. } => {
            KeyError::Malformed { path: path.to_path_buf(), line, problem }
        }
        other => other,
    };
    match parse(bytes) {
        Ok(keys) => keys.into_file().map_err(with_path),
        Err(ParseError::Empty) => Err(KeyError::Empty { path: path.to_path_buf() }),
        Err(ParseError::Line { line, problem }) => {
            Err(KeyError::Malformed { path: path.to_path_buf(), line, problem })
        }
    }
}

#[cfg(test)]
mod tests;
