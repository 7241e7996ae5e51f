//! A lab host's wall clock, steppable while its daemon runs: a chaos run starts the daemons
//! under libfaketime (Debian: apt-get install faketime), which reads the host's `clock` file
//! (an offset in seconds, `+0` at first) at every wall-clock read. Only the wall clock moves —
//! the monotonic clocks the daemon's timers use stay true — as when an administrator or a bad
//! NTP server steps a real machine's clock.

use std::path::PathBuf;
use std::process::Command;

use super::LabHost;

/// The file holding host `h`'s clock offset.
pub fn clock_file(h: &LabHost) -> PathBuf {
    h.dir.join("clock")
}

/// libfaketime's library, if installed.
pub fn faketime_library() -> Option<PathBuf> {
    let dirs = std::fs::read_dir("/usr/lib").ok()?;
    dirs.filter_map(Result::ok)
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .find(|p| p.exists())
}

/// Makes `cmd` (a daemon of host `h`) run on the host's steppable clock, if the host has one
/// and libfaketime is installed.
pub(super) fn apply(h: &LabHost, cmd: &mut Command) {
    let file = clock_file(h);
    if let (true, Some(lib)) = (file.exists(), faketime_library()) {
        cmd.env("LD_PRELOAD", lib)
            .env("FAKETIME_TIMESTAMP_FILE", file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
}
