//! The TCP ports this host listens on: announced in heartbeats, so that a SYN to one of them
//! wakes the host while it sleeps.
//!
//! Linux reads `/proc/net/tcp` and `/proc/net/tcp6`, Windows asks `GetExtendedTcpTable`.
//! Listeners bound only to a loopback address are left out: nobody on the LAN can connect to
//! them.

/// Every TCP port in LISTEN state reachable from outside this host, sorted.
#[cfg(windows)]
pub fn listening_tcp_ports() -> Vec<u16> {
    crate::os::sys::windows::tcp::listening_tcp_ports().unwrap_or_else(|e| {
        tracing::warn!("cannot read the TCP listener table: {e}; heartbeats announce no ports");
        Vec::new()
    })
}

/// Every TCP port in LISTEN state reachable from outside this host, sorted.
#[cfg(not(windows))]
pub fn listening_tcp_ports() -> Vec<u16> {
    let mut ports = std::collections::BTreeSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            ports.extend(parse_proc_net_tcp(&text));
        }
    }
    ports.into_iter().collect()
}

/// The listening ports in one `/proc/net/tcp{,6}` table.
pub fn parse_proc_net_tcp(text: &str) -> Vec<u16> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != LISTEN {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            if is_loopback_hex(addr) {
                return None;
            }
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// `/proc` prints addresses as the kernel's 32-bit words in host byte order (little-endian on
/// every platform Linux runs wakeproxy on): `0100007F` is 127.0.0.1.
fn is_loopback_hex(addr: &str) -> bool {
    match addr.len() {
        8 => u32::from_str_radix(addr, 16).is_ok_and(|w| w.to_le_bytes()[0] == 127),
        // ::1 and ::ffff:127.x.y.z
        32 => {
            addr == "00000000000000000000000001000000"
                || (addr.starts_with("0000000000000000FFFF0000") && addr[24..].ends_with("7F"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0500000A:0D3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
   3: 0500000A:0016 0600000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listeners_reachable_from_the_lan_only() {
        // 22 on any address, 3389 on 10.0.0.5; 631 on loopback and an established 22 are not.
        assert_eq!(parse_proc_net_tcp(TCP), vec![22, 3389]);
        // 8080 on [::]; 25 on [::1] is not.
        assert_eq!(parse_proc_net_tcp(TCP6), vec![8080]);
    }

    #[test]
    fn garbage_gives_nothing() {
        assert!(parse_proc_net_tcp("").is_empty());
        assert!(parse_proc_net_tcp("header\nnot a table\n 0: zz:zz zz 0A").is_empty());
    }

    /// The seeds of the fuzz target `proc_net_tcp` are real tables: a host's, and a network
    /// namespace's with listeners on 22 (any), 631 (loopback), 3389 ([::]), 25 ([::1]) and an
    /// established loopback connection.
    #[test]
    fn fuzz_seeds_are_real_tables() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/proc_net_tcp");
        let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap();
        assert_eq!(parse_proc_net_tcp(&read("host_tcp")), vec![2024]);
        assert!(parse_proc_net_tcp(&read("host_tcp6")).is_empty());
        assert_eq!(parse_proc_net_tcp(&read("netns_tcp")), vec![22]);
        assert_eq!(parse_proc_net_tcp(&read("netns_tcp6")), vec![3389]);
    }

    #[test]
    fn this_host_can_be_read() {
        // Whatever this machine listens on, reading it must not fail or panic.
        let _ = listening_tcp_ports();
    }
}
