//! Whether the firewall exceptions wakeproxy needs (`os::firewall::rules`, what `wakeproxy
//! firewall show` prints) are in place.
//!
//! Linux, with what the system's own tools say:
//!
//! - the nftables table `inet wakeproxy` (`nft -j list table inet wakeproxy`): every exception
//!   of the configuration, as an accept rule in the right chain. Missing, it is a warning, not a
//!   failure: its chains accept and drop nothing, so on a host whose ruleset drops nothing its
//!   absence changes nothing, and on one that does it is not enough (an accept ends only its own
//!   base chain, `os::firewall`);
//! - so, the rest of the ruleset (`nft -j list ruleset`): a base chain of another table hooked
//!   at input with `policy drop` and no rule accepting the peer port drops the peers'
//!   heartbeats: a warning naming the chain (doctor cannot evaluate every rule an administrator
//!   may write; whether the daemon hears its peers, the `peers` check, is the proof). The chains
//!   iptables-nft makes (`INPUT`, ufw's `ufw-…`) and firewalld's table are skipped: their
//!   matches are xtables extensions that nft's JSON does not spell out, and ufw and firewalld
//!   are asked themselves;
//! - ufw (`ufw status`) and firewalld (`firewall-cmd --state`, `--query-port`), when active:
//!   both drop unsolicited inbound traffic by default, so a peer port they do not allow is a
//!   failure, with their own command to fix it.
//!
//! Windows: each `wakeproxy …` rule by name (`netsh advfirewall firewall show rule`; its exit
//! code says whether the rule exists in any language, the port is found by number). Windows
//! Defender Firewall blocks unsolicited inbound traffic by default, so a missing rule fails.

use std::io;

use serde_json::Value;

use super::{Check, System, Topic, Verdict};
use crate::os::firewall::{self, Direction, Match, Protocol, Rule};

/// The subject of the table's check.
const TABLE: &str = "nftables table inet wakeproxy";
use crate::os::words::HERE;
use crate::store::config::Config;

/// One rule of an nftables ruleset, as far as doctor reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NftRule {
    /// `inet`, `ip`, `ip6`, …
    pub family: String,
    /// Its table.
    pub table: String,
    /// Its chain.
    pub chain: String,
    /// The UDP destination ports it matches (inclusive ranges), if it matches on them.
    pub udp_dports: Vec<(u16, u16)>,
    /// The ICMP protocol (`icmp`, `icmpv6`) and types it matches, if it does.
    pub icmp: Option<(String, Vec<String>)>,
    /// Its verdict: `accept`, `drop`, `reject`, `jump`, …
    pub verdict: Option<String>,
}

/// One chain of an nftables ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NftChain {
    /// Its family.
    pub family: String,
    /// Its table.
    pub table: String,
    /// Its name.
    pub name: String,
    /// The hook of a base chain (`input`, `output`, …).
    pub hook: Option<String>,
    /// A base chain's policy (`accept`, `drop`).
    pub policy: Option<String>,
}

/// The chains and rules of `nft -j list …` output.
pub fn parse_nft_rules(json: &str) -> Result<(Vec<NftChain>, Vec<NftRule>), String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not nft's JSON: {e}"))?;
    let items = v["nftables"].as_array().ok_or("no `nftables` array in nft's JSON")?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let (mut chains, mut rules) = (Vec::new(), Vec::new());
    for item in items {
        if let Some(c) = item.get("chain") {
            chains.push(NftChain {
                family: text(&c["family"]),
                table: text(&c["table"]),
                name: text(&c["name"]),
                hook: c["hook"].as_str().map(str::to_owned),
                policy: c["policy"].as_str().map(str::to_owned),
            });
        }
        let Some(r) = item.get("rule") else { continue };
        let mut rule = NftRule {
            family: text(&r["family"]),
            table: text(&r["table"]),
            chain: text(&r["chain"]),
            ..NftRule::default()
        };
        for e in r["expr"].as_array().into_iter().flatten() {
            if let Some(m) = e.get("match") {
                let payload = &m["left"]["payload"];
                match (payload["protocol"].as_str(), payload["field"].as_str()) {
                    (Some("udp"), Some("dport")) => rule.udp_dports.extend(ports(&m["right"])),
                    (Some(p @ ("icmp" | "icmpv6")), Some("type")) => {
                        rule.icmp = Some((p.to_owned(), names(&m["right"])));
                    }
                    _ => {}
                }
            }
            for verdict in ["accept", "drop", "reject", "jump", "goto", "return", "queue"] {
                if e.get(verdict).is_some() {
                    rule.verdict = Some(verdict.to_owned());
                }
            }
        }
        rules.push(rule);
    }
    Ok((chains, rules))
}

/// The ports of a match's right side: a number, a range, or a set of them.
fn ports(v: &Value) -> Vec<(u16, u16)> {
    let port = |v: &Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    if let Some(p) = port(v) {
        return vec![(p, p)];
    }
    if let Some([a, b]) = v["range"].as_array().map(Vec::as_slice) {
        return port(a).zip(port(b)).into_iter().collect();
    }
    v["set"].as_array().into_iter().flatten().flat_map(ports).collect()
}

/// The names of a match's right side: a string or a set of them.
fn names(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        _ => v["set"].as_array().into_iter().flatten().flat_map(names).collect(),
    }
}

/// Whether `rule` of table `inet wakeproxy` installs the exception `want`.
fn installs(rule: &NftRule, want: &Rule) -> bool {
    let chain = match want.direction {
        Direction::In => "input",
        Direction::Out => "output",
    };
    if rule.chain != chain || rule.verdict.as_deref() != Some("accept") {
        return false;
    }
    match (want.protocol, want.matches) {
        (Protocol::Udp, Match::Port(p)) => rule.udp_dports.iter().any(|&(a, b)| a <= p && p <= b),
        (proto, Match::Icmp(echo)) => {
            let family = if proto == Protocol::Icmpv6 { "icmpv6" } else { "icmp" };
            rule.icmp
                .as_ref()
                .is_some_and(|(p, types)| p == family && types.iter().any(|t| t == echo.nft_name()))
        }
        _ => false,
    }
}

/// A rule as people say it: "UDP 25536 in", "ICMPv6 echo-reply out".
fn said(r: &Rule) -> String {
    match (r.protocol, r.matches) {
        (_, Match::Port(p)) => format!("UDP {p} {}", r.direction.as_str()),
        (Protocol::Icmpv6, Match::Icmp(e)) => {
            format!("ICMPv6 {} {}", e.nft_name(), r.direction.as_str())
        }
        (_, Match::Icmp(e)) => format!("ICMP {} {}", e.nft_name(), r.direction.as_str()),
    }
}

/// The ufw rules of `ufw status` that allow incoming traffic: (first port, last port, protocol
/// if one is named). `None` when ufw says it is inactive.
pub fn parse_ufw_allows(text: &str) -> Option<Vec<(u16, u16, Option<String>)>> {
    let mut lines = text.lines();
    let status = lines.by_ref().find(|l| l.starts_with("Status:"))?;
    if status.trim() != "Status: active" {
        return None;
    }
    let mut allows = Vec::new();
    for line in lines {
        let line = line.split('#').next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "ALLOW") else { continue };
        if words.get(at + 1) == Some(&"OUT") || at == 0 {
            continue;
        }
        // "25536/udp", "25536", "6000:6007/tcp", "80,443/tcp", "Anywhere" (every port); a
        // "(v6)" may follow.
        let to = words[0];
        if to == "Anywhere" {
            allows.push((1, u16::MAX, None));
            continue;
        }
        let (list, proto) = match to.split_once('/') {
            Some((l, p)) => (l, Some(p.to_owned())),
            None => (to, None),
        };
        for part in list.split(',') {
            let (a, b) = part.split_once(':').unwrap_or((part, part));
            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                allows.push((a, b, proto.clone()));
            }
        }
    }
    Some(allows)
}

/// The firewall checks for `config`.
pub(super) fn check(config: &Config, sys: &dyn System) -> Vec<Check> {
    let rules = firewall::rules(config);
    if cfg!(windows) {
        vec![windows(&rules, sys)]
    } else if cfg!(target_os = "linux") {
        linux(config, &rules, sys)
    } else {
        vec![
            Check::new(
                Topic::Firewall,
                "",
                Verdict::Unchecked,
                "checking the firewall is implemented for Linux and Windows only",
            )
            .fix("allow what `wakeproxy firewall show` lists in your firewall"),
        ]
    }
}

fn linux(config: &Config, rules: &[Rule], sys: &dyn System) -> Vec<Check> {
    let mut checks = vec![nft_table(rules, sys)];
    checks.extend(nft_drops(config.peer_port, sys));
    checks.extend(ufw(config.peer_port, sys));
    checks.extend(firewalld(config.peer_port, sys));
    checks
}

/// `nft`'s output, or the check that says why there is none to read (not installed, not
/// permitted).
fn nft_output(result: io::Result<super::ToolOutput>) -> Result<super::ToolOutput, Check> {
    let unchecked = |summary: String, fix: String| {
        Err(Check::new(Topic::Firewall, TABLE, Verdict::Unchecked, summary).fix(fix))
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Check::new(
            Topic::Firewall,
            TABLE,
            Verdict::Warn,
            "`nft` is not installed, so the table is not there",
        )
        .fix(
            "install nftables (apt-get install nftables; dnf install nftables) and run \
                 `wakeproxy firewall apply`, or allow the ports in your firewall (`wakeproxy \
                 firewall show --format ufw|firewalld`)",
        )),
        Err(e) => {
            unchecked(format!("could not run `nft`: {e}"), "run `nft list ruleset` by hand".into())
        }
        Ok(out) if !out.success && out.stderr.contains("Operation not permitted") => unchecked(
            "listing the nftables ruleset needs more rights than this process has".into(),
            HERE.nic_settings.into(),
        ),
        Ok(out) => Ok(out),
    }
}

fn nft_table(rules: &[Rule], sys: &dyn System) -> Check {
    let out = match nft_output(sys.run("nft", &["-j", "list", "table", "inet", "wakeproxy"])) {
        Ok(out) => out,
        Err(check) => return check,
    };
    let apply = "run `wakeproxy firewall apply` (as root)";
    if !out.success {
        if out.stderr.contains("No such file or directory") {
            return Check::new(
                Topic::Firewall,
                TABLE,
                Verdict::Warn,
                "missing: nothing in the ruleset says that wakeproxy's traffic is allowed",
            )
            .fix(apply);
        }
        return Check::new(
            Topic::Firewall,
            TABLE,
            Verdict::Unchecked,
            format!("`nft list table inet wakeproxy` failed: {}", out.stderr.trim()),
        )
        .fix("run `nft list ruleset` by hand");
    }
    let installed = match parse_nft_rules(&out.stdout) {
        Ok((_, rules)) => rules,
        Err(e) => {
            return Check::new(Topic::Firewall, TABLE, Verdict::Unchecked, e)
                .fix("run `nft list table inet wakeproxy` by hand");
        }
    };
    let missing: Vec<String> = rules
        .iter()
        .filter(|want| !installed.iter().any(|r| installs(r, want)))
        .map(said)
        .collect();
    if missing.is_empty() {
        let ports: Vec<String> = rules.iter().filter(|r| r.port().is_some()).map(said).collect();
        Check::new(
            Topic::Firewall,
            TABLE,
            Verdict::Ok,
            format!("all {} exceptions in place ({}, ICMP echo)", rules.len(), ports.join(", ")),
        )
    } else {
        Check::new(
            Topic::Firewall,
            TABLE,
            Verdict::Warn,
            format!(
                "lacks {} of the configuration's exceptions ({}): it was made for other ports, \
                 or changed",
                missing.len(),
                missing.join(", ")
            ),
        )
        .fix(apply)
        .details(serde_json::json!({ "missing": missing }))
    }
}

/// Base chains of other tables that drop incoming traffic by default and do not accept the
/// peer port.
fn nft_drops(peer_port: u16, sys: &dyn System) -> Vec<Check> {
    let Ok(out) = sys.run("nft", &["-j", "list", "ruleset"]) else { return Vec::new() };
    if !out.success {
        return Vec::new();
    }
    let Ok((chains, rules)) = parse_nft_rules(&out.stdout) else { return Vec::new() };
    chains
        .iter()
        .filter(|c| c.hook.as_deref() == Some("input") && c.policy.as_deref() == Some("drop"))
        .filter(|c| !(c.family == "inet" && c.table == "wakeproxy"))
        .filter(|c| {
            // ufw's and firewalld's own chains are theirs to check.
            !(c.table == "firewalld" || c.name.starts_with("ufw") || c.name == "INPUT")
        })
        .filter(|c| {
            !rules.iter().any(|r| {
                r.family == c.family
                    && r.table == c.table
                    && r.chain == c.name
                    && r.verdict.as_deref() == Some("accept")
                    && r.udp_dports.iter().any(|&(a, b)| a <= peer_port && peer_port <= b)
            })
        })
        .map(|c| {
            let name = format!("{} {} {}", c.family, c.table, c.name);
            Check::new(
                Topic::Firewall,
                &name,
                Verdict::Warn,
                format!(
                    "the chain {name} drops incoming traffic by default and has no rule that \
                     accepts UDP {peer_port}: the table inet wakeproxy cannot override that \
                     (an accept ends only its own chain), so peers may not be heard (the \
                     `peers` check says whether they are)"
                ),
            )
            .fix(format!(
                "accept UDP {peer_port} (and ICMP echo) in {name}: `wakeproxy firewall show \
                 --format nftables` lists the rules to merge"
            ))
        })
        .collect()
}

fn ufw(peer_port: u16, sys: &dyn System) -> Option<Check> {
    let out = sys.run("ufw", &["status"]).ok()?;
    if !out.success && out.stderr.contains("root") {
        return Some(
            Check::new(Topic::Firewall, "ufw", Verdict::Unchecked, "`ufw status` needs root")
                .fix(HERE.elevate),
        );
    }
    let allows = parse_ufw_allows(&out.stdout)?;
    let allowed = allows.iter().any(|(a, b, proto)| {
        *a <= peer_port && peer_port <= *b && proto.as_deref().is_none_or(|p| p == "udp")
    });
    Some(if allowed {
        Check::new(
            Topic::Firewall,
            "ufw",
            Verdict::Ok,
            format!("ufw is active and allows UDP {peer_port} in"),
        )
    } else {
        Check::new(
            Topic::Firewall,
            "ufw",
            Verdict::Fail,
            format!(
                "ufw is active and does not allow UDP {peer_port} in: it drops the peers' \
                 heartbeats and wake requests"
            ),
        )
        .fix(format!(
            "ufw allow in proto udp to any port {peer_port} comment 'wakeproxy' (`wakeproxy \
             firewall show --format ufw` lists every exception)"
        ))
    })
}

fn firewalld(peer_port: u16, sys: &dyn System) -> Option<Check> {
    let state = sys.run("firewall-cmd", &["--state"]).ok()?;
    if state.stdout.trim() != "running" {
        return None;
    }
    let port = format!("--query-port={peer_port}/udp");
    let out = sys.run("firewall-cmd", &[&port]).ok()?;
    Some(match out.stdout.trim() {
        "yes" => Check::new(
            Topic::Firewall,
            "firewalld",
            Verdict::Ok,
            format!("firewalld runs and its default zone allows UDP {peer_port}"),
        ),
        "no" => Check::new(
            Topic::Firewall,
            "firewalld",
            Verdict::Fail,
            format!(
                "firewalld runs and its default zone does not allow UDP {peer_port}: it rejects \
                 the peers' heartbeats and wake requests (unless a service or rich rule of the \
                 interface's zone allows them)"
            ),
        )
        .fix(format!(
            "firewall-cmd --permanent --add-port={peer_port}/udp && firewall-cmd --reload (add \
             --zone=ZONE for the interface's zone; `wakeproxy firewall show --format firewalld` \
             lists every exception)"
        )),
        _ => Check::new(
            Topic::Firewall,
            "firewalld",
            Verdict::Unchecked,
            format!("`firewall-cmd {port}` answered: {}", out.stderr.trim()),
        )
        .fix(HERE.elevate),
    })
}

fn windows(rules: &[Rule], sys: &dyn System) -> Check {
    let mut missing = Vec::new();
    for r in rules {
        let name = format!("name=\"wakeproxy {}\"", r.name);
        let out = match sys.run("netsh", &["advfirewall", "firewall", "show", "rule", &name]) {
            Ok(o) => o,
            Err(e) => {
                return Check::new(
                    Topic::Firewall,
                    "Windows Firewall",
                    Verdict::Unchecked,
                    format!("could not run netsh: {e}"),
                )
                .fix("check the rules \"wakeproxy …\" in wf.msc");
            }
        };
        let port_shown = r.port().is_none_or(|p| {
            out.stdout.split(|c: char| !c.is_ascii_digit()).any(|w| w == p.to_string())
        });
        if !out.success || !port_shown {
            missing.push(format!("\"wakeproxy {}\" ({})", r.name, said(r)));
        }
    }
    if missing.is_empty() {
        Check::new(
            Topic::Firewall,
            "Windows Firewall",
            Verdict::Ok,
            format!("all {} \"wakeproxy …\" rules are in place", rules.len()),
        )
    } else {
        Check::new(
            Topic::Firewall,
            "Windows Firewall",
            Verdict::Fail,
            format!(
                "{} of wakeproxy's firewall rules are missing or have other ports: {}; Windows \
                 Defender Firewall blocks unsolicited inbound traffic by default",
                missing.len(),
                missing.join(", ")
            ),
        )
        .fix("run `wakeproxy firewall apply` from an elevated prompt")
        .details(serde_json::json!({ "missing": missing }))
    }
}
