//! What the integration tests share: a small network of namespaces (`NetLab`, built with the
//! lab's own `wakeproxy::os::netns`), a `wakeproxy lab` that is taken down when a test ends
//! (`lab`), and the Wine harness for the Windows build (`wine`).
//!
//! These tests need root and `ip`. Under `CI=true` a missing precondition fails the test; on a
//! developer's machine without root it is skipped with a message.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::process::{Command, Output};

#[cfg(target_os = "linux")]
pub mod lab;
#[cfg(target_os = "linux")]
mod netlab;

#[cfg(target_os = "linux")]
pub use netlab::{Host, NetLab, Sniffer};
#[cfg(target_os = "linux")]
pub use wakeproxy::os::netns::wait_for;

/// Returns false (and says why) if this machine cannot run namespace tests; panics under CI.
pub fn can_run_netns() -> bool {
    #[cfg(target_os = "linux")]
    let why = match wakeproxy::lab::preconditions() {
        Ok(()) => return true,
        Err(e) => e.to_string(),
    };
    #[cfg(not(target_os = "linux"))]
    let why = "these tests need Linux (network namespaces)".to_owned();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: CI runs as root with iproute2 installed, so this is a failure, not a skip");
    }
    eprintln!("SKIPPED: {why}");
    false
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> Output {
    let out =
        Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The payload of a magic packet for `mac` (aa:bb:…), in hex.
pub fn magic_hex(mac: &str) -> String {
    let m = mac.replace(':', "");
    format!("{}{}", "ff".repeat(6), m.repeat(16))
}
