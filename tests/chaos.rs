//! `wakeproxy lab chaos`'s monitor on a real lab: a station that lies on the wire is caught,
//! with the frame that shows it; bad shapes are refused with what to use instead. (The chaos run
//! itself, a few minutes with a fixed seed, is a step of .ci/run: docs/reliability.md.)

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::lab::{TestLab, wakeproxy};
use wakeproxy::lab::chaos::capture::{Capture, Port};
use wakeproxy::lab::chaos::verdict::Run;
use wakeproxy::lab::chaos::{bounds, host_facts};
use wakeproxy::lab::{Lab, truth};
use wakeproxy::os::netns;

#[test]
fn the_monitor_reports_a_forged_answer_for_an_awake_host_with_the_frame_that_shows_it() {
    let Some(test_lab) = TestLab::up("chmon", 3, 1) else { return };
    let lab = Lab::load(&test_lab.name).expect("the lab's record");
    let key = wakeproxy::store::keys::load(&lab.dir.join("site.key")).expect("the lab's key");
    let capture = Capture::start(&lab).expect("capture on the switch");
    // h2 tells the LAN that h1's address is at h2's MAC: what a proxy that fights a live owner
    // would send.
    let (h1, h2) = (&lab.hosts[0], &lab.hosts[1]);
    let mac2: wakeproxy::core::addr::MacAddr = h2.mac.parse().unwrap();
    let ip1: std::net::Ipv4Addr = h1.ip.parse().unwrap();
    let mut forged = vec![0xff; 6];
    forged.extend_from_slice(&mac2.0);
    forged.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    forged.extend_from_slice(&mac2.0);
    forged.extend_from_slice(&ip1.octets());
    forged.extend_from_slice(&[0xff; 6]);
    forged.extend_from_slice(&ip1.octets());
    let ns = h2.ns.clone();
    let frame = forged.clone();
    std::thread::spawn(move || {
        netns::enter(&ns).expect("h2's namespace");
        wakeproxy::os::sys::linux::send_frame("eth0", &frame).expect("send the forged reply");
    })
    .join()
    .unwrap();
    let seen = netns::wait_for(Duration::from_secs(5), || {
        capture.frames().iter().any(|c| c.frame == forged && c.port == Port::Host(1)).then_some(())
    });
    assert!(seen.is_some(), "the capture never saw h2's forged reply on h2's port");
    let (frames, counts) = capture.stop();
    assert!(counts.iter().all(|c| c.missed == 0), "{counts:?}");
    let (hosts, facts) = (host_facts(&lab), truth::read(&lab.truth_log()));
    let findings = Run {
        hosts: &hosts,
        bounds: bounds(common::lab::H, Duration::from_secs(2)),
        key: &key,
        frames: &frames,
        truth: &facts,
        faults: &[],
        attempts: &[],
        end_us: truth::unix_us(),
    }
    .check();
    assert_eq!(findings.violations.len(), 1, "{findings:?}");
    let v = &findings.violations[0];
    assert_eq!(v.check, "no answer for an awake host");
    assert!(v.what.starts_with("h2 answered for h1's address"), "{}", v.what);
    assert_eq!(v.frames.len(), 1);
    assert_eq!(frames[v.frames[0]].frame, forged);
}

#[test]
fn a_chaos_run_on_too_few_hosts_is_refused_with_the_number_to_use() {
    let out = wakeproxy(&["lab", "chaos", "--hosts", "4", "--subnets", "2", "--name", "chbad"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 3 hosts per subnet") && err.contains("--hosts 6"), "{err}");
}
