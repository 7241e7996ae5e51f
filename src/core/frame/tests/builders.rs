//! The builders, field by field, checked against an independent decoder.

use super::*;

#[test]
fn arp_reply_field_by_field() {
    let f = arp_reply(A_MAC, A_V4, C_MAC, C_V4);
    let b = f.as_slice();
    assert_eq!(b.len(), 60);
    assert_eq!(&b[0..6], &C_MAC.0, "Ethernet destination");
    assert_eq!(&b[6..12], &A_MAC.0, "Ethernet source");
    assert_eq!(&b[12..14], &[0x08, 0x06]);
    assert_eq!(&b[14..22], &[0, 1, 0x08, 0, 6, 4, 0, 2], "htype, ptype, hlen, plen, op");
    assert_eq!(&b[22..28], &A_MAC.0, "sha");
    assert_eq!(&b[28..32], &A_V4.octets(), "spa");
    assert_eq!(&b[32..38], &C_MAC.0, "tha");
    assert_eq!(&b[38..42], &C_V4.octets(), "tpa");
    assert!(b[42..].iter().all(|&x| x == 0), "padding");

    let eth = EthernetPacket::new(b).unwrap();
    assert_eq!(eth.get_ethertype(), EtherTypes::Arp);
    let arp = ArpPacket::new(eth.payload()).unwrap();
    assert_eq!(arp.get_operation(), ArpOperations::Reply);
    assert_eq!(arp.get_sender_hw_addr().octets(), A_MAC.0);
    assert_eq!(arp.get_sender_proto_addr(), A_V4);
    assert_eq!(arp.get_target_hw_addr().octets(), C_MAC.0);
    assert_eq!(arp.get_target_proto_addr(), C_V4);
}

#[test]
fn announcement_and_probe_layout() {
    for (f, spa) in
        [(gratuitous_arp(C_MAC, C_V4), C_V4), (arp_probe(C_MAC, C_V4), Ipv4Addr::UNSPECIFIED)]
    {
        let eth = EthernetPacket::new(f.as_slice()).unwrap();
        assert_eq!(eth.get_destination().octets(), MacAddr::BROADCAST.0);
        assert_eq!(eth.get_source().octets(), C_MAC.0);
        let arp = ArpPacket::new(eth.payload()).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Request);
        assert_eq!(arp.get_sender_hw_addr().octets(), C_MAC.0);
        assert_eq!(arp.get_sender_proto_addr(), spa);
        assert_eq!(arp.get_target_hw_addr().octets(), MacAddr::ZERO.0);
        assert_eq!(arp.get_target_proto_addr(), C_V4);
        assert_eq!(f.len(), 60);
    }
}

/// Checks the IPv6 header of an ND frame and returns the ICMPv6 message.
fn nd_message(f: &FrameBuf, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let eth = EthernetPacket::new(f.as_slice()).unwrap();
    assert_eq!(eth.get_ethertype(), EtherTypes::Ipv6);
    let ip = Ipv6Packet::new(eth.payload()).unwrap();
    assert_eq!(ip.get_version(), 6);
    assert_eq!(ip.get_hop_limit(), 255);
    assert_eq!(ip.get_source(), src);
    assert_eq!(ip.get_destination(), dst);
    assert_eq!(usize::from(ip.get_payload_length()), ip.payload().len());
    let icmp = Icmpv6Packet::new(ip.payload()).unwrap();
    assert_eq!(icmpv6::checksum(&icmp, &src, &dst), icmp.get_checksum(), "checksum");
    ip.payload().to_vec()
}

#[test]
fn neighbor_advertisement_layout() {
    let flags = NaFlags { solicited: true, override_: true };
    let f = neighbor_advertisement(B_MAC, A_LL, C_MAC, C_LL, A_GUA, A_MAC, flags);
    assert_eq!(f.len(), 86);
    let eth = EthernetPacket::new(f.as_slice()).unwrap();
    assert_eq!(eth.get_source().octets(), B_MAC.0);
    assert_eq!(eth.get_destination().octets(), C_MAC.0);
    let m = nd_message(&f, A_LL, C_LL);
    let na = NeighborAdvertPacket::new(&m).unwrap();
    assert_eq!(na.get_icmpv6_type(), Icmpv6Types::NeighborAdvert);
    assert_eq!(na.get_flags(), 0x60);
    assert_eq!(na.get_target_addr(), A_GUA);
    let opts = na.get_options();
    assert_eq!(opts.len(), 1);
    assert_eq!(opts[0].option_type, NdpOptionTypes::TargetLLAddr);
    assert_eq!(opts[0].data, A_MAC.0);

    let f = unsolicited_na(A_MAC, A_GUA);
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    assert_eq!(&f.as_slice()[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    let m = nd_message(&f, A_GUA, all_nodes);
    let na = NeighborAdvertPacket::new(&m).unwrap();
    assert_eq!(na.get_flags(), 0x20, "override, not solicited");
    assert_eq!(na.get_target_addr(), A_GUA);
}

#[test]
fn dad_probe_layout() {
    let target = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0x1234, 0x5678, 0x9abc, 0xdef0);
    let f = dad_probe(C_MAC, target);
    assert_eq!(f.len(), 78);
    assert_eq!(&f.as_slice()[..6], &[0x33, 0x33, 0xff, 0xbc, 0xde, 0xf0]);
    let group: Ipv6Addr = "ff02::1:ffbc:def0".parse().unwrap();
    assert_eq!(solicited_node(target), group);
    let m = nd_message(&f, Ipv6Addr::UNSPECIFIED, group);
    let ns = NeighborSolicitPacket::new(&m).unwrap();
    assert_eq!(ns.get_icmpv6_type(), Icmpv6Types::NeighborSolicit);
    assert_eq!(ns.get_target_addr(), target);
    assert!(ns.get_options().is_empty(), "no source link-layer option from ::");
}

#[test]
fn tcp_syn_layout_checksums_and_class() {
    use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet};
    use pnet_packet::tcp::{self, TcpFlags, TcpPacket};
    let f = tcp_syn(C_MAC, A_MAC, C_V4, A_V4, 50000, 3389);
    assert_eq!(f.len(), 60);
    let eth = EthernetPacket::new(f.as_slice()).unwrap();
    assert_eq!((eth.get_source().octets(), eth.get_destination().octets()), (C_MAC.0, A_MAC.0));
    assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
    let ip = Ipv4Packet::new(eth.payload()).unwrap();
    assert_eq!((ip.get_version(), ip.get_header_length(), ip.get_total_length()), (4, 5, 40));
    assert_eq!((ip.get_flags(), ip.get_ttl()), (Ipv4Flags::DontFragment, 64));
    assert_eq!((ip.get_source(), ip.get_destination()), (C_V4, A_V4));
    assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "IPv4 header checksum");
    let seg = TcpPacket::new(&ip.payload()[..20]).unwrap();
    assert_eq!((seg.get_source(), seg.get_destination()), (50000, 3389));
    assert_eq!((seg.get_flags(), seg.get_data_offset()), (TcpFlags::SYN, 5));
    assert_eq!(seg.get_checksum(), tcp::ipv4_checksum(&seg, &C_V4, &A_V4), "TCP checksum");
    assert_eq!(
        classify(f.as_slice()),
        Classified::TcpSyn {
            sleeper: A_ID,
            src: IpAddr::V4(C_V4),
            src_port: 50000,
            dst: IpAddr::V4(A_V4),
            dst_port: 3389,
            wake: true,
        }
    );
}

#[test]
fn frame_buf_basics() {
    let f = arp_probe(C_MAC, C_V4);
    assert!(!f.is_empty());
    assert_eq!(f.as_ref(), f.as_slice());
    assert!(format!("{f:?}").starts_with("FrameBuf[60](ffffffffffff0200"));
}

#[test]
fn classified_stays_small() {
    // Returned per frame; the largest variants (TcpSyn, NeighborSolicitation) hold a NodeId and
    // two addresses.
    assert!(std::mem::size_of::<Classified>() <= 64, "{}", std::mem::size_of::<Classified>());
}
