//! `wakeproxy wake --direct`: magic packets straight from this host, without a daemon, as
//! `wakeonlan` and `etherwake` send them.
//!
//! Without `--broadcast`, each packet goes to the subnet-directed broadcast address of every
//! usable interface (or of `--interface`): 255.255.255.255 would leave by one interface only.
//! `--raw` sends the EtherType 0x0842 frame to ff:ff:ff:ff:ff:ff instead (root only).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use crate::core::addr::{MacAddr, ParseMacError};
use crate::core::wol::{MagicPacket, SecureOn};
use crate::daemon::{Link, directed_broadcast, scan_links, select_links};

/// What to send, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectWake {
    /// The targets.
    pub macs: Vec<MacAddr>,
    /// UDP port (9 by default).
    pub port: u16,
    /// Send to this address instead of each interface's broadcast address.
    pub broadcast: Option<Ipv4Addr>,
    /// Only this interface.
    pub interface: Option<String>,
    /// SecureOn password.
    pub password: Option<SecureOn>,
    /// EtherType 0x0842 frames instead of UDP.
    pub raw: bool,
}

/// Why a direct wake failed.
#[derive(Debug, thiserror::Error)]
pub enum WakeCmdError {
    /// A MAC on the command line or in the file is malformed.
    #[error("{place}: {source}")]
    BadMac {
        /// Where it was (argument or file:line).
        place: String,
        /// The parse error (quotes the text).
        source: ParseMacError,
    },
    /// The MAC file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No target given.
    #[error("no MAC address given: name one or more, or use --file")]
    NoTarget,
    /// No interface to send from.
    #[error("{0}")]
    NoInterface(String),
    /// Sending failed.
    #[error("cannot send the magic packet for {mac} via {via}: {source}{hint}")]
    Send {
        /// The target.
        mac: MacAddr,
        /// Interface or address.
        via: String,
        /// The OS error.
        source: std::io::Error,
        /// What to do, with its leading space and parentheses (or empty).
        hint: String,
    },
}

/// Parses MACs given as arguments.
pub fn parse_macs(args: &[String]) -> Result<Vec<MacAddr>, WakeCmdError> {
    args.iter()
        .map(|a| {
            a.parse().map_err(|source| WakeCmdError::BadMac { place: "argument".into(), source })
        })
        .collect()
}

/// Parses a file of MACs: one per line, blank lines and `#` comments ignored.
pub fn parse_mac_file(path: &str, text: &str) -> Result<Vec<MacAddr>, WakeCmdError> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| {
            l.parse()
                .map_err(|source| WakeCmdError::BadMac { place: format!("{path}:{n}"), source })
        })
        .collect()
}

/// Reads a MAC file.
pub fn read_mac_file(path: &str) -> Result<Vec<MacAddr>, WakeCmdError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| WakeCmdError::File { path: path.into(), source })?;
    parse_mac_file(path, &text)
}

impl DirectWake {
    /// Sends one packet per target and way; returns a line per packet sent.
    pub fn send(&self) -> Result<Vec<String>, WakeCmdError> {
        if self.macs.is_empty() {
            return Err(WakeCmdError::NoTarget);
        }
        let wanted: Vec<String> = self.interface.iter().cloned().collect();
        let (links, missing) = select_links(&scan_links(), &wanted);
        let mut sent = Vec::new();
        if let (Some(name), true) = (&self.interface, links.is_empty()) {
            let why = missing.first().map_or("does not exist", |(_, w)| *w);
            return Err(WakeCmdError::NoInterface(format!(
                "interface {name} {why}: nowhere to send the magic packet"
            )));
        }
        if let (None, false) = (self.broadcast, self.raw) {
            if links.is_empty() {
                let why = missing
                    .first()
                    .map_or("no up interface with an IPv4 address".to_owned(), |(n, w)| {
                        format!("interface {n} {w}")
                    });
                return Err(WakeCmdError::NoInterface(format!(
                    "{why}: nowhere to send the magic packet (give --broadcast ADDR)"
                )));
            }
        }
        for &mac in &self.macs {
            let packet = MagicPacket { target: mac, password: self.password };
            if self.raw {
                sent.extend(self.send_raw(&packet, &links)?);
                continue;
            }
            let (payload, n) = packet.payload();
            let targets: Vec<(Option<&Link>, Ipv4Addr)> = match self.broadcast {
                Some(b) => vec![(self.interface.as_ref().and(links.first()), b)],
                None => links
                    .iter()
                    .filter_map(|l| {
                        l.ipv4.first().map(|p| (Some(l), directed_broadcast(p.addr, p.len)))
                    })
                    .collect(),
            };
            for (link, addr) in targets {
                let to = SocketAddr::V4(SocketAddrV4::new(addr, self.port));
                let via = link.map_or(to.to_string(), |l| format!("{} to {to}", l.name));
                let err = |source| WakeCmdError::Send {
                    mac,
                    via: via.clone(),
                    source,
                    hint: String::new(),
                };
                let sock = udp_socket(link).map_err(err)?;
                sock.send_to(&payload[..n], to).map_err(err)?;
                sent.push(format!("sent magic packet for {mac} via {via}"));
            }
        }
        Ok(sent)
    }

    #[cfg(target_os = "linux")]
    fn send_raw(
        &self,
        packet: &MagicPacket,
        links: &[crate::daemon::Link],
    ) -> Result<Vec<String>, WakeCmdError> {
        let mut lines = Vec::new();
        for l in links {
            let mut frame = [0u8; 128];
            let n = packet.write_ethernet_frame(l.mac, MacAddr::BROADCAST, &mut frame);
            crate::os::sys::linux::send_frame(&l.device, &frame[..n]).map_err(|source| {
                WakeCmdError::Send {
                    mac: packet.target,
                    via: l.name.clone(),
                    source,
                    hint: format!(" (raw frames: {})", crate::os::words::HERE.raw_sockets),
                }
            })?;
            lines.push(format!("sent EtherType 0x0842 frame for {} via {}", packet.target, l.name));
        }
        if lines.is_empty() {
            return Err(WakeCmdError::NoInterface(
                "no up Ethernet interface to send the raw frame from".into(),
            ));
        }
        Ok(lines)
    }

    #[cfg(not(target_os = "linux"))]
    fn send_raw(
        &self,
        packet: &MagicPacket,
        _links: &[crate::daemon::Link],
    ) -> Result<Vec<String>, WakeCmdError> {
        Err(WakeCmdError::Send {
            mac: packet.target,
            via: "raw Ethernet".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "not supported on this system",
            ),
            hint: " (use UDP instead: drop --raw)".into(),
        })
    }
}

/// A socket whose broadcasts leave through `link`: pinned by device on Linux, bound to the
/// interface's own address on Windows (which sends a broadcast out of the interface the
/// socket is bound to).
fn udp_socket(link: Option<&Link>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_broadcast(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(l) = link {
        sock.bind_device(Some(l.device.as_bytes()))?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    if let Some(v4) = link.and_then(|l| l.ipv4.first()) {
        let local = SocketAddr::V4(SocketAddrV4::new(v4.addr, 0));
        sock.bind(&local.into())?;
    }
    Ok(sock.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_files_skip_comments_and_name_the_bad_line() {
        let ok = parse_mac_file("f", "# lab\naa:bb:cc:dd:ee:01\n\n  AA-BB-CC-DD-EE-02  # desk\n")
            .unwrap();
        assert_eq!(ok.len(), 2);
        let err = parse_mac_file("macs.txt", "aa:bb:cc:dd:ee:01\naa:bb:cc:dd:ee\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("macs.txt:2") && err.contains("`aa:bb:cc:dd:ee`"), "{err}");
    }

    #[test]
    fn bad_arguments_are_quoted() {
        let err = parse_macs(&["00:11:22:33:44:zz".into()]).unwrap_err().to_string();
        assert!(err.contains("`00:11:22:33:44:zz`"), "{err}");
    }
}
