//! One line per event: the daemon's event lines are read back as the core's typed [`Event`] and
//! worded by kind. [`words`] matches every kind without a fallback arm, so a kind added to the
//! core does not compile until it is worded here.
//!
//! The daemon publishes an event as its JSON form with `unix_ms` (when) and `seq` (its number)
//! beside the event's own fields. Fields that are not the event's own follow its words as
//! `key=value`. A line that does not read as an [`Event`] still renders, it never fails:
//!
//! - a kind this version knows, with a field it cannot read (a daemon of another version changed
//!   it): the same words, with the line's text for that field, or `?` (missing, not text);
//! - a kind this version does not know (a newer daemon): the kind and `key=value` of every field.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{cause, clean, dur, enum_name, short};
use crate::core::addr::{MacAddr, NodeId};
use crate::core::node::{ClaimBlocked, Deafness, Event, IfaceId, StopReason, WakeCause};
use crate::core::peers::{PeerState, Reason, Transition};
use crate::core::proto::{DEFAULT_PEER_PORT, Role};

/// The words of the field bound to `$field`, looked up in `$unread` by the binding's own name:
/// the bindings below are the fields' names, which are the keys serde writes.
macro_rules! show {
    ($unread:ident, $field:ident) => {
        $unread.show(stringify!($field), $field)
    };
}

/// One line for one event line of the daemon (an object with an `"event"` kind).
pub fn render_event(line: &Value) -> String {
    let Value::Object(fields) = line else {
        return clean(&format!("event {line}"));
    };
    let kind = fields.get("event").and_then(Value::as_str).unwrap_or("event");
    // Padded, so the words of every kind start in one column.
    let mut out = format!("{kind:<16}");
    // The event's own fields: the others (`unix_ms`, `seq`, a newer daemon's) follow its words.
    let mut own = vec!["event".to_owned()];
    if let Some((event, unread)) = read(fields) {
        if let Ok(Value::Object(written)) = serde_json::to_value(&event) {
            own.extend(written.into_iter().map(|(k, _)| k));
        }
        out.push(' ');
        out.push_str(&words(&event, &unread));
    }
    for (k, v) in fields.iter().filter(|(k, _)| !own.contains(k)) {
        let _ = write!(out, " {k}={}", scalar(v));
    }
    clean(out.trim_end())
}

/// The words of each kind of event.
fn words(event: &Event, u: &Unread) -> String {
    match event {
        Event::PeerChanged { iface, transition: Transition { peer, mac, from, to, reason } } => {
            format!(
                "if{} {} {} {} -> {} ({})",
                show!(u, iface),
                show!(u, peer),
                show!(u, mac),
                show!(u, from),
                show!(u, to),
                show!(u, reason)
            )
        }
        Event::ElectionChanged { iface, role, manager, term, guardians } => format!(
            "if{} role {}, manager {}, term {}, guardians {}",
            show!(u, iface),
            show!(u, role),
            show!(u, manager),
            show!(u, term),
            show!(u, guardians)
        ),
        Event::ProxyStarted { iface, sleeper, mac } => {
            format!("if{} {} {}", show!(u, iface), show!(u, sleeper), show!(u, mac))
        }
        Event::ProxyStopped { iface, sleeper, mac, reason } => format!(
            "if{} {} {} ({})",
            show!(u, iface),
            show!(u, sleeper),
            show!(u, mac),
            show!(u, reason)
        ),
        Event::WakeSent { iface, mac, cause, attempt } => format!(
            "if{} {} {}, attempt {}",
            show!(u, iface),
            show!(u, mac),
            show!(u, cause),
            show!(u, attempt)
        ),
        Event::WakeRequested { mac, to } => format!("{} to {}", show!(u, mac), show!(u, to)),
        Event::WakeConfirmed { mac, to_packet, to_awake } => format!(
            "{} packet after {}, awake after {}",
            show!(u, mac),
            show!(u, to_packet),
            show!(u, to_awake)
        ),
        Event::WakeGaveUp { mac, attempts } => {
            format!("{} no answer after {} packets", show!(u, mac), show!(u, attempts))
        }
        Event::ClaimBlocked { iface, sleeper, mac, why } => format!(
            "if{} {} {} not answered for now: {}",
            show!(u, iface),
            show!(u, sleeper),
            show!(u, mac),
            show!(u, why)
        ),
        Event::ClaimMissing { iface, sleeper, by } => format!(
            "if{} {} was not claimed in time by {}: passed over",
            show!(u, iface),
            show!(u, sleeper),
            show!(u, by)
        ),
        Event::HearingChanged { iface, deaf } => {
            format!("if{} {}", show!(u, iface), show!(u, deaf))
        }
        Event::Impersonated { iface, from } => format!(
            "if{} from {}: someone holding the site key uses this node's id",
            show!(u, iface),
            show!(u, from)
        ),
    }
}

/// The fields of a line that did not read, by key, with what the line had there (`None`:
/// nothing). In the [`Event`] read from the line they hold their kind's sample values.
#[derive(Debug, Default)]
struct Unread(BTreeMap<String, Option<Value>>);

impl Unread {
    /// The words of `value`, the field `key`; or what stands for the field if it did not read.
    fn show<T: Shown>(&self, key: &str, value: &T) -> String {
        match self.0.get(key) {
            Some(had) => T::unread(had.as_ref()),
            None => value.shown(),
        }
    }
}

/// The event a line holds and which of its fields did not read; `None` if the line's kind is
/// not one this version knows. A line of a known kind is mended field by field from its kind's
/// sample: each field of the line that reads replaces the sample's.
fn read(fields: &Map<String, Value>) -> Option<(Event, Unread)> {
    if let Ok(event) = serde_json::from_value(Value::Object(fields.clone())) {
        return Some((event, Unread::default()));
    }
    let kind = fields.get("event")?;
    let mut event = one_of_each().into_iter().find(|e| kind_of(e).as_ref() == Some(kind))?;
    let Ok(Value::Object(mut mended)) = serde_json::to_value(&event) else { return None };
    let mut unread = Unread::default();
    let keys: Vec<String> = mended.keys().filter(|k| *k != "event").cloned().collect();
    for key in keys {
        let mut tried = mended.clone();
        match fields.get(&key) {
            Some(v) => tried.insert(key.clone(), v.clone()),
            // Read as serde reads a missing field: an optional one is `None`.
            None => tried.remove(&key),
        };
        match serde_json::from_value(Value::Object(tried.clone())) {
            Ok(e) => (event, mended) = (e, tried),
            Err(_) => {
                unread.0.insert(key.clone(), fields.get(&key).cloned());
            }
        }
    }
    Some((event, unread))
}

/// The `"event"` an event is written with.
fn kind_of(e: &Event) -> Option<Value> {
    serde_json::to_value(e).ok()?.get("event").cloned()
}

/// One event of each kind, every field filled: what a line of a known kind is mended from
/// (a test checks that every kind serde knows has one).
fn one_of_each() -> [Event; 12] {
    let iface = IfaceId(0);
    let (sleeper, mac) = (NodeId::default(), MacAddr::default());
    let addr = SocketAddr::from(([0, 0, 0, 0], 0));
    [
        Event::PeerChanged {
            iface,
            transition: Transition {
                peer: sleeper,
                mac,
                from: Some(PeerState::Awake),
                to: PeerState::Asleep,
                reason: Reason::Announced,
            },
        },
        Event::ElectionChanged {
            iface,
            role: Role::Member,
            manager: Some(sleeper),
            term: 0,
            guardians: vec![sleeper],
        },
        Event::ProxyStarted { iface, sleeper, mac },
        Event::ProxyStopped { iface, sleeper, mac, reason: StopReason::Woken },
        Event::WakeSent { iface, mac, cause: WakeCause::Operator, attempt: 1 },
        Event::WakeRequested { mac, to: addr },
        Event::WakeConfirmed { mac, to_packet: Duration::ZERO, to_awake: Duration::ZERO },
        Event::WakeGaveUp { mac, attempts: 1 },
        Event::ClaimBlocked { iface, sleeper, mac, why: ClaimBlocked::PingAnswered },
        Event::ClaimMissing { iface, sleeper, by: sleeper },
        Event::HearingChanged { iface, deaf: Some(Deafness::NothingHeard) },
        Event::Impersonated { iface, from: addr },
    ]
}

/// How a field of an event reads in a line.
trait Shown {
    fn shown(&self) -> String;

    /// What stands for the field when the line had it in a form this version cannot read: its
    /// text if it was text (a name a newer daemon added), else `?`.
    fn unread(had: Option<&Value>) -> String {
        match had {
            Some(Value::String(s)) => s.clone(),
            _ => "?".to_owned(),
        }
    }
}

impl Shown for IfaceId {
    fn shown(&self) -> String {
        self.0.to_string()
    }
}

impl Shown for NodeId {
    fn shown(&self) -> String {
        short(*self)
    }
}

impl Shown for Option<NodeId> {
    fn shown(&self) -> String {
        self.map_or_else(|| "none".to_owned(), short)
    }
}

impl Shown for Vec<NodeId> {
    fn shown(&self) -> String {
        if self.is_empty() {
            return "none".to_owned();
        }
        self.iter().map(|id| short(*id)).collect::<Vec<_>>().join(" ")
    }
}

impl Shown for MacAddr {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for SocketAddr {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for PeerState {
    fn shown(&self) -> String {
        self.to_string()
    }
}

/// The state before a peer's first change: none, it is new.
impl Shown for Option<PeerState> {
    fn shown(&self) -> String {
        self.map_or_else(|| "new".to_owned(), |s| s.to_string())
    }
}

impl Shown for Role {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for Reason {
    fn shown(&self) -> String {
        enum_name(self)
    }
}

impl Shown for StopReason {
    fn shown(&self) -> String {
        enum_name(self)
    }
}

impl Shown for WakeCause {
    fn shown(&self) -> String {
        cause(self)
    }
}

impl Shown for ClaimBlocked {
    fn shown(&self) -> String {
        match self {
            Self::PingAnswered => "it answered its probe".to_owned(),
            Self::AddressInUse { addr, by } => format!("{by} answers for {addr}"),
        }
    }
}

impl Shown for Option<Deafness> {
    fn shown(&self) -> String {
        match self {
            None => "hears its peers again".to_owned(),
            Some(why) => format!("DEAF: {}", why.explain(DEFAULT_PEER_PORT)),
        }
    }

    /// A reason this version cannot read is still a reason: the node is deaf.
    fn unread(_: Option<&Value>) -> String {
        "DEAF: cannot hear its peers".to_owned()
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        dur(*self)
    }
}

impl Shown for u32 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for u64 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

/// A JSON value as short text: strings bare, everything else as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
