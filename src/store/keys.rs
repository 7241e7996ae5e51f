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

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::core::proto::{KeyId, MAX_KEY_LEN, MIN_KEY_LEN, SiteKey};
use crate::store::config::Config;
use crate::store::fsutil::atomic_write;

/// The key used with `insecure = true`: the 32 ASCII bytes `wakeproxy-INSECURE-PUBLIC-labkey`.
///
/// It is published here, so it authenticates nothing: anyone can forge messages signed with it.
/// It exists so that a lab or a demo can run without distributing a key file. Never use it on
/// a network you care about; `wakeproxy status` says loudly when a node runs with it.
pub const INSECURE_LAB_KEY: &[u8] = &LAB_KEY;

const LAB_KEY: [u8; 32] = *b"wakeproxy-INSECURE-PUBLIC-labkey";

/// Bytes of a key [`generate`] makes and [`write_new`] writes.
pub const GENERATED_KEY_LEN: usize = 32;

/// A key file larger than this is not a key file.
const MAX_FILE_LEN: usize = 64 * 1024;

/// Secret bytes: zeroised when dropped.
type SecretBytes = Zeroizing<Vec<u8>>;

/// How the files wakeproxy writes are protected, in the words of this OS.
const PROTECTION: &str = crate::os::words::HERE.file_protection;

/// How to make the daemon re-read its key file, in the words of this OS.
pub const RELOAD_COMMAND: &str = crate::os::words::HERE.reload;

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

/// A step of a key rollover (`docs/key-rollover.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// 1: add a fresh key as the accepted second key.
    AddNext,
    /// 2: make the second key current; the old one stays accepted.
    Promote,
    /// 3: drop the old key.
    Retire,
}

impl Phase {
    /// The `wakeproxy keygen` option of this step.
    pub const fn flag(self) -> &'static str {
        match self {
            Self::AddNext => "--add-next",
            Self::Promote => "--promote",
            Self::Retire => "--retire",
        }
    }

    /// 1, 2 or 3.
    pub const fn number(self) -> u8 {
        match self {
            Self::AddNext => 1,
            Self::Promote => 2,
            Self::Retire => 3,
        }
    }
}

/// Where a key file stands in a rollover, with the ids of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollover {
    /// One key; no rollover under way (before phase 1, or after phase 3).
    Single {
        /// The key.
        current: KeyId,
    },
    /// Phase 1 done: the next key is accepted but does not sign yet.
    NextAdded {
        /// The key that signs.
        current: KeyId,
        /// The next key.
        next: KeyId,
    },
    /// Phase 2 done: the new key signs; the previous one is still accepted.
    Promoted {
        /// The new key, which signs.
        current: KeyId,
        /// The old key.
        previous: KeyId,
    },
    /// Two keys without the comment that says which phase the file is in.
    Unmarked {
        /// The first key.
        current: KeyId,
        /// The second key.
        accepted: KeyId,
    },
}

impl Rollover {
    /// "is in phase 1 of a key rollover (…)": what the file is, for messages.
    fn describe(&self) -> String {
        match self {
            Self::Single { current } => {
                format!("holds one key ({current}): no key rollover is under way")
            }
            Self::NextAdded { current, next } => format!(
                "is in phase 1 of a key rollover (current key {current}, next key {next} \
                 accepted but not signing yet)"
            ),
            Self::Promoted { current, previous } => format!(
                "is in phase 2 of a key rollover (current key {current}, previous key \
                 {previous} still accepted)"
            ),
            Self::Unmarked { current, accepted } => format!(
                "holds two keys (current {current}, accepted {accepted}) but does not say \
                 which phase of a key rollover it is in"
            ),
        }
    }
}

fn wrong_phase(path: &Path, asked: Phase, found: &Rollover) -> String {
    let p = path.display();
    let advice = match (asked, found) {
        (_, Rollover::Unmarked { .. }) => format!(
            "the comment line right before the second key must start with `# next key` (it is \
             the new key: phase 1) or `# previous key` (it is the old key: phase 2); add the \
             right one and run `wakeproxy keygen {} {p}` again",
            asked.flag()
        ),
        (Phase::AddNext, Rollover::NextAdded { .. }) => format!(
            "once every node has this file and reloaded it, run `wakeproxy keygen --promote {p}`"
        ),
        (Phase::AddNext | Phase::Promote, Rollover::Promoted { .. }) => format!(
            "once every node has this file and reloaded it, finish with `wakeproxy keygen \
             --retire {p}`"
        ),
        (Phase::Promote | Phase::Retire, Rollover::Single { .. }) => {
            format!("to change the key, start with `wakeproxy keygen --add-next {p}`")
        }
        (Phase::Retire, Rollover::NextAdded { .. }) => format!(
            "retiring now would drop the key every node signs with; once every node has this \
             file and reloaded it, run `wakeproxy keygen --promote {p}` first"
        ),
        // The step fits: not an error (never built).
        (Phase::AddNext, Rollover::Single { .. })
        | (Phase::Promote, Rollover::NextAdded { .. })
        | (Phase::Retire, Rollover::Promoted { .. }) => String::new(),
    };
    format!(
        "cannot run `wakeproxy keygen {}` (phase {} of a key rollover): {p} {}; {advice}",
        asked.flag(),
        asked.number(),
        found.describe()
    )
}

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

/// One key of a key file.
struct Secret {
    bytes: SecretBytes,
    id: KeyId,
    /// Its 1-based line.
    line: usize,
}

impl Secret {
    fn new(bytes: SecretBytes, line: usize) -> Result<Self, KeyError> {
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
enum Marker {
    Next,
    Previous,
    None,
}

/// A key file's keys, as read: the current key and at most one more accepted key. The secrets
/// are zeroised when it is dropped; `Debug` shows only key ids.
pub struct KeyFile {
    current: Secret,
    second: Option<(Secret, Marker)>,
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
    let with_path = |e: KeyError| match e {
        KeyError::Malformed { line, problem, .. } => {
            KeyError::Malformed { path: path.to_path_buf(), line, problem }
        }
        other => other,
    };
    match parse(&bytes) {
        Ok(keys) => keys.into_file().map_err(with_path),
        Err(ParseError::Empty) => Err(KeyError::Empty { path: path.to_path_buf() }),
        Err(ParseError::Line { line, problem }) => {
            Err(KeyError::Malformed { path: path.to_path_buf(), line, problem })
        }
    }
}

/// `FILE_FLAG_OPEN_REPARSE_POINT`: open a symbolic link or junction itself, not its target.
#[cfg(windows)]
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// `FILE_ATTRIBUTE_REPARSE_POINT`: the file is a symbolic link, junction or other reparse point.
#[cfg(windows)]
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x0400;

/// Opens the key file without following a symbolic link, then checks the open file.
fn open_checked(path: &Path) -> Result<File, KeyError> {
    let unreadable = |source| KeyError::Unreadable { path: path.to_path_buf(), source };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO put there must not hang the daemon; it is refused below.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::NotFound { path: path.to_path_buf() });
        }
        // O_NOFOLLOW on a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD).
        #[cfg(unix)]
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EMLINK)) => {
            return Err(KeyError::Symlink { path: path.to_path_buf() });
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    #[cfg(windows)]
    {
        use std::os::windows::fs::MetadataExt;
        if meta.file_type().is_symlink()
            || meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
        {
            return Err(KeyError::Symlink { path: path.to_path_buf() });
        }
    }
    if !meta.is_file() {
        return Err(unreadable(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The mode first: for a file others may read, `chmod 600` is the fix whoever checks.
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
        }
        let expected = crate::os::sys::unix::effective_uid();
        if meta.uid() != expected {
            return Err(KeyError::WrongOwner {
                path: path.to_path_buf(),
                owner: meta.uid(),
                expected,
            });
        }
    }
    Ok(file)
}

/// The file's bytes, or `None` if it is longer than [`MAX_FILE_LEN`]. Read into a buffer of
/// the final size, never grown, so no copy of the key is left in a freed allocation.
fn read_limited(file: &mut File) -> io::Result<Option<SecretBytes>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_FILE_LEN + 1]);
    let mut len = 0;
    while let Some(spare) = buf.get_mut(len..).filter(|s| !s.is_empty()) {
        match file.read(spare) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if len > MAX_FILE_LEN {
        return Ok(None);
    }
    buf.truncate(len);
    Ok(Some(buf))
}

#[derive(Debug, PartialEq, Eq)]
enum ParseError {
    Empty,
    Line { line: usize, problem: String },
}

/// The keys of a key file, as parsed.
struct Parsed {
    /// The current key and its line.
    first: (usize, SecretBytes),
    /// The second key, its line, and what the comment before it said.
    second: Option<(usize, SecretBytes, Marker)>,
}

impl Parsed {
    fn into_file(self) -> Result<KeyFile, KeyError> {
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
fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
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

fn decode_hex(text: &[u8]) -> Result<SecretBytes, String> {
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

/// Appends `bytes` in lowercase hex to `out` (which has room: no reallocation).
fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Writes a key file: `current`, and `second` with its marker, atomically and 0600.
fn write(path: &Path, current: &Secret, second: Option<(&Secret, Marker)>) -> Result<(), KeyError> {
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

/// What a rollover step did: the file's keys afterwards, and the key it retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloverStep {
    /// The step.
    pub phase: Phase,
    /// The key that signs now.
    pub current: KeyId,
    /// The other accepted key, if any.
    pub accepted: Option<KeyId>,
    /// The key no longer accepted (phase 3).
    pub retired: Option<KeyId>,
}

impl RolloverStep {
    /// What was done to `path` and exactly what to do next, for the operator.
    pub fn report(&self, path: &Path) -> String {
        let p = path.display();
        let (cur, acc) = (self.current, self.accepted.map(|k| k.to_string()).unwrap_or_default());
        let shows = match self.accepted {
            Some(a) => format!("`key: {cur}, also accepts {a}`"),
            None => format!("`key: {cur}`"),
        };
        let (done, then) = match self.phase {
            Phase::AddNext => (
                format!(
                    "phase 1 of 3 done: {p} holds the current key {cur} and the next key {acc}, \
                     which nodes accept but do not sign with yet"
                ),
                format!(
                    "When every node shows that (wake sleeping nodes for it, as for any \
                     update), run:\n  wakeproxy keygen --promote {p}"
                ),
            ),
            Phase::Promote => (
                format!(
                    "phase 2 of 3 done: {p} signs with {cur} now; the previous key {acc} is \
                     still accepted"
                ),
                format!(
                    "When every node shows that (sleeping nodes too), run:\n  wakeproxy keygen \
                     --retire {p}"
                ),
            ),
            Phase::Retire => (
                format!(
                    "phase 3 of 3 done: {p} holds only the key {cur}; the old key {} is no \
                     longer accepted",
                    self.retired.map(|k| k.to_string()).unwrap_or_default()
                ),
                "The rollover is complete when every node shows that; a node still on the old \
                 file is refused by its peers until it gets this one."
                    .to_owned(),
            ),
        };
        format!(
            "{done} ({PROTECTION}).\nnext: copy {p} to every node of the site (where its \
             key_file points) and run `{RELOAD_COMMAND}` there; `wakeproxy status` then shows \
             {shows}. {then}\n"
        )
    }
}

/// Phase 1 of a rollover: adds a fresh key to the one-key file at `path` as the accepted next
/// key. The file keeps signing with its current key.
pub fn add_next(path: &Path) -> Result<RolloverStep, KeyError> {
    let file = read(path)?;
    let found = file.rollover();
    let Rollover::Single { current } = found else {
        return Err(KeyError::WrongPhase { path: path.into(), asked: Phase::AddNext, found });
    };
    let next = Secret::new(generate()?.to_vec().into(), 2)?;
    write(path, &file.current, Some((&next, Marker::Next)))?;
    Ok(RolloverStep { phase: Phase::AddNext, current, accepted: Some(next.id), retired: None })
}

/// Phase 2: makes the next key of a phase-1 file current; the old key stays accepted.
pub fn promote(path: &Path) -> Result<RolloverStep, KeyError> {
    let file = read(path)?;
    let found = file.rollover();
    let (Rollover::NextAdded { current, next }, Some((next_key, _))) = (found, &file.second) else {
        return Err(KeyError::WrongPhase { path: path.into(), asked: Phase::Promote, found });
    };
    write(path, next_key, Some((&file.current, Marker::Previous)))?;
    Ok(RolloverStep {
        phase: Phase::Promote,
        current: next,
        accepted: Some(current),
        retired: None,
    })
}

/// Phase 3: drops the previous key of a phase-2 file.
pub fn retire(path: &Path) -> Result<RolloverStep, KeyError> {
    let file = read(path)?;
    let found = file.rollover();
    let Rollover::Promoted { current, previous } = found else {
        return Err(KeyError::WrongPhase { path: path.into(), asked: Phase::Retire, found });
    };
    write(path, &file.current, None)?;
    Ok(RolloverStep { phase: Phase::Retire, current, accepted: None, retired: Some(previous) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    fn key_lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    fn id_of(hex: &str) -> KeyId {
        let bytes = decode_hex(hex.as_bytes()).unwrap();
        SiteKey::new(&bytes).unwrap().key_id()
    }

    #[test]
    fn the_lab_key_is_usable_and_obviously_public() {
        assert_eq!(INSECURE_LAB_KEY.len(), 32);
        assert!(SiteKey::new(INSECURE_LAB_KEY).is_ok());
        assert!(std::str::from_utf8(INSECURE_LAB_KEY).unwrap().contains("INSECURE"));
    }

    #[test]
    fn parses_one_hex_line_with_comments_and_either_case() {
        let text = format!("# site key\n\n  {HEX64}  \r\n# trailing comment\n");
        let parsed = parse(text.as_bytes()).unwrap();
        assert!(parsed.second.is_none());
        let (line, key) = &parsed.first;
        assert_eq!((*line, key.len()), (3, 32));
        assert_eq!(&key[..3], &[0x00, 0x11, 0x22]);
        assert_eq!(&key[26..], &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(parse(HEX64.as_bytes()).unwrap().first.1, *key, "no newline at all");
        assert_eq!(parse(&HEX64.as_bytes()[..32]).unwrap().first.1.len(), 16);
        assert_eq!(parse("ab".repeat(64).as_bytes()).unwrap().first.1.len(), 64);
    }

    #[test]
    fn files_with_zero_one_two_and_three_keys() {
        let dir = tempfile::tempdir().unwrap();
        // 0: no key.
        let empty = write(dir.path(), "0.key", "# nothing\n\n");
        let e = load(&empty).unwrap_err();
        assert!(matches!(e, KeyError::Empty { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("wakeproxy keygen --force {}", empty.display())));
        // 1: the key signs and is the only one accepted.
        let one = write(dir.path(), "1.key", &format!("{HEX64}\n"));
        let k1 = load(&one).unwrap();
        assert_eq!((k1.key_id(), k1.accepted_key_id()), (id_of(HEX64), None));
        // 2: the first signs, both are accepted.
        let two = write(dir.path(), "2.key", &format!("# c\n{HEX64}\n\n# x\n{OTHER}\n"));
        let k2 = load(&two).unwrap();
        assert_eq!((k2.key_id(), k2.accepted_key_id()), (id_of(HEX64), Some(id_of(OTHER))));
        let other_only = SiteKey::new(&decode_hex(OTHER.as_bytes()).unwrap()).unwrap();
        let mut d = Vec::new();
        let h = crate::core::proto::Header {
            sender: crate::core::addr::NodeId::from_u128(1),
            seq: 1,
            timestamp_ms: 1,
        };
        crate::core::proto::encode(&other_only, &h, &crate::core::proto::Message::Leave, &mut d)
            .unwrap();
        assert_eq!(
            crate::core::proto::decode_verified_with(&k2, &d).map(|(_, w)| w),
            Ok(crate::core::proto::VerifiedWith::Accepted)
        );
        assert!(
            crate::core::proto::decode(&k1, &d).is_err(),
            "the one-key file does not accept it"
        );
        // 3: refused, naming the line, never quoting a key.
        let third = "c0ffee".repeat(10);
        let three = write(dir.path(), "3.key", &format!("{HEX64}\n# b\n{OTHER}\n{third}\n"));
        let e = load(&three).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, KeyError::Malformed { line: 4, .. }), "{e:?}");
        assert!(msg.contains("line 4: a third key line (the keys are on lines 1 and 3)"), "{msg}");
        assert!(msg.contains(&three.display().to_string()), "{msg}");
        assert!(!msg.contains("c0ffee") && !msg.contains("0011") && !msg.contains("ffee"), "{msg}");
    }

    #[test]
    fn malformed_lines_are_reported_by_number_without_the_secret() {
        let secretish = "c0ffee".repeat(10); // a valid key line of its own
        for (text, line, says) in [
            (format!("# c\n{}zz\n", &HEX64[..62]), 2, "character 63 is not a hexadecimal digit"),
            (format!("{}\n", &HEX64[..63]), 1, "odd number"),
            (format!("{}\n", &HEX64[..30]), 1, "has 30 hexadecimal digits"),
            ("ab".repeat(65), 1, "has 130 hexadecimal digits"),
            (format!("{HEX64}\n\n{HEX64}\n"), 3, "the same key as line 1"),
            (format!("{HEX64}\n{secretish}\n{}zz", &OTHER[..62]), 3, "character 63"),
        ] {
            let err = parse(text.as_bytes()).err().unwrap();
            let ParseError::Line { line: got, problem } = &err else { panic!("{err:?}") };
            assert_eq!(*got, line, "{text}");
            assert!(problem.contains(says), "{problem}");
            assert!(!problem.contains("0011") && !problem.contains("c0ffee"), "{problem}");
        }
        assert_eq!(parse(b"# only a comment\n\n").err(), Some(ParseError::Empty));
        assert_eq!(parse(b"").err(), Some(ParseError::Empty));
    }

    #[test]
    fn the_comment_before_the_second_key_marks_the_phase() {
        let rollover = |text: &str| parse(text.as_bytes()).unwrap().into_file().unwrap().rollover();
        let (a, b) = (id_of(HEX64), id_of(OTHER));
        assert_eq!(rollover(HEX64), Rollover::Single { current: a });
        assert_eq!(
            rollover(&format!("{HEX64}\n# next key (id x):\n\n{OTHER}\n")),
            Rollover::NextAdded { current: a, next: b }
        );
        assert_eq!(
            rollover(&format!(
                "# next key, but this is before the first\n{OTHER}\n# Previous Key\n{HEX64}"
            )),
            Rollover::Promoted { current: b, previous: a }
        );
        // Only the comment right before the second key counts.
        assert_eq!(
            rollover(&format!("{HEX64}\n# next key\n# something else\n{OTHER}\n")),
            Rollover::Unmarked { current: a, accepted: b }
        );
        assert_eq!(
            rollover(&format!("{HEX64}\n{OTHER}\n")),
            Rollover::Unmarked { current: a, accepted: b }
        );
    }

    #[test]
    fn write_new_then_load_round_trips_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/site.key");
        write_new(&path, false).unwrap();
        let first = fs::read_to_string(&path).unwrap();
        let key = load(&path).unwrap();
        let hex_line = first.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(hex_line.len(), 64);
        assert!(first.contains(&format!("# current key (id {}):", key.key_id())), "{first}");
        assert_eq!(read(&path).unwrap().rollover(), Rollover::Single { current: key.key_id() });

        let err = write_new(&path, false).unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("--force"), "{msg}");
        assert!(msg.contains("--add-next"), "{msg}");
        assert_eq!(fs::read_to_string(&path).unwrap(), first, "untouched");

        write_new(&path, true).unwrap();
        assert_ne!(fs::read_to_string(&path).unwrap(), first, "a new key");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files");
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_written_0600_and_looser_keys_are_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        write_new(&path, false).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        for mode in [0o640, 0o604, 0o620, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&path).unwrap_err();
            assert!(matches!(err, KeyError::TooOpen { .. }), "{mode:o}: {err:?}");
            assert!(err.to_string().contains(&format!("chmod 600 {}", path.display())), "{err}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load(&path).is_ok(), "read-only for the owner is fine");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_refused_even_to_a_good_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.key");
        write_new(&real, false).unwrap();
        let link = dir.path().join("site.key");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = load(&link).unwrap_err();
        assert!(matches!(err, KeyError::Symlink { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("site key file {} is a symbolic link", link.display())));
        assert!(msg.contains("replace the symlink with the file"), "{msg}");
        // A dangling link too, and a rollover step never writes through one.
        fs::remove_file(&real).unwrap();
        assert!(matches!(load(&link).unwrap_err(), KeyError::Symlink { .. }));
        assert!(matches!(add_next(&link).unwrap_err(), KeyError::Symlink { .. }));
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "untouched");
        assert!(!real.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("site.key");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            assert!(std::env::var("CI").is_err(), "CI must have mkfifo (coreutils)");
            eprintln!("SKIPPED: mkfifo is not available");
            return;
        }
        let err = load(&fifo).unwrap_err();
        assert!(matches!(err, KeyError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    /// Root may give a file away; anyone else cannot make the case.
    #[cfg(unix)]
    fn running_as_root() -> bool {
        if crate::os::sys::unix::effective_uid() == 0 {
            return true;
        }
        assert!(std::env::var("CI").is_err(), "CI runs as root: the owner checks must run there");
        eprintln!("SKIPPED: giving a file to another user needs root");
        false
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_of_another_user_is_refused_with_the_fix() {
        if !running_as_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        write_new(&path, false).unwrap();
        std::os::unix::fs::chown(&path, Some(4321), None).unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, KeyError::WrongOwner { owner: 4321, expected: 0, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "site key file {p} belongs to uid 4321, but wakeproxy runs as root: whoever owns \
                 the file can change the site key; run `chown root {p}`",
                p = path.display()
            )
        );
        // Rollover steps refuse it too, and leave it alone.
        let before = fs::read(&path).unwrap();
        assert!(matches!(add_next(&path).unwrap_err(), KeyError::WrongOwner { .. }));
        assert_eq!(fs::read(&path).unwrap(), before);
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        assert!(load(&path).is_ok(), "chown as the message says fixes it");
    }

    #[test]
    fn a_missing_file_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.key");
        let err = load(&path).unwrap_err();
        assert!(matches!(err, KeyError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&format!("wakeproxy keygen {}", path.display())), "{msg}");
        assert!(matches!(promote(&path).unwrap_err(), KeyError::NotFound { .. }));
    }

    #[test]
    fn load_errors_name_the_file_and_line_but_never_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.key", &format!("# c\n{}q\n", &HEX64[..63]));
        let msg = load(&path).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("line 2"), "{msg}");
        assert!(!msg.contains(&HEX64[..16]), "{msg}");
        let ok = write(dir.path(), "ok.key", HEX64);
        assert_eq!(format!("{:?}", load(&ok).unwrap()), "SiteKey(..)");
        let two = write(dir.path(), "two.key", &format!("{HEX64}\n# next key\n{OTHER}\n"));
        let shown = format!("{:?}", read(&two).unwrap());
        assert_eq!(
            shown,
            format!(
                "KeyFile {{ rollover: NextAdded {{ current: KeyId({}), next: KeyId({}) }} }}",
                id_of(HEX64),
                id_of(OTHER)
            )
        );
    }

    #[test]
    fn a_directory_or_a_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()).unwrap_err(), KeyError::Unreadable { .. }));
        let big = write(dir.path(), "big.key", &"#".repeat(MAX_FILE_LEN + 1));
        assert!(matches!(load(&big).unwrap_err(), KeyError::Malformed { .. }));
        let just =
            write(dir.path(), "just.key", &format!("{HEX64}\n{}", "#".repeat(MAX_FILE_LEN - 65)));
        assert_eq!(fs::metadata(&just).unwrap().len() as usize, MAX_FILE_LEN);
        assert!(load(&just).is_ok(), "exactly the limit is fine");
    }

    #[test]
    fn for_config_uses_the_lab_key_only_when_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            key_file: dir.path().join("missing.key"),
            insecure: true,
            ..Config::default()
        };
        assert!(for_config(&cfg).is_ok());
        cfg.insecure = false;
        assert!(matches!(for_config(&cfg).unwrap_err(), KeyError::NotFound { .. }));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(*generate().unwrap(), *generate().unwrap());
    }

    #[test]
    fn the_three_phases_roll_a_file_from_one_key_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        write_new(&path, false).unwrap();
        let a = key_lines(&path);
        let ka = load(&path).unwrap().key_id();

        let step = add_next(&path).unwrap();
        let after1 = key_lines(&path);
        assert_eq!(after1.len(), 2);
        assert_eq!(after1[0], a[0], "the current key stays first");
        let kb = step.accepted.unwrap();
        assert_eq!(
            step,
            RolloverStep { phase: Phase::AddNext, current: ka, accepted: Some(kb), retired: None }
        );
        assert_eq!(read(&path).unwrap().rollover(), Rollover::NextAdded { current: ka, next: kb });
        let k = load(&path).unwrap();
        assert_eq!((k.key_id(), k.accepted_key_id()), (ka, Some(kb)));

        let step = promote(&path).unwrap();
        assert_eq!(key_lines(&path), vec![after1[1].clone(), after1[0].clone()], "swapped");
        assert_eq!(
            step,
            RolloverStep { phase: Phase::Promote, current: kb, accepted: Some(ka), retired: None }
        );
        assert_eq!(
            read(&path).unwrap().rollover(),
            Rollover::Promoted { current: kb, previous: ka }
        );

        let step = retire(&path).unwrap();
        assert_eq!(key_lines(&path), vec![after1[1].clone()]);
        assert_eq!(
            step,
            RolloverStep { phase: Phase::Retire, current: kb, accepted: None, retired: Some(ka) }
        );
        let k = load(&path).unwrap();
        assert_eq!((k.key_id(), k.accepted_key_id()), (kb, None));
        assert_eq!(crate::store::fsutil::names(dir.path()), ["site.key"], "no temporary files");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // And round again: the rolled file is an ordinary one-key file.
        assert_eq!(add_next(&path).unwrap().current, kb);
    }

    #[test]
    fn a_step_that_does_not_fit_the_phase_is_refused_naming_the_phase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        let p = path.display().to_string();
        write_new(&path, false).unwrap();
        let refused = |r: Result<RolloverStep, KeyError>, says: &[&str]| {
            let e = r.unwrap_err();
            assert!(matches!(e, KeyError::WrongPhase { .. }), "{e:?}");
            let msg = e.to_string();
            for s in says {
                assert!(msg.contains(s), "`{s}` missing in: {msg}");
            }
        };
        let before = fs::read(&path).unwrap();
        refused(
            promote(&path),
            &[
                "cannot run `wakeproxy keygen --promote` (phase 2",
                "holds one key",
                &format!("--add-next {p}"),
            ],
        );
        refused(retire(&path), &["holds one key", "no key rollover is under way"]);
        assert_eq!(fs::read(&path).unwrap(), before, "a refused step writes nothing");

        add_next(&path).unwrap();
        refused(add_next(&path), &["is in phase 1 of a key rollover", &format!("--promote {p}")]);
        refused(
            retire(&path),
            &[
                "is in phase 1",
                "would drop the key every node signs with",
                &format!("--promote {p}"),
            ],
        );

        promote(&path).unwrap();
        refused(promote(&path), &["is in phase 2 of a key rollover", &format!("--retire {p}")]);
        refused(add_next(&path), &["is in phase 2", "previous key", &format!("--retire {p}")]);

        // Two keys and no marker: say how to mark it rather than guess.
        let unmarked = write(dir.path(), "hand.key", &format!("{HEX64}\n{OTHER}\n"));
        for step in [add_next, promote, retire] {
            refused(
                step(&unmarked),
                &["does not say which phase", "`# next key`", "`# previous key`"],
            );
        }
    }

    #[test]
    fn each_step_tells_exactly_what_to_do_next() {
        let (a, b) = (id_of(HEX64), id_of(OTHER));
        let path = Path::new("site.key");
        let one =
            RolloverStep { phase: Phase::AddNext, current: a, accepted: Some(b), retired: None };
        let text = one.report(path);
        assert!(
            text.starts_with(&format!(
                "phase 1 of 3 done: site.key holds the current key {a} and the next key {b}"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("run `{RELOAD_COMMAND}` there")), "{text}");
        assert!(text.contains(&format!("`key: {a}, also accepts {b}`")), "{text}");
        assert!(text.ends_with("run:\n  wakeproxy keygen --promote site.key\n"), "{text}");
        let two =
            RolloverStep { phase: Phase::Promote, current: b, accepted: Some(a), retired: None };
        let text = two.report(path);
        assert!(text.contains(&format!("`key: {b}, also accepts {a}`")), "{text}");
        assert!(text.ends_with("wakeproxy keygen --retire site.key\n"), "{text}");
        let three =
            RolloverStep { phase: Phase::Retire, current: b, accepted: None, retired: Some(a) };
        let text = three.report(path);
        assert!(
            text.starts_with(&format!(
                "phase 3 of 3 done: site.key holds only the key {b}; the old key {a}"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("`key: {b}`.")), "{text}");
    }

    /// Where key material is held: types that clear themselves when dropped. Fails to compile
    /// if one of them is changed to a plain buffer.
    #[test]
    fn key_material_is_held_in_zeroising_buffers() {
        fn zeroised_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "k.key", &format!("{HEX64}\n# next key\n{OTHER}\n"));
        let mut file = File::open(&path).unwrap();
        let bytes = read_limited(&mut file).unwrap().unwrap();
        zeroised_on_drop(&bytes);
        let kf = read(&path).unwrap();
        zeroised_on_drop(&kf.current.bytes);
        zeroised_on_drop(&kf.second.as_ref().unwrap().0.bytes);
        zeroised_on_drop(&generate().unwrap());
        zeroised_on_drop(&decode_hex(HEX64.as_bytes()).unwrap());
    }
}
