use super::*;

fn custom() -> Config {
    Config { peer_port: 41234, wol_port: 7, ..Config::default() }
}

fn ports(c: &Config) -> [(u16, Direction); 3] {
    [(c.peer_port, Direction::In), (c.peer_port, Direction::Out), (c.wol_port, Direction::Out)]
}

#[test]
fn rules_follow_the_configured_ports() {
    for config in [Config::default(), custom()] {
        let rules = rules(&config);
        for (port, direction) in ports(&config) {
            assert!(
                rules.iter().any(|r| r.protocol == Protocol::Udp
                    && r.direction == direction
                    && r.port() == Some(port)
                    && r.description.contains(&port.to_string())),
                "UDP {port} {direction:?} missing: {rules:?}"
            );
        }
        // The WoL port is only sent to, never received on.
        assert!(
            !rules
                .iter()
                .any(|r| r.port() == Some(config.wol_port) && r.direction == Direction::In)
        );
        // No default port leaks into a custom configuration.
        if config.peer_port != 25536 {
            assert!(rules.iter().all(|r| r.port() != Some(25536) && r.port() != Some(9)));
        }
    }
}

#[test]
fn icmp_echo_both_ways_for_both_families() {
    let rules = rules(&Config::default());
    for (protocol, request, reply) in [(Protocol::Icmpv4, 8, 0), (Protocol::Icmpv6, 128, 129)] {
        for (direction, ty) in [
            (Direction::In, request),
            (Direction::Out, reply),
            (Direction::Out, request),
            (Direction::In, reply),
        ] {
            assert!(
                rules.iter().any(|r| r.protocol == protocol
                    && r.direction == direction
                    && r.icmp_type() == Some(ty)),
                "{protocol:?} type {ty} {direction:?} missing"
            );
        }
    }
    assert_eq!(rules.len(), 3 + 8);
    // Names are unique (Windows finds rules by name) and carry no port.
    let names: std::collections::HashSet<&str> = rules.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), rules.len());
    assert!(rules.iter().all(|r| r.port().is_none_or(|p| !r.name.contains(&p.to_string()))));
}

#[test]
fn nftables_script_has_every_port_in_the_right_chain() {
    for config in [Config::default(), custom()] {
        let text = render(&rules(&config), Format::Nftables, Profiles::default());
        assert!(
            text.contains(
                "add table inet wakeproxy\ndelete table inet wakeproxy\ntable inet wakeproxy {"
            ),
            "{text}"
        );
        let input = &text[text.find("chain input").unwrap()..text.find("chain output").unwrap()];
        let output = &text[text.find("chain output").unwrap()..];
        assert!(input.contains("type filter hook input priority filter; policy accept;"));
        assert!(output.contains("type filter hook output priority filter; policy accept;"));
        assert!(
            input.contains(&format!("udp dport {} counter accept", config.peer_port)),
            "{text}"
        );
        assert!(
            output.contains(&format!("udp dport {} counter accept", config.peer_port)),
            "{text}"
        );
        assert!(
            output.contains(&format!("udp dport {} counter accept", config.wol_port)),
            "{text}"
        );
        assert!(!input.contains(&format!("udp dport {} ", config.wol_port)), "{text}");
        for chain in [input, output] {
            for m in [
                "icmp type echo-request",
                "icmp type echo-reply",
                "icmpv6 type echo-request",
                "icmpv6 type echo-reply",
            ] {
                assert!(chain.contains(m), "{m}: {chain}");
            }
        }
        assert!(
            text.lines().filter(|l| !l.starts_with('#')).all(|l| !l.contains("drop")),
            "the table must never drop: {text}"
        );
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}

#[test]
fn ufw_and_firewalld_commands_have_every_port() {
    for config in [Config::default(), custom()] {
        let rules = rules(&config);
        let ufw = render(&rules, Format::Ufw, Profiles::default());
        let (peer, wol) = (config.peer_port, config.wol_port);
        for line in [
            format!("ufw allow in proto udp to any port {peer} comment"),
            format!("ufw allow out proto udp to any port {peer} comment"),
            format!("ufw allow out proto udp to any port {wol} comment"),
        ] {
            assert!(ufw.contains(&line), "{line}: {ufw}");
        }
        assert!(ufw.contains("echo"), "{ufw}");
        let fwd = render(&rules, Format::Firewalld, Profiles::default());
        assert!(
            fwd.contains(&format!("\nfirewall-cmd --permanent --add-port={peer}/udp\n")),
            "{fwd}"
        );
        assert!(fwd.contains(&format!("--add-port={wol}/udp")), "{fwd}");
        assert!(
            !fwd.contains(&format!("\nfirewall-cmd --permanent --add-port={wol}/udp")),
            "{fwd}"
        );
        assert!(fwd.contains("--remove-icmp-block=echo-request"), "{fwd}");
        assert!(fwd.trim_end().ends_with("firewall-cmd --reload"), "{fwd}");
    }
}

#[test]
fn windows_commands_for_every_profile_combination() {
    let combos: Vec<Profiles> = Profiles::all_combinations().collect();
    assert_eq!(combos.len(), 7);
    for config in [Config::default(), custom()] {
        let rules = rules(&config);
        let (peer, wol) = (config.peer_port, config.wol_port);
        for profiles in &combos {
            let p = profiles.to_string();
            assert_eq!(p.parse::<Profiles>().unwrap(), *profiles);
            let text = render(&rules, Format::Windows, *profiles);
            let adds = windows_add_commands(&rules, *profiles);
            assert_eq!(adds.len(), rules.len());
            for a in &adds {
                assert!(text.contains(a.as_str()));
                assert!(
                    a.starts_with("netsh advfirewall firewall add rule name=\"wakeproxy "),
                    "{a}"
                );
                assert!(a.contains(" action=allow "), "{a}");
                assert!(a.contains(&format!(" profile={p} ")), "{a}");
            }
            for expected in [
                format!("dir=in action=allow protocol=UDP localport={peer} profile={p} "),
                format!("dir=out action=allow protocol=UDP remoteport={peer} profile={p} "),
                format!("dir=out action=allow protocol=UDP remoteport={wol} profile={p} "),
                format!("dir=in action=allow protocol=icmpv4:8,any profile={p} "),
                format!("dir=out action=allow protocol=icmpv4:0,any profile={p} "),
                format!("dir=out action=allow protocol=icmpv4:8,any profile={p} "),
                format!("dir=in action=allow protocol=icmpv4:0,any profile={p} "),
                format!("dir=in action=allow protocol=icmpv6:128,any profile={p} "),
                format!("dir=out action=allow protocol=icmpv6:129,any profile={p} "),
                format!("dir=out action=allow protocol=icmpv6:128,any profile={p} "),
                format!("dir=in action=allow protocol=icmpv6:129,any profile={p} "),
            ] {
                assert!(adds.iter().any(|a| a.contains(&expected)), "{expected}: {adds:#?}");
            }
            // Each added rule has its matching delete, by the same name, and deletes come first.
            let deletes = windows_delete_commands(&rules);
            for (a, d) in adds.iter().zip(&deletes) {
                let name = &a[a.find("name=").unwrap()..a.find(" dir=").unwrap()];
                assert_eq!(*d, format!("netsh advfirewall firewall delete rule {name}"));
                assert!(text.find(d.as_str()).unwrap() < text.find(a.as_str()).unwrap());
            }
        }
    }
}

#[test]
fn profiles_parse_and_print() {
    assert_eq!(Profiles::default().to_string(), "domain,private");
    assert_eq!("public,domain".parse::<Profiles>().unwrap().to_string(), "domain,public");
    assert_eq!(
        "private".parse::<Profiles>().unwrap(),
        Profiles { domain: false, private: true, public: false }
    );
    for bad in ["", "work", "domain,", "domain,home"] {
        let e = bad.parse::<Profiles>().unwrap_err();
        let text = e.to_string();
        assert!(text.contains("domain, private or public"), "{text}");
    }
    assert!("domain,home".parse::<Profiles>().unwrap_err().to_string().starts_with("`home`"));
}

#[test]
fn formats_parse_and_print() {
    for f in Format::ALL {
        assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
    }
    let e = "iptables".parse::<Format>().unwrap_err().to_string();
    assert!(e.contains("`iptables`") && e.contains("nftables, ufw, firewalld, windows"), "{e}");
    assert_eq!(Format::native(), if cfg!(windows) { Format::Windows } else { Format::Nftables });
}

#[test]
fn remove_script_is_idempotent_and_touches_only_our_table() {
    assert_eq!(nft_remove_script(), "add table inet wakeproxy\ndelete table inet wakeproxy\n");
    let apply = nft_apply_script(&rules(&Config::default()));
    assert!(apply.starts_with(&nft_remove_script()));
    assert_eq!(apply.matches("table ").count(), 3, "{apply}");
}
