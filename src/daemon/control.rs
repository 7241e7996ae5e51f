//! Answers control-socket requests (`wakeproxy status`, `wake`, `sleep-notice`, …) from the
//! daemon's task: the server hands each request over with a oneshot for the answer, so no
//! client can ever block the node.

use std::net::{IpAddr, SocketAddr};

use serde_json::{Value, json};

use super::Daemon;
use crate::core::addr::MacAddr;
use crate::core::node::WakeTarget;
use crate::core::wol::SecureOn;
use crate::ctl::{CtlCall, DaemonStatus, Request};

impl Daemon {
    /// Answers one control request.
    pub(super) fn answer(&mut self, call: CtlCall) {
        let reply = match call.request {
            Request::Status => Ok(self.status_json()),
            Request::Peers => {
                Ok(serde_json::to_value(self.node.status(self.now()).ifaces).unwrap_or(Value::Null))
            }
            Request::Events { .. } => Ok(Value::Array(self.events.iter().cloned().collect())),
            Request::Wake { target, password } => self.wake(&target, password.as_deref()),
            Request::SleepNotice => {
                self.going_to_sleep();
                Ok(json!({ "announced": "sleep" }))
            }
            Request::ResumeNotice => {
                self.resumed();
                Ok(json!({ "announced": "resume" }))
            }
            Request::Reload => self.reload_request(),
        };
        let _ = call.reply.send(reply);
    }

    /// What `status` shows.
    pub fn status_json(&self) -> Value {
        let s = DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            insecure: self.opts.insecure,
            config_path: self.opts.config_path.clone(),
            key: Some(self.key_status()),
            uptime_s: self.start.elapsed().as_secs(),
            node: self.node.status(self.now()),
            intake: self.intake.status(self.capture_drops()),
            metrics: self.opts.metrics.clone(),
        };
        serde_json::to_value(&s).unwrap_or(Value::Null)
    }

    /// `wake TARGET`: a MAC or an address (the command line resolves host names). Targets this
    /// node knows are woken on their LAN; an unknown MAC on every LAN and, if relays are
    /// configured, through them (a signed WakeRequest to each).
    fn wake(&mut self, target: &str, password: Option<&str>) -> Result<Value, String> {
        let password: Option<SecureOn> = match password {
            Some(p) => Some(p.parse().map_err(|e| format!("{e}"))?),
            None => None,
        };
        let parsed = if let Ok(mac) = target.parse::<MacAddr>() {
            WakeTarget::Mac(mac)
        } else if let Ok(ip) = target.parse::<IpAddr>() {
            WakeTarget::Ip(ip)
        } else {
            return Err(format!("`{target}` is neither a MAC address nor an IP address"));
        };
        let now = self.now();
        let known = match parsed {
            WakeTarget::Mac(mac) => self.node.known_peer_mac(mac).is_some(),
            _ => true,
        };
        let mac = self.node.wake(now, parsed, password).map_err(|e| e.to_string())?;
        let relays: Vec<SocketAddr> =
            if known { Vec::new() } else { self.opts.wake_relays.clone() };
        for to in &relays {
            if let Err(e) = self.node.request_remote_wake(now, *to, mac, password) {
                return Err(e.to_string());
            }
        }
        Ok(
            json!({ "target": target, "mac": mac.to_string(), "known": known, "relays": relays.len() }),
        )
    }
}
