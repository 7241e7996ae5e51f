//! wakeproxy: an open, cross-platform wake-up proxy.
//!
//! A daemon runs on every client of a LAN. Peers exchange signed heartbeats to learn who is awake,
//! elect one manager per subnet, keep a few guardians awake, and assign each sleeping host to an
//! awake proxy that answers for it and wakes it with a Wake-on-LAN magic packet when someone
//! connects to a port it listened on.
//!
//! # Layers, one folder each
//!
//! - [`core`]: decides everything and does no I/O: it takes time and bytes as arguments and
//!   returns actions (the quinn-proto / smoltcp model). It never reads a clock, opens a socket or
//!   uses `unsafe`.
//! - The **drivers** run the core: [`daemon`] (the tokio daemon, on a [`daemon::Platform`]),
//!   [`sim`] (many nodes on a virtual clock, `wakeproxy simulate`), [`ctl`] (the control
//!   socket: protocol, server, client, `status` text), `lab` (Linux: many hosts in network
//!   namespaces), [`direct_wake`] (`wakeproxy wake --direct`), [`doctor`] (`wakeproxy doctor`:
//!   what breaks wakes on this host, and the fixes).
//! - [`store`]: what lives in files: the configuration, the site key, the state directory, and
//!   crash-safe file replacement.
//! - [`os`]: the operating-system glue: system calls ([`os::sys`], the only module allowed
//!   `unsafe`), layer-2 capture, the firewall, the service managers, and the words a message uses
//!   on each platform.
//! - The command line (`src/main.rs` and `src/cli/`) is the binary's, not the library's.
//! - `testkit` (the `testkit` feature, on only for this crate's integration tests and benches):
//!   hand-built test frames; not an API.
//!
//! `docs/ARCHITECTURE.md` says who may call whom.

#![deny(unsafe_code)]

pub mod core;
pub mod ctl;
pub mod daemon;
pub mod direct_wake;
pub mod doctor;
#[cfg(target_os = "linux")]
pub mod lab;
pub mod metrics;
pub mod os;
pub mod sim;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
