//! Test support for the integration tests and benches, not an API: compiled only with the
//! `testkit` feature, which the crate's dev-dependency on itself turns on for its tests and
//! benches (Cargo.toml), so the library and the binary never contain it.

/// Raw frames of any layout, built layer by layer: Ethernet, IPv4 (with a correct header
/// checksum), IPv6, TCP, UDP, ARP. The frames the proxy sends come from [`crate::core::frame`]'s
/// builders; these are the frames a test feeds a classifier or a capture.
pub mod frames {
    pub use crate::core::frame::synth::*;
}
