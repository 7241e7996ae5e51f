//! Installing and removing the exceptions on this machine: the nftables table on Linux, `netsh`
//! rules on Windows. Both are idempotent.

use super::{Profiles, Rule, render};

/// The nftables table wakeproxy's rules live in.
pub const NFT_TABLE: &str = "inet wakeproxy";

/// Why `firewall apply` / `remove` failed. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `nft` is not installed (or not on `PATH`).
    #[error(
        "`nft` was not found: install the nftables package (Debian, Ubuntu: apt-get install \
         nftables; Fedora, RHEL: dnf install nftables), or print the rules for your firewall with \
         `wakeproxy firewall show --format ufw|firewalld`"
    )]
    NftMissing,
    /// A command failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Its error output.
        message: String,
    },
    /// Not on this platform.
    #[error(
        "`wakeproxy firewall {0}` is not available on this platform: use `wakeproxy firewall show`"
    )]
    Unsupported(&'static str),
}

/// The nftables script `apply` loads: replaces the table in one transaction (`add` makes sure
/// there is one to delete, so it works whether or not it existed).
pub fn nft_apply_script(rules: &[Rule]) -> String {
    format!("add table {NFT_TABLE}\ndelete table {NFT_TABLE}\n{}", render::nft_table(rules))
}

/// The nftables script `remove` loads: deletes the table if it exists, in one transaction.
pub fn nft_remove_script() -> String {
    format!("add table {NFT_TABLE}\ndelete table {NFT_TABLE}\n")
}

/// Installs `rules`: on Linux the table `inet wakeproxy` (replacing an earlier one), on Windows
/// the `netsh` rules for `profiles` (replacing earlier wakeproxy rules).
pub fn apply(rules: &[Rule], profiles: Profiles) -> Result<(), FirewallError> {
    #[cfg(target_os = "linux")]
    {
        let _ = profiles;
        nft(&nft_apply_script(rules))
    }
    #[cfg(windows)]
    {
        windows::delete(rules);
        for c in render::windows_add_commands(rules, profiles) {
            windows::netsh(&c)?;
        }
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (rules, profiles);
        Err(FirewallError::Unsupported("apply"))
    }
}

/// Removes what [`apply`] installed; nothing to remove is not an error.
pub fn remove(rules: &[Rule]) -> Result<(), FirewallError> {
    #[cfg(target_os = "linux")]
    {
        let _ = rules;
        nft(&nft_remove_script())
    }
    #[cfg(windows)]
    {
        windows::delete(rules);
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = rules;
        Err(FirewallError::Unsupported("remove"))
    }
}

/// Runs `nft -f -` with `script` on its standard input.
#[cfg(target_os = "linux")]
fn nft(script: &str) -> Result<(), FirewallError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FirewallError::NftMissing);
        }
        Err(e) => {
            return Err(FirewallError::Command {
                command: "nft -f -".into(),
                message: e.to_string(),
            });
        }
    };
    let written = child.stdin.take().map_or(Ok(()), |mut stdin| stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(|e| FirewallError::Command {
        command: "nft -f -".into(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if message.contains("Operation not permitted") {
            message.push_str(&format!(" ({})", crate::os::words::HERE.elevate));
        }
        return Err(FirewallError::Command { command: "nft -f -".into(), message });
    }
    written
        .map_err(|e| FirewallError::Command { command: "nft -f -".into(), message: e.to_string() })
}

#[cfg(windows)]
mod windows {
    use super::{FirewallError, Rule, render};

    /// Runs one `netsh …` command line as written (netsh parses `name="…"` itself).
    pub(super) fn netsh(line: &str) -> Result<(), FirewallError> {
        use std::os::windows::process::CommandExt;
        let args = line.strip_prefix("netsh ").unwrap_or(line);
        let out = std::process::Command::new("netsh")
            .raw_arg(args)
            .output()
            .map_err(|e| FirewallError::Command { command: line.into(), message: e.to_string() })?;
        if !out.status.success() {
            // netsh writes its errors to standard output.
            let text = [out.stdout, out.stderr].concat();
            return Err(FirewallError::Command {
                command: line.into(),
                message: String::from_utf8_lossy(&text).trim().to_owned(),
            });
        }
        Ok(())
    }

    /// Deletes every wakeproxy rule by name; "No rules match" is not an error.
    pub(super) fn delete(rules: &[Rule]) {
        for c in render::windows_delete_commands(rules) {
            let _ = netsh(&c);
        }
    }
}
