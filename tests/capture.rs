//! The capture backend on a real interface: its kernel filter passes exactly the frames a proxy
//! acts on. Needs root (CI runs as root; under `CI=true` a missing precondition fails).

#![cfg(target_os = "linux")]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{NetLab, can_run_netns};
use wakeproxy::core::addr::MacAddr;
use wakeproxy::core::wol::MagicPacket;
use wakeproxy::testkit::frames::{self as synth, ACK};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_kernel_filter_passes_arp_ns_syn_and_magic_packets_only() {
    if !can_run_netns() {
        return;
    }
    let lab = NetLab::new(2);
    let capture = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.hosts[0].ns,
            env!("CARGO_BIN_EXE_wakeproxy"),
            "capture",
            "-i",
            "eth0",
            "--duration",
            "3s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let (me, b) = (MacAddr([2, 0, 0, 0, 0, 0x42]), MacAddr::BROADCAST);
    let (a4, z4) = (Ipv4Addr::new(10, 9, 9, 1), Ipv4Addr::new(10, 9, 9, 2));
    let magic = MagicPacket::new(MacAddr([2, 0xaa, 0, 0, 0, 1]));
    let (payload, n) = magic.payload();
    let mut raw_magic = [0u8; 128];
    let raw_len = magic.write_ethernet_frame(me, b, &mut raw_magic);
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend("fd00::99".parse::<Ipv6Addr>().unwrap().octets());
    let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    na.extend("fd00::98".parse::<Ipv6Addr>().unwrap().octets());
    let frames: Vec<Vec<u8>> = vec![
        synth::ethernet(b, me, 0x0806, &synth::arp(1, me, a4, MacAddr::ZERO, z4)),
        synth::ethernet(
            b,
            me,
            0x0800,
            &synth::ipv4(a4, z4, 6, 0x4000, &[], &synth::tcp(4000, 80, ACK, 0)),
        ),
        wakeproxy::core::frame::tcp_syn(me, b, a4, z4, 4001, 3389).as_slice().to_vec(),
        synth::ethernet(
            b,
            me,
            0x0800,
            &synth::ipv4(a4, z4, 17, 0, &[], &synth::udp(5000, 53, b"dns")),
        ),
        synth::ethernet(
            b,
            me,
            0x0800,
            &synth::ipv4(a4, z4, 17, 0, &[], &synth::udp(5000, 9, &payload[..n])),
        ),
        raw_magic[..raw_len].to_vec(),
        synth::ethernet(
            b,
            me,
            0x86dd,
            &synth::ipv6(
                "fd00::1".parse().unwrap(),
                "ff02::1:ff00:99".parse().unwrap(),
                58,
                255,
                &ns,
            ),
        ),
        synth::ethernet(
            b,
            me,
            0x86dd,
            &synth::ipv6("fd00::98".parse().unwrap(), "ff02::1".parse().unwrap(), 58, 255, &na),
        ),
        synth::ethernet(b, me, 0x0800, &synth::ipv4(a4, z4, 1, 0, &[], &[8, 0, 0, 0, 0, 1, 0, 1])),
    ];
    let sender = "import socket,sys\ns=socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('eth0', 0))\nfor h in sys.argv[1:]: s.send(bytes.fromhex(h))";
    let mut args = vec![
        "netns".to_owned(),
        "exec".to_owned(),
        lab.hosts[1].ns.clone(),
        "python3".to_owned(),
        "-c".to_owned(),
        sender.to_owned(),
    ];
    args.extend(frames.iter().map(|f| hex(f)));
    let sent = Command::new("ip").args(&args).output().unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));

    let out = capture.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "arp who-has 10.9.9.2 tell 10.9.9.1",
        "tcp syn 10.9.9.1:4001 -> 10.9.9.2:3389",
        "magic packet (udp) for 02:aa:00:00:00:01",
        "magic packet (ethertype 0x0842) for 02:aa:00:00:00:01",
        "ns who-has fd00::99",
        "na fd00::98 is-at",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // Exact descriptions: the interfaces' own duplicate address detection passes the filter too,
    // and a link-local address such as fe80::8053:… must not look like port 80 or 53.
    for unwanted in ["-> 10.9.9.2:80", "-> 10.9.9.2:53", "ipv4 proto 1 "] {
        assert!(!text.contains(unwanted), "the filter let `{unwanted}` through:\n{text}");
    }
}
