//! What lives in files, each read with errors that name the file, the key and what to do.
//!
//! - [`config`]: the configuration file `wakeproxy.toml`.
//! - [`keys`]: the site key file (`wakeproxy keygen`), its permissions and the insecure lab key.
//! - [`state`]: the state directory: the node's permanent id and the registry of known sleepers.
//! - [`fsutil`]: crash-safe file replacement (temporary file, fsync, rename) and default directories.

pub mod config;
pub mod fsutil;
pub mod keys;
pub mod state;
