//! What a hostile or broken LAN sends: forged and replayed messages, forgeries in this node's
//! name, truncated, oversized and malformed frames.

use super::*;

#[test]
fn forged_and_replayed_messages_change_only_counters() {
    let mut lan = Lan::new(2);
    lan.run(H * 2);
    let before = lan.nodes[0].status(lan.now).ifaces[0].clone();
    let now = lan.now;

    // A heartbeat signed with another key.
    let other = SiteKey::new(&[8u8; 32]).unwrap();
    let hb = Heartbeat {
        host: HostInfo { mac: mac(66), ..Default::default() },
        role: Role::Manager,
        term: 99,
        boot_time_s: 1,
        caps: Capabilities::CAN_PROXY,
        peers_heard: None,
        claims: Vec::new(),
        claims_complete: true,
    };
    let header = Header {
        sender: NodeId::from_u128(66),
        seq: 1,
        timestamp_ms: UNIX0 + now.as_micros() / 1000,
    };
    let mut forged = Vec::new();
    proto::encode(&other, &header, &Message::Heartbeat(hb), &mut forged).unwrap();
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(5), &forged);

    // Garbage, and a replay of a real message.
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(5), b"not a wakeproxy message at all");
    let now2 = lan.now;
    lan.nodes[1].handle_timeout(now2 + H);
    let real = loop {
        match lan.nodes[1].poll_action() {
            Some(Action::SendDatagram { bytes, .. }) => break bytes,
            Some(_) => continue,
            None => panic!("node 2 sent no heartbeat"),
        }
    };
    lan.nodes[0].handle_datagram(now2, IfaceId(1), Lan::from(1), &real);
    lan.nodes[0].handle_datagram(now2, IfaceId(1), Lan::from(1), &real);
    while lan.nodes[0].poll_action().is_some() {}

    let c = lan.nodes[0].counters();
    assert_eq!(c.unauthenticated, 1);
    assert_eq!(c.malformed, 1);
    assert_eq!(c.replayed, 1);
    let after = lan.nodes[0].status(lan.now).ifaces[0].clone();
    assert_eq!(before.manager, after.manager);
    assert_eq!(before.term, after.term);
    assert_eq!(before.peers.len(), after.peers.len());
}

#[test]
fn a_forged_message_in_our_name_is_answered_with_the_truth() {
    let mut lan = Lan::new(2);
    lan.run(H * 2);
    let now = lan.now;
    // Someone with the key says node 1 is going to sleep.
    let header = Header {
        sender: NodeId::from_u128(1),
        seq: 42,
        timestamp_ms: UNIX0 + now.as_micros() / 1000,
    };
    let mut bytes = Vec::new();
    let host = HostInfo { mac: mac(1), ..Default::default() };
    proto::encode(&key(), &header, &Message::SleepNotice(host), &mut bytes).unwrap();
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(5), &bytes);
    lan.nodes[1].handle_datagram(now, IfaceId(1), Lan::from(5), &bytes);
    lan.drain();
    assert_eq!(lan.nodes[0].counters().impersonated, 1);
    let st = lan.nodes[1].status(lan.now);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(1)).unwrap();
    assert_eq!(p.state, PeerState::Awake, "the real node's ResumeNotice wins");
}

#[test]
fn a_forgery_as_far_ahead_in_our_sequence_as_the_clock_allows_does_not_silence_the_truth() {
    let mut lan = Lan::new(2);
    lan.run(H * 2);
    let now = lan.now;
    let now_ms = UNIX0 + now.as_micros() / 1000;
    // The highest number a receiver accepts: its clock plus the replay window, in µs.
    let header = Header {
        sender: NodeId::from_u128(1),
        seq: (now_ms + 30_000) * 1000,
        timestamp_ms: now_ms,
    };
    let mut bytes = Vec::new();
    let ipv4 = vec![Ipv4Prefix { addr: ip(1), len: 24 }];
    let host = HostInfo { mac: mac(1), ipv4, ..Default::default() };
    proto::encode(&key(), &header, &Message::SleepNotice(host), &mut bytes).unwrap();
    lan.nodes[1].handle_datagram(now, IfaceId(1), Lan::from(0), &bytes);
    let st = lan.nodes[1].status(lan.now);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(1)).unwrap();
    assert_eq!(p.state, PeerState::Asleep, "the forgery was believed");
    lan.nodes[0].handle_datagram(now, IfaceId(1), Lan::from(0), &bytes);
    lan.drain();
    lan.run(H * 3);
    let st = lan.nodes[1].status(lan.now);
    let p = st.ifaces[0].peers.iter().find(|p| p.id == NodeId::from_u128(1)).unwrap();
    assert_eq!(p.state, PeerState::Awake, "the real node's messages are still accepted");
    assert!(lan.nodes[1].proxied(IfaceId(1)).is_empty());
}

#[test]
fn truncated_oversized_and_malformed_frames_are_counted_and_dropped() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    lan.frames.clear();
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    let syn = syn_from(p, 9, 40000);
    let mut lying = syn.clone();
    lying[16..18].copy_from_slice(&9000u16.to_be_bytes()); // IPv4 total length past the frame
    let mut bad: Vec<Vec<u8>> = vec![
        arp.as_slice()[..30].to_vec(), // ARP cut in its addresses
        syn[..40].to_vec(),            // SYN cut in its TCP header
        lying,
        vec![0xff; 65_535], // an oversized broadcast of garbage (EtherType 0xffff)
    ];
    let mut huge = syn.clone();
    huge.resize(crate::core::frame::MAX_FRAME_LEN + 1, 0); // a SYN longer than any jumbo frame
    bad.push(huge);
    let before = lan.nodes[p].status(lan.now).counters;
    let now = lan.now;
    for f in &bad {
        lan.nodes[p].handle_frame(now, IfaceId(1), f);
    }
    lan.drain();
    let after = lan.nodes[p].status(lan.now).counters;
    assert_eq!(after.frames - before.frames, bad.len() as u64);
    assert_eq!(after.frames_malformed - before.frames_malformed, 5, "{after:?}");
    assert_eq!((after.arp_answered, after.syns_seen), (before.arp_answered, before.syns_seen));
    assert!(lan.frames.is_empty(), "nothing answered: {} frames", lan.frames.len());
    assert!(lan.magic.is_empty(), "nothing woken: {:?}", lan.magic);
}
