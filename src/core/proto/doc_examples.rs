//! Keeps the hex dumps in `docs/protocol.md` equal to what the encoder produces.
//!
//! Each dump follows a `<!-- wire-example: NAME -->` line as a fenced block of lines
//! `hex bytes  # comment`. The test re-encodes the example called NAME and compares bytes, so
//! the document cannot drift from the code. To regenerate the blocks (bytes and comments) after
//! a deliberate format change:
//!
//! ```text
//! WAKEPROXY_BLESS_DOCS=1 cargo test --lib proto::doc_examples
//! ```

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::core::addr::{MacAddr, NodeId};

const DOC: &str = include_str!("../../../docs/protocol.md");
const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md");
const MARKER: &str = "<!-- wire-example: ";

/// The documented example key: the 32 bytes 0x00, 0x01, …, 0x1f.
fn example_key() -> SiteKey {
    let secret: Vec<u8> = (0..32).collect();
    SiteKey::new(&secret).unwrap()
}

fn example_host() -> HostInfo {
    HostInfo {
        mac: MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
        ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(192, 168, 1, 23), len: 24 }],
        ipv6: vec![Ipv6Prefix {
            addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfe12, 0x3456),
            len: 64,
        }],
        tcp_ports: vec![22, 3389],
    }
}

/// The examples, by the name their marker uses.
fn examples() -> Vec<(&'static str, Header, Message)> {
    let sleeper = NodeId::from_u128(0xfedc_ba98_7654_3210_0123_4567_89ab_cdef);
    let sleeper_mac = MacAddr([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
    let msgs = [
        (
            "heartbeat",
            Message::Heartbeat(Heartbeat {
                host: example_host(),
                role: Role::Manager,
                term: 7,
                boot_time_s: 1_735_686_000,
                caps: Capabilities::CAN_PROXY,
                peers_heard: Some(5),
                claims: vec![sleeper],
                claims_complete: true,
            }),
        ),
        ("sleep-notice", Message::SleepNotice(example_host())),
        ("resume-notice", Message::ResumeNotice(example_host())),
        (
            "proxy-claim",
            Message::ProxyClaim(ProxyClaim {
                sleeper,
                sleeper_mac,
                term: 7,
                asleep_for_s: 3600,
                host: HostInfo {
                    mac: sleeper_mac,
                    ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(192, 168, 1, 40), len: 24 }],
                    ipv6: vec![],
                    tcp_ports: vec![445],
                },
            }),
        ),
        (
            "proxy-release",
            Message::ProxyRelease(ProxyRelease {
                sleeper,
                sleeper_mac,
                term: 7,
                reason: ReleaseReason::Woken,
            }),
        ),
        (
            "wake-request",
            Message::WakeRequest(WakeRequest {
                target: sleeper_mac,
                password: WakePassword::None,
                request_id: 42,
                reason: WakeReason::TcpSyn,
            }),
        ),
        ("leave", Message::Leave),
        (
            "sleeper-info",
            Message::SleeperInfo(SleeperInfo {
                sleeper,
                asleep_for_s: 3600,
                host: HostInfo {
                    mac: sleeper_mac,
                    ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(192, 168, 1, 40), len: 24 }],
                    ipv6: vec![],
                    tcp_ports: vec![445],
                },
            }),
        ),
    ];
    msgs.into_iter()
        .zip(1..)
        .map(|((name, msg), n)| {
            let header = Header {
                sender: NodeId::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
                // Started at 1735689500 s (in µs), this is its n-th message.
                seq: 1_735_689_500_000_000 + n,
                timestamp_ms: 1_735_689_600_123,
            };
            (name, header, msg)
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Field lengths and descriptions, in wire order, for the comments of a dump.
fn fields(header: &Header, msg: &Message, body_len: usize) -> Vec<(usize, String)> {
    let kind = msg.kind();
    let mut f = vec![
        (4, "magic \"WKPX\"".to_owned()),
        (1, format!("major version {VERSION_MAJOR}")),
        (1, format!("minor version {VERSION_MINOR}")),
        (1, format!("kind {} ({})", kind as u8, kind.name())),
        (1, "flags (reserved, 0)".to_owned()),
        (16, format!("sender node id {}", header.sender)),
        (8, format!("seq {}", header.seq)),
        (8, format!("timestamp_ms {}", header.timestamp_ms)),
        (2, format!("body_len {body_len}")),
    ];
    let host = |f: &mut Vec<(usize, String)>, h: &HostInfo| {
        f.push((6, format!("mac {}", h.mac)));
        f.push((1, format!("IPv4 count {}", h.ipv4.len())));
        for p in &h.ipv4 {
            f.push((4, format!("  address {}", p.addr)));
            f.push((1, format!("  prefix length {}", p.len)));
        }
        f.push((1, format!("IPv6 count {}", h.ipv6.len())));
        for p in &h.ipv6 {
            f.push((16, format!("  address {}", p.addr)));
            f.push((1, format!("  prefix length {}", p.len)));
        }
        f.push((2, format!("TCP port count {}", h.tcp_ports.len())));
        for p in &h.tcp_ports {
            f.push((2, format!("  port {p}")));
        }
    };
    match msg {
        Message::Heartbeat(hb) => {
            f.push((1, format!("role {} ({:?})", hb.role as u8, hb.role)));
            f.push((1, format!("caps {:#04x}", hb.caps.0)));
            f.push((8, format!("term {}", hb.term)));
            f.push((8, format!("boot_time_s {}", hb.boot_time_s)));
            host(&mut f, &hb.host);
            let heard = hb.peers_heard.map_or("unknown".to_owned(), |n| n.to_string());
            f.push((2, format!("peers_heard {heard} (v1.1)")));
            f.push((1, format!("claims complete: {} (v1.1)", u8::from(hb.claims_complete))));
            f.push((2, format!("claim count {} (v1.1)", hb.claims.len())));
            for id in &hb.claims {
                f.push((16, format!("  claimed sleeper {id}")));
            }
        }
        Message::SleepNotice(h) | Message::ResumeNotice(h) => host(&mut f, h),
        Message::ProxyClaim(c) => {
            f.push((16, format!("sleeper node id {}", c.sleeper)));
            f.push((6, format!("sleeper mac {}", c.sleeper_mac)));
            f.push((8, format!("term {}", c.term)));
            f.push((4, format!("asleep_for_s {} (v1.1)", c.asleep_for_s)));
            f.push((0, "the sleeper's host info (v1.1):".to_owned()));
            host(&mut f, &c.host);
        }
        Message::ProxyRelease(r) => {
            f.push((16, format!("sleeper node id {}", r.sleeper)));
            f.push((6, format!("sleeper mac {}", r.sleeper_mac)));
            f.push((8, format!("term {}", r.term)));
            f.push((1, format!("reason {} ({:?})", r.reason.to_u8(), r.reason)));
        }
        Message::WakeRequest(w) => {
            f.push((6, format!("target mac {}", w.target)));
            f.push((4, format!("request_id {}", w.request_id)));
            f.push((1, format!("reason {} ({:?})", w.reason.to_u8(), w.reason)));
            f.push((1, format!("password length {}", w.password.as_bytes().len())));
            if !w.password.as_bytes().is_empty() {
                f.push((w.password.as_bytes().len(), "password".to_owned()));
            }
        }
        Message::Leave => {}
        Message::SleeperInfo(i) => {
            f.push((16, format!("sleeper node id {}", i.sleeper)));
            f.push((4, format!("asleep_for_s {}", i.asleep_for_s)));
            host(&mut f, &i.host);
        }
    }
    f.push((TAG_LEN, "tag: HMAC-SHA256(key, all bytes above), leftmost 16".to_owned()));
    f
}

/// The fenced block for one example: one field per line, 16 bytes at most per line.
fn render(header: &Header, msg: &Message) -> String {
    let mut bytes = Vec::new();
    encode(&example_key(), header, msg, &mut bytes).unwrap();
    let mut rest = bytes.as_slice();
    let mut out = String::from("```text\n");
    for (len, what) in fields(header, msg, bytes.len() - MIN_DATAGRAM) {
        let (field, tail) = rest.split_at(len);
        rest = tail;
        if field.is_empty() {
            writeln!(out, "{:<47}  # {what}", "").unwrap();
        }
        for (i, line) in field.chunks(16).enumerate() {
            if i == 0 {
                writeln!(out, "{:<47}  # {what}", hex(line)).unwrap();
            } else {
                writeln!(out, "{}", hex(line)).unwrap();
            }
        }
    }
    assert!(rest.is_empty(), "the field list does not cover the datagram");
    out.push_str("```\n");
    out
}

/// `(name, bytes)` of every marked block in `doc`.
fn documented(doc: &str) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix(MARKER) else {
            continue;
        };
        let name = rest.trim_end_matches("-->").trim().to_owned();
        assert!(lines.next().is_some_and(|l| l.starts_with("```")), "{name}: no fenced block");
        let mut bytes = Vec::new();
        for l in lines.by_ref().take_while(|l| !l.starts_with("```")) {
            let data = l.split('#').next().unwrap_or("");
            for tok in data.split_whitespace() {
                let b = u8::from_str_radix(tok, 16);
                assert!(tok.len() == 2 && b.is_ok(), "{name}: `{tok}` is not a hex byte in `{l}`");
                bytes.push(b.unwrap());
            }
        }
        found.push((name, bytes));
    }
    found
}

#[test]
fn protocol_md_hex_dumps_match_the_encoder() {
    if std::env::var_os("WAKEPROXY_BLESS_DOCS").is_some() {
        bless();
        return;
    }
    let docs = documented(DOC);
    let examples = examples();
    let doc_names: Vec<_> = docs.iter().map(|(n, _)| n.as_str()).collect();
    let code_names: Vec<_> = examples.iter().map(|(n, ..)| *n).collect();
    assert_eq!(doc_names, code_names, "docs/protocol.md and the examples list different kinds");
    for ((name, want), (_, header, msg)) in docs.iter().zip(&examples) {
        let mut got = Vec::new();
        encode(&example_key(), header, msg, &mut got).unwrap();
        assert!(
            *want == got,
            "docs/protocol.md example `{name}` differs from the encoder:\n doc: {}\ncode: {}\n\
             regenerate with WAKEPROXY_BLESS_DOCS=1 cargo test --lib proto::doc_examples",
            hex(want),
            hex(&got),
        );
        assert_eq!(decode(&example_key(), want), Ok(Decoded::Message(*header, msg.clone())));
    }
}

/// Rewrites every marked block of docs/protocol.md from the encoder.
fn bless() {
    let doc = std::fs::read_to_string(DOC_PATH).unwrap();
    let examples = examples();
    let mut out = String::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let Some(rest) = line.trim().strip_prefix(MARKER) else {
            continue;
        };
        let name = rest.trim_end_matches("-->").trim();
        let (_, header, msg) = examples.iter().find(|(n, ..)| *n == name).unwrap();
        // Skip the old block, opening and closing fences included.
        let mut fences = 0;
        for l in lines.by_ref() {
            fences += usize::from(l.starts_with("```"));
            if fences == 2 {
                break;
            }
        }
        out.push_str(&render(header, msg));
    }
    std::fs::write(DOC_PATH, out).unwrap();
}
