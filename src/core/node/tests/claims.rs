//! Claiming a sleeper: probe before claim, the owner's frames, IPv6-only sleepers, a
//! stranger taking the address, MAC takeover.

use super::*;

#[test]
fn mac_takeover_answers_with_the_sleepers_mac_and_refreshes_it_every_heartbeat() {
    let mut lan = Lan::new(3);
    for n in &mut lan.nodes {
        n.cfg.proxy_mode = ProxyMode::MacTakeover;
    }
    lan.run(H * 2);
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    lan.run(Duration::from_secs(1));
    let now = lan.now;
    let sleeper = NodeId::from_u128(3);
    let p = (0..2).find(|&i| lan.nodes[i].proxied(IfaceId(1)) == vec![sleeper]).expect("a proxy");

    // The ARP answer carries the sleeper's own MAC, as Ethernet source and sender address.
    while lan.nodes[p].poll_action().is_some() {}
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), arp.as_slice());
    let Some(Action::SendFrame { frame, .. }) = lan.nodes[p].poll_action() else {
        panic!("no ARP reply")
    };
    assert_eq!(&frame.as_slice()[6..12], &mac(3).octets());
    assert_eq!(&frame.as_slice()[22..28], &mac(3).octets());

    // Every heartbeat, an announcement from the sleeper's MAC keeps the switch and the caches.
    lan.frames.clear();
    lan.run(H * 3);
    let refreshes = lan
        .frames
        .iter()
        .filter(|(from, f)| {
            *from == p
                && f[6..12] == mac(3).octets()
                && f[12..14] == [0x08, 0x06]
                && f[28..32] == ip(3).octets()
                && f[38..42] == ip(3).octets()
        })
        .count();
    assert!((2..=4).contains(&refreshes), "{refreshes} announcements in 3 heartbeats");
    let na = lan
        .frames
        .iter()
        .any(|(from, f)| *from == p && f[6..12] == mac(3).octets() && f[12..14] == [0x86, 0xdd]);
    assert!(na, "an unsolicited NA for the sleeper's IPv6 address too");
}

#[test]
fn a_claim_probes_the_sleepers_addresses_and_waits_one_quiet_window() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    let sleeper = NodeId::from_u128(3);
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty(), "not answered for while probing");
    let probe = lan.frames.iter().any(|(from, f)| {
        *from == p
            && f[12..14] == [0x08, 0x06]
            && f[28..32] == [0; 4]
            && f[38..42] == ip(3).octets()
    });
    assert!(probe, "an RFC 5227 ARP probe for the sleeper's address");
    let dad = lan
        .frames
        .iter()
        .any(|(from, f)| *from == p && f[12..14] == [0x86, 0xdd] && f[22..38] == [0; 16]);
    assert!(dad, "a DAD probe (from ::) for its IPv6 address");
    lan.run(Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![sleeper]);
}

#[test]
fn while_probing_nothing_is_answered_and_no_syn_wakes() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    let now = lan.now;
    while lan.nodes[p].poll_action().is_some() {}
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), arp.as_slice());
    let syn = crate::core::frame::tcp_syn(
        mac(9),
        mac(p as u8 + 1),
        Ipv4Addr::new(10, 0, 0, 9),
        ip(3),
        40000,
        3389,
    );
    lan.nodes[p].handle_frame(now, IfaceId(1), syn.as_slice());
    assert!(lan.nodes[p].poll_action().is_none(), "no ARP answer, no magic packet");
}

#[test]
fn an_answer_to_the_probe_from_another_station_defers_the_claim_until_it_is_quiet() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    let now = lan.now;
    // DHCP gave 10.0.0.3 to someone else, who answers the probe.
    let other = MacAddr([0x02, 0x99, 0, 0, 0, 1]);
    lan.nodes[p].handle_frame(now, IfaceId(1), &arp_reply_from(other, ip(3)));
    lan.drain();
    lan.run(Duration::from_secs(2));
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    assert_eq!(lan.nodes[p].counters().claims_blocked, 1);
    // One heartbeat later it probes again; nobody answers this time: claimed.
    lan.run(H + Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

#[test]
fn a_sleeper_that_still_answers_pings_is_never_answered_for() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    // The "sleeper" still answers pings: its host is up (still suspending, or its daemon hung).
    lan.probes_fail = false;
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    // Probed again every heartbeat, never answered for while it answers.
    for _ in 0..30 {
        lan.run(Duration::from_millis(500));
        for i in 0..2 {
            assert!(lan.nodes[i].proxied(IfaceId(1)).is_empty(), "node {} answers for it", i + 1);
        }
    }
    // A probe per heartbeat by its proxy, each blocked; once the proxy has not claimed it for
    // two heartbeats, the other node passes it over and tries too, and is blocked the same way.
    let blocked: u64 = (0..2).map(|i| lan.nodes[i].counters().claims_blocked).sum();
    assert!((3..=6).contains(&blocked), "a probe per heartbeat, each blocked: {blocked}");
    let tried_by_both = (0..2).all(|i| lan.nodes[i].counters().claims_blocked > 0);
    assert!(tried_by_both, "the node passed over tries as well");
    let now = lan.now;
    for i in 0..2 {
        while lan.nodes[i].poll_action().is_some() {}
        let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
        lan.nodes[i].handle_frame(now, IfaceId(1), arp.as_slice());
        assert!(lan.nodes[i].poll_action().is_none(), "node {} answered ARP", i + 1);
    }
}

#[test]
fn a_frame_from_the_owner_while_probing_stops_the_claim_until_it_is_quiet() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    // Half a probe window after its notice, the owner asks for its gateway: it is awake,
    // whatever its notice said.
    let now = lan.now + Duration::from_millis(500);
    let own = crate::core::frame::arp_request(mac(3), ip(3), Ipv4Addr::new(10, 0, 0, 254));
    lan.nodes[p].handle_frame(now, IfaceId(1), own.as_slice());
    lan.drain();
    lan.run(Duration::from_secs(2));
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    // It was on its way to sleep: 2.5 heartbeats later its ping fails, and it is answered for.
    lan.run(H * 3);
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

#[test]
fn a_frame_the_owner_sent_before_its_notice_and_handled_just_after_it_changes_nothing() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    // Captured frames and peer datagrams come through separate queues: a frame sent just
    // before the SleepNotice can be handled just after it.
    let now = lan.now + Duration::from_millis(1);
    let own = crate::core::frame::arp_request(mac(3), ip(3), Ipv4Addr::new(10, 0, 0, 254));
    lan.nodes[p].handle_frame(now, IfaceId(1), own.as_slice());
    lan.drain();
    lan.run(Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

#[test]
fn a_sleeper_answered_for_only_by_ipv6_is_probed_over_ipv6_before_the_claim() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    // Another peer announces the sleeper's IPv4 address as its own (a forgery, or DHCP
    // reuse): only its IPv6 address is left to answer for, and that is what the probe asks.
    let hb = crate::core::proto::Heartbeat {
        host: crate::core::proto::HostInfo {
            mac: mac(9),
            ipv4: vec![Ipv4Prefix { addr: ip(3), len: 24 }],
            ..Default::default()
        },
        peers_heard: Some(2),
        ..Default::default()
    };
    let header = crate::core::proto::Header {
        sender: NodeId::from_u128(9),
        seq: (UNIX0 + lan.now.as_micros() / 1000) * 1000,
        timestamp_ms: UNIX0 + lan.now.as_micros() / 1000,
    };
    let mut bytes = Vec::new();
    crate::core::proto::encode(&key(), &header, &Message::Heartbeat(hb), &mut bytes).unwrap();
    let now = lan.now;
    for i in 0..2 {
        lan.nodes[i].handle_datagram(now, IfaceId(1), Lan::from(2), &bytes);
    }
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    let mut probed = Vec::new();
    let mut progress = true;
    while progress {
        progress = false;
        for i in 0..2 {
            while let Some(a) = lan.nodes[i].poll_action() {
                progress = true;
                if let Action::Probe { ip, .. } = a {
                    probed.push(ip);
                }
            }
        }
        let notices: Vec<_> = std::iter::from_fn(|| lan.nodes[2].poll_action()).collect();
        for a in notices {
            if let Action::SendDatagram { bytes, .. } = a {
                for i in 0..2 {
                    lan.nodes[i].handle_datagram(now, IfaceId(1), Lan::from(2), &bytes);
                }
                progress = true;
            }
        }
    }
    let v6: IpAddr = "fd00::3".parse().unwrap();
    assert!(probed.contains(&v6), "the claim probes fd00::3: {probed:?}");
}

#[test]
fn a_proxy_that_sees_its_sleepers_address_taken_by_a_stranger_stands_down() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
    let now = lan.now;
    let stranger = MacAddr([0x02, 0x99, 0, 0, 0, 2]);
    let garp = crate::core::frame::gratuitous_arp(stranger, ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), garp.as_slice());
    lan.drain();
    assert!(lan.nodes[p].proxied(IfaceId(1)).is_empty());
    // A peer's own MAC answering (another proxy that has not let go) is not a stranger.
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let now = lan.now;
    let q = 1 - p;
    lan.nodes[p].handle_frame(now, IfaceId(1), &arp_reply_from(mac(q as u8 + 1), ip(3)));
    lan.drain();
    assert_eq!(lan.nodes[p].proxied(IfaceId(1)), vec![NodeId::from_u128(3)]);
}

/// Found by `lab chaos` (docs/reliability.md): a host whose daemon lost its state directory
/// comes back under a new node id, while peers keep its old id as gone-but-awake (its host
/// answered their probes). When it then slept, its proxy claimed it but answered for none of
/// its addresses — they counted as the old id's, an awake peer's — so it was unreachable.
#[test]
fn a_host_that_came_back_under_a_new_node_id_is_answered_for_when_it_sleeps() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    // Its daemon is killed; its host stays up and answers probes.
    lan.asleep[2] = true;
    lan.probes_fail = false;
    lan.run(H * 6);
    let old = NodeId::from_u128(3);
    let state_of = |lan: &Lan, id: NodeId| {
        lan.nodes[0].status(lan.now).ifaces[0].peers.iter().find(|p| p.id == id).map(|p| p.state)
    };
    assert_eq!(state_of(&lan, old), Some(PeerState::Gone));
    // It starts again without its state: a new id, the same MAC and addresses.
    let now = lan.now;
    let mut reborn = node(3, now);
    let mut cfg = reborn.cfg.clone();
    cfg.id = NodeId::from_u128(33);
    reborn = Node::new(cfg, key(), now, UNIX0 + now.as_micros() / 1000);
    reborn.add_iface(
        now,
        IfaceConfig {
            id: IfaceId(1),
            name: "eth0".into(),
            mac: mac(3),
            ipv4: vec![Ipv4Prefix { addr: ip(3), len: 24 }],
            ipv6: vec![Ipv6Prefix { addr: "fd00::3".parse().unwrap(), len: 64 }],
        },
    );
    reborn.set_tcp_ports(vec![22, 3389]);
    lan.nodes[2] = reborn;
    lan.asleep[2] = false;
    lan.run(H * 2);
    // Now it sleeps, announced; the old id is still remembered as gone.
    lan.probes_fail = true;
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    lan.run(Duration::from_secs(1));
    assert_eq!(state_of(&lan, old), Some(PeerState::Gone));
    let sleeper = NodeId::from_u128(33);
    let p = (0..2).find(|&i| lan.nodes[i].proxied(IfaceId(1)) == vec![sleeper]).expect("a proxy");
    let now = lan.now;
    while lan.nodes[p].poll_action().is_some() {}
    let arp = crate::core::frame::arp_request(mac(9), Ipv4Addr::new(10, 0, 0, 9), ip(3));
    lan.nodes[p].handle_frame(now, IfaceId(1), arp.as_slice());
    let replied = std::iter::from_fn(|| lan.nodes[p].poll_action())
        .any(|a| matches!(a, Action::SendFrame { ref frame, .. } if frame.as_slice()[21] == 2));
    assert!(replied, "the proxy answers ARP for the sleeper's address");
}

/// Found by `lab chaos` (docs/reliability.md): after a partition both sides answered for a
/// sleeper and one yielded to the other, but the caches the loser had pointed at itself (a
/// router's among them) kept pointing there: connections through them were lost until the
/// entries expired. Whoever keeps the sleeper points the caches back at the answering MAC.
#[test]
fn after_two_proxies_settle_a_sleeper_the_caches_point_at_the_one_that_kept_it() {
    // Over every choice of sleeper, the node that comes back wins some and loses some.
    let mut returning_won = 0;
    for s in 0..4usize {
        let mut lan = Lan::new(4);
        lan.run(H * 2);
        let now = lan.now;
        lan.nodes[s].going_to_sleep(now);
        lan.asleep[s] = true;
        lan.drain();
        lan.run(Duration::from_secs(1));
        let sleeper = NodeId::from_u128(s as u128 + 1);
        let proxies = |lan: &Lan| -> Vec<usize> {
            (0..4)
                .filter(|&i| !lan.asleep[i] && lan.nodes[i].proxied(IfaceId(1)).contains(&sleeper))
                .collect()
        };
        let p = proxies(&lan)[0];
        // The proxy is cut off: the others see it silent and unreachable, and take the sleeper.
        lan.asleep[p] = true;
        lan.run(H * 6);
        assert_eq!(proxies(&lan).len(), 1, "another node took the sleeper");
        // It comes back still answering for the sleeper: two proxies, until they settle.
        lan.asleep[p] = false;
        lan.frames.clear();
        lan.run(H * 3);
        let kept = proxies(&lan);
        assert_eq!(kept.len(), 1, "they settle on one proxy");
        returning_won += usize::from(kept[0] == p);
        let last_garp = lan
            .frames
            .iter()
            .rfind(|(_, f)| f[12..14] == [0x08, 0x06] && f[28..32] == ip(s as u8 + 1).octets())
            .map(|(_, f)| f[22..28].to_vec());
        assert_eq!(
            last_garp,
            Some(mac(kept[0] as u8 + 1).octets().to_vec()),
            "sleeper {s}: the last announcement points at the proxy that kept it"
        );
        // More than once: a cache ignores an update within a second of the last one it took
        // (Linux's ARP locktime), perhaps the rival's.
        let pointing = lan
            .frames
            .iter()
            .filter(|(_, f)| {
                f[12..14] == [0x08, 0x06]
                    && f[28..32] == ip(s as u8 + 1).octets()
                    && f[22..28] == mac(kept[0] as u8 + 1).octets()
            })
            .count();
        assert!(
            pointing >= 2,
            "sleeper {s}: {pointing} announcements point at the proxy that kept it"
        );
    }
    assert!(returning_won > 0, "no case where the node that came back kept the sleeper");
}

#[test]
fn an_arp_redirect_proxy_points_the_caches_at_itself_again_every_refresh() {
    let mut lan = Lan::new(3);
    lan.run(H * 2);
    let now = lan.now;
    lan.nodes[2].going_to_sleep(now);
    lan.asleep[2] = true;
    lan.drain();
    lan.run(H * 2);
    let sleeper = NodeId::from_u128(3);
    let p = (0..2).find(|&i| lan.nodes[i].proxied(IfaceId(1)) == vec![sleeper]).expect("a proxy");
    lan.frames.clear();
    lan.run(H * (2 * super::super::claim::REFRESH_EVERY + 1));
    let garps = lan
        .frames
        .iter()
        .filter(|(from, f)| *from == p && f[12..14] == [0x08, 0x06] && f[28..32] == ip(3).octets())
        .count();
    assert_eq!(garps, 2, "one per refresh, and no more");
}

/// Found by the fuzz target `node_inputs`: the proxy's interface was given the address of the
/// sleeper it answers for (DHCP reused the sleeper's lease) and it kept answering for it, its
/// own address, on the sleeper's behalf, until the next election.
#[test]
fn an_address_the_proxy_is_given_is_no_longer_answered_for_the_sleeper() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let answered = |lan: &Lan| lan.nodes[p].answered_addresses(IfaceId(1));
    assert!(answered(&lan)[0].1.contains(&IpAddr::V4(ip(3))));
    let n = p as u8 + 1;
    let now = lan.now;
    lan.nodes[p].add_iface(
        now,
        IfaceConfig {
            id: IfaceId(1),
            name: "eth0".into(),
            mac: mac(n),
            ipv4: vec![Ipv4Prefix { addr: ip(n), len: 24 }, Ipv4Prefix { addr: ip(3), len: 24 }],
            ipv6: vec![Ipv6Prefix { addr: format!("fd00::{n}").parse().unwrap(), len: 64 }],
        },
    );
    let left: Vec<IpAddr> = answered(&lan).into_iter().flat_map(|(_, a)| a).collect();
    assert!(!left.contains(&IpAddr::V4(ip(3))), "{left:?}");
    assert!(left.contains(&IpAddr::V6("fd00::3".parse().unwrap())), "the rest is still answered");
}
