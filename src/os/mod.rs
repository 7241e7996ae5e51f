//! The operating-system glue the drivers stand on.
//!
//! - [`sys`]: the few system calls below `std`/`socket2`; the only module allowed `unsafe`, and a
//!   leaf: it calls nothing above it.
//! - [`capture`]: the layer-2 capture/inject backend (Linux `AF_PACKET` + BPF, Windows Npcap).
//! - [`firewall`]: the firewall exceptions wakeproxy needs (nftables, ufw, firewalld, Windows).
//! - [`service`]: systemd and logind on Linux, the service control manager and the Event Log on
//!   Windows.
//! - `netns` (Linux): network namespaces, veth pairs and bridges, for the lab and the tests.
//! - [`host`]: what the daemon exchanges with its service manager (power events, readiness), so
//!   that the daemon never calls [`service`].
//! - [`wol_setting`]: the NIC's own Wake-on-LAN setting (Linux: the ethtool query; Windows: the
//!   adapter's power management), read and switched on for `wakeproxy doctor`.
//! - [`words`]: the platform's vocabulary for what messages tell a user to do (how to get
//!   privileges, where the log is, how to restart the service), chosen by `cfg(windows)`.

pub mod capture;
pub mod firewall;
pub mod host;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod service;
pub mod sys;
pub mod wol_setting;
pub mod words;
