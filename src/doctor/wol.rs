//! Whether the NIC wakes this host on a magic packet (`os::wol_setting`), and, with `--fix`,
//! turning it on; plus how to make it last, which the kernel's setting does not.
//!
//! # Making it persistent on Linux
//!
//! The ethtool setting lasts until the driver is reloaded or the machine reboots. systemd-udevd
//! applies `WakeOnLan=` from a `.link` file each time the device appears, but only the first
//! `.link` file (in lexical order) that matches a device applies, so a file of ours that matches
//! the NIC replaces `99-default.link` for it, naming policy included. The file doctor proposes
//! ([`link_file`]) therefore repeats the default's naming lines, so the interface keeps its
//! name; where another file already matches the NIC, `WakeOnLan=magic` belongs in that one.
//! NetworkManager sets the NIC itself when it activates a connection, from the connection's
//! `802-3-ethernet.wake-on-lan`, so where it manages the interface that is the setting to change.

use std::fmt::Write as _;

use super::{Check, Options, System, Topic, Verdict};
use crate::core::addr::MacAddr;
use crate::os::wol_setting::{MagicWake, NicWake, WolSettingError};

/// Where [`link_file`]'s content goes.
pub const LINK_FILE: &str = "/etc/systemd/network/50-wakeproxy-wol.link";

/// A systemd `.link` file that sets `WakeOnLan=magic` on the NIC with `mac` and names it as
/// `99-default.link` does (only the first matching `.link` file applies).
pub fn link_file(mac: &MacAddr) -> String {
    format!(
        "[Match]\n\
         MACAddress={mac}\n\
         \n\
         [Link]\n\
         # As 99-default.link, which this file replaces for this NIC: the name stays.\n\
         NamePolicy=keep kernel database onboard slot path\n\
         AlternativeNamesPolicy=database onboard slot path\n\
         MACAddressPolicy=persistent\n\
         WakeOnLan=magic\n"
    )
}

/// How to keep waking by magic packet on across reboots, for interface `iface` with `mac`, in
/// this OS's terms.
pub fn persistent_fix(iface: &str, mac: &MacAddr) -> String {
    if cfg!(windows) {
        return format!(
            "in an elevated PowerShell: Set-NetAdapterPowerManagement -Name '{iface}' \
             -WakeOnMagicPacket Enabled (the driver keeps it); also allow the adapter to wake \
             the computer: Device Manager, the adapter's Properties, Power Management, \"Allow \
             this device to wake the computer\" (powercfg /devicequery wake_armed lists the \
             devices that may)"
        );
    }
    let mut s = format!("to keep it after a reboot: with systemd-udevd, write {LINK_FILE}:\n");
    for line in link_file(mac).lines() {
        let _ = writeln!(s, "    {line}");
    }
    let _ = write!(
        s,
        "  (it applies from the next boot; if a file in /etc/systemd/network already matches \
         {iface}, put WakeOnLan=magic in that one instead, since only the first matching .link \
         file applies; if the NIC's driver is in the initramfs, rebuild it: update-initramfs -u \
         or dracut -f);\n  where NetworkManager manages {iface}: nmcli connection modify \
         \"$(nmcli -g GENERAL.CONNECTION device show {iface})\" 802-3-ethernet.wake-on-lan \
         magic;\n  with netplan: wakeonlan: true under the interface, then netplan apply"
    );
    s
}

/// How to turn it on now, by hand or with `--fix`.
fn enable_now(iface: &str) -> String {
    if cfg!(windows) {
        format!(
            "run `wakeproxy doctor --fix` from an elevated prompt, or in an elevated \
             PowerShell: Set-NetAdapterPowerManagement -Name '{iface}' -WakeOnMagicPacket Enabled"
        )
    } else {
        format!("run `wakeproxy doctor --fix` as root, or `ethtool -s {iface} wol g`")
    }
}

/// The check for interface `iface` (MAC `mac`); with `options.fix`, turns magic packets on
/// where the NIC offers them.
pub(super) fn check(iface: &str, mac: &MacAddr, options: Options, sys: &dyn System) -> Check {
    let found = match sys.wol(iface) {
        Ok(w) => w,
        Err(e) => return failed(iface, &e),
    };
    match found.magic() {
        MagicWake::Enabled => Check::new(
            Topic::WakeOnLan,
            iface,
            Verdict::Ok,
            format!("{}: a magic packet wakes this host through {iface}", found.describe()),
        )
        .details(details(&found)),
        MagicWake::NotOffered => {
            let e = WolSettingError::MagicNotOffered {
                iface: iface.to_owned(),
                offered: found.describe(),
            };
            failed(iface, &e).details(details(&found))
        }
        MagicWake::Disabled if options.fix => match sys.enable_wol(iface) {
            Ok(now) if now.magic() == MagicWake::Enabled => Check::new(
                Topic::WakeOnLan,
                iface,
                Verdict::Warn,
                format!(
                    "waking by magic packet was off on {iface} ({}); turned it on ({}), until the \
                     next reboot",
                    found.describe(),
                    now.describe()
                ),
            )
            .fix(persistent_fix(iface, mac))
            .details(details(&now)),
            Ok(now) => Check::new(
                Topic::WakeOnLan,
                iface,
                Verdict::Fail,
                format!(
                    "waking by magic packet is off on {iface} and stayed off when turned on \
                     ({}): the driver ignores the setting",
                    now.describe()
                ),
            )
            .fix("look in the firmware (BIOS/UEFI) setup for a Wake-on-LAN setting, or update the driver")
            .details(details(&now)),
            Err(e) => failed(iface, &e).details(details(&found)),
        },
        MagicWake::Disabled => Check::new(
            Topic::WakeOnLan,
            iface,
            Verdict::Fail,
            format!(
                "waking by magic packet is off on {iface} ({}): a sleeping host is not woken \
                 through it",
                found.describe()
            ),
        )
        .fix(format!("{}; {}", enable_now(iface), persistent_fix(iface, mac)))
        .details(details(&found)),
    }
}

/// The check when the setting could not be read (or set): unchecked without the rights,
/// failed otherwise.
fn failed(iface: &str, e: &WolSettingError) -> Check {
    let verdict = match e {
        WolSettingError::PermissionDenied { .. }
        | WolSettingError::PowerShellMissing { .. }
        | WolSettingError::PowerShell { .. }
        | WolSettingError::Os { .. }
        | WolSettingError::Unsupported { .. } => Verdict::Unchecked,
        _ => Verdict::Fail,
    };
    Check::new(Topic::WakeOnLan, iface, verdict, e.problem()).fix(e.remedy())
}

fn details(found: &NicWake) -> serde_json::Value {
    let mut v = serde_json::to_value(found).unwrap_or_default();
    v["magic"] = serde_json::to_value(found.magic()).unwrap_or_default();
    v
}
