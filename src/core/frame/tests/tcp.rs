//! TCP: SYNs to a sleeper and the traps around them.

use super::*;

#[test]
fn syn_to_a_sleeper() {
    assert_eq!(
        classify(&syn4(C_V4, A_V4, 445, SYN)),
        Classified::TcpSyn {
            sleeper: A_ID,
            src: C_V4.into(),
            src_port: 50000,
            dst: A_V4.into(),
            dst_port: 445,
            wake: true
        }
    );
    assert!(matches!(classify(&syn4(C_V4, A_V4, 80, SYN)), Classified::TcpSyn { wake: false, .. }));
    assert!(matches!(
        classify(&syn4(C_V4, B_V4, 22, SYN)),
        Classified::TcpSyn { sleeper: B_ID, wake: false, .. }
    ));
    assert_eq!(
        classify(&syn6(C_LL, A_GUA, 3389)),
        Classified::TcpSyn {
            sleeper: A_ID,
            src: C_LL.into(),
            src_port: 50000,
            dst: A_GUA.into(),
            dst_port: 3389,
            wake: true
        }
    );
    // SYN with ECN flags (ECE, CWR) is still a connection attempt.
    assert!(matches!(classify(&syn4(C_V4, A_V4, 445, SYN | 0xC0)), Classified::TcpSyn { .. }));
}

#[test]
fn tcp_traps() {
    assert_eq!(classify(&syn4(C_V4, A_V4, 445, SYN | ACK)), Classified::Irrelevant);
    assert_eq!(classify(&syn4(C_V4, A_V4, 445, SYN | RST)), Classified::Irrelevant);
    assert_eq!(classify(&syn4(C_V4, A_V4, 445, ACK)), Classified::Irrelevant);
    assert_eq!(
        classify(&syn4(C_V4, Ipv4Addr::new(10, 0, 0, 99), 445, SYN)),
        Classified::Irrelevant
    );
    // A later fragment whose payload happens to look like a SYN.
    let ip = ipv4(C_V4, A_V4, 6, 0x0010, &[], &tcp(50000, 445, SYN));
    assert_eq!(classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)), Classified::Irrelevant);
    // The first fragment of several carries the header: still a SYN.
    let ip = ipv4(C_V4, A_V4, 6, 0x2000, &[], &tcp(50000, 445, SYN));
    assert!(matches!(
        classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)),
        Classified::TcpSyn { wake: true, .. }
    ));
    // IHL is honoured: a header with options.
    let ip = ipv4(C_V4, A_V4, 6, 0, &[1, 1, 1, 0], &tcp(50000, 445, SYN));
    assert!(matches!(
        classify(&ethernet(A_MAC, C_MAC, 0x0800, &ip)),
        Classified::TcpSyn { wake: true, .. }
    ));
}

#[test]
fn inconsistent_ip_and_tcp_headers_are_malformed() {
    let good = syn4(C_V4, A_V4, 445, SYN);
    let patch = |at: usize, v: u8| {
        let mut f = good.clone();
        f[at] = v;
        classify(&f)
    };
    assert_eq!(patch(14, 0x44), Classified::Malformed, "IHL 4");
    assert_eq!(patch(14, 0x55), Classified::Malformed, "version 5");
    assert_eq!(patch(14, 0x4F), Classified::Malformed, "IHL past the datagram");
    assert_eq!(patch(17, 200), Classified::Malformed, "total length past the frame");
    assert_eq!(patch(17, 19), Classified::Malformed, "total length below the header");
    assert_eq!(patch(14 + 20 + 12, 0x40), Classified::Malformed, "TCP data offset 4");
    assert_eq!(
        patch(14 + 20 + 12, 0xF0),
        Classified::Malformed,
        "TCP data offset past the segment"
    );
}

#[test]
fn vlan_tag_is_skipped() {
    let f = with_vlan(&syn4(C_V4, A_V4, 445, SYN), 42);
    assert!(matches!(classify(&f), Classified::TcpSyn { sleeper: A_ID, wake: true, .. }));
    let f = with_vlan(&arp_frame(1, C_MAC, C_V4, A_V4), 7);
    assert!(matches!(classify(&f), Classified::ArpRequest { sleeper: A_ID, .. }));
    let f = with_vlan(dad_probe(C_MAC, A_LL).as_slice(), 7);
    assert!(matches!(classify(&f), Classified::NeighborSolicitation { dad: true, .. }));
    assert_eq!(classify(&with_vlan(&[0; 12], 1)), Classified::Malformed, "tag, then nothing");
}
