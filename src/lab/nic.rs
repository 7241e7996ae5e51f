//! The simulated Wake-on-LAN NIC of a sleeping lab host.
//!
//! `lab sleep` freezes the host's daemon and service and takes its addresses away, so it
//! answers nothing (no ARP, no ping, no TCP), then starts this watcher in the host's namespace.
//! Like a real NIC in WoL mode it reads every frame on the wire (an `AF_PACKET` socket sees
//! frames whatever the IP stack does with them) and wakes on a magic packet for its MAC —
//! by UDP to any port, broadcast or unicast, or as an EtherType 0x0842 frame — with the SecureOn
//! password when one is set. On a match it waits the resume delay, gives the addresses back,
//! thaws the processes, tells the daemon it resumed and announces the host (gratuitous ARP).

use std::io::Read;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::core::addr::MacAddr;
use crate::core::wol::{SecureOn, find_magic};

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// Blocks until a magic packet for `mac` (with `password`, if set) arrives on this namespace's
/// interfaces; returns a description of how it came.
pub fn wait_for_magic(mac: MacAddr, password: Option<SecureOn>) -> std::io::Result<String> {
    let proto = Protocol::from(i32::from(ETH_P_ALL.to_be()));
    let mut sock = Socket::new(Domain::PACKET, Type::RAW, Some(proto))?;
    let mut buf = [0u8; 2048];
    loop {
        let n = sock.read(&mut buf)?;
        let frame = &buf[..n];
        if frame.len() < 14 {
            continue;
        }
        // A NIC in WoL mode scans the whole frame for the pattern, whatever carries it.
        let Some(found) = find_magic(&frame[14..]) else { continue };
        if found.target != mac {
            continue;
        }
        if password.is_some() && found.password != password {
            continue;
        }
        let how = match u16::from_be_bytes([frame[12], frame[13]]) {
            crate::core::wol::ETHERTYPE_WOL => "an EtherType 0x0842 frame".to_owned(),
            0x0800 => "a UDP datagram".to_owned(),
            other => format!("a frame of EtherType {other:#06x}"),
        };
        return Ok(how);
    }
}

/// How long a woken lab host takes to resume, unless told otherwise.
pub const DEFAULT_RESUME_DELAY: Duration = Duration::from_secs(2);
