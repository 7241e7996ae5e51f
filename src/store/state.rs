//! The state directory: what a node remembers across restarts.
//!
//! Default: `/var/lib/wakeproxy` on Linux, `%ProgramData%\wakeproxy` on Windows
//! ([`StateDir::default_path`]; the `state_dir` configuration key). It holds:
//!
//! - `node-id`: the node's permanent identity, 32 hex digits and a newline, created once from
//!   the OS random number generator and never changed;
//! - `sleepers.json`: the registry of known sleepers, `{"version":1,"sleepers":[...]}`, each
//!   entry a [`SavedSleeper`] with addresses as text (`"10.0.0.5/24"`, `"fe80::1/64"`).
//!
//! Every write is atomic ([`crate::store::fsutil::atomic_write`]), so a crash leaves the old file or the
//! new one. Nothing in here stops the daemon: a file that cannot be understood (corrupt JSON, an
//! unknown newer version, a mangled node id) is **moved aside** to `<name>.corrupt-<unix-ms>`
//! and reported as a [`StateWarning`] in [`Loaded`], which the caller should log. Only I/O
//! failures (permissions, a full disk) are errors. Directory and files are private to the
//! daemon's user on Unix (modes 0700 and 0600).

use std::fs;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

use crate::core::addr::{MacAddr, NodeId};
use crate::core::proto::{HostInfo, Ipv4Prefix, Ipv6Prefix, MAX_IPV4, MAX_IPV6, MAX_TCP_PORTS};
use crate::store::fsutil::{atomic_write, remove_stale_temps};

/// The node id file's name.
pub const NODE_ID_FILE: &str = "node-id";
/// The sleeper registry's name.
pub const SLEEPERS_FILE: &str = "sleepers.json";
/// The version of `sleepers.json` this build writes and reads.
pub const SLEEPERS_VERSION: u64 = 1;

/// Permission bits of the files (Unix).
const FILE_MODE: u32 = 0o600;
/// Permission bits of the directory when wakeproxy creates it (Unix).
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// A sleeper as remembered on disk: which interface saw it, its identity, what a proxy needs
/// to stand in for it, since when it sleeps and who proxied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSleeper {
    /// The name of the interface (LAN) it was seen on.
    pub interface: String,
    /// Its node id.
    pub node_id: NodeId,
    /// The MAC its magic packets go to.
    pub mac: MacAddr,
    /// Its IPv4 addresses with prefix lengths (`"10.0.0.5/24"`).
    #[serde(default, deserialize_with = "v4_list")]
    pub ipv4: Vec<Ipv4Prefix>,
    /// Its IPv6 addresses with prefix lengths (`"fe80::1/64"`).
    #[serde(default, deserialize_with = "v6_list")]
    pub ipv6: Vec<Ipv6Prefix>,
    /// TCP ports whose SYN should wake it.
    #[serde(default)]
    pub tcp_ports: Vec<u16>,
    /// When it went to sleep, Unix milliseconds.
    pub since_ms: u64,
    /// The node that proxied it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied_by: Option<NodeId>,
}

impl SavedSleeper {
    /// A record of `host`, asleep since `since_ms`.
    pub fn new(
        interface: impl Into<String>,
        node_id: NodeId,
        host: &HostInfo,
        since_ms: u64,
        proxied_by: Option<NodeId>,
    ) -> Self {
        Self {
            interface: interface.into(),
            node_id,
            mac: host.mac,
            ipv4: host.ipv4.clone(),
            ipv6: host.ipv6.clone(),
            tcp_ports: host.tcp_ports.clone(),
            since_ms,
            proxied_by,
        }
    }

    /// What a proxy needs to stand in for it.
    pub fn host_info(&self) -> HostInfo {
        HostInfo {
            mac: self.mac,
            ipv4: self.ipv4.clone(),
            ipv6: self.ipv6.clone(),
            tcp_ports: self.tcp_ports.clone(),
        }
    }

    /// Why the peer protocol could not carry this record, if it could not.
    fn problem(&self) -> Option<String> {
        let too_many =
            |what, n: usize, max| (n > max).then(|| format!("{n} {what}, at most {max}"));
        if self.interface.is_empty() {
            return Some("no interface name".into());
        }
        too_many("IPv4 addresses", self.ipv4.len(), MAX_IPV4)
            .or_else(|| too_many("IPv6 addresses", self.ipv6.len(), MAX_IPV6))
            .or_else(|| too_many("TCP ports", self.tcp_ports.len(), MAX_TCP_PORTS))
    }
}

/// A value read from the state directory, with what went wrong on the way (to be logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<T> {
    /// The value: what was read, or a fresh one.
    pub value: T,
    /// What the caller should log as warnings.
    pub warnings: Vec<StateWarning>,
}

/// Something in the state directory was unusable and has been dealt with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateWarning {
    /// A file could not be understood and was renamed so that a fresh one can be written.
    #[error(
        "{} {problem}; moved it aside to {} (keep it for a bug report, or delete it); {consequence}",
        file.display(),
        to.display()
    )]
    MovedAside {
        /// The file.
        file: PathBuf,
        /// Where it went.
        to: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What that means for this node.
        consequence: &'static str,
    },
    /// One entry of `sleepers.json` could not be used and was left out.
    #[error(
        "{} entry {index} is unusable ({problem}); skipped it, the node will learn that \
         sleeper again when it next wakes",
        file.display()
    )]
    SkippedSleeper {
        /// The file.
        file: PathBuf,
        /// The entry's index (0-based).
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// Temporary files of an interrupted write (a crash) were found and deleted.
    #[error(
        "removed {count} temporary file(s) of {} left by an interrupted write (a crash or power \
         loss); the file itself is intact",
        file.display()
    )]
    RemovedTemporaries {
        /// The file they belonged to.
        file: PathBuf,
        /// How many.
        count: usize,
    },
}

/// An I/O failure in the state directory. Messages name the path and say what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The directory could not be created (or the path is not a directory).
    #[error(
        "cannot create state directory {}: {source}: create it (owned by the daemon's user, \
         mode 0700) or set state_dir in the configuration",
        path.display()
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be read.
    #[error(
        "cannot read {}: {source}: check that the daemon's user owns the state directory",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    #[error(
        "cannot write {}: {source}: check that the state directory is writable and the disk \
         is not full",
        path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An unusable file could not be moved aside.
    #[error(
        "{} is unusable and cannot be moved aside: {source}: move or delete it by hand",
        path.display()
    )]
    MoveAside {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The operating system's random number generator failed (making a node id).
    #[error("cannot get random bytes from the operating system for a node id: {0}; try again")]
    Random(getrandom::Error),
}

/// The state directory, created if need be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// `/var/lib/wakeproxy` on Linux, `%ProgramData%\wakeproxy` on Windows.
    pub fn default_path() -> PathBuf {
        #[cfg(windows)]
        {
            crate::store::fsutil::windows_data_dir()
        }
        #[cfg(not(windows))]
        {
            PathBuf::from("/var/lib/wakeproxy")
        }
    }

    /// Opens the directory at `path`, creating it (and its parents) with mode 0700 on Unix if
    /// it does not exist. An existing directory's mode is left alone.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let err = |source| StateError::CreateDir { path: path.to_path_buf(), source };
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "it exists and is not a directory",
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
                    builder.mode(DIR_MODE);
                    builder.create(path).map_err(err)?;
                    // Exactly 0700, whatever the umask.
                    fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)).map_err(err)?;
                }
                #[cfg(not(unix))]
                builder.create(path).map_err(err)?;
            }
            Err(e) => return Err(err(e)),
        }
        Ok(Self { path: path.to_path_buf() })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This node's id: read from `node-id`, or created (random) and saved if there is none. A
    /// corrupt file is moved aside and replaced — the node then has a new identity, which the
    /// warning says.
    pub fn node_id(&self) -> Result<Loaded<NodeId>, StateError> {
        let path = self.path.join(NODE_ID_FILE);
        let mut warnings = self.clean(NODE_ID_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                if let Some(id) = parse_node_id(&bytes) {
                    return Ok(Loaded { value: id, warnings });
                }
                let to = move_aside(&path)?;
                warnings.push(StateWarning::MovedAside {
                    file: path.clone(),
                    to,
                    problem: "is not a node id (32 hexadecimal digits)".into(),
                    consequence: "this node starts with a NEW identity; its peers will see a new \
                                  node, and the old id ages out of their tables",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateError::Read { path, source }),
        }
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes).map_err(StateError::Random)?;
        let id = NodeId(bytes);
        atomic_write(&path, format!("{id}\n").as_bytes(), FILE_MODE)
            .map_err(|source| StateError::Write { path, source })?;
        Ok(Loaded { value: id, warnings })
    }

    /// The saved sleepers; none if there is no file. A file that is not valid JSON, or not the
    /// expected shape, or of an unknown version, is moved aside (with a warning) and the node
    /// starts with no known sleepers; an unusable entry is skipped (with a warning).
    pub fn load_sleepers(&self) -> Result<Loaded<Vec<SavedSleeper>>, StateError> {
        let path = self.path.join(SLEEPERS_FILE);
        let mut warnings = self.clean(SLEEPERS_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Loaded { value: Vec::new(), warnings });
            }
            Err(source) => return Err(StateError::Read { path, source }),
        };
        match parse_sleepers(&bytes) {
            Ok(parsed) => {
                warnings.extend(parsed.skipped.into_iter().map(|(index, problem)| {
                    StateWarning::SkippedSleeper { file: path.clone(), index, problem }
                }));
                Ok(Loaded { value: parsed.sleepers, warnings })
            }
            Err(problem) => {
                let to = move_aside(&path)?;
                warnings.push(StateWarning::MovedAside {
                    file: path,
                    to,
                    problem: problem.to_string(),
                    consequence: "starting with no known sleepers; they are learnt again as \
                                  they wake and sleep",
                });
                Ok(Loaded { value: Vec::new(), warnings })
            }
        }
    }

    /// Replaces `sleepers.json` with `sleepers`, atomically.
    pub fn save_sleepers(&self, sleepers: &[SavedSleeper]) -> Result<(), StateError> {
        let path = self.path.join(SLEEPERS_FILE);
        let json = sleepers_json(sleepers)
            .map_err(|e| StateError::Write { path: path.clone(), source: io::Error::other(e) })?;
        atomic_write(&path, &json, FILE_MODE).map_err(|source| StateError::Write { path, source })
    }

    /// Deletes temporaries a crash left for `name`; a failure to do so is not worth stopping
    /// for (the next write uses another name).
    fn clean(&self, name: &str) -> Vec<StateWarning> {
        match remove_stale_temps(&self.path, name) {
            Ok(count) if count > 0 => {
                vec![StateWarning::RemovedTemporaries { file: self.path.join(name), count }]
            }
            _ => Vec::new(),
        }
    }
}

/// The node id in a `node-id` file's bytes (32 hex digits, whitespace around them allowed).
pub fn parse_node_id(bytes: &[u8]) -> Option<NodeId> {
    std::str::from_utf8(bytes).ok().and_then(|t| t.trim().parse().ok())
}

/// What a `sleepers.json` holds: the usable entries, and why each other entry is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSleepers {
    /// The usable entries, in file order.
    pub sleepers: Vec<SavedSleeper>,
    /// The index (0-based) of each unusable entry and what is wrong with it.
    pub skipped: Vec<(usize, String)>,
}

/// Why a `sleepers.json` as a whole is unusable (the sentence after the file's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SleepersFileError {
    /// Not JSON at all.
    #[error("is not valid JSON ({0})")]
    NotJson(String),
    /// A format version this build does not read.
    #[error(
        "was written by a newer wakeproxy (format version {0}; this one reads {SLEEPERS_VERSION})"
    )]
    Newer(u64),
    /// No usable version field.
    #[error("has no valid \"version\" field")]
    NoVersion,
    /// No list of sleepers.
    #[error("has no \"sleepers\" list")]
    NoList,
}

/// The sleepers in a `sleepers.json`'s bytes, as [`StateDir::load_sleepers`] reads them: no
/// I/O (the fuzz target `state_parse` calls it).
pub fn parse_sleepers(bytes: &[u8]) -> Result<ParsedSleepers, SleepersFileError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| SleepersFileError::NotJson(e.to_string()))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(SLEEPERS_VERSION) => {}
        Some(v) if v > SLEEPERS_VERSION => return Err(SleepersFileError::Newer(v)),
        _ => return Err(SleepersFileError::NoVersion),
    }
    let Some(serde_json::Value::Array(entries)) = value.get("sleepers") else {
        return Err(SleepersFileError::NoList);
    };
    let mut parsed =
        ParsedSleepers { sleepers: Vec::with_capacity(entries.len()), skipped: vec![] };
    for (index, entry) in entries.iter().enumerate() {
        let sleeper = SavedSleeper::deserialize(entry).map_err(|e| e.to_string());
        match sleeper.and_then(|s| s.problem().map_or(Ok(s), Err)) {
            Ok(s) => parsed.sleepers.push(s),
            Err(problem) => parsed.skipped.push((index, problem)),
        }
    }
    Ok(parsed)
}

/// The bytes [`StateDir::save_sleepers`] writes for `sleepers`.
pub fn sleepers_json(sleepers: &[SavedSleeper]) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        version: u64,
        sleepers: &'a [SavedSleeper],
    }
    let mut json = serde_json::to_vec_pretty(&Envelope { version: SLEEPERS_VERSION, sleepers })?;
    json.push(b'\n');
    Ok(json)
}

/// Renames `path` to `<path>.corrupt-<unix-ms>` (with `-<n>` added if that exists).
fn move_aside(path: &Path) -> Result<PathBuf, StateError> {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let base = format!("{}.corrupt-{ms}", path.display());
    let mut to = PathBuf::from(&base);
    let mut n = 1;
    while fs::symlink_metadata(&to).is_ok() {
        to = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    fs::rename(path, &to)
        .map_err(|source| StateError::MoveAside { path: path.to_path_buf(), source })?;
    Ok(to)
}

fn parse_prefix<A: std::str::FromStr>(text: &str, max_len: u8) -> Option<(A, u8)> {
    let (addr, len) = text.split_once('/')?;
    let len: u8 = len.parse().ok().filter(|l| *l <= max_len)?;
    Some((addr.parse().ok()?, len))
}

fn v4_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ipv4Prefix>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|t| {
            parse_prefix::<Ipv4Addr>(t, 32).map(|(addr, len)| Ipv4Prefix { addr, len }).ok_or_else(
                || serde::de::Error::custom(format!("`{t}` is not an IPv4 address/prefix length")),
            )
        })
        .collect()
}

fn v6_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ipv6Prefix>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|t| {
            parse_prefix::<Ipv6Addr>(t, 128).map(|(addr, len)| Ipv6Prefix { addr, len }).ok_or_else(
                || serde::de::Error::custom(format!("`{t}` is not an IPv6 address/prefix length")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::fsutil::names;

    fn sleeper(n: u8) -> SavedSleeper {
        let host = HostInfo {
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, n), len: 24 }],
            ipv6: vec![Ipv6Prefix { addr: format!("fe80::{n}").parse().unwrap(), len: 64 }],
            tcp_ports: vec![22, 3389],
        };
        let proxy = (n % 2 == 0).then(|| NodeId::from_u128(99));
        SavedSleeper::new("eth0", NodeId::from_u128(u128::from(n)), &host, 1_700_000_000_000, proxy)
    }

    fn open() -> (tempfile::TempDir, StateDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&tmp.path().join("state")).unwrap();
        (tmp, dir)
    }

    #[test]
    fn sleepers_round_trip_and_read_as_documented() {
        let (_tmp, dir) = open();
        assert_eq!(dir.load_sleepers().unwrap(), Loaded { value: vec![], warnings: vec![] });
        let saved = vec![sleeper(1), sleeper(2)];
        dir.save_sleepers(&saved).unwrap();
        let loaded = dir.load_sleepers().unwrap();
        assert_eq!(loaded.value, saved);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let host = saved[0].host_info();
        assert_eq!(
            SavedSleeper::new("eth0", saved[0].node_id, &host, 1_700_000_000_000, None),
            saved[0]
        );
        assert_eq!(host.ipv4, [Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, 1), len: 24 }]);

        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join(SLEEPERS_FILE)).unwrap()).unwrap();
        assert_eq!(json["version"], 1);
        let first = &json["sleepers"][0];
        assert_eq!(first["interface"], "eth0");
        assert_eq!(first["mac"], "02:00:00:00:00:01");
        assert_eq!(first["ipv4"][0], "10.0.0.1/24");
        assert_eq!(first["ipv6"][0], "fe80::1/64");
        assert_eq!(first["since_ms"], 1_700_000_000_000u64);
        assert!(first.get("proxied_by").is_none());
        assert_eq!(json["sleepers"][1]["proxied_by"], NodeId::from_u128(99).to_string());
        assert_eq!(names(dir.path()), [SLEEPERS_FILE], "no temporary files");
    }

    #[test]
    fn a_corrupt_or_newer_file_is_moved_aside_with_a_warning() {
        for (content, says) in [
            (&b"{\"version\":1,\"sleepers\":[{\"interf"[..], "is not valid JSON"),
            (b"\xff\xfe garbage", "is not valid JSON"),
            (b"{\"sleepers\":[]}", "has no valid \"version\" field"),
            (b"{\"version\":1}", "has no \"sleepers\" list"),
            (b"{\"version\":2,\"sleepers\":[]}", "newer wakeproxy (format version 2"),
        ] {
            let (_tmp, dir) = open();
            let file = dir.path().join(SLEEPERS_FILE);
            fs::write(&file, content).unwrap();
            let loaded = dir.load_sleepers().unwrap();
            assert!(loaded.value.is_empty());
            let [StateWarning::MovedAside { to, .. }] = loaded.warnings.as_slice() else {
                panic!("{:?}", loaded.warnings)
            };
            let text = loaded.warnings[0].to_string();
            assert!(text.contains(says) && text.contains("moved it aside"), "{text}");
            assert_eq!(fs::read(to).unwrap(), content, "kept as it was");
            let names = names(dir.path());
            assert_eq!(names.len(), 1);
            assert!(names[0].starts_with("sleepers.json.corrupt-"), "{names:?}");
            // The next save starts a fresh file.
            dir.save_sleepers(&[sleeper(3)]).unwrap();
            assert_eq!(dir.load_sleepers().unwrap().value, [sleeper(3)]);
        }
    }

    #[test]
    fn an_unusable_entry_is_skipped_not_the_whole_file() {
        let (_tmp, dir) = open();
        let good = serde_json::to_value(sleeper(1)).unwrap();
        let mut bad_addr = good.clone();
        bad_addr["ipv4"] = serde_json::json!(["10.0.0.1/33"]);
        let mut future_field = good.clone();
        future_field["added_in_1_1"] = serde_json::json!(true);
        let envelope = serde_json::json!({
            "version": 1,
            "sleepers": [good, bad_addr, {"interface": "eth0"}, future_field],
        });
        fs::write(dir.path().join(SLEEPERS_FILE), envelope.to_string()).unwrap();
        let loaded = dir.load_sleepers().unwrap();
        assert_eq!(loaded.value, [sleeper(1), sleeper(1)], "unknown fields are ignored");
        let skipped: Vec<usize> = loaded
            .warnings
            .iter()
            .map(|w| match w {
                StateWarning::SkippedSleeper { index, .. } => *index,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(skipped, [1, 2]);
        assert!(loaded.warnings[0].to_string().contains("10.0.0.1/33"), "{}", loaded.warnings[0]);
    }

    #[test]
    fn a_stray_temporary_from_a_crash_is_ignored_and_removed() {
        let (_tmp, dir) = open();
        dir.save_sleepers(&[sleeper(1)]).unwrap();
        // A crash after the temporary was written but before the rename.
        fs::write(dir.path().join(".sleepers.json.tmp-4242-0"), b"{\"version\":1,\"slee").unwrap();
        fs::write(dir.path().join(".node-id.tmp-4242-1"), b"0123").unwrap();
        let loaded = dir.load_sleepers().unwrap();
        assert_eq!(loaded.value, [sleeper(1)], "the old file is intact");
        assert!(matches!(
            loaded.warnings.as_slice(),
            [StateWarning::RemovedTemporaries { count: 1, .. }]
        ));
        assert_eq!(names(dir.path()), [".node-id.tmp-4242-1", SLEEPERS_FILE]);
        let id = dir.node_id().unwrap();
        assert!(matches!(id.warnings.as_slice(), [StateWarning::RemovedTemporaries { .. }]));
        assert_eq!(names(dir.path()), [NODE_ID_FILE, SLEEPERS_FILE]);
    }

    #[test]
    fn the_node_id_is_created_once_and_kept() {
        let (_tmp, dir) = open();
        let first = dir.node_id().unwrap();
        assert!(first.warnings.is_empty());
        assert_ne!(first.value, NodeId::default());
        let text = fs::read_to_string(dir.path().join(NODE_ID_FILE)).unwrap();
        assert_eq!(text, format!("{}\n", first.value));
        assert_eq!(dir.node_id().unwrap().value, first.value);
        // Reopening the directory changes nothing.
        let again = StateDir::open(dir.path()).unwrap();
        assert_eq!(again.node_id().unwrap().value, first.value);
    }

    #[test]
    fn a_corrupt_node_id_is_replaced_and_the_warning_says_the_identity_changed() {
        let (_tmp, dir) = open();
        let file = dir.path().join(NODE_ID_FILE);
        fs::write(&file, "not-an-id\n").unwrap();
        let loaded = dir.node_id().unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        let text = loaded.warnings[0].to_string();
        assert!(text.contains("NEW identity") && text.contains("node-id.corrupt-"), "{text}");
        assert_eq!(dir.node_id().unwrap(), Loaded { value: loaded.value, warnings: vec![] });
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_is_0700_and_the_files_0600() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, dir) = open();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        dir.node_id().unwrap();
        dir.save_sleepers(&[sleeper(1)]).unwrap();
        assert_eq!(mode(&dir.path().join(NODE_ID_FILE)), 0o600);
        assert_eq!(mode(&dir.path().join(SLEEPERS_FILE)), 0o600);
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state");
        fs::write(&path, b"x").unwrap();
        let err = StateDir::open(&path).unwrap_err();
        assert!(matches!(err, StateError::CreateDir { .. }));
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn the_parsers_read_what_the_writers_wrote() {
        let (_tmp, dir) = open();
        dir.save_sleepers(&[sleeper(1), sleeper(2)]).unwrap();
        let bytes = fs::read(dir.path().join(SLEEPERS_FILE)).unwrap();
        assert_eq!(bytes, sleepers_json(&[sleeper(1), sleeper(2)]).unwrap());
        let parsed = parse_sleepers(&bytes).unwrap();
        assert_eq!(
            parsed,
            ParsedSleepers { sleepers: vec![sleeper(1), sleeper(2)], skipped: vec![] }
        );
        let id = dir.node_id().unwrap().value;
        assert_eq!(parse_node_id(&fs::read(dir.path().join(NODE_ID_FILE)).unwrap()), Some(id));
        assert_eq!(parse_node_id(b"\xff"), None);
        assert_eq!(parse_sleepers(b"[]"), Err(SleepersFileError::NoVersion));
    }

    /// The seeds of the fuzz target `state_parse` are files this module writes. After changing
    /// the format, rewrite them with `WAKEPROXY_BLESS_SEEDS=1 cargo test --lib fuzz_seeds`.
    #[test]
    fn fuzz_seeds_are_files_the_state_directory_wrote() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/state_parse");
        let (_tmp, dir) = open();
        let mut odd = sleeper(3);
        odd.ipv6.clear();
        odd.tcp_ports.clear();
        odd.interface = "enp0s31f6.20".into();
        let mut files = Vec::new();
        for (name, sleepers) in
            [("sleepers.json", vec![sleeper(1), sleeper(2), odd]), ("empty.json", vec![])]
        {
            dir.save_sleepers(&sleepers).unwrap();
            files.push((name, fs::read(dir.path().join(SLEEPERS_FILE)).unwrap()));
        }
        files.push(("node-id", format!("{}\n", NodeId::from_u128(0x5eed)).into_bytes()));
        for (name, bytes) in files {
            let path = root.join(name);
            if std::env::var_os("WAKEPROXY_BLESS_SEEDS").is_some() {
                fs::create_dir_all(&root).unwrap();
                fs::write(&path, &bytes).unwrap();
            }
            assert_eq!(
                fs::read(&path).unwrap_or_default(),
                bytes,
                "{name} is stale: rerun with WAKEPROXY_BLESS_SEEDS=1"
            );
            assert!(parse_sleepers(&bytes).is_ok() || parse_node_id(&bytes).is_some(), "{name}");
        }
    }

    #[test]
    fn records_the_protocol_cannot_carry_are_refused() {
        let mut s = sleeper(1);
        s.tcp_ports = vec![1; MAX_TCP_PORTS + 1];
        assert!(s.problem().unwrap().contains("TCP ports"));
        s.tcp_ports.clear();
        s.interface.clear();
        assert!(s.problem().is_some());
    }
}
