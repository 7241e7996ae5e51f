//! The control protocol: newline-delimited JSON, versioned. No I/O here.
//!
//! Every line is one JSON object with `"v"`, the protocol version ([`CTL_VERSION`]).
//!
//! | request | reply `data` |
//! |---|---|
//! | `{"v":1,"cmd":"status"}` | [`DaemonStatus`] |
//! | `{"v":1,"cmd":"peers"}` | the interfaces with their peers: `[IfaceStatus, …]` |
//! | `{"v":1,"cmd":"events"}` | the recent events, oldest first: `[{"event":…}, …]` |
//! | `{"v":1,"cmd":"events","follow":true}` | one reply line per event, history first, until the client closes |
//! | `{"v":1,"cmd":"wake","target":"aa:bb:cc:dd:ee:ff"\|"10.0.0.5"\|"host","password":null}` | what the daemon did |
//! | `{"v":1,"cmd":"sleep-notice"}`, `{"v":1,"cmd":"resume-notice"}` | what the daemon did |
//! | `{"v":1,"cmd":"reload"}` | [`ReloadReply`]: the daemon re-read its key file (only the key) |
//!
//! A reply is `{"v":1,"ok":true,"data":…}` or `{"v":1,"ok":false,"error":"…"}`. A request line
//! that is not JSON, not a known command or of another version gets an error reply and the
//! connection stays usable; a line longer than [`MAX_REQUEST_LINE`] gets an error reply and the
//! connection is closed. Unknown fields are ignored, so a later minor revision can add optional
//! fields without a version change.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::VERSION_HINT;
use crate::core::node::Status;

/// The version of the control protocol this build speaks.
pub const CTL_VERSION: u32 = 1;

/// The longest request line the daemon reads (64 KiB, newline not counted).
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// The longest reply line the client reads (16 MiB): a `status` of a large subnet is big.
pub const MAX_REPLY_LINE: usize = 16 * 1024 * 1024;

/// How much of an offending line an error message quotes.
const QUOTE_CHARS: usize = 80;

/// The commands, as they are spelled on the wire.
const COMMANDS: [&str; 7] =
    ["status", "peers", "events", "wake", "sleep-notice", "resume-notice", "reload"];

/// One request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Everything about the daemon and its node: [`DaemonStatus`].
    Status,
    /// The peers on every interface.
    Peers,
    /// The recent events; with `follow`, then every new event until the client closes.
    Events {
        /// Keep the connection open and stream new events.
        #[serde(default)]
        follow: bool,
    },
    /// Wake a host.
    Wake {
        /// A MAC address or an IP address (the command line resolves a host name before it asks:
        /// a slow DNS server never stalls the daemon).
        target: String,
        /// A SecureOn password (4 or 6 bytes, written as an IPv4 or MAC address), if the target
        /// needs one.
        #[serde(default)]
        password: Option<String>,
    },
    /// This host is about to sleep (sent by the OS's sleep hook).
    SleepNotice,
    /// This host has resumed (sent by the OS's resume hook).
    ResumeNotice,
    /// Re-read the site key file (and nothing else): [`ReloadReply`]. On failure the daemon
    /// keeps the key it has.
    Reload,
}

impl std::fmt::Debug for Request {
    /// Like the derived form, but never shows a wake password (requests end up in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wake { target, password } => f
                .debug_struct("Wake")
                .field("target", target)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
            Self::Events { follow } => f.debug_struct("Events").field("follow", follow).finish(),
            Self::Status => f.write_str("Status"),
            Self::Peers => f.write_str("Peers"),
            Self::SleepNotice => f.write_str("SleepNotice"),
            Self::ResumeNotice => f.write_str("ResumeNotice"),
            Self::Reload => f.write_str("Reload"),
        }
    }
}

impl Request {
    /// The command as it is spelled on the wire and on the command line.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Peers => "peers",
            Self::Events { .. } => "events",
            Self::Wake { .. } => "wake",
            Self::SleepNotice => "sleep-notice",
            Self::ResumeNotice => "resume-notice",
            Self::Reload => "reload",
        }
    }

    /// True if the request only reads: anyone who may open the socket may send it. The others
    /// change state or send packets and need root (see [`super::authorize`]).
    pub const fn is_read_only(&self) -> bool {
        matches!(self, Self::Status | Self::Peers | Self::Events { .. })
    }

    /// The request as one line (without the newline): `{"v":1,"cmd":…}`.
    pub fn to_line(&self) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            v: u32,
            #[serde(flatten)]
            request: &'a Request,
        }
        serde_json::to_string(&Envelope { v: CTL_VERSION, request: self })
            // Unreachable: a Request has only strings, booleans and nulls.
            .unwrap_or_else(|_| format!(r#"{{"v":{CTL_VERSION},"cmd":"{}"}}"#, self.name()))
    }

    /// Parses one request line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Self, ProtocolError> {
        let value: Value = serde_json::from_slice(line).map_err(|e| ProtocolError::NotJson {
            quoted: quote_bytes(line),
            detail: e.to_string(),
        })?;
        let Value::Object(mut map) = value else {
            return Err(ProtocolError::NotAnObject { quoted: quote_bytes(line) });
        };
        match map.remove("v") {
            None => return Err(ProtocolError::MissingVersion),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v == u64::from(CTL_VERSION) => {}
                Some(v) => {
                    return Err(ProtocolError::ClientVersion { client: v, daemon: CTL_VERSION });
                }
                None => return Err(ProtocolError::BadVersion { quoted: quote(&n.to_string()) }),
            },
            Some(other) => {
                return Err(ProtocolError::BadVersion { quoted: quote(&other.to_string()) });
            }
        }
        let cmd = match map.get("cmd") {
            None => return Err(ProtocolError::MissingCommand),
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(ProtocolError::UnknownCommand { quoted: quote(&other.to_string()) });
            }
        };
        let Some(&cmd) = COMMANDS.iter().find(|&&c| c == cmd) else {
            return Err(ProtocolError::UnknownCommand { quoted: quote(cmd) });
        };
        let request: Self = serde_json::from_value(Value::Object(map))
            .map_err(|e| ProtocolError::BadRequest { cmd, detail: e.to_string() })?;
        if matches!(&request, Self::Wake { target, .. } if target.trim().is_empty()) {
            return Err(ProtocolError::BadRequest {
                cmd,
                detail: "the target is empty: give a MAC (aa:bb:cc:dd:ee:ff), an IPv4 address \
                         or a host name"
                    .into(),
            });
        }
        Ok(request)
    }
}

/// A request or reply line that breaks the protocol. The daemon sends the message back as the
/// error reply; the client reports it. Each says what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The line is not JSON.
    #[error(
        "request is not JSON ({detail}): {quoted}; send one JSON object per line, \
         e.g. {{\"v\":1,\"cmd\":\"status\"}}"
    )]
    NotJson {
        /// The start of the line, quoted.
        quoted: String,
        /// What the parser said.
        detail: String,
    },
    /// The line is JSON but not an object.
    #[error("request is not a JSON object: {quoted}; send e.g. {{\"v\":1,\"cmd\":\"status\"}}")]
    NotAnObject {
        /// The start of the line, quoted.
        quoted: String,
    },
    /// No `"v"` field.
    #[error("request has no \"v\" field: send {{\"v\":1,\"cmd\":…}}")]
    MissingVersion,
    /// `"v"` is not a non-negative integer.
    #[error("request field \"v\" is {quoted}, not a version number: send {{\"v\":1,\"cmd\":…}}")]
    BadVersion {
        /// The value, quoted.
        quoted: String,
    },
    /// The client speaks another version than the daemon.
    #[error("client speaks control protocol v{client}, this daemon v{daemon}: {hint}", hint = VERSION_HINT)]
    ClientVersion {
        /// The version the client sent.
        client: u64,
        /// The daemon's version.
        daemon: u32,
    },
    /// The daemon speaks another version than the client.
    #[error("daemon speaks control protocol v{daemon}, this client v{client}: {hint}", hint = VERSION_HINT)]
    DaemonVersion {
        /// The daemon's version.
        daemon: u64,
        /// The client's version.
        client: u32,
    },
    /// No `"cmd"` field.
    #[error("request has no \"cmd\" field: known commands are {}", COMMANDS.join(", "))]
    MissingCommand,
    /// `"cmd"` names no known command.
    #[error("unknown command {quoted}: known commands are {}", COMMANDS.join(", "))]
    UnknownCommand {
        /// The command, quoted.
        quoted: String,
    },
    /// A known command with missing or ill-typed fields.
    #[error("bad `{cmd}` request: {detail}")]
    BadRequest {
        /// The command.
        cmd: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A request line longer than [`MAX_REQUEST_LINE`].
    #[error(
        "request line longer than {max} bytes: the control protocol allows one JSON object of at \
         most 64 KiB per line; closing the connection"
    )]
    RequestTooLong {
        /// The limit.
        max: usize,
    },
    /// A reply line longer than [`MAX_REPLY_LINE`].
    #[error("the daemon's reply is longer than {max} bytes: {hint}", hint = VERSION_HINT)]
    ReplyTooLong {
        /// The limit.
        max: usize,
    },
    /// A reply line that is not a well-formed reply.
    #[error("the daemon's reply is not a control-protocol reply ({detail}): {quoted}; {hint}", hint = VERSION_HINT)]
    BadReply {
        /// The start of the line, quoted.
        quoted: String,
        /// What was wrong.
        detail: String,
    },
}

/// A reply line as it is on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct WireReply {
    v: u64,
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A reply as one line (without the newline): `{"v":1,"ok":true,"data":…}` or
/// `{"v":1,"ok":false,"error":"…"}`.
pub fn reply_line(reply: &Result<Value, String>) -> String {
    let wire = match reply {
        Ok(data) => {
            WireReply { v: CTL_VERSION.into(), ok: true, data: Some(data.clone()), error: None }
        }
        Err(e) => {
            WireReply { v: CTL_VERSION.into(), ok: false, data: None, error: Some(e.clone()) }
        }
    };
    serde_json::to_string(&wire).unwrap_or_else(|e| {
        // Unreachable for values that came out of serde_json; answer with a valid line anyway.
        let msg = Value::String(format!("the daemon could not encode its reply: {e}"));
        format!(r#"{{"v":{CTL_VERSION},"ok":false,"error":{msg}}}"#)
    })
}

/// Parses one reply line: `Ok(Ok(data))`, `Ok(Err(the daemon's message))`, or a protocol error.
pub fn parse_reply(line: &[u8]) -> Result<Result<Value, String>, ProtocolError> {
    let bad = |detail: String| ProtocolError::BadReply { quoted: quote_bytes(line), detail };
    // Check the version before the shape: a newer daemon may reply in another shape.
    let value: Value = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    match value.get("v").and_then(Value::as_u64) {
        Some(v) if v == u64::from(CTL_VERSION) => {}
        Some(v) => return Err(ProtocolError::DaemonVersion { daemon: v, client: CTL_VERSION }),
        None => return Err(bad("no \"v\" field".into())),
    }
    let wire: WireReply = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    Ok(if wire.ok {
        Ok(wire.data.unwrap_or(Value::Null))
    } else {
        Err(wire.error.unwrap_or_else(|| "the daemon reported an error without a message".into()))
    })
}

/// The start of `s` as a quoted, escaped string, with `…` if it was cut.
pub(crate) fn quote(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(QUOTE_CHARS).collect();
    let cut = if chars.next().is_some() { "…" } else { "" };
    format!("{head:?}{cut}")
}

fn quote_bytes(b: &[u8]) -> String {
    // Quote at most a few hundred bytes: the line may be 64 KiB.
    let head = &b[..b.len().min(QUOTE_CHARS * 4)];
    let s = String::from_utf8_lossy(head);
    let q = quote(&s);
    if head.len() < b.len() && !q.ends_with('…') { format!("{q}…") } else { q }
}

/// The answer to `status`: the daemon's own facts and its node's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// The daemon's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The daemon runs with the public lab key: anyone can forge peer messages.
    pub insecure: bool,
    /// The configuration file it read.
    pub config_path: String,
    /// The site key it uses (ids only); `None` from a daemon older than key rollover.
    #[serde(default)]
    pub key: Option<KeyStatus>,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// Its node.
    pub node: Status,
    /// How its inputs fared on their way to the node: queued, dropped, refused.
    #[serde(default)]
    pub intake: IntakeStatus,
    /// Its metrics endpoint, if `metrics_listen` asks for one.
    #[serde(default)]
    pub metrics: Option<MetricsEndpoint>,
}

/// The metrics endpoint a daemon was asked to serve, and whether it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsEndpoint {
    /// `metrics_listen`.
    pub listen: SocketAddr,
    /// Why it could not be opened (the daemon runs without it); `None` while it serves.
    pub error: Option<String>,
}

/// The daemon's intake (`daemon::intake`): per kind of input what was queued for the node and
/// what was dropped because its queue was full, the datagrams refused before queuing, and what
/// the kernel dropped before the daemon could read it. All counts since the daemon started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeStatus {
    /// Probe results (never dropped).
    pub probes: QueueStatus,
    /// Authentic peer datagrams: served before everything but probe results.
    pub peer: QueueStatus,
    /// Layer-2 frames from the capture.
    pub frames: QueueStatus,
    /// Datagrams on the Wake-on-LAN port.
    pub wol: QueueStatus,
    /// Other datagrams on the peer port (not wakeproxy, wrong key, other version, replayed),
    /// which the node only counts: served last.
    pub other: QueueStatus,
    /// The platform reports each datagram's TTL, so the GTSM check runs (Linux; not Windows).
    pub ttl_checked: bool,
    /// Authentic datagrams refused before queuing.
    pub refused: RefusedStatus,
    /// What the kernel dropped.
    pub kernel_drops: KernelDrops,
}

/// One queue of the intake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// How many inputs it holds at most; `None`: unbounded.
    pub capacity: Option<u64>,
    /// Inputs put on it.
    pub queued: u64,
    /// Inputs dropped because it was full.
    pub dropped: u64,
}

/// Authentic datagrams refused before the node saw them, by reason: the GTSM check (RFC 5082)
/// and replays of the node's own messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedStatus {
    /// Arrived with a TTL below 255: forwarded by a router (only WakeRequests may be).
    pub ttl_below_255: u64,
    /// Arrived without the TTL the platform should have reported.
    pub ttl_missing: u64,
    /// Replays of this node's own messages (someone sends captures of them back).
    #[serde(default)]
    pub own_replayed: u64,
    /// The sender of the last one refused.
    pub last_from: Option<SocketAddr>,
    /// Its TTL.
    pub last_ttl: Option<u8>,
}

/// Drops the kernel reports, where it can.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelDrops {
    /// Datagrams the peer sockets' receive buffers had no room for (`SO_RXQ_OVFL`, Linux).
    pub peer_sockets: Option<u64>,
    /// Frames the capture sockets had no room for (`PACKET_STATISTICS`, Linux).
    pub capture: Option<u64>,
}

/// Which site key a daemon uses, by key id (`SiteKey::key_id`): never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// The current key, which the node signs with: 8 hexadecimal digits.
    pub id: String,
    /// The other key it also accepts during a rollover, if any.
    #[serde(default)]
    pub accepted_id: Option<String>,
    /// The key file it was read from; `None` for the built-in lab key (`insecure = true`).
    #[serde(default)]
    pub file: Option<String>,
}

/// The answer to `reload`: the key before and after. Only the key is reloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    /// What was reloaded: always `"key"` (other settings need a restart).
    pub reloaded: String,
    /// The key before.
    pub before: KeyStatus,
    /// The key now.
    pub after: KeyStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request, ProtocolError> {
        Request::parse(s.as_bytes())
    }

    #[test]
    fn every_request_round_trips_through_its_line() {
        let all = [
            Request::Status,
            Request::Peers,
            Request::Events { follow: false },
            Request::Events { follow: true },
            Request::Wake { target: "aa:bb:cc:dd:ee:ff".into(), password: None },
            Request::Wake { target: "10.0.0.5".into(), password: Some("1.2.3.4".into()) },
            Request::SleepNotice,
            Request::ResumeNotice,
            Request::Reload,
        ];
        for r in all {
            let line = r.to_line();
            assert!(line.starts_with(r#"{"v":1,"cmd":""#), "{line}");
            assert!(!line.contains('\n'));
            assert_eq!(Request::parse(line.as_bytes()).unwrap(), r, "{line}");
        }
    }

    #[test]
    fn the_documented_lines_parse() {
        assert_eq!(parse(r#"{"v":1,"cmd":"status"}"#).unwrap(), Request::Status);
        assert_eq!(parse(r#"{"cmd":"peers","v":1}"#).unwrap(), Request::Peers);
        assert_eq!(parse(r#"{"v":1,"cmd":"events"}"#).unwrap(), Request::Events { follow: false });
        assert_eq!(
            parse(r#"{"v":1,"cmd":"events","follow":true}"#).unwrap(),
            Request::Events { follow: true }
        );
        assert_eq!(
            parse(r#"{"v":1,"cmd":"wake","target":"pc-17","password":null}"#).unwrap(),
            Request::Wake { target: "pc-17".into(), password: None }
        );
        assert_eq!(parse(r#"{"v":1,"cmd":"sleep-notice"}"#).unwrap(), Request::SleepNotice);
        assert_eq!(parse(r#"{"v":1,"cmd":"resume-notice"}"#).unwrap(), Request::ResumeNotice);
        assert_eq!(parse(r#"{"v":1,"cmd":"reload"}"#).unwrap(), Request::Reload);
        // Unknown fields are ignored (forward compatibility within v1).
        assert_eq!(parse(r#"{"v":1,"cmd":"status","verbose":true}"#).unwrap(), Request::Status);
    }

    #[test]
    fn read_only_is_exactly_status_peers_events() {
        assert!(Request::Status.is_read_only());
        assert!(Request::Peers.is_read_only());
        assert!(Request::Events { follow: true }.is_read_only());
        assert!(!Request::Wake { target: "x".into(), password: None }.is_read_only());
        assert!(!Request::SleepNotice.is_read_only());
        assert!(!Request::ResumeNotice.is_read_only());
        assert!(!Request::Reload.is_read_only(), "reload changes the key: root only");
    }

    #[test]
    fn bad_lines_get_messages_that_quote_them() {
        let e = parse("hello there").unwrap_err().to_string();
        assert!(e.starts_with("request is not JSON"), "{e}");
        assert!(e.contains(r#""hello there""#), "{e}");

        let long = format!("x{}", "y".repeat(10_000));
        let e = parse(&long).unwrap_err().to_string();
        assert!(e.contains('…') && e.len() < 400, "{e}");

        let e = parse(r#"{"v":1,"cmd":"reboot"}"#).unwrap_err().to_string();
        assert!(e.starts_with(r#"unknown command "reboot": known commands are status"#), "{e}");

        let e = parse(r#"{"v":1,"cmd":"wake"}"#).unwrap_err().to_string();
        assert!(e.starts_with("bad `wake` request: missing field `target`"), "{e}");

        let e = parse(r#"{"v":1,"cmd":"wake","target":" "}"#).unwrap_err().to_string();
        assert!(e.contains("target is empty"), "{e}");

        assert_eq!(
            parse("[1,2]").unwrap_err(),
            ProtocolError::NotAnObject { quoted: "\"[1,2]\"".into() }
        );
        assert_eq!(parse(r#"{"cmd":"status"}"#).unwrap_err(), ProtocolError::MissingVersion);
        assert_eq!(parse(r#"{"v":1}"#).unwrap_err(), ProtocolError::MissingCommand);
        assert!(matches!(
            parse(r#"{"v":"1","cmd":"status"}"#),
            Err(ProtocolError::BadVersion { .. })
        ));
        assert!(matches!(
            parse(r#"{"v":-1,"cmd":"status"}"#),
            Err(ProtocolError::BadVersion { .. })
        ));
        assert!(matches!(parse(r#"{"v":1,"cmd":7}"#), Err(ProtocolError::UnknownCommand { .. })));
        // Not UTF-8, deeply nested, empty: errors, never panics.
        assert!(Request::parse(b"\xff\xfe{").is_err());
        assert!(parse(&"[".repeat(100_000)).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn another_version_names_both() {
        let e = parse(r#"{"v":2,"cmd":"status"}"#).unwrap_err().to_string();
        assert_eq!(
            e,
            "client speaks control protocol v2, this daemon v1: use the wakeproxy binary that \
             matches the daemon"
        );
        let e = parse_reply(br#"{"v":3,"ok":true,"data":null}"#).unwrap_err().to_string();
        assert_eq!(
            e,
            "daemon speaks control protocol v3, this client v1: use the wakeproxy binary that \
             matches the daemon"
        );
    }

    #[test]
    fn replies_round_trip() {
        let ok = Ok(serde_json::json!({"a": [1, 2]}));
        assert_eq!(reply_line(&ok), r#"{"v":1,"ok":true,"data":{"a":[1,2]}}"#);
        assert_eq!(parse_reply(reply_line(&ok).as_bytes()).unwrap(), ok);
        let null = Ok(Value::Null);
        assert_eq!(reply_line(&null), r#"{"v":1,"ok":true,"data":null}"#);
        assert_eq!(parse_reply(reply_line(&null).as_bytes()).unwrap(), null);
        let err: Result<Value, String> = Err("wake needs root: run it with sudo".into());
        assert_eq!(
            reply_line(&err),
            r#"{"v":1,"ok":false,"error":"wake needs root: run it with sudo"}"#
        );
        assert_eq!(parse_reply(reply_line(&err).as_bytes()).unwrap(), err);
        assert!(matches!(parse_reply(b"nope"), Err(ProtocolError::BadReply { .. })));
        assert!(matches!(parse_reply(br#"{"ok":true}"#), Err(ProtocolError::BadReply { .. })));
        assert!(matches!(
            parse_reply(br#"{"v":1,"ok":"yes"}"#),
            Err(ProtocolError::BadReply { .. })
        ));
    }

    #[test]
    fn debug_hides_the_wake_password() {
        let r = Request::Wake { target: "pc".into(), password: Some("00:11:22:33:44:55".into()) };
        let d = format!("{r:?}");
        assert!(!d.contains("00:11"), "{d}");
        assert!(d.contains("redacted"), "{d}");
    }
}
