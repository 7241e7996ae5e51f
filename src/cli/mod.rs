//! The `wakeproxy` command line: what `main.rs` dispatches to, one file per group of commands.
//! It parses, loads and prints; everything it does is the library's.

pub(crate) mod args;
pub(crate) mod common;
pub(crate) mod control;
pub(crate) mod doctor;
pub(crate) mod firewall;
#[cfg(target_os = "linux")]
pub(crate) mod lab;
pub(crate) mod local;
pub(crate) mod manual;
pub(crate) mod run;
#[cfg(windows)]
pub(crate) mod service;
pub(crate) mod sim_threads;
