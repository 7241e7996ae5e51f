//! What can go wrong with a site key file, in messages that name the file and say what to do.

use std::io;
use std::path::PathBuf;

use super::rollover::{Phase, Rollover, wrong_phase};

/// What can go wrong with a site key file. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file does not exist.
    #[error(
        "site key file {} does not exist: create it with `wakeproxy keygen {}` and copy the \
         same file to every node of the site (or set `insecure = true` in a lab)",
        path.display(),
        path.display()
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The key file exists but cannot be read.
    #[error(
        "cannot read site key file {}: {source}: check that it is a file and that the \
         daemon's user may read it",
        path.display()
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The key file is a symbolic link (on Windows: any reparse point, junctions too).
    #[error("site key file {} is {SYMLINK_WORDS}: {SYMLINK_FIX}", path.display())]
    Symlink {
        /// The file.
        path: PathBuf,
    },
    /// (Unix) the key file belongs to another user than the one the process runs as.
    #[error(
        "site key file {} belongs to {}, but wakeproxy runs as {}: whoever owns the file can \
         change the site key; run `chown {} {}`",
        path.display(),
        user(*owner),
        user(*expected),
        chown_name(*expected),
        path.display()
    )]
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// The uid it must belong to (this process's effective uid).
        expected: u32,
    },
    /// (Unix) group or others may read or write the key file.
    #[error(
        "site key file {} is accessible by group or others (mode {mode:04o}): anyone who \
         reads it can forge messages; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file has no key line.
    #[error(
        "site key file {} contains no key: it must hold a line of 64 hexadecimal digits; \
         make one with `wakeproxy keygen --force {}` (then copy it to every node)",
        path.display(),
        path.display()
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A line of the key file is not a usable key. The line's text is never shown.
    #[error(
        "site key file {} line {line}: {problem}; a key is one line of 32 to 128 hexadecimal \
         digits (64 from `wakeproxy keygen`), a file holds one or two keys, comments start \
         with `#`",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it, without quoting it.
        problem: String,
    },
    /// `write_new` was asked to replace an existing key file without `force`.
    #[error(
        "{} already exists: not overwriting a site key, since every node of the site must \
         share it; to change it without splitting the site use `wakeproxy keygen --add-next \
         {}` (docs/key-rollover.md), or pass `--force` to replace it outright, then copy the \
         new file to every node",
        path.display(),
        path.display()
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A rollover step that does not fit the phase the file is in.
    #[error("{}", wrong_phase(path, *asked, found))]
    WrongPhase {
        /// The file.
        path: PathBuf,
        /// The step that was asked for.
        asked: Phase,
        /// The state the file is in.
        found: Rollover,
    },
    /// The key file (or its directory) could not be written.
    #[error(
        "cannot write site key file {}: {source}: check that the directory is writable (keygen \
         usually needs root or Administrator)",
        path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("cannot get random bytes from the operating system: {0}; try again")]
    Random(getrandom::Error),
}

#[cfg(not(windows))]
const SYMLINK_WORDS: &str = "a symbolic link";
#[cfg(not(windows))]
const SYMLINK_FIX: &str = "wakeproxy reads the site key only from a regular file, so that \
     whoever can change the link cannot swap the key; replace the symlink with the file \
     (`cp --remove-destination \"$(readlink -f FILE)\" FILE`, then `chmod 600 FILE`)";
#[cfg(windows)]
const SYMLINK_WORDS: &str = "a symbolic link or junction";
#[cfg(windows)]
const SYMLINK_FIX: &str = "wakeproxy reads the site key only from a file itself, so that \
     whoever can change the link cannot swap the key; replace the link with the file (delete \
     the link, then Copy-Item the key file to its place)";

/// A uid as people say it.
fn user(uid: u32) -> String {
    if uid == 0 { "root".to_owned() } else { format!("uid {uid}") }
}

/// A uid as `chown` takes it.
fn chown_name(uid: u32) -> String {
    if uid == 0 { "root".to_owned() } else { uid.to_string() }
}
