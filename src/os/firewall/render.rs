//! The rules written for each firewall: an nftables script, ufw, firewalld and netsh commands.

use std::fmt::Write as _;

use super::{Direction, Format, Match, NFT_TABLE, Profiles, Protocol, Rule};

/// `rules` as `format` writes them; `profiles` only matters for [`Format::Windows`].
pub fn render(rules: &[Rule], format: Format, profiles: Profiles) -> String {
    match format {
        Format::Nftables => nftables(rules),
        Format::Ufw => ufw(rules),
        Format::Firewalld => firewalld(rules),
        Format::Windows => windows(rules, profiles),
    }
}

/// The table `inet wakeproxy` alone: an input and an output chain of type filter, `policy
/// accept`, with one `accept` rule per exception.
pub(super) fn nft_table(rules: &[Rule]) -> String {
    let mut s = format!("table {NFT_TABLE} {{\n");
    for (chain, hook, direction) in
        [("input", "input", Direction::In), ("output", "output", Direction::Out)]
    {
        let _ = writeln!(s, "\tchain {chain} {{");
        let _ = writeln!(s, "\t\ttype filter hook {hook} priority filter; policy accept;");
        for r in rules.iter().filter(|r| r.direction == direction) {
            let what = match (r.protocol, r.matches) {
                (Protocol::Udp, Match::Port(p)) => format!("udp dport {p}"),
                (Protocol::Icmpv4, Match::Icmp(e)) => format!("icmp type {}", e.nft_name()),
                (Protocol::Icmpv6, Match::Icmp(e)) => format!("icmpv6 type {}", e.nft_name()),
                // Not made by `rules`; written as a comment rather than a wrong rule.
                (p, m) => format!("# unsupported: {p:?} {m:?}"),
            };
            let _ = writeln!(s, "\t\t{what} counter accept comment \"{}\"", r.description);
        }
        let _ = writeln!(s, "\t}}");
    }
    s.push_str("}\n");
    s
}

fn nftables(rules: &[Rule]) -> String {
    format!(
        "#!/usr/sbin/nft -f\n\
         # wakeproxy's firewall exceptions, from its effective configuration.\n\
         # Loading this file (nft -f FILE, or `wakeproxy firewall apply`) replaces the table\n\
         # {NFT_TABLE} in one transaction. Its accepts do not override a drop in another table's\n\
         # base chain: with a default-drop ruleset, also allow these packets in your own rules.\n\
         {}",
        super::nft_apply_script(rules)
    )
}

fn ufw(rules: &[Rule]) -> String {
    let mut s = String::from(
        "# wakeproxy's firewall exceptions for ufw, from its effective configuration (as root).\n",
    );
    for r in rules {
        if let Match::Port(p) = r.matches {
            let _ = writeln!(
                s,
                "ufw allow {} proto udp to any port {p} comment '{}'",
                r.direction.as_str(),
                r.description
            );
        }
    }
    s.push_str(
        "# ICMP and ICMPv6 echo (request in, reply out; request out, reply in): ufw has no command\n\
         # for them. Its default /etc/ufw/before.rules and before6.rules accept echo requests in,\n\
         # replies come back as established traffic, and outgoing traffic is allowed by default.\n\
         # If you removed those lines or deny outgoing traffic, restore them.\n",
    );
    s
}

fn firewalld(rules: &[Rule]) -> String {
    let mut s = String::from(
        "# wakeproxy's firewall exceptions for firewalld, from its effective configuration (as\n\
         # root; add --zone=ZONE to use another zone than the default one).\n",
    );
    for r in rules {
        match (r.direction, r.matches) {
            (Direction::In, Match::Port(p)) => {
                let _ = writeln!(s, "firewall-cmd --permanent --add-port={p}/udp");
            }
            (Direction::Out, Match::Port(p)) => {
                let _ = writeln!(
                    s,
                    "# UDP {p} out: firewalld allows outgoing traffic unless a policy restricts \
                     it; then: firewall-cmd --permanent --policy=POLICY --add-port={p}/udp"
                );
            }
            // One icmptype covers IPv4 and IPv6: write it once, for the IPv4 rule.
            (Direction::In, Match::Icmp(e)) if r.protocol == Protocol::Icmpv4 => {
                let _ =
                    writeln!(s, "firewall-cmd --permanent --remove-icmp-block={}", e.nft_name());
            }
            _ => {}
        }
    }
    s.push_str(
        "# ICMP echo is allowed by default; the two lines above undo a block (a warning that it\n\
         # was not enabled is fine). Outgoing echo is allowed unless a policy restricts it.\n\
         firewall-cmd --reload\n",
    );
    s
}

/// The `netsh` command that adds `rule` for `profiles` (a full command line).
fn windows_add(r: &Rule, profiles: Profiles) -> String {
    let what = match (r.protocol, r.matches, r.direction) {
        (Protocol::Udp, Match::Port(p), Direction::In) => format!("protocol=UDP localport={p}"),
        (Protocol::Udp, Match::Port(p), Direction::Out) => format!("protocol=UDP remoteport={p}"),
        (Protocol::Icmpv4, ..) => format!("protocol=icmpv4:{},any", r.icmp_type().unwrap_or(8)),
        _ => format!("protocol=icmpv6:{},any", r.icmp_type().unwrap_or(128)),
    };
    format!(
        "netsh advfirewall firewall add rule name=\"wakeproxy {}\" dir={} action=allow {what} \
         profile={profiles} description=\"{}\"",
        r.name,
        r.direction.as_str(),
        r.description
    )
}

/// The `netsh` commands that add `rules` for `profiles`, one full command line each.
pub fn windows_add_commands(rules: &[Rule], profiles: Profiles) -> Vec<String> {
    rules.iter().map(|r| windows_add(r, profiles)).collect()
}

/// The `netsh` commands that delete the rules [`windows_add_commands`] adds, whatever their
/// ports and profiles (rules are found by name).
pub fn windows_delete_commands(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| format!("netsh advfirewall firewall delete rule name=\"wakeproxy {}\"", r.name))
        .collect()
}

fn windows(rules: &[Rule], profiles: Profiles) -> String {
    let mut s = format!(
        "rem wakeproxy's Windows Firewall exceptions, from its effective configuration, for the\n\
         rem {profiles} profile(s); run in cmd.exe as Administrator.\n\
         rem First remove earlier wakeproxy rules (\"No rules match\" is fine):\n"
    );
    for c in windows_delete_commands(rules) {
        let _ = writeln!(s, "{c}");
    }
    s.push_str("rem Then add them:\n");
    for c in windows_add_commands(rules, profiles) {
        let _ = writeln!(s, "{c}");
    }
    s
}
