//! wakeproxy: an open, cross-platform wake-up proxy.
//!
//! A daemon runs on every client of a LAN. Peers exchange signed heartbeats to learn who is awake,
//! elect one manager per subnet, keep a few guardians awake, and assign each sleeping host to an
//! awake proxy that answers for it and wakes it with a Wake-on-LAN magic packet when someone
//! connects to a port it listened on.
//!
//! # Layers
//!
//! The **core** decides everything and does no I/O: it takes time and bytes as arguments and
//! returns actions (the quinn-proto / smoltcp model). It never reads a clock, opens a socket or
//! uses `unsafe`.
//!
//! - [`addr`]: the identifiers everything else uses ([`addr::MacAddr`], [`addr::NodeId`]).
//! - [`time`]: the core's notion of time, a monotonic [`time::Instant`] supplied by the caller.
//! - [`proto`]: the signed peer protocol on UDP 25536 (codec, HMAC, replay window).
//! - [`wol`]: Wake-on-LAN magic packets.
//! - [`frame`]: the proxy's hot path: classify one Ethernet frame, build the frames a proxy sends.
//! - [`peers`]: what one node knows about each peer, and each peer's liveness state.
//! - [`election`]: manager, guardians and proxy assignment as a pure function of a view.
//! - [`node`]: the state machine that ties them together (`handle_*` in, `poll_*` out).
//! - [`sim`]: an in-process network of many nodes on a virtual clock (`wakeproxy simulate`).
//!
//! The **drivers** own the I/O around it:
//!
//! - [`daemon`]: the tokio daemon that runs the node on real sockets (`wakeproxy run`).
//! - [`capture`]: the layer-2 capture/inject backend (Linux `AF_PACKET` + BPF).
//! - [`ctl`]: the control socket: JSON-lines protocol, server, client, `status` text.
//! - [`config`]: the configuration file `wakeproxy.toml`, checked with errors that name key and line.
//! - [`keys`]: the site key file (`wakeproxy keygen`), its permissions and the insecure lab key.
//! - [`state`]: the state directory: the node's permanent id and the registry of known sleepers.
//! - [`fsutil`]: crash-safe file replacement (temporary file, fsync, rename) and default directories.
//! - [`wake`]: `wakeproxy wake --direct`: magic packets without a daemon.
//! - [`firewall`]: the firewall exceptions wakeproxy needs (nftables, ufw, firewalld, Windows).
//! - `lab` (Linux): many wakeproxy hosts in network namespaces on one machine.
//! - [`words`]: the platform's vocabulary for what messages tell a user to do (how to get
//!   privileges, where the log is, how to restart the service), chosen by `cfg(windows)`.
//! - [`sys`]: the few system calls below `std`/`socket2` (raw Ethernet frames); the only
//!   module allowed `unsafe`.
//!
//! `docs/ARCHITECTURE.md` says who may call whom.
#![deny(unsafe_code)]

pub mod addr;
pub mod capture;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod direct_wake;
pub mod election;
pub mod firewall;
pub mod frame;
pub mod fsutil;
pub mod host;
pub mod keys;
#[cfg(target_os = "linux")]
pub mod lab;
pub mod node;
pub mod peers;
pub mod proto;
pub mod service;
pub mod sim;
pub mod state;
pub mod sys;
pub mod time;
pub mod wol;
pub mod words;
