//! The only place where wakeproxy talks to the operating system below what `std`, `tokio` and
//! `socket2` offer. Every `unsafe` block lives here, one small module per OS, each with a
//! `// SAFETY:` comment.

#[cfg(target_os = "linux")]
pub mod linux;

#[cfg(unix)]
pub mod unix;

#[cfg(windows)]
pub mod windows;
