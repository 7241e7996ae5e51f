//! Wakes: retries and give-up, the sleeper's first message ending a wake, SYN replay.

use super::*;

#[test]
fn a_wake_that_gets_no_answer_is_retried_with_back_off_and_given_up_after_30_s() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let t0 = lan.now;
    syn_to_third(&mut lan, p);
    lan.run(Duration::from_secs(40));
    let sent: Vec<u64> = lan.magic_at.iter().map(|t| t.saturating_since(t0).as_secs()).collect();
    assert_eq!(sent, [0, 1, 3, 7, 15, 23], "doubling, capped at 8 s apart, for 30 s");
    assert!(lan.magic.iter().all(|m| *m == (p, mac(3))), "only the proxy wakes: {:?}", lan.magic);
    let st = lan.nodes[p].status(lan.now);
    assert!(st.wakes_in_flight.is_empty());
    assert_eq!(
        st.recent_wakes,
        [WakeRecord {
            mac: mac(3),
            cause: caller(),
            attempts: 6,
            to_packet: Some(Duration::ZERO),
            to_awake: None,
            syns_replayed: 0,
        }]
    );
    assert_eq!(st.ifaces[0].proxied[0].stats.wakes_sent, 6);
}

#[test]
fn a_wake_ends_with_the_sleepers_first_signed_message_and_records_caller_port_and_latencies() {
    let mut lan = Lan::new(3);
    let p = sleeping_third(&mut lan);
    lan.run(Duration::from_secs(1));
    let t0 = lan.now;
    syn_to_third(&mut lan, p);
    // The NIC misses the first two packets; the third (at 3 s) wakes the host, which speaks
    // 1.5 s later.
    lan.run(Duration::from_millis(4500));
    lan.asleep[2] = false;
    let now = lan.now;
    lan.nodes[2].resumed(now, UNIX0 + now.as_micros() / 1000);
    lan.drain();
    lan.run(Duration::from_secs(30));
    assert_eq!(lan.magic.len(), 3, "no packet after the host spoke");
    let st = lan.nodes[p].status(lan.now);
    assert_eq!(
        st.recent_wakes,
        [WakeRecord {
            mac: mac(3),
            cause: caller(),
            attempts: 3,
            to_packet: Some(Duration::ZERO),
            to_awake: Some(now.saturating_since(t0)),
            syns_replayed: 1,
        }]
    );
    assert_eq!(now.saturating_since(t0), Duration::from_millis(4500));
}

#[test]
fn once_the_sleeper_speaks_the_proxy_replays_each_callers_first_syn_to_it_from_its_own_mac() {
    for replay in [true, false] {
        let mut lan = Lan::new(3);
        for n in &mut lan.nodes {
            n.cfg.syn_replay = replay;
        }
        let p = sleeping_third(&mut lan);
        lan.run(Duration::from_secs(1));
        lan.frames.clear();
        let now = lan.now;
        // Three callers; the first retransmits (same caller, same port).
        let syns = [
            syn_from(p, 9, 40000),
            syn_from(p, 9, 40000),
            syn_from(p, 8, 40000),
            syn_from(p, 9, 40001),
        ];
        for s in &syns {
            lan.nodes[p].handle_frame(now, IfaceId(1), s);
        }
        lan.drain();
        lan.run(Duration::from_millis(2000));
        assert!(replayed(&lan, p).is_empty(), "nothing is replayed while it sleeps");
        lan.asleep[2] = false;
        let now = lan.now;
        lan.nodes[2].resumed(now, UNIX0 + now.as_micros() / 1000);
        lan.drain();
        let sent = replayed(&lan, p);
        if !replay {
            assert!(sent.is_empty());
            continue;
        }
        assert_eq!(sent.len(), 3, "one per caller");
        for (got, want) in sent.iter().zip([&syns[0], &syns[2], &syns[3]]) {
            assert_eq!(&got[..6], &mac(3).octets(), "to the sleeper's own MAC");
            assert_eq!(
                &got[6..12],
                &mac(p as u8 + 1).octets(),
                "from the proxy's, never the caller's"
            );
            let fresh = crate::core::frame::replayable_syn(want, mac(3), mac(p as u8 + 1)).unwrap();
            assert_eq!(got, fresh.as_slice(), "the caller's SYN, with a fresh checksum");
        }
        let st = lan.nodes[p].status(lan.now);
        assert_eq!(st.counters.syns_replayed, 3);
        assert_eq!(st.recent_wakes[0].syns_replayed, 3);
    }
}
