//! What can go wrong with a configuration file, as typed errors whose messages name the file,
//! the key and its line, and say what to do.

use std::io;
use std::path::PathBuf;

/// What can go wrong with a configuration file. Every message names the file; those about
/// the content name the key and its line, and say what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist.
    #[error(
        "configuration file {} does not exist: pass the path of an existing file (see \
         wakeproxy.example.toml), or none to use the default path",
        path.display()
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions, not UTF-8, a directory, ...).
    #[error(
        "cannot read configuration file {}: {source}: check that it is a UTF-8 text file this \
         user may read",
        path.display()
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not valid TOML.
    #[error(
        "{}: line {line}, column {column}: not valid TOML: {message}; fix the syntax (strings \
         need quotes, one key per line)",
        path.display()
    )]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A key that this table does not have.
    #[error(
        "{}: unknown key `{key}` (line {line}) in {}{}; valid keys there: {}",
        path.display(),
        table.as_deref().map_or_else(|| "the top level".to_owned(), |t| format!("[{t}]")),
        hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default(),
        valid.join(", ")
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key as written (dotted for nested tables, e.g. `log.colour`).
        key: String,
        /// 1-based line of the key.
        line: usize,
        /// The table it is in, dotted if nested (`None`: the top level). A `Box<str>` keeps the
        /// error within clippy's size for an `Err` on Windows, whose paths are larger.
        table: Option<Box<str>>,
        /// The keys that table accepts.
        valid: &'static [&'static str],
        /// A likely fix ("did you mean ...").
        hint: Option<String>,
    },
    /// A value of the wrong type or out of range, or keys that contradict each other.
    #[error(
        "{}: {key} ({}) {message}",
        path.display(),
        line.map_or_else(|| "not set, so its default".to_owned(), |l| format!("line {l}"))
    )]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key, dotted for nested tables (`reconciliation.window`).
        key: String,
        /// 1-based line of the key or value; `None` if the key is not in the file.
        line: Option<usize>,
        /// What is wrong and what is allowed, e.g. "must be between 100ms and 10min, got 0s".
        message: String,
    },
}

/// A value [`Config::validate`](super::Config::validate) rejects: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {message}")]
pub struct InvalidValue {
    /// The key, dotted for nested tables.
    pub key: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}
