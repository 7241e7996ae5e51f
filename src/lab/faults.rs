//! Network faults in the lab, with nftables (this kernel has no netem qdisc): a partition
//! between groups of hosts (a bridge-family table in the switch namespace that drops frames
//! between their switch ports) and random loss on a host (`numgen random` in the host's
//! namespace).

use super::{Lab, LabError, netns, switch_ns};

/// The nftables table the lab's faults live in (one per namespace).
const TABLE: &str = "wakeproxy_lab";

fn nft(ns: &str, script: &str) -> Result<(), LabError> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("piped").write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .map_err(|e| LabError::Command {
            command: "nft".into(),
            message: format!("{e} (Debian: apt-get install nftables)"),
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: "nft".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

impl Lab {
    /// The switch port of host `i`.
    fn port(&self, i: usize) -> String {
        format!("{}h{}b", self.name, i + 1)
    }

    /// Cuts every host of `a` off from every host of `b` (both ways), on top of any partition
    /// already in force.
    pub fn partition(&self, a: &[usize], b: &[usize]) -> Result<(), LabError> {
        let mut rules = String::new();
        for &x in a {
            for &y in b {
                for (i, o) in [(x, y), (y, x)] {
                    rules.push_str(&format!(
                        "add rule bridge {TABLE} forward iifname \"{}\" oifname \"{}\" drop\n",
                        self.port(i),
                        self.port(o)
                    ));
                }
            }
        }
        let script = format!(
            "add table bridge {TABLE}\nadd chain bridge {TABLE} forward {{ type filter hook forward priority 0; }}\n{rules}"
        );
        nft(&switch_ns(&self.name), &script)
    }

    /// Ends every partition.
    pub fn heal(&self) -> Result<(), LabError> {
        netns::run_quiet(&[
            "ip",
            "netns",
            "exec",
            &switch_ns(&self.name),
            "nft",
            "delete",
            "table",
            "bridge",
            TABLE,
        ]);
        Ok(())
    }

    /// Drops `percent` % of host `i`'s packets at random, both ways (0 removes the loss).
    pub fn loss(&self, i: usize, percent: u8) -> Result<(), LabError> {
        if percent > 100 {
            return Err(LabError::BadArgs(format!("loss must be 0 to 100 percent, got {percent}")));
        }
        let ns = &self.hosts[i].ns;
        netns::run_quiet(&["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", TABLE]);
        if percent == 0 {
            return Ok(());
        }
        let script = format!(
            "add table inet {TABLE}\n\
             add chain inet {TABLE} input {{ type filter hook input priority 0; }}\n\
             add chain inet {TABLE} output {{ type filter hook output priority 0; }}\n\
             add rule inet {TABLE} input numgen random mod 100 < {percent} drop\n\
             add rule inet {TABLE} output numgen random mod 100 < {percent} drop\n"
        );
        nft(ns, &script)
    }
}
