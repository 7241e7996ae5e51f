//! The checks against runs made up frame by frame: each broken promise is found, with its
//! frames; what the bounds allow is not; a failure without frames is unshown, not a violation.

use super::*;
use crate::core::addr::NodeId;
use crate::core::proto::{Header, Heartbeat, Message, encode};

const HB: u64 = 500_000;
const S: u64 = 1_000_000;

fn key() -> SiteKey {
    SiteKey::new(&[9; 32]).expect("32 bytes")
}

/// h1, h2, h3 on subnet 0.
fn hosts() -> Vec<HostFacts> {
    (0..3)
        .map(|i| HostFacts {
            subnet: 0,
            ip: Ipv4Addr::new(10, 0, 1, 10 + i as u8),
            ip6: None,
            mac: [2, 0x57, 0x50, 0, 0, i as u8],
        })
        .collect()
}

fn bounds() -> Bounds {
    Bounds { heartbeat_us: HB, probe_us: 125_000, resume_us: 2 * S, ask_every_us: 250_000 }
}

fn eth(src: [u8; 6], ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// "`ip` is at `mac`", an ARP reply sent by `mac`.
fn arp_reply(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0, 1, 8, 0, 6, 4, 0, 2];
    b.extend_from_slice(&mac);
    b.extend_from_slice(&ip.octets());
    b.extend_from_slice(&[2, 0x57, 0x6d, 0, 0, 250, 10, 0, 1, 250]);
    eth(mac, 0x0806, &b)
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x45, 0];
    b.extend_from_slice(&(20 + payload.len() as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 255, proto, 0, 0]);
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b.extend_from_slice(payload);
    b
}

fn heartbeat(h: &HostFacts, role: Role, seq: u64) -> Vec<u8> {
    let header = Header { sender: NodeId::from_u128(h.mac[5].into()), seq, timestamp_ms: 0 };
    let mut datagram = Vec::new();
    let msg = Message::Heartbeat(Heartbeat { role, ..Heartbeat::default() });
    encode(&key(), &header, &msg, &mut datagram).expect("a heartbeat encodes");
    let mut udp = vec![0x63, 0xc0, 0x63, 0xc0];
    udp.extend_from_slice(&(8 + datagram.len() as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&datagram);
    eth(h.mac, 0x0800, &ipv4(h.ip, Ipv4Addr::new(10, 0, 1, 255), 17, &udp))
}

fn syn(src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut tcp = vec![0xc3, 0x50];
    tcp.extend_from_slice(&port.to_be_bytes());
    tcp.extend_from_slice(&[0; 8]);
    tcp.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    eth([2, 0, 0, 0, 0, 9], 0x0800, &ipv4(src, dst, 6, &tcp))
}

fn at(at_us: u64, port: Port, frame: Vec<u8>) -> Captured {
    Captured { at_us, port, frame }
}

fn sleeps(host: usize, at_us: u64) -> Fact {
    Fact { at_us, host, change: Change::Sleeps }
}

fn check(
    frames: &[Captured],
    truth: &[Fact],
    faults: &[FaultSpan],
    attempts: &[Attempt],
) -> Findings {
    let (hosts, key) = (hosts(), key());
    Run {
        hosts: &hosts,
        bounds: bounds(),
        key: &key,
        frames,
        truth,
        faults,
        attempts,
        end_us: 100 * S,
    }
    .check()
}

fn fault(start_us: u64, end_us: u64, split: Option<(Vec<usize>, Vec<usize>)>) -> FaultSpan {
    FaultSpan {
        start_us,
        end_us,
        settled_us: end_us,
        kind: "test".into(),
        what: "a test fault".into(),
        subnets: vec![0],
        split,
        lossy: false,
    }
}

#[test]
fn an_answer_for_an_awake_host_from_another_port_is_a_violation_with_its_frame() {
    let h = hosts();
    let frames = vec![
        at(S, Port::Host(0), arp_reply(h[0].mac, h[0].ip)),
        at(2 * S, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
    ];
    let found = check(&frames, &[], &[], &[]);
    assert_eq!(found.violations.len(), 1, "{found:?}");
    let v = &found.violations[0];
    assert_eq!(
        (v.check, v.at_us, v.frames.clone()),
        ("no answer for an awake host", 2 * S, vec![1])
    );
    assert!(v.what.contains("h2 answered for h1's address"), "{}", v.what);
}

#[test]
fn a_proxy_may_answer_until_the_wake_grace_has_passed_and_across_a_partition() {
    let h = hosts();
    let truth = [sleeps(0, S), Fact { at_us: 10 * S, host: 0, change: Change::Awake }];
    let late = 10 * S + bounds().wake_grace() + 1;
    let frames = vec![
        at(5 * S, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
        at(10 * S + 100_000, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
        at(late, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
    ];
    let found = check(&frames, &truth, &[], &[]);
    assert_eq!(found.violations.iter().map(|v| v.frames.clone()).collect::<Vec<_>>(), [vec![2]]);
    let cut = [fault(10 * S, 20 * S, Some((vec![0], vec![1, 2])))];
    let found = check(&frames, &truth, &cut, &[]);
    assert!(found.violations.is_empty(), "{found:?}");
    assert_eq!(found.across_partition, 1);
}

#[test]
fn two_proxies_answering_one_request_long_after_a_change_is_one_violation_per_episode() {
    let h = hosts();
    let truth = [sleeps(0, S)];
    let mut frames = Vec::new();
    for k in 0..8u64 {
        let t = 2 * S + k * 250_000;
        frames.push(at(t, Port::Host(1), arp_reply(h[1].mac, h[0].ip)));
        frames.push(at(t + 2_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)));
    }
    let found = check(&frames, &truth, &[], &[]);
    assert_eq!(found.violations.len(), 1, "{found:?}");
    assert_eq!(found.violations[0].check, "one proxy per sleeper");
    assert_eq!(found.violations[0].frames, vec![0, 1]);
    // Within one heartbeat of a change (make before break), the same answers are allowed.
    let truth = [sleeps(0, 2 * S)];
    let found = check(&frames[..2], &truth, &[], &[]);
    assert!(found.violations.is_empty(), "{found:?}");
}

#[test]
fn a_clean_handover_from_one_proxy_to_the_next_is_not_two_proxies() {
    let h = hosts();
    let frames = vec![
        at(3 * S, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
        at(3 * S + 250_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)),
        at(3 * S + 500_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)),
    ];
    let found = check(&frames, &[sleeps(0, S)], &[], &[]);
    assert!(found.violations.is_empty(), "{found:?}");
    assert_eq!(found.checks["one proxy per sleeper"], 3);
}

#[test]
fn a_slow_or_failed_connection_is_a_violation_with_its_syns_and_unshown_without_them() {
    let h = hosts();
    let attempt = |result: Result<(), String>, done_us| Attempt {
        at_us: 10 * S,
        done_us,
        caller: 1,
        target: 0,
        port: 8080,
        result,
    };
    let truth = [sleeps(0, S)];
    let frames = vec![at(10 * S + 1_000, Port::Host(1), syn(h[1].ip, h[0].ip, 8080))];
    let ok = attempt(Ok(()), 12 * S);
    let late = attempt(Ok(()), 10 * S + bounds().connect_limit() + 1);
    let failed = attempt(Err("timed out".into()), 20 * S);
    let found = check(&frames, &truth, &[], &[ok.clone(), late, failed.clone()]);
    assert_eq!(found.checks["a sleeper is reachable"], 3);
    assert_eq!(found.violations.len(), 2, "{found:?}");
    assert!(found.violations.iter().all(|v| v.frames == vec![0]));
    let found = check(&[], &truth, &[], &[ok, failed]);
    assert!(found.violations.is_empty());
    assert_eq!(found.unshown.len(), 1);
}

#[test]
fn three_heartbeats_after_a_fault_its_subnet_has_exactly_one_manager() {
    let h = hosts();
    let f = [fault(S, 2 * S, None)];
    let check_at = 2 * S + 3 * HB;
    let beats = |roles: [Role; 3]| -> Vec<Captured> {
        (0..3)
            .map(|i| {
                at(check_at - 100_000 - i as u64, Port::Host(i), heartbeat(&h[i], roles[i], 1))
            })
            .collect()
    };
    let one = check(&beats([Role::Manager, Role::Member, Role::Guardian]), &[], &f, &[]);
    assert_eq!(one.checks["one manager per subnet"], 1);
    assert!(one.violations.is_empty(), "{one:?}");
    let two = check(&beats([Role::Manager, Role::Manager, Role::Member]), &[], &f, &[]);
    assert_eq!(two.violations.len(), 1);
    assert_eq!(two.violations[0].frames.len(), 3);
    // A heartbeat from another host's port, or signed with another key, counts for nothing.
    let mut forged = beats([Role::Manager, Role::Member, Role::Member]);
    forged.push(at(check_at - 50_000, Port::Router(0), heartbeat(&h[1], Role::Manager, 2)));
    assert!(check(&forged, &[], &f, &[]).violations.is_empty());
    // No heartbeat at all: nothing shows it, so it is unshown.
    let none = check(&[], &[], &f, &[]);
    assert!(none.violations.is_empty());
    assert_eq!(none.unshown.len(), 1);
}

#[test]
fn a_fault_under_way_three_heartbeats_later_skips_the_manager_check() {
    let f = [fault(S, 2 * S, None), fault(2 * S + HB, 10 * S, None)];
    let found = check(&[], &[], &f, &[]);
    assert_eq!(found.skipped["manager: another fault was under way"], 1);
}

#[test]
fn a_daemon_heard_again_is_a_change_so_a_restarted_proxy_may_overlap_for_one_heartbeat() {
    let h = hosts();
    let truth = [sleeps(0, S)];
    // h2's daemon is heard at 2 s, then silent (killed), then heard again at 10 s.
    let mut frames = vec![
        at(2 * S, Port::Host(1), heartbeat(&h[1], Role::Member, 1)),
        at(10 * S, Port::Host(1), heartbeat(&h[1], Role::Member, 2)),
    ];
    frames.push(at(10 * S + 300_000, Port::Host(1), arp_reply(h[1].mac, h[0].ip)));
    frames.push(at(10 * S + 302_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)));
    assert!(check(&frames, &truth, &[], &[]).violations.is_empty());
    frames.push(at(10 * S + 800_000, Port::Host(1), arp_reply(h[1].mac, h[0].ip)));
    frames.push(at(10 * S + 802_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)));
    assert_eq!(check(&frames, &truth, &[], &[]).violations.len(), 1);
}

/// A gratuitous ARP from `eth_src` saying `ip` is at `mac`.
fn announce(eth_src: [u8; 6], mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0, 1, 8, 0, 6, 4, 0, 1];
    b.extend_from_slice(&mac);
    b.extend_from_slice(&ip.octets());
    b.extend_from_slice(&[0; 6]);
    b.extend_from_slice(&ip.octets());
    eth(eth_src, 0x0806, &b)
}

#[test]
fn a_proxy_giving_an_address_back_or_yielding_in_the_winners_name_is_no_violation() {
    let h = hosts();
    // h2 gives h1's address back to h1's MAC, from its own, long after h1 woke.
    let back = vec![at(20 * S, Port::Host(1), announce(h[1].mac, h[0].mac, h[0].ip))];
    assert!(check(&back, &[], &[], &[]).violations.is_empty());
    // The same from h1's MAC (a MAC takeover of an awake host) is one.
    let takeover = vec![at(20 * S, Port::Host(1), announce(h[0].mac, h[0].mac, h[0].ip))];
    assert_eq!(check(&takeover, &[], &[], &[]).violations.len(), 1);
    // h2 yields sleeping h1 to h3 and points the caches at h3 as h3 answers: one proxy, h3.
    let truth = [sleeps(0, S)];
    let frames = vec![
        at(5 * S, Port::Host(1), announce(h[1].mac, h[2].mac, h[0].ip)),
        at(5 * S + 1_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)),
    ];
    assert!(check(&frames, &truth, &[], &[]).violations.is_empty());
}

#[test]
fn a_proxys_announcement_is_a_change_and_answers_within_a_heartbeat_of_it_are_allowed() {
    let h = hosts();
    let truth = [sleeps(0, S)];
    let frames = vec![
        // h3 claims at 10 s (its announcement); h2 still answers the next request.
        at(10 * S, Port::Host(2), announce(h[2].mac, h[2].mac, h[0].ip)),
        at(10 * S + 200_000, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
        at(10 * S + 201_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)),
    ];
    assert!(check(&frames, &truth, &[], &[]).violations.is_empty());
    let mut late = frames.clone();
    late.push(at(11 * S, Port::Host(1), arp_reply(h[1].mac, h[0].ip)));
    late.push(at(11 * S + 1_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)));
    assert_eq!(check(&late, &truth, &[], &[]).violations.len(), 1);
}

#[test]
fn two_proxies_while_a_flood_drops_heartbeats_are_counted_apart() {
    let h = hosts();
    let truth = [sleeps(0, S)];
    let frames = vec![
        at(6 * S, Port::Host(1), arp_reply(h[1].mac, h[0].ip)),
        at(6 * S + 1_000, Port::Host(2), arp_reply(h[2].mac, h[0].ip)),
    ];
    let flood = FaultSpan { lossy: true, ..fault(3 * S, 8 * S, None) };
    let found = check(&frames, &truth, &[flood], &[]);
    assert!(found.violations.is_empty(), "{found:?}");
    assert_eq!(found.while_lossy, 1);
}
