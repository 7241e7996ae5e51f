//! Linux tells when interfaces change: a routing netlink socket subscribed to link and address
//! notifications (`RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`). The daemon then
//! re-reads interfaces at once instead of every 2 s: an idle daemon is not woken to find that
//! nothing changed, and a change is seen in milliseconds.
//!
//! The messages are not parsed: any of them (or an overflow of the socket, `ENOBUFS`, which
//! means some were lost) only says "read the interfaces again", and the interface list is read
//! the same way as at start ([`super::ifaces::scan`]).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket,
};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// Subscribes to interface changes: the receiver wakes (at most one wake-up waiting) after each
/// batch of notifications. The socket lives as long as the receiver.
pub(in crate::daemon) fn watch() -> io::Result<mpsc::Receiver<()>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let groups = (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
    let fd = crate::os::sys::linux::register(fd)?;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(forward(fd, tx));
    Ok(rx)
}

async fn forward(fd: AsyncFd<OwnedFd>, tx: mpsc::Sender<()>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(mut ready) = fd.readable().await else { return };
        // Drain everything waiting, then say once that something changed.
        let mut changed = false;
        loop {
            match recv(fd.get_ref().as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return,
                Ok(_) | Err(nix::errno::Errno::ENOBUFS) => changed = true,
                Err(nix::errno::Errno::EAGAIN) => {
                    ready.clear_ready();
                    break;
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    tracing::debug!("interface notifications: {e}");
                    return;
                }
            }
        }
        if changed && tx.try_send(()).is_err() && tx.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    /// A link going up in a namespace of the test's own is told to a watcher in it (root).
    #[test]
    fn a_link_going_up_is_told() {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
        if !root {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root");
            eprintln!("SKIPPED: the netlink test needs root (a network namespace of its own)");
            return;
        }
        let ns = crate::os::netns::Namespace::add(&format!("wpu{}nl", std::process::id()))
            .unwrap_or_else(|e| panic!("{e}"));
        let ip = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
        // A link that is down (the namespace's loopback is already up).
        assert!(ip(&["-n", ns.name(), "link", "add", "d0", "type", "veth", "peer", "d1"]));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let watcher = ns.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let mut rx = watch().expect("subscribe");
                ready_tx.send(()).unwrap();
                tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.ok().flatten()
            })
        });
        ready_rx.recv().unwrap();
        let up = ip(&["-n", ns.name(), "link", "set", "d0", "up"]);
        let told = watcher.join().unwrap();
        assert!(up);
        assert_eq!(told, Some(()), "the change was told");
    }
}
