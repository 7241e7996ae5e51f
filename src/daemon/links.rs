//! The managed interfaces: what the OS reports becomes a socket set per interface (peer port,
//! Wake-on-LAN port, prober, layer-2 backend), opened, re-pinned and dropped as interfaces come,
//! change and go.

use tracing::{debug, info, warn};

use super::os::ifaces::select as select_links;
use super::platform::{FrameLink, LinkSocket, Prober, SocketKind};
use super::{Daemon, DaemonError, Link, os};
use crate::core::node::{IfaceConfig, IfaceId};

/// What to do about a socket that could not be opened, by what the OS said.
pub(super) fn socket_hint(e: &std::io::Error, port: u16) -> String {
    let w = crate::os::words::HERE;
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program holds UDP port {port} here: is wakeproxy running already? see {}",
            w.service_status
        ),
        std::io::ErrorKind::PermissionDenied => w.raw_sockets.to_owned(),
        _ => format!("is another program using UDP port {port}? if not: {}", w.raw_sockets),
    }
}

/// The sockets of one managed interface (each closes, and its reader stops, when dropped).
pub(super) struct LanIo {
    pub(super) link: Link,
    pub(super) peer: Box<dyn LinkSocket>,
    pub(super) wol: Box<dyn LinkSocket>,
    /// The listener on the Wake-on-LAN port, if it could be had.
    _wol_listener: Option<Box<dyn LinkSocket>>,
    pub(super) prober: Box<dyn Prober>,
    /// The layer-2 backend, if it could be opened (`words::Words::capture` says what it needs).
    pub(super) capture: Option<Box<dyn FrameLink>>,
}

impl Daemon {
    /// Applies the interfaces the OS reported: opens sockets for new ones, updates addresses,
    /// drops vanished ones. An interface whose sockets cannot be opened is left out (and tried
    /// again at the next scan) without keeping the others from being managed; the first such
    /// error is returned (at start it stops the daemon: another program, or a second daemon,
    /// has the port).
    pub(super) fn apply_links(&mut self, links: &[Link]) -> Result<(), DaemonError> {
        let mut failed = None;
        let (chosen, missing) = select_links(links, &self.opts.interfaces);
        for (name, why) in &missing {
            if !self.missing.iter().any(|(n, w)| n == name && w == why) {
                warn!(iface = %name, "configured interface {name} {why}: not managing it");
            }
        }
        self.missing = missing;
        let now = self.now();
        let gone: Vec<IfaceId> = self
            .lans
            .iter()
            .filter(|(_, l)| !chosen.iter().any(|c| c.device == l.link.device))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(l) = self.lans.remove(&id) {
                warn!(iface = %l.link.name, "interface {} is gone or down: no longer managing it", l.link.name);
                self.node.remove_iface(now, id);
            }
        }
        for link in chosen {
            // By device: on Windows the adapter GUID, which survives a rename.
            let id = match self.names.get(&link.device) {
                Some(id) => *id,
                None => {
                    let id = IfaceId(self.next_iface);
                    self.next_iface += 1;
                    self.names.insert(link.device.clone(), id);
                    id
                }
            };
            match self.lans.get_mut(&id) {
                Some(l) if l.link == link => continue,
                Some(l)
                    if self.platform.pins_by_address()
                        && os::sockets::Pin::from(&l.link) != os::sockets::Pin::from(&link) =>
                {
                    // Its sockets are bound to the address it no longer has. They close once
                    // their reader tasks are gone (after this scan returns): a scan 100 ms
                    // later opens new ones. The node keeps what it knows of the LAN meanwhile.
                    info!(iface = %link.name, "the address of {} changed: reopening its sockets", link.name);
                    self.lans.remove(&id);
                    self.rescan_soon = true;
                    continue;
                }
                Some(l) => {
                    info!(iface = %link.name, "addresses of {} changed", link.name);
                    l.link = link.clone();
                }
                None => match self.open(id, &link) {
                    Ok(lan) => {
                        info!(iface = %link.name, mac = %link.mac, "managing {}", link.name);
                        self.lans.insert(id, lan);
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                        continue;
                    }
                },
            }
            let cfg = IfaceConfig {
                id,
                name: link.name.clone(),
                mac: link.mac,
                ipv4: link.ipv4.clone(),
                ipv6: link.ipv6.clone(),
            };
            self.node.add_iface(now, cfg);
        }
        failed.map_or(Ok(()), Err)
    }

    pub(super) fn open(&self, id: IfaceId, link: &Link) -> Result<LanIo, DaemonError> {
        let port = self.opts.peer_port;
        let sock_err = |what, port, source| DaemonError::Socket {
            what,
            iface: link.name.clone(),
            port,
            source,
        };
        let p = &self.platform;
        let sink = self.intake.peer_sink(id, self.opts.node.id);
        let peer = p
            .open_udp(link, port, SocketKind::Peer, Some(sink))
            .map_err(|e| sock_err("the peer socket", port, e))?;
        let wol = p
            .open_udp(link, 0, SocketKind::Plain, None)
            .map_err(|e| sock_err("the magic-packet socket", 0, e))?;
        let (prober, no_icmp) = p.open_prober(link);
        if let Some(e) = no_icmp {
            warn!(iface = %link.name, "cannot send ICMP probes on {}: {e}; probes try only the TCP ports peers announced, so a silent peer that announced none is taken for asleep even if it is up ({})", link.name, crate::os::words::HERE.raw_sockets);
        }
        // Hearing other nodes' magic packets on the WoL port avoids sending duplicates. The port
        // is privileged and may be taken: without it the node still works.
        let wol_port = self.opts.node.wol_port;
        let wol_listener =
            match p.open_udp(link, wol_port, SocketKind::Plain, Some(self.intake.wol_sink(id))) {
                Ok(s) => Some(s),
                Err(e) => {
                    debug!(iface = %link.name, "not listening on UDP {wol_port}: {e}");
                    None
                }
            };
        let capture = self.open_capture(id, link);
        Ok(LanIo { link: link.clone(), peer, wol, _wol_listener: wol_listener, prober, capture })
    }

    /// Opens the layer-2 backend on `iface`, its frames flowing into the node's channel; `None`
    /// (with a warning) if it cannot be had: this node then announces that it cannot answer for
    /// sleepers.
    pub(super) fn open_capture(&self, id: IfaceId, link: &Link) -> Option<Box<dyn FrameLink>> {
        if !self.opts.node.can_proxy {
            return None;
        }
        let iface = link.name.as_str();
        let takeover = self.opts.node.proxy_mode == crate::core::node::ProxyMode::MacTakeover;
        let sink = self.intake.frame_sink(id);
        match self.platform.open_frames(link, self.opts.node.wol_port, takeover, sink) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(
                    iface,
                    "cannot open the layer-2 capture on {iface}: {e}; this node will not answer for sleepers"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod socket_hint_tests {
    use std::io::{Error, ErrorKind};

    use super::socket_hint;

    #[test]
    fn a_taken_port_points_at_a_second_daemon_and_a_refusal_at_privileges() {
        let w = crate::os::words::HERE;
        let taken = socket_hint(&Error::from(ErrorKind::AddrInUse), 25536);
        assert!(taken.contains("UDP port 25536") && taken.contains("running already"), "{taken}");
        assert!(taken.contains(w.service_status), "{taken}");
        let denied = socket_hint(&Error::from(ErrorKind::PermissionDenied), 25536);
        assert_eq!(denied, w.raw_sockets);
        let other = socket_hint(&Error::from(ErrorKind::Other), 9);
        assert!(other.contains("UDP port 9") && other.contains(w.raw_sockets), "{other}");
    }
}
