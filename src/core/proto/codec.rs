//! Message bodies: [`Message`] values to bytes and back.
//!
//! Contract: `decode_body` reads through a [`Reader`] whose every read is bounds-checked, so no
//! input can make it panic; a list count is checked against both its protocol limit and the
//! bytes left before anything is allocated, so a hostile count costs nothing. `encode_body`
//! checks limits before writing and writes nothing on error. The envelope (header, tag, total
//! size) is `envelope`'s business.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, EncodeError};
use super::message::{
    Capabilities, Heartbeat, HostInfo, Ipv4Prefix, Ipv6Prefix, Message, MessageKind, ProxyClaim,
    ProxyRelease, ReleaseReason, Role, SleeperInfo, WakePassword, WakeReason, WakeRequest,
};
use super::{MAX_IPV4, MAX_IPV6, MAX_TCP_PORTS, VERSION_MINOR};
use crate::core::addr::{MacAddr, NodeId};

/// Wire size of one IPv4 list item: address and prefix length.
const IPV4_ITEM: usize = 4 + 1;
/// Wire size of one IPv6 list item: address and prefix length.
const IPV6_ITEM: usize = 16 + 1;
/// Wire size of one TCP port.
const PORT_ITEM: usize = 2;

/// `peers_heard` on the wire when the sender does not say (never sent by v1.1).
const PEERS_HEARD_UNKNOWN: u16 = u16::MAX;
/// Wire size of one claimed sleeper in a heartbeat.
const CLAIM_ITEM: usize = 16;
/// Most claims one heartbeat lists (the datagram limit allows fewer with a full host info).
pub const MAX_CLAIMS: usize = 80;

/// Appends the body of `msg` to `out`. On error `out` is unchanged.
pub(crate) fn encode_body(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match msg {
        Message::Heartbeat(hb) => {
            check_host(&hb.host)?;
            out.push(hb.role as u8);
            out.push(hb.caps.0);
            out.extend_from_slice(&hb.term.to_be_bytes());
            out.extend_from_slice(&hb.boot_time_s.to_be_bytes());
            if hb.claims.len() > MAX_CLAIMS {
                return Err(EncodeError::TooMany {
                    what: "claims",
                    count: hb.claims.len(),
                    max: MAX_CLAIMS,
                });
            }
            put_host(&hb.host, out);
            out.extend_from_slice(&hb.peers_heard.unwrap_or(PEERS_HEARD_UNKNOWN).to_be_bytes());
            out.push(u8::from(hb.claims_complete));
            // Lossless: bounded by MAX_CLAIMS above.
            out.extend_from_slice(&(hb.claims.len() as u16).to_be_bytes());
            for id in &hb.claims {
                out.extend_from_slice(&id.0);
            }
        }
        Message::SleepNotice(host) | Message::ResumeNotice(host) => {
            check_host(host)?;
            put_host(host, out);
        }
        Message::ProxyClaim(c) => {
            check_host(&c.host)?;
            out.extend_from_slice(&c.sleeper.0);
            out.extend_from_slice(&c.sleeper_mac.0);
            out.extend_from_slice(&c.term.to_be_bytes());
            out.extend_from_slice(&c.asleep_for_s.to_be_bytes());
            put_host(&c.host, out);
        }
        Message::ProxyRelease(r) => {
            out.extend_from_slice(&r.sleeper.0);
            out.extend_from_slice(&r.sleeper_mac.0);
            out.extend_from_slice(&r.term.to_be_bytes());
            out.push(r.reason.to_u8());
        }
        Message::WakeRequest(w) => {
            out.extend_from_slice(&w.target.0);
            out.extend_from_slice(&w.request_id.to_be_bytes());
            out.push(w.reason.to_u8());
            let pw = w.password.as_bytes();
            // 0, 4 or 6: the enum admits nothing else.
            out.push(pw.len() as u8);
            out.extend_from_slice(pw);
        }
        Message::Leave => {}
        Message::SleeperInfo(i) => {
            check_host(&i.host)?;
            out.extend_from_slice(&i.sleeper.0);
            out.extend_from_slice(&i.asleep_for_s.to_be_bytes());
            put_host(&i.host, out);
        }
    }
    Ok(())
}

/// Every limit `put_host` relies on, checked before the first byte is written.
fn check_host(host: &HostInfo) -> Result<(), EncodeError> {
    let lists = [
        ("IPv4 prefixes", host.ipv4.len(), MAX_IPV4),
        ("IPv6 prefixes", host.ipv6.len(), MAX_IPV6),
        ("TCP wake ports", host.tcp_ports.len(), MAX_TCP_PORTS),
    ];
    for (what, count, max) in lists {
        if count > max {
            return Err(EncodeError::TooMany { what, count, max });
        }
    }
    let v4 = host.ipv4.iter().map(|p| (p.len, 32));
    let v6 = host.ipv6.iter().map(|p| (p.len, 128));
    match v4.chain(v6).find(|&(len, max)| len > max) {
        Some((len, max)) => Err(EncodeError::InvalidPrefix { len, max }),
        None => Ok(()),
    }
}

impl HostInfo {
    /// How many bytes [`put_host`] writes for this host, ports left out (a sender that must fit
    /// a datagram sizes the rest from it): MAC, the two prefix lists, the port count.
    pub fn encoded_len_without_ports(&self) -> usize {
        6 + 1 + 5 * self.ipv4.len() + 1 + 17 * self.ipv6.len() + 2
    }
}

// The count casts are lossless: `check_host` bounded every list.
fn put_host(host: &HostInfo, out: &mut Vec<u8>) {
    out.extend_from_slice(&host.mac.0);
    out.push(host.ipv4.len() as u8);
    for p in &host.ipv4 {
        out.extend_from_slice(&p.addr.octets());
        out.push(p.len);
    }
    out.push(host.ipv6.len() as u8);
    for p in &host.ipv6 {
        out.extend_from_slice(&p.addr.octets());
        out.push(p.len);
    }
    out.extend_from_slice(&(host.tcp_ports.len() as u16).to_be_bytes());
    for port in &host.tcp_ports {
        out.extend_from_slice(&port.to_be_bytes());
    }
}

/// Parses the body of an authenticated message of a known kind, sent by a node speaking minor
/// version `minor` of major 1.
///
/// Fields appended by v1.1 are read from senders of minor 1 and later (and must be there);
/// from a v1.0 sender they take their documented defaults. A sender with a newer minor version
/// than ours may append more fields, which are skipped.
pub(crate) fn decode_body(
    kind: MessageKind,
    body: &[u8],
    minor: u8,
) -> Result<Message, DecodeError> {
    let allow_trailing = minor > VERSION_MINOR;
    let v1_1 = minor >= 1;
    let mut r = Reader { rest: body, kind: kind as u8 };
    let msg = match kind {
        MessageKind::Heartbeat => {
            let role = r.u8("body ends before the role")?;
            let role = Role::from_u8(role).ok_or(r.malformed("unknown role"))?;
            let caps = Capabilities(r.u8("body ends before the capabilities")?);
            let term = r.u64("body ends inside the term")?;
            let boot_time_s = r.u64("body ends inside the boot time")?;
            let host = get_host(&mut r)?;
            let (peers_heard, claims, claims_complete) = if v1_1 {
                let heard = Some(r.u16("body ends inside the count of peers heard")?)
                    .filter(|&n| n != PEERS_HEARD_UNKNOWN);
                let complete = match r.u8("body ends before the claims flag")? {
                    0 => false,
                    1 => true,
                    _ => return Err(r.malformed("claims flag not 0 or 1")),
                };
                let n = r.u16("body ends inside the claim count")?.into();
                r.check_count(n, CLAIM_ITEM, MAX_CLAIMS, "more claims than the protocol allows")?;
                let mut claims = Vec::with_capacity(n);
                for _ in 0..n {
                    claims.push(NodeId(r.array("body ends inside a claimed sleeper's id")?));
                }
                (heard, claims, complete)
            } else {
                // A v1.0 heartbeat says nothing of its sender's claims.
                (None, Vec::new(), false)
            };
            Message::Heartbeat(Heartbeat {
                host,
                role,
                term,
                boot_time_s,
                caps,
                peers_heard,
                claims,
                claims_complete,
            })
        }
        MessageKind::SleepNotice => Message::SleepNotice(get_host(&mut r)?),
        MessageKind::ResumeNotice => Message::ResumeNotice(get_host(&mut r)?),
        MessageKind::ProxyClaim => {
            let sleeper = NodeId(r.array("body ends inside the sleeper's node id")?);
            let sleeper_mac = MacAddr(r.array("body ends inside the sleeper's MAC")?);
            let term = r.u64("body ends inside the term")?;
            let (asleep_for_s, host) = if v1_1 {
                (r.u32("body ends inside the sleep duration")?, get_host(&mut r)?)
            } else {
                (0, HostInfo { mac: sleeper_mac, ..HostInfo::default() })
            };
            Message::ProxyClaim(ProxyClaim { sleeper, sleeper_mac, term, asleep_for_s, host })
        }
        MessageKind::ProxyRelease => {
            let sleeper = NodeId(r.array("body ends inside the sleeper's node id")?);
            let sleeper_mac = MacAddr(r.array("body ends inside the sleeper's MAC")?);
            let term = r.u64("body ends inside the term")?;
            let reason = ReleaseReason::from_u8(r.u8("body ends before the release reason")?);
            Message::ProxyRelease(ProxyRelease { sleeper, sleeper_mac, term, reason })
        }
        MessageKind::WakeRequest => {
            let target = MacAddr(r.array("body ends inside the target MAC")?);
            let request_id = r.u32("body ends inside the request id")?;
            let reason = WakeReason::from_u8(r.u8("body ends before the wake reason")?);
            let password = match r.u8("body ends before the password length")? {
                0 => WakePassword::None,
                4 => WakePassword::Four(r.array("body ends inside the password")?),
                6 => WakePassword::Six(r.array("body ends inside the password")?),
                _ => return Err(r.malformed("SecureOn password length not 0, 4 or 6")),
            };
            Message::WakeRequest(WakeRequest { target, password, request_id, reason })
        }
        MessageKind::Leave => Message::Leave,
        MessageKind::SleeperInfo => {
            let sleeper = NodeId(r.array("body ends inside the sleeper's node id")?);
            let asleep_for_s = r.u32("body ends inside the sleep duration")?;
            let host = get_host(&mut r)?;
            Message::SleeperInfo(SleeperInfo { sleeper, asleep_for_s, host })
        }
    };
    if !allow_trailing && !r.rest.is_empty() {
        return Err(r.malformed("bytes after the last field"));
    }
    Ok(msg)
}

fn get_host(r: &mut Reader<'_>) -> Result<HostInfo, DecodeError> {
    let mac = MacAddr(r.array("body ends inside the MAC")?);

    let n = r.u8("body ends before the IPv4 count")?.into();
    r.check_count(n, IPV4_ITEM, MAX_IPV4, "more IPv4 prefixes than the protocol allows")?;
    let mut ipv4 = Vec::with_capacity(n);
    for _ in 0..n {
        let addr = Ipv4Addr::from(r.array::<4>("body ends inside an IPv4 prefix")?);
        let len = r.u8("body ends inside an IPv4 prefix")?;
        if len > 32 {
            return Err(r.malformed("IPv4 prefix length above 32"));
        }
        ipv4.push(Ipv4Prefix { addr, len });
    }

    let n = r.u8("body ends before the IPv6 count")?.into();
    r.check_count(n, IPV6_ITEM, MAX_IPV6, "more IPv6 prefixes than the protocol allows")?;
    let mut ipv6 = Vec::with_capacity(n);
    for _ in 0..n {
        let addr = Ipv6Addr::from(r.array::<16>("body ends inside an IPv6 prefix")?);
        let len = r.u8("body ends inside an IPv6 prefix")?;
        if len > 128 {
            return Err(r.malformed("IPv6 prefix length above 128"));
        }
        ipv6.push(Ipv6Prefix { addr, len });
    }

    let n = r.u16("body ends inside the TCP port count")?.into();
    r.check_count(n, PORT_ITEM, MAX_TCP_PORTS, "more TCP wake ports than the protocol allows")?;
    let mut tcp_ports = Vec::with_capacity(n);
    for _ in 0..n {
        tcp_ports.push(r.u16("body ends inside the TCP port list")?);
    }

    Ok(HostInfo { mac, ipv4, ipv6, tcp_ports })
}

/// A cursor over untrusted bytes whose reads fail instead of panicking.
///
/// Each read names what it was reading, which becomes the `what` of the `Malformed` error.
struct Reader<'a> {
    rest: &'a [u8],
    kind: u8,
}

impl Reader<'_> {
    fn malformed(&self, what: &'static str) -> DecodeError {
        DecodeError::Malformed { kind: self.kind, what }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.rest = rest;
                Ok(*head)
            }
            None => Err(self.malformed(what)),
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(what).map(u8::from_be_bytes)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.array(what).map(u16::from_be_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.array(what).map(u64::from_be_bytes)
    }

    /// Rejects a list count above `max`, or one the remaining bytes cannot hold, so the caller
    /// may allocate `count` items.
    fn check_count(
        &self,
        count: usize,
        item_len: usize,
        max: usize,
        too_many: &'static str,
    ) -> Result<(), DecodeError> {
        if count > max {
            return Err(self.malformed(too_many));
        }
        if count * item_len > self.rest.len() {
            return Err(self.malformed("list count exceeds the bytes that follow"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_encoded_length_is_what_put_host_writes() {
        let mut h = host();
        let mut out = Vec::new();
        put_host(&h, &mut out);
        assert_eq!(out.len(), h.encoded_len_without_ports() + 2 * h.tcp_ports.len());
        h.tcp_ports.clear();
        out.clear();
        put_host(&h, &mut out);
        assert_eq!(out.len(), h.encoded_len_without_ports());
    }

    fn host() -> HostInfo {
        HostInfo {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            ipv4: vec![Ipv4Prefix { addr: Ipv4Addr::new(10, 0, 0, 1), len: 24 }],
            ipv6: vec![],
            tcp_ports: vec![22],
        }
    }

    fn body(msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode_body(msg, &mut out).unwrap();
        out
    }

    fn malformed(kind: MessageKind, body: &[u8]) -> &'static str {
        match decode_body(kind, body, VERSION_MINOR) {
            Err(DecodeError::Malformed { kind: k, what }) => {
                assert_eq!(k, kind as u8);
                what
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn every_truncation_of_every_body_is_malformed() {
        let msgs = [
            Message::Heartbeat(Heartbeat { host: host(), ..Heartbeat::default() }),
            Message::SleepNotice(host()),
            Message::ProxyClaim(ProxyClaim::default()),
            Message::ProxyClaim(ProxyClaim { asleep_for_s: 7, host: host(), ..Default::default() }),
            Message::SleeperInfo(SleeperInfo {
                asleep_for_s: 9,
                host: host(),
                ..Default::default()
            }),
            Message::Heartbeat(Heartbeat { peers_heard: Some(3), ..Heartbeat::default() }),
            Message::Heartbeat(Heartbeat {
                claims: vec![NodeId::from_u128(1), NodeId::from_u128(2)],
                claims_complete: true,
                ..Heartbeat::default()
            }),
            Message::ProxyRelease(ProxyRelease {
                sleeper: NodeId::default(),
                sleeper_mac: MacAddr::ZERO,
                term: 1,
                reason: ReleaseReason::Woken,
            }),
            Message::WakeRequest(WakeRequest {
                target: MacAddr::BROADCAST,
                password: WakePassword::Six([1; 6]),
                request_id: 9,
                reason: WakeReason::Operator,
            }),
        ];
        for msg in msgs {
            let b = body(&msg);
            assert_eq!(decode_body(msg.kind(), &b, VERSION_MINOR).unwrap(), msg);
            for cut in 0..b.len() {
                malformed(msg.kind(), &b[..cut]);
            }
        }
    }

    #[test]
    fn trailing_bytes_only_with_allow_trailing() {
        let mut b = body(&Message::SleepNotice(host()));
        b.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(malformed(MessageKind::SleepNotice, &b), "bytes after the last field");
        let msg = decode_body(MessageKind::SleepNotice, &b, VERSION_MINOR + 1).unwrap();
        assert_eq!(msg, Message::SleepNotice(host()));
        assert_eq!(malformed(MessageKind::Leave, &[0]), "bytes after the last field");
    }

    #[test]
    fn v1_0_bodies_decode_with_the_v1_1_fields_defaulted() {
        // A v1.0 heartbeat ends after the host info; a v1.0 claim after the term.
        let claimed = vec![NodeId::from_u128(7)];
        let hb = Heartbeat {
            host: host(),
            peers_heard: Some(2),
            claims: claimed,
            claims_complete: true,
            ..Heartbeat::default()
        };
        let mut b = body(&Message::Heartbeat(hb.clone()));
        b.truncate(b.len() - 2 - 1 - 2 - 16);
        let old = decode_body(MessageKind::Heartbeat, &b, 0).unwrap();
        let want = Heartbeat { peers_heard: None, claims: vec![], claims_complete: false, ..hb };
        assert_eq!(old, Message::Heartbeat(want));

        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        let claim = ProxyClaim {
            sleeper_mac: mac,
            term: 4,
            asleep_for_s: 60,
            host: host(),
            ..Default::default()
        };
        let b = body(&Message::ProxyClaim(claim.clone()));
        let old = decode_body(MessageKind::ProxyClaim, &b[..30], 0).unwrap();
        let want = ProxyClaim {
            asleep_for_s: 0,
            host: HostInfo { mac, ..HostInfo::default() },
            ..claim.clone()
        };
        assert_eq!(old, Message::ProxyClaim(want));
        // From a v1.1 sender the appended fields must be there.
        assert_eq!(
            malformed(MessageKind::ProxyClaim, &b[..30]),
            "body ends inside the sleep duration"
        );
    }

    #[test]
    fn a_heartbeats_claims_flag_and_count_are_checked() {
        let hb = Heartbeat { claims: vec![NodeId::from_u128(1)], ..Heartbeat::default() };
        let mut b = body(&Message::Heartbeat(hb));
        let flag = b.len() - 2 - 16 - 1;
        b[flag] = 2;
        assert_eq!(malformed(MessageKind::Heartbeat, &b), "claims flag not 0 or 1");
        b[flag] = 1;
        b[flag + 2] = 2; // two claims announced, one present
        assert_eq!(
            malformed(MessageKind::Heartbeat, &b),
            "list count exceeds the bytes that follow"
        );
        let too_many =
            Heartbeat { claims: vec![NodeId::default(); MAX_CLAIMS + 1], ..Heartbeat::default() };
        let err = encode_body(&Message::Heartbeat(too_many), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, EncodeError::TooMany { what: "claims", .. }));
    }

    #[test]
    fn peers_heard_unknown_is_0xffff_on_the_wire() {
        let hb = Heartbeat { host: host(), peers_heard: None, ..Heartbeat::default() };
        let b = body(&Message::Heartbeat(hb.clone()));
        // peers_heard, then the claims flag and an empty list.
        assert_eq!(b[b.len() - 5..], [0xff, 0xff, 0, 0, 0]);
        assert_eq!(decode_body(MessageKind::Heartbeat, &b, 1).unwrap(), Message::Heartbeat(hb));
    }

    #[test]
    fn counts_beyond_the_buffer_are_rejected() {
        // MAC, then 16 IPv4 prefixes announced but none present.
        let b = [0, 0, 0, 0, 0, 0, 16];
        let what = malformed(MessageKind::SleepNotice, &b);
        assert_eq!(what, "list count exceeds the bytes that follow");
        // 512 ports announced (the maximum), 2 present.
        let b = [0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0, 22];
        let what = malformed(MessageKind::SleepNotice, &b);
        assert_eq!(what, "list count exceeds the bytes that follow");
    }

    #[test]
    fn counts_above_the_limit_are_rejected() {
        let b = [0, 0, 0, 0, 0, 0, 17];
        let what = malformed(MessageKind::SleepNotice, &b);
        assert_eq!(what, "more IPv4 prefixes than the protocol allows");
        let b = [0, 0, 0, 0, 0, 0, 0, 17];
        let what = malformed(MessageKind::SleepNotice, &b);
        assert_eq!(what, "more IPv6 prefixes than the protocol allows");
        let b = [0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x01];
        let what = malformed(MessageKind::SleepNotice, &b);
        assert_eq!(what, "more TCP wake ports than the protocol allows");
    }

    #[test]
    fn bad_field_values_are_rejected() {
        let mut b = body(&Message::SleepNotice(host()));
        b[11] = 33; // the IPv4 prefix length
        assert_eq!(malformed(MessageKind::SleepNotice, &b), "IPv4 prefix length above 32");

        let mut h = host();
        h.ipv4.clear();
        h.ipv6.push(Ipv6Prefix { addr: Ipv6Addr::LOCALHOST, len: 128 });
        let mut b = body(&Message::SleepNotice(h));
        b[24] = 129;
        assert_eq!(malformed(MessageKind::SleepNotice, &b), "IPv6 prefix length above 128");

        let mut b = body(&Message::Heartbeat(Heartbeat::default()));
        b[0] = 3;
        assert_eq!(malformed(MessageKind::Heartbeat, &b), "unknown role");

        let mut b = body(&Message::WakeRequest(WakeRequest {
            target: MacAddr::ZERO,
            password: WakePassword::None,
            request_id: 0,
            reason: WakeReason::Other(0),
        }));
        b[11] = 5;
        b.extend_from_slice(&[0; 5]);
        let what = malformed(MessageKind::WakeRequest, &b);
        assert_eq!(what, "SecureOn password length not 0, 4 or 6");
    }

    #[test]
    fn encoder_checks_limits_before_writing() {
        let mut h = host();
        h.ipv4 = vec![Ipv4Prefix { addr: Ipv4Addr::UNSPECIFIED, len: 0 }; MAX_IPV4 + 1];
        let mut out = vec![0xaa];
        let err = encode_body(&Message::SleepNotice(h), &mut out).unwrap_err();
        let want = EncodeError::TooMany { what: "IPv4 prefixes", count: 17, max: 16 };
        assert_eq!(err, want);
        assert_eq!(out, [0xaa]);

        let mut h = host();
        h.tcp_ports = vec![1; MAX_TCP_PORTS + 1];
        let err = encode_body(&Message::ResumeNotice(h), &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::TooMany { what: "TCP wake ports", count: 513, .. }));

        let mut h = host();
        h.ipv6 = vec![Ipv6Prefix { addr: Ipv6Addr::UNSPECIFIED, len: 0 }; MAX_IPV6 + 1];
        let err = encode_body(&Message::ResumeNotice(h), &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::TooMany { what: "IPv6 prefixes", count: 17, .. }));

        let mut h = host();
        h.ipv6.push(Ipv6Prefix { addr: Ipv6Addr::LOCALHOST, len: 129 });
        let err = encode_body(&Message::SleepNotice(h), &mut out).unwrap_err();
        assert_eq!(err, EncodeError::InvalidPrefix { len: 129, max: 128 });
        assert_eq!(out, [0xaa]);
    }
}
