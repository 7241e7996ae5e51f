//! Carrying out what the node asked for: datagrams, frames and magic packets out, probes
//! started, sleep inhibited, events recorded and logged, the registry handed to its writer.

use std::net::{SocketAddr, SocketAddrV4};

use tracing::{debug, info, warn};

use super::{Daemon, EVENT_HISTORY, Input, Probe};
use crate::core::node::{Action, Destination, Event, IfaceId};

impl Daemon {
    /// Carries out everything the node asked for, and saves the sleeper registry if it may
    /// have changed.
    pub fn execute(&mut self) {
        let mut registry_changed = false;
        while let Some(action) = self.node.poll_action() {
            if let Action::Event(
                Event::PeerChanged { .. } | Event::ProxyStarted { .. } | Event::ProxyStopped { .. },
            ) = &action
            {
                registry_changed = true;
            }
            match action {
                Action::SendDatagram { iface, dst, bytes } => {
                    self.send_datagram(iface, dst, &bytes)
                }
                Action::SendMagicPacket { iface, packet, unicast } => {
                    let Some(lan) = self.lans.get(&iface) else { continue };
                    let (payload, n) = packet.payload();
                    let port = self.opts.node.wol_port;
                    // The subnet-directed broadcast of the interface the target lives on, never
                    // only 255.255.255.255 (Windows sends that out of a single interface).
                    let bcast = lan.link.broadcast_v4().unwrap_or(std::net::Ipv4Addr::BROADCAST);
                    let mut targets = vec![SocketAddr::V4(SocketAddrV4::new(bcast, port))];
                    if let (true, Some(ip)) = (self.opts.wake_unicast, unicast) {
                        targets.push(SocketAddr::V4(SocketAddrV4::new(ip, port)));
                    }
                    for t in targets {
                        if let Err(e) = lan.wol.send_to(&payload[..n], t) {
                            warn!(iface = %lan.link.name, "cannot send the magic packet for {} to {t}: {e}", packet.target);
                        }
                    }
                }
                Action::Probe { iface, ip, timeout, tcp_ports } => {
                    let results = self.intake.probe_result();
                    let Some(lan) = self.lans.get(&iface) else {
                        // The interface is gone: no answer, so the peer is judged by silence.
                        results.send(Input::Probe { iface, ip, rtt: None });
                        continue;
                    };
                    self.probe_ident = self.probe_ident.wrapping_add(1);
                    let probe = Probe { ip, timeout, tcp_ports, ident: self.probe_ident };
                    let answer = lan.prober.probe(probe, lan.link.local_addr(ip));
                    tokio::spawn(async move {
                        let rtt = answer.await;
                        results.send(Input::Probe { iface, ip, rtt });
                    });
                }
                Action::SendFrame { iface, frame } => {
                    let Some(lan) = self.lans.get(&iface) else { continue };
                    match &lan.capture {
                        Some(c) => {
                            if let Err(e) = c.send(frame.as_slice()) {
                                debug!(iface = %lan.link.name, "cannot send a frame: {e}");
                            }
                        }
                        None => {
                            debug!(iface = %lan.link.name, "no layer-2 backend: frame not sent")
                        }
                    }
                }
                Action::InhibitSleep(on) => {
                    info!(
                        inhibit = on,
                        "{} the system's sleep (guardian role)",
                        if on { "holding" } else { "releasing" }
                    );
                    self.guardian.send_replace(on);
                }
                Action::Event(e) => self.record(e),
            }
        }
        if registry_changed {
            self.save_state_now();
        }
    }

    pub(super) fn send_datagram(&self, iface: IfaceId, dst: Destination, bytes: &[u8]) {
        let port = self.opts.peer_port;
        let (sock, to, name) = match dst {
            Destination::Routed(to) => match &self.routed {
                Some(s) => (&**s, to, "routed"),
                None => return,
            },
            Destination::Broadcast | Destination::Unicast(_) => {
                let Some(lan) = self.lans.get(&iface) else { return };
                let to = match dst {
                    Destination::Unicast(ip) => SocketAddr::new(ip, port),
                    _ => SocketAddr::V4(SocketAddrV4::new(
                        lan.link.broadcast_v4().unwrap_or(std::net::Ipv4Addr::BROADCAST),
                        port,
                    )),
                };
                (&*lan.peer, to, lan.link.name.as_str())
            }
        };
        if let Err(e) = sock.send_to(bytes, to) {
            debug!(iface = name, "cannot send to {to}: {e}");
        }
    }

    /// Logs an event, keeps it for `wakeproxy events` and hands it to followers.
    pub(super) fn record(&mut self, e: Event) {
        log_event(&e, self);
        let mut v = serde_json::to_value(&e).unwrap_or(serde_json::Value::Null);
        self.event_seq += 1;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("unix_ms".into(), self.platform.unix_ms().into());
            m.insert("seq".into(), self.event_seq.into());
        }
        if self.events.len() == EVENT_HISTORY {
            self.events.pop_front();
        }
        self.events.push_back(v.clone());
        let _ = self.event_tx.send(v);
    }
}

/// One log line per event, with its reason.
pub(super) fn log_event(e: &Event, d: &Daemon) {
    match e {
        Event::PeerChanged { iface, transition: t } => {
            let from = t.from.map_or("new".to_owned(), |s| s.to_string());
            info!(iface = d.iface_name(*iface), peer = %t.peer, mac = %t.mac, state = %t.to, reason = ?t.reason, "peer {:?} {from} -> {} ({:?})", t.peer, t.to, t.reason);
        }
        Event::ElectionChanged { iface, role, manager, term, guardians } => {
            let m = manager.map_or("none".to_owned(), |m| format!("{m:?}"));
            info!(target: crate::os::host::LIFECYCLE, iface = d.iface_name(*iface), %role, term, "election: this node is {role}, manager {m}, term {term}, {} guardians", guardians.len());
        }
        Event::ProxyStarted { iface, sleeper, mac } => {
            info!(iface = d.iface_name(*iface), peer = %sleeper, %mac, "answering for sleeper {sleeper:?} ({mac})")
        }
        Event::ProxyStopped { iface, sleeper, mac, reason } => {
            info!(iface = d.iface_name(*iface), peer = %sleeper, %mac, reason = ?reason, "stopped answering for {sleeper:?} ({mac}): {reason:?}")
        }
        Event::WakeSent { iface, mac, cause, attempt } => {
            info!(iface = d.iface_name(*iface), %mac, attempt, reason = ?cause, "magic packet for {mac} ({cause:?}), attempt {attempt}")
        }
        Event::WakeRequested { mac, to } => info!(%mac, "asked {to} to wake {mac}"),
        Event::WakeConfirmed { mac, to_packet, to_awake } => {
            info!(%mac, "{mac} is awake: packet after {to_packet:?}, awake after {to_awake:?}")
        }
        Event::WakeGaveUp { mac, attempts } => {
            warn!(%mac, "{mac} did not wake after {attempts} magic packets")
        }
        Event::ClaimBlocked { iface, sleeper, mac, why } => {
            info!(iface = d.iface_name(*iface), peer = %sleeper, %mac, reason = ?why, "not answering for {sleeper:?} ({mac}) now: {why:?}")
        }
        Event::ClaimMissing { iface, sleeper, by } => warn!(
            iface = d.iface_name(*iface),
            peer = %sleeper,
            "{by:?} was given sleeper {sleeper:?} but did not claim it in time: passing it over for that sleeper"
        ),
        Event::HearingChanged { iface, deaf: Some(why) } => warn!(
            iface = d.iface_name(*iface),
            reason = ?why,
            "this node cannot hear its peers on {}: {}; it takes no role and answers for no sleeper there",
            d.iface_name(*iface),
            why.explain(d.opts.peer_port)
        ),
        Event::HearingChanged { iface, deaf: None } => {
            info!(
                iface = d.iface_name(*iface),
                "this node hears its peers on {} again",
                d.iface_name(*iface)
            )
        }
        Event::Impersonated { iface, from } => warn!(
            iface = d.iface_name(*iface),
            "a message signed with the site key claims to come from this node (sent from {from}): someone holding the key is impersonating it"
        ),
    }
}
