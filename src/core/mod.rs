//! The core: the protocol and every decision, with no I/O.
//!
//! It takes time and bytes as arguments and returns values or actions; it never reads a clock,
//! opens a socket, spawns a task or uses `unsafe` (`.ci/check-core` checks it).
//!
//! - [`addr`]: the identifiers everything else uses ([`addr::MacAddr`], [`addr::NodeId`]).
//! - [`time`]: the core's notion of time, a monotonic [`time::Instant`] supplied by the caller.
//! - [`proto`]: the signed peer protocol on UDP 25536 (codec, HMAC, replay window).
//! - [`wol`]: Wake-on-LAN magic packets.
//! - [`frame`]: the proxy's hot path: classify one Ethernet frame, build the frames a proxy sends.
//! - [`peers`]: what one node knows about each peer, and each peer's liveness state.
//! - [`election`]: manager, guardians and proxy assignment as a pure function of a view.
//! - [`node`]: the state machine that ties them together (`handle_*` in, `poll_*` out).

pub mod addr;
pub mod election;
pub mod frame;
pub mod node;
pub mod peers;
pub mod proto;
pub mod time;
pub mod wol;
