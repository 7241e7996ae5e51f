//! The site key file: the shared secret every node of a site signs its messages with.
//!
//! # Format
//!
//! One line of hexadecimal digits, 32 to 128 of them (16 to 64 bytes; `wakeproxy keygen` writes
//! 64, that is 32 bytes), optionally followed by a newline. Lines starting with `#` are comments
//! and blank lines are ignored; either case of hex digits is accepted.
//!
//! ```text
//! # wakeproxy site key: copy this file to every node of the site, mode 0600.
//! 3f1c...e0 (64 hex digits)
//! ```
//!
//! # Protection
//!
//! On Unix the file must not be readable or writable by group or others ([`load`] refuses it
//! otherwise, like ssh does with private keys) and [`write_new`] creates it with mode 0600. On
//! Windows the file is written with its directory's ACL: restricting `%ProgramData%\wakeproxy`
//! to SYSTEM and Administrators is the installer's job.
//!
//! Neither errors nor `Debug` output ever contain key material: a malformed line is reported by
//! its number and the kind of problem, never by its text.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::fsutil::atomic_write;
use crate::proto::{MAX_KEY_LEN, MIN_KEY_LEN, SiteKey};

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
const MAX_FILE_LEN: u64 = 64 * 1024;

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
        "site key file {} contains no key: it must hold one line of 64 hexadecimal digits; \
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
         digits (64 from `wakeproxy keygen`), comments start with `#`",
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
         share it; pass `--force` to replace it, then copy the new file to every node",
        path.display()
    )]
    Exists {
        /// The file.
        path: PathBuf,
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

/// A fresh 32-byte key from the operating system's random number generator.
pub fn generate() -> Result<[u8; GENERATED_KEY_LEN], KeyError> {
    let mut key = [0; GENERATED_KEY_LEN];
    getrandom::fill(&mut key).map_err(KeyError::Random)?;
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
    let write_err = |source| KeyError::Write { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(write_err)?;
    }
    let key = generate()?;
    let text = format!(
        "# wakeproxy site key ({GENERATED_KEY_LEN} bytes). Every node of the site needs this \
         same file; keep it secret (mode 0600).\n{}\n",
        to_hex(&key)
    );
    atomic_write(path, text.as_bytes(), 0o600).map_err(write_err)
}

/// Reads and checks the key file at `path`.
pub fn load(path: &Path) -> Result<SiteKey, KeyError> {
    let unreadable = |source| KeyError::Unreadable { path: path.to_path_buf(), source };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::NotFound { path: path.to_path_buf() });
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(KeyError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            problem: format!("the file is larger than {MAX_FILE_LEN} bytes, so it is not a key"),
        });
    }
    let secret = parse(&bytes).map_err(|e| match e {
        ParseError::Empty => KeyError::Empty { path: path.to_path_buf() },
        ParseError::Line { line, problem } => {
            KeyError::Malformed { path: path.to_path_buf(), line, problem }
        }
    })?;
    // `parse` checked the length, so this cannot fail; mapped, not unwrapped.
    SiteKey::new(&secret).map_err(|e| KeyError::Malformed {
        path: path.to_path_buf(),
        line: 1,
        problem: e.to_string(),
    })
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

#[derive(Debug, PartialEq, Eq)]
enum ParseError {
    Empty,
    Line { line: usize, problem: String },
}

/// The secret in a key file's bytes. Never puts any of the file's text into an error.
fn parse(bytes: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut found: Option<(usize, Vec<u8>)> = None;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = raw.trim_ascii();
        if text.is_empty() || text.starts_with(b"#") {
            continue;
        }
        if let Some((first, _)) = found {
            return Err(ParseError::Line {
                line,
                problem: format!("a second key line (the key is on line {first})"),
            });
        }
        found =
            Some((line, decode_hex(text).map_err(|problem| ParseError::Line { line, problem })?));
    }
    found.map(|(_, key)| key).ok_or(ParseError::Empty)
}

fn decode_hex(text: &[u8]) -> Result<Vec<u8>, String> {
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
    Ok(text.chunks_exact(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])).collect())
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

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

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

    #[test]
    fn the_lab_key_is_usable_and_obviously_public() {
        assert_eq!(INSECURE_LAB_KEY.len(), 32);
        assert!(SiteKey::new(INSECURE_LAB_KEY).is_ok());
        assert!(std::str::from_utf8(INSECURE_LAB_KEY).unwrap().contains("INSECURE"));
    }

    #[test]
    fn parses_one_hex_line_with_comments_and_either_case() {
        let text = format!("# site key\n\n  {HEX64}  \r\n# trailing comment\n");
        let key = parse(text.as_bytes()).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(&key[..3], &[0x00, 0x11, 0x22]);
        assert_eq!(&key[26..], &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(parse(HEX64.as_bytes()).unwrap(), key, "no newline at all");
        assert_eq!(parse(&HEX64.as_bytes()[..32]).unwrap().len(), 16);
        assert_eq!(parse("ab".repeat(64).as_bytes()).unwrap().len(), 64);
    }

    #[test]
    fn malformed_lines_are_reported_by_number_without_the_secret() {
        let secretish = "c0ffee".repeat(10); // a valid key line of its own
        for (text, line, says) in [
            (format!("# c\n{}zz\n", &HEX64[..62]), 2, "character 63 is not a hexadecimal digit"),
            (format!("{}\n", &HEX64[..63]), 1, "odd number"),
            (format!("{}\n", &HEX64[..30]), 1, "has 30 hexadecimal digits"),
            ("ab".repeat(65), 1, "has 130 hexadecimal digits"),
            (format!("{HEX64}\n\n{secretish}\n"), 3, "a second key line (the key is on line 1)"),
        ] {
            let err = parse(text.as_bytes()).unwrap_err();
            let ParseError::Line { line: got, problem } = &err else { panic!("{err:?}") };
            assert_eq!(*got, line, "{text}");
            assert!(problem.contains(says), "{problem}");
            assert!(!problem.contains("0011") && !problem.contains("c0ffee"), "{problem}");
        }
        assert_eq!(parse(b"# only a comment\n\n"), Err(ParseError::Empty));
        assert_eq!(parse(b""), Err(ParseError::Empty));
    }

    #[test]
    fn write_new_then_load_round_trips_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/site.key");
        write_new(&path, false).unwrap();
        let first = fs::read_to_string(&path).unwrap();
        assert!(load(&path).is_ok());
        let hex_line = first.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(hex_line.len(), 64);

        let err = write_new(&path, false).unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("--force"), "{msg}");
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

    #[test]
    fn a_missing_file_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.key");
        let err = load(&path).unwrap_err();
        assert!(matches!(err, KeyError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&format!("wakeproxy keygen {}", path.display())), "{msg}");
    }

    #[test]
    fn load_errors_name_the_file_and_line_but_never_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.key", &format!("# c\n{}q\n", &HEX64[..63]));
        let msg = load(&path).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("line 2"), "{msg}");
        assert!(!msg.contains(&HEX64[..16]), "{msg}");
        let empty = write(dir.path(), "empty.key", "# nothing\n");
        assert!(matches!(load(&empty).unwrap_err(), KeyError::Empty { .. }));
        let ok = write(dir.path(), "ok.key", HEX64);
        assert_eq!(format!("{:?}", load(&ok).unwrap()), "SiteKey(..)");
    }

    #[test]
    fn a_directory_or_a_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()).unwrap_err(), KeyError::Unreadable { .. }));
        let big = write(dir.path(), "big.key", &"#".repeat(MAX_FILE_LEN as usize + 1));
        assert!(matches!(load(&big).unwrap_err(), KeyError::Malformed { .. }));
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
        assert_ne!(generate().unwrap(), generate().unwrap());
    }
}
