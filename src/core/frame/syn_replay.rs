//! A captured TCP SYN, made ready to send on to the host it was meant for once that host is
//! awake (the proxy's SYN replay).

use std::net::Ipv6Addr;

use super::build::FrameBuf;
use super::checksum;
use super::wire::*;
use crate::core::addr::MacAddr;

/// The captured SYN `frame`, readdressed from `src` (the proxy's MAC) to `dst` (the woken
/// host's), with its TCP checksum computed afresh. `None` unless it is an IPv4 or IPv6 TCP
/// segment (at most one 802.1Q tag, no IPv6 extension headers) that fits a [`FrameBuf`].
///
/// Why the checksum: a capture can hand over a segment whose checksum its sender left to the
/// NIC (checksum offload; veth pairs and virtual switches pass such frames on with only the
/// pseudo-header's sum in the field). The woken host checks every frame a packet socket sends
/// and would drop the replay. Ethernet's FCS already caught corruption on the wire.
pub fn replayable_syn(frame: &[u8], dst: MacAddr, src: MacAddr) -> Option<FrameBuf> {
    let mut out = FrameBuf::readdressed(frame, dst, src)?;
    // Only the captured bytes, not the padding: a segment that runs into the padding was cut
    // short, and replaying it would send zeros its caller never wrote.
    let bytes = &mut out.as_mut_slice()[..frame.len()];
    let (mut ethertype, mut ip_at) = (u16::from_be_bytes([bytes[12], bytes[13]]), 14);
    if ethertype == ETHERTYPE_VLAN {
        ethertype = u16::from_be_bytes(*bytes.get(16..18)?.first_chunk()?);
        ip_at += VLAN_TAG_LEN;
    }
    let ip = bytes.get_mut(ip_at..)?;
    match ethertype {
        ETHERTYPE_IPV4 => {
            let header_len = usize::from(*ip.first()? & 0x0F) * 4;
            let total_len = usize::from(u16::from_be_bytes(*ip.get(2..4)?.first_chunk()?));
            if header_len < IPV4_MIN_HEADER_LEN || *ip.get(9)? != IP_PROTO_TCP {
                return None;
            }
            let pseudo: [u8; 8] = ip.get(12..20)?.try_into().ok()?;
            let segment = ip.get_mut(header_len..total_len)?;
            set_checksum(segment, |s| checksum::ipv4_upper_layer(pseudo, IP_PROTO_TCP, s))?;
        }
        ETHERTYPE_IPV6 => {
            let payload_len = usize::from(u16::from_be_bytes(*ip.get(4..6)?.first_chunk()?));
            if *ip.get(6)? != IP_PROTO_TCP {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let segment = ip.get_mut(40..40 + payload_len)?;
            set_checksum(segment, |s| {
                checksum::ipv6_upper_layer(
                    Ipv6Addr::from(src),
                    Ipv6Addr::from(dst),
                    IP_PROTO_TCP,
                    s,
                )
            })?;
        }
        _ => return None,
    }
    Some(out)
}

/// Zeroes the TCP checksum field of `segment`, then fills it with `sum` of the segment.
fn set_checksum(segment: &mut [u8], sum: impl Fn(&[u8]) -> u16) -> Option<()> {
    if segment.len() < TCP_MIN_HEADER_LEN {
        return None;
    }
    segment[16..18].fill(0);
    let value = sum(segment);
    segment[16..18].copy_from_slice(&value.to_be_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use pnet_packet::tcp::{TcpPacket, ipv4_checksum, ipv6_checksum};
    use proptest::prelude::*;

    use super::*;
    use crate::core::frame::synth::{SYN, ethernet, ipv4, ipv6, tcp};

    const CALLER: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
    const PROXY: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);

    /// A SYN with 20 bytes of options and, like an offloaded one, a checksum that is not one.
    fn syn_segment() -> Vec<u8> {
        let mut t = tcp(40000, 3389, SYN, 20);
        t[12] = 10 << 4;
        t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
        t[16..18].copy_from_slice(&[0xbe, 0xef]);
        t
    }

    fn checksum_of(segment: &[u8]) -> u16 {
        u16::from_be_bytes([segment[16], segment[17]])
    }

    #[test]
    fn an_ipv4_syn_is_readdressed_and_gets_the_checksum_pnet_computes() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 1, 10), Ipv4Addr::new(10, 0, 2, 10));
        let frame =
            ethernet(PROXY, CALLER, 0x0800, &ipv4(src, dst, 6, 0x4000, &[], &syn_segment()));
        let out = replayable_syn(&frame, HOST, PROXY).unwrap();
        let out = out.as_slice();
        assert_eq!((&out[..6], &out[6..12]), (&HOST.0[..], &PROXY.0[..]));
        assert_eq!(&out[12..34], &frame[12..34], "the IPv4 header is untouched");
        let segment = &out[34..frame.len()];
        let expected = ipv4_checksum(&TcpPacket::new(segment).unwrap(), &src, &dst);
        assert_eq!(checksum_of(segment), expected);
        assert_ne!(expected, 0xbeef);
        assert_eq!(&segment[18..], &frame[34 + 18..], "the rest of the segment is untouched");
    }

    #[test]
    fn a_tagged_ipv6_syn_gets_the_checksum_pnet_computes() {
        let (src, dst): (Ipv6Addr, Ipv6Addr) =
            ("2001:db8::9".parse().unwrap(), "2001:db8::3".parse().unwrap());
        let ip = ipv6(src, dst, 6, 64, &syn_segment());
        let tagged = [&[0x00, 0x05, 0x86, 0xdd][..], &ip].concat();
        let frame = ethernet(PROXY, CALLER, 0x8100, &tagged);
        let out = replayable_syn(&frame, HOST, PROXY).unwrap();
        let segment = &out.as_slice()[18 + 40..frame.len()];
        assert_eq!(
            checksum_of(segment),
            ipv6_checksum(&TcpPacket::new(segment).unwrap(), &src, &dst)
        );
    }

    #[test]
    fn what_is_not_a_whole_tcp_segment_is_not_replayed() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 1, 10), Ipv4Addr::new(10, 0, 2, 10));
        let syn = ethernet(PROXY, CALLER, 0x0800, &ipv4(src, dst, 6, 0x4000, &[], &syn_segment()));
        let udp = ethernet(PROXY, CALLER, 0x0800, &ipv4(src, dst, 17, 0, &[], &syn_segment()));
        let arp = crate::core::frame::arp_request(CALLER, src, dst);
        let mut short_tcp = syn.clone();
        short_tcp[16..18].copy_from_slice(&(20u16 + 19).to_be_bytes());
        let mut past_the_end = syn.clone();
        past_the_end[16..18].copy_from_slice(&200u16.to_be_bytes());
        for (what, f) in [
            ("udp", &udp[..]),
            ("arp", arp.as_slice()),
            ("19-byte TCP header", &short_tcp[..]),
            ("length past the frame", &past_the_end[..]),
            ("ethernet header only", &syn[..14]),
            ("too long for a FrameBuf", &[syn.clone(), vec![0; 200]].concat()[..]),
        ] {
            assert!(replayable_syn(f, HOST, PROXY).is_none(), "{what}");
        }
    }

    /// Found by the fuzz target `syn_replay`: a 40-byte frame whose IPv4 header says 44 bytes
    /// was padded to 60 and replayed with zeros for the rest of its TCP header.
    #[test]
    fn a_segment_cut_short_is_not_completed_with_the_padding() {
        let frame = [
            0x02, 0, 0, 0, 0, 0x0a, 0x02, 0, 0, 0, 0, 0x0c, 0x08, 0x00, 0x46, 0x00, 0x00, 0x2c,
            0x12, 0x34, 0x00, 0x00, 0x40, 0x06, 0x51, 0x82, 0x0a, 0x00, 0x00, 0x00, 0x50, 0x02, 0,
            0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(replayable_syn(&frame, HOST, PROXY), None);
        // The same segment captured whole is replayed, padded.
        let whole = [&frame[..], &[0; 18]].concat();
        assert_eq!(replayable_syn(&whole, HOST, PROXY).map(|f| f.len()), Some(60));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = replayable_syn(&bytes, HOST, PROXY);
        }
    }
}
