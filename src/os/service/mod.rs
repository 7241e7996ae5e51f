//! Running as a service: what the daemon tells the service manager (systemd's readiness,
//! watchdog and stopping notifications) and what the power manager tells it (logind's sleep and
//! resume, through [`PowerHooks`](crate::os::host::PowerHooks)); both are types of the neutral
//! [`crate::os::host`], which the daemon is given.
//!
//! The daemon calls [`notify`] from its main loop; `main` starts the [`logind`] task next to the
//! daemon. Everything here is optional at run time: without systemd or logind the daemon runs
//! and says what is off.

pub mod eventlog;
#[cfg(target_os = "linux")]
pub mod logind;
pub mod notify;
pub mod power_events;
pub mod scm;
#[cfg(windows)]
pub mod windows;
