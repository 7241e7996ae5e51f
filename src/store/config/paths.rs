//! The product's default paths on each operating system.

use std::path::PathBuf;

#[cfg(not(windows))]
pub(super) fn config_file() -> PathBuf {
    PathBuf::from("/etc/wakeproxy/wakeproxy.toml")
}
#[cfg(not(windows))]
pub(super) fn key_file() -> PathBuf {
    PathBuf::from("/etc/wakeproxy/site.key")
}
#[cfg(not(windows))]
pub(super) fn state_dir() -> PathBuf {
    PathBuf::from("/var/lib/wakeproxy")
}
#[cfg(not(windows))]
pub(super) fn control_socket() -> PathBuf {
    PathBuf::from("/run/wakeproxy/control.sock")
}

#[cfg(windows)]
pub(super) fn config_file() -> PathBuf {
    crate::store::fsutil::windows_data_dir().join("wakeproxy.toml")
}
#[cfg(windows)]
pub(super) fn key_file() -> PathBuf {
    crate::store::fsutil::windows_data_dir().join("site.key")
}
#[cfg(windows)]
pub(super) fn state_dir() -> PathBuf {
    crate::store::fsutil::windows_data_dir()
}
#[cfg(windows)]
pub(super) fn control_socket() -> PathBuf {
    PathBuf::from(r"\\.\pipe\wakeproxy")
}
