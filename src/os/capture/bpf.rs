//! The kernel filter of the capture socket: only the frames the proxy acts on reach user space.
//!
//! Generated with (the WoL port as the placeholder 65000, replaced at run time):
//!
//! ```text
//! tcpdump -dd 'arp
//!   or (ip6 and ip6[6] == 58 and (ip6[40] == 135 or ip6[40] == 136))         # NS, NA
//!   or (ip and tcp and tcp[tcpflags] & (tcp-syn|tcp-ack|tcp-rst) == tcp-syn)  # IPv4 SYN, no ACK/RST
//!   or (ip6 and ip6[6] == 6 and ip6[53] & 0x16 == 0x02)                       # IPv6 SYN, no ACK/RST
//!   or ether proto 0x0842                                                     # raw magic packets
//!   or (udp dst port 65000)'                                                  # UDP to the WoL port
//! ```

/// The placeholder port in [`PROGRAM`].
const PORT_PLACEHOLDER: u32 = 65_000;
/// `BPF_JMP | BPF_JEQ | BPF_K`: the only instructions that compare the port.
const JEQ_K: u16 = 0x15;

/// The program as `tcpdump -dd` printed it: (code, jump if true, jump if false, k).
const PROGRAM: [(u16, u8, u8, u32); 34] = [
    (0x28, 0, 0, 0x0000000c),
    (0x15, 30, 0, 0x00000806),
    (0x15, 0, 13, 0x000086dd),
    (0x30, 0, 0, 0x00000014),
    (0x15, 0, 3, 0x0000003a),
    (0x30, 0, 0, 0x00000036),
    (0x15, 25, 0, 0x00000087),
    (0x15, 24, 4, 0x00000088),
    (0x15, 0, 3, 0x00000006),
    (0x30, 0, 0, 0x00000043),
    (0x54, 0, 0, 0x00000016),
    (0x15, 20, 0, 0x00000002),
    (0x30, 0, 0, 0x00000014),
    (0x15, 0, 19, 0x00000011),
    (0x28, 0, 0, 0x00000038),
    (0x15, 16, 17, 0x0000fde8),
    (0x15, 0, 14, 0x00000800),
    (0x30, 0, 0, 0x00000017),
    (0x15, 0, 6, 0x00000006),
    (0x28, 0, 0, 0x00000014),
    (0x45, 12, 0, 0x00001fff),
    (0xb1, 0, 0, 0x0000000e),
    (0x50, 0, 0, 0x0000001b),
    (0x54, 0, 0, 0x00000016),
    (0x15, 7, 8, 0x00000002),
    (0x15, 0, 7, 0x00000011),
    (0x28, 0, 0, 0x00000014),
    (0x45, 5, 0, 0x00001fff),
    (0xb1, 0, 0, 0x0000000e),
    (0x48, 0, 0, 0x00000010),
    (0x15, 1, 2, 0x0000fde8),
    (0x15, 0, 1, 0x00000842),
    (0x6, 0, 0, 0x00040000),
    (0x6, 0, 0, 0x00000000),
];

/// The filter's instructions with `wol_port` in place of the placeholder.
pub(crate) fn program(wol_port: u16) -> Vec<(u16, u8, u8, u32)> {
    PROGRAM
        .iter()
        .map(|&(code, jt, jf, k)| {
            let k = if code == JEQ_K && k == PORT_PLACEHOLDER { u32::from(wol_port) } else { k };
            (code, jt, jf, k)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_replaced_in_both_comparisons() {
        let p = program(9);
        assert_eq!(p.iter().filter(|i| i.0 == JEQ_K && i.3 == 9).count(), 2);
        assert!(p.iter().all(|i| i.3 != PORT_PLACEHOLDER));
        assert_eq!(p.len(), PROGRAM.len());
    }
}
