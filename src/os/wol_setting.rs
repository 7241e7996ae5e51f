//! A NIC's own Wake-on-LAN setting: whether the network card of this host wakes it when a magic
//! packet arrives. wakeproxy sends the right packets to the right place; none of that helps if
//! the sleeper's NIC is not armed for them, which is the most common reason a wake fails.
//!
//! - Linux: the ethtool Wake-on-LAN query (`SIOCETHTOOL`, `ETHTOOL_GWOL`; the ioctl itself is in
//!   `sys::linux::ethtool`), decoded here into [`WolModes`] the way `ethtool` prints them
//!   ("Supports Wake-on: pumbg", "Wake-on: d"). [`enable_magic`] sets `g` (`ETHTOOL_SWOL`),
//!   which lasts until the next reboot or driver reload.
//! - Windows: the adapter's power management settings as `Get-NetAdapterPowerManagement` reads
//!   them (`WakeOnMagicPacket`, `WakeOnPattern`), through Windows PowerShell; [`enable_magic`]
//!   runs `Set-NetAdapterPowerManagement -WakeOnMagicPacket Enabled`, which the driver keeps.
//!   Wine has no PowerShell and no NetAdapter module, so this half is compiled and its parsing
//!   tested everywhere, but it runs only on Windows itself.
//!
//! Decoding is pure ([`WolModes`], [`parse_adapter_power`], [`WolSettingError::from_os`]) and
//! tested beside the code; every error names the interface and what to do.

use std::fmt;
use std::io;

use crate::os::words::HERE;

/// A set of Wake-on-LAN events, as the kernel's `WAKE_*` bits (`linux/ethtool.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(into = "String")]
pub struct WolModes(pub u32);

impl WolModes {
    /// `WAKE_PHY` (`p`): on PHY activity.
    pub const PHY: u32 = 1 << 0;
    /// `WAKE_UCAST` (`u`): on unicast frames.
    pub const UCAST: u32 = 1 << 1;
    /// `WAKE_MCAST` (`m`): on multicast frames.
    pub const MCAST: u32 = 1 << 2;
    /// `WAKE_BCAST` (`b`): on broadcast frames.
    pub const BCAST: u32 = 1 << 3;
    /// `WAKE_ARP` (`a`): on ARP.
    pub const ARP: u32 = 1 << 4;
    /// `WAKE_MAGIC` (`g`): on a magic packet, what wakeproxy sends.
    pub const MAGIC: u32 = 1 << 5;
    /// `WAKE_MAGICSECURE` (`s`): on a magic packet with the SecureOn password.
    pub const MAGICSECURE: u32 = 1 << 6;
    /// `WAKE_FILTER` (`f`): on a network-flow filter match.
    pub const FILTER: u32 = 1 << 7;

    /// Each bit and its letter, in the order `ethtool` prints them.
    const LETTERS: [(u32, char); 8] = [
        (Self::PHY, 'p'),
        (Self::UCAST, 'u'),
        (Self::MCAST, 'm'),
        (Self::BCAST, 'b'),
        (Self::ARP, 'a'),
        (Self::MAGIC, 'g'),
        (Self::MAGICSECURE, 's'),
        (Self::FILTER, 'f'),
    ];

    /// The letters `ethtool` prints for this set: `pumbg`, or `d` (disabled) for none. Bits
    /// this version does not know are not shown, as `ethtool` does not show them.
    pub fn letters(self) -> String {
        let s: String =
            Self::LETTERS.iter().filter(|(bit, _)| self.0 & bit != 0).map(|&(_, c)| c).collect();
        if s.is_empty() { "d".to_owned() } else { s }
    }

    /// The set `ethtool -s IFACE wol LETTERS` means; `None` for a letter it does not know.
    pub fn from_letters(letters: &str) -> Option<Self> {
        let mut bits = 0;
        for c in letters.chars() {
            match Self::LETTERS.iter().find(|(_, l)| *l == c) {
                Some((bit, _)) => bits |= bit,
                None if c == 'd' => {}
                None => return None,
            }
        }
        Some(Self(bits))
    }

    /// Whether a magic packet is among them (`g`; `s` alone needs a password wakeproxy sends
    /// only when told it).
    pub fn magic(self) -> bool {
        self.0 & Self::MAGIC != 0
    }
}

impl fmt::Display for WolModes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.letters())
    }
}

impl From<WolModes> for String {
    fn from(m: WolModes) -> Self {
        m.letters()
    }
}

/// A Linux NIC's Wake-on-LAN setting, as `ethtool IFACE` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WolSetting {
    /// "Supports Wake-on".
    pub supported: WolModes,
    /// "Wake-on": the events enabled now.
    pub enabled: WolModes,
}

/// One power management setting of a Windows adapter (`MSFT_NetAdapterPowerManagementSettingData`:
/// 0 Unsupported, 1 Inactive, 2 Disabled, 3 Enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerSetting {
    /// The driver does not offer it.
    Unsupported,
    /// Offered, but not in effect (the device cannot wake the machine now).
    Inactive,
    /// Offered and off.
    Disabled,
    /// On.
    Enabled,
}

impl PowerSetting {
    /// The name PowerShell shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsupported => "Unsupported",
            Self::Inactive => "Inactive",
            Self::Disabled => "Disabled",
            Self::Enabled => "Enabled",
        }
    }

    /// From the number the CIM class uses or the name PowerShell shows.
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let all = [Self::Unsupported, Self::Inactive, Self::Disabled, Self::Enabled];
        match v {
            serde_json::Value::Number(n) => all.get(usize::try_from(n.as_u64()?).ok()?).copied(),
            serde_json::Value::String(s) => {
                all.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            }
            _ => None,
        }
    }
}

/// A Windows adapter's wake settings, as `Get-NetAdapterPowerManagement` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AdapterPower {
    /// "Wake on Magic Packet".
    pub wake_on_magic_packet: PowerSetting,
    /// "Wake on pattern match".
    pub wake_on_pattern: Option<PowerSetting>,
}

/// What the NIC says about waking by magic packet, on either platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum NicWake {
    /// Linux: the ethtool query.
    Ethtool(WolSetting),
    /// Windows: the adapter's power management.
    AdapterPower(AdapterPower),
}

/// Whether the NIC wakes on a magic packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MagicWake {
    /// It does.
    Enabled,
    /// It could, but the setting is off (or, on Windows, not in effect).
    Disabled,
    /// It cannot: the NIC or its driver does not offer it.
    NotOffered,
}

impl NicWake {
    /// Whether a magic packet wakes the host through this NIC.
    pub fn magic(&self) -> MagicWake {
        match self {
            Self::Ethtool(s) if s.enabled.magic() => MagicWake::Enabled,
            Self::Ethtool(s) if s.supported.magic() => MagicWake::Disabled,
            Self::Ethtool(_) => MagicWake::NotOffered,
            Self::AdapterPower(p) => match p.wake_on_magic_packet {
                PowerSetting::Enabled => MagicWake::Enabled,
                PowerSetting::Disabled | PowerSetting::Inactive => MagicWake::Disabled,
                PowerSetting::Unsupported => MagicWake::NotOffered,
            },
        }
    }

    /// In the system's own words: "Supports Wake-on: pumbg, Wake-on: g" or
    /// "WakeOnMagicPacket: Enabled, WakeOnPattern: Disabled".
    pub fn describe(&self) -> String {
        match self {
            Self::Ethtool(s) => {
                format!("Supports Wake-on: {}, Wake-on: {}", s.supported, s.enabled)
            }
            Self::AdapterPower(p) => {
                let mut s = format!("WakeOnMagicPacket: {}", p.wake_on_magic_packet.as_str());
                if let Some(w) = p.wake_on_pattern {
                    s.push_str(&format!(", WakeOnPattern: {}", w.as_str()));
                }
                s
            }
        }
    }
}

/// Why the NIC's Wake-on-LAN setting could not be read or changed. Every message names the
/// interface and says what to do: [`problem`](Self::problem), then [`remedy`](Self::remedy).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WolSettingError {
    /// The driver has no Wake-on-LAN at all (Linux: `EOPNOTSUPP`; Windows: `Unsupported`).
    NotSupported {
        /// The interface.
        iface: String,
    },
    /// The NIC offers other wake-up events but not the magic packet.
    MagicNotOffered {
        /// The interface.
        iface: String,
        /// What it offers instead, in its system's words.
        offered: String,
    },
    /// The caller may not read (or change) the setting.
    PermissionDenied {
        /// The interface.
        iface: String,
        /// "reading" or "changing".
        action: &'static str,
    },
    /// No interface of that name.
    NoDevice {
        /// The interface.
        iface: String,
    },
    /// Another error of the operating system.
    Os {
        /// The interface.
        iface: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// (Windows) there is no `powershell.exe` to ask.
    PowerShellMissing {
        /// The interface.
        iface: String,
        /// What starting it said.
        detail: String,
    },
    /// (Windows) PowerShell answered with an error, or with something that is not the setting.
    PowerShell {
        /// The interface.
        iface: String,
        /// The cmdlet.
        command: &'static str,
        /// Its error, or what was wrong with its answer.
        message: String,
    },
    /// Not on this platform.
    Unsupported {
        /// The interface.
        iface: String,
    },
}

impl WolSettingError {
    /// What is wrong, without what to do.
    pub fn problem(&self) -> String {
        match self {
            Self::NotSupported { iface } => format!(
                "the driver of {iface} does not support Wake-on-LAN: this host cannot be woken \
                 through {iface}"
            ),
            Self::MagicNotOffered { iface, offered } => format!(
                "{iface} can wake the host on other events ({offered}) but not on a magic packet \
                 (`g`), which is what wakeproxy sends"
            ),
            Self::PermissionDenied { iface, action } => format!(
                "{action} the Wake-on-LAN setting of {iface} needs more rights than this process \
                 has"
            ),
            Self::NoDevice { iface } => format!("there is no network interface {iface}"),
            Self::Os { iface, source } => format!("the Wake-on-LAN setting of {iface}: {source}"),
            Self::PowerShellMissing { iface, detail } => format!(
                "the Wake-on-LAN setting of {iface} is read with Windows PowerShell \
                 (Get-NetAdapterPowerManagement), which is not available here ({detail})"
            ),
            Self::PowerShell { iface, command, message } => {
                format!("{command} for {iface}: {message}")
            }
            Self::Unsupported { iface } => format!(
                "reading the Wake-on-LAN setting of {iface} is implemented for Linux and Windows \
                 only"
            ),
        }
    }

    /// What to do about it.
    pub fn remedy(&self) -> String {
        match self {
            Self::NotSupported { .. } => "wake it through another NIC that supports it, or look \
                in the firmware (BIOS/UEFI) for a Wake-on-LAN or \"power on by PCI-E\" setting \
                that makes this NIC offer it"
                .to_owned(),
            Self::MagicNotOffered { .. } => {
                "wake it through another NIC, or look for a newer driver or firmware".to_owned()
            }
            Self::PermissionDenied { .. } => HERE.nic_settings.to_owned(),
            Self::NoDevice { .. } => NO_DEVICE_FIX.to_owned(),
            Self::Os { iface, .. }
            | Self::PowerShell { iface, .. }
            | Self::Unsupported { iface } => NIC_PROPERTIES.replace("IFACE", iface),
            Self::PowerShellMissing { iface, .. } => {
                format!("check it by hand: {}", NIC_PROPERTIES.replace("IFACE", iface))
            }
        }
    }
}

impl fmt::Display for WolSettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem(), self.remedy())
    }
}

/// Where a person looks at the setting themselves.
#[cfg(not(windows))]
const NIC_PROPERTIES: &str =
    "check it with `ethtool IFACE` (\"Wake-on\") and in the firmware setup";
/// Where a person looks at the setting themselves.
#[cfg(windows)]
const NIC_PROPERTIES: &str = "check it in Device Manager: the adapter's Properties, Power \
     Management (\"Allow this device to wake the computer\") and Advanced (\"Wake on Magic \
     Packet\")";

#[cfg(not(windows))]
const NO_DEVICE_FIX: &str = "check `interfaces` in the configuration against `ip link`, and whether the NIC's driver is \
     loaded";
#[cfg(windows)]
const NO_DEVICE_FIX: &str = "check `interfaces` in the configuration against Get-NetAdapter, and whether the adapter is \
     enabled";

impl WolSettingError {
    /// The error for what the system answered when asked about `iface` (`action`: "reading" or
    /// "changing"): the `errno` values the ethtool ioctl gives their own variants.
    pub fn from_os(iface: &str, action: &'static str, e: io::Error) -> Self {
        let iface = iface.to_owned();
        // errno values of Linux (asm-generic/errno*.h); the ioctl exists only there.
        const EPERM: i32 = 1;
        const ENODEV: i32 = 19;
        const EACCES: i32 = 13;
        const EOPNOTSUPP: i32 = 95;
        match e.raw_os_error() {
            Some(EOPNOTSUPP) => Self::NotSupported { iface },
            Some(EPERM | EACCES) => Self::PermissionDenied { iface, action },
            Some(ENODEV) => Self::NoDevice { iface },
            _ => Self::Os { iface, source: e },
        }
    }
}

/// Reads the Wake-on-LAN setting of interface `iface` (Linux: its kernel name; Windows: the
/// adapter's name, `Ethernet`). Needs root or `CAP_NET_ADMIN` on Linux.
pub fn query(iface: &str) -> Result<NicWake, WolSettingError> {
    #[cfg(target_os = "linux")]
    {
        let info = crate::os::sys::linux::ethtool::get_wol(iface)
            .map_err(|e| WolSettingError::from_os(iface, "reading", e))?;
        Ok(NicWake::Ethtool(WolSetting {
            supported: WolModes(info.supported),
            enabled: WolModes(info.wolopts),
        }))
    }
    #[cfg(windows)]
    {
        windows::query(iface)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        Err(WolSettingError::Unsupported { iface: iface.to_owned() })
    }
}

/// Turns on waking by magic packet on `iface`, keeping what else is on, and returns the setting
/// read back. On Linux it lasts until the next reboot or driver reload (make it persistent with
/// systemd-udevd's `.link` file or NetworkManager); on Windows the driver keeps it.
pub fn enable_magic(iface: &str) -> Result<NicWake, WolSettingError> {
    #[cfg(target_os = "linux")]
    {
        use crate::os::sys::linux::ethtool;
        let info =
            ethtool::get_wol(iface).map_err(|e| WolSettingError::from_os(iface, "reading", e))?;
        let supported = WolModes(info.supported);
        if !supported.magic() {
            return Err(WolSettingError::MagicNotOffered {
                iface: iface.to_owned(),
                offered: format!("Supports Wake-on: {supported}"),
            });
        }
        ethtool::set_wol(iface, &info, info.wolopts | WolModes::MAGIC)
            .map_err(|e| WolSettingError::from_os(iface, "changing", e))?;
        query(iface)
    }
    #[cfg(windows)]
    {
        windows::enable_magic(iface)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        Err(WolSettingError::Unsupported { iface: iface.to_owned() })
    }
}

/// `text` as a PowerShell single-quoted string (a quote inside is doubled).
pub fn ps_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The PowerShell script that reads adapter `iface`'s wake settings as one line of JSON.
pub fn query_script(iface: &str) -> String {
    format!(
        "Get-NetAdapterPowerManagement -Name {} -ErrorAction Stop | Select-Object \
         WakeOnMagicPacket,WakeOnPattern | ConvertTo-Json -Compress",
        ps_quote(iface)
    )
}

/// The PowerShell script that turns waking by magic packet on for adapter `iface`.
pub fn enable_script(iface: &str) -> String {
    format!(
        "Set-NetAdapterPowerManagement -Name {} -WakeOnMagicPacket Enabled -ErrorAction Stop",
        ps_quote(iface)
    )
}

/// What [`query_script`] prints: `{"WakeOnMagicPacket":3,"WakeOnPattern":2}` (numbers, as
/// `ConvertTo-Json` writes these enumerations; names are accepted too).
pub fn parse_adapter_power(json: &str) -> Result<AdapterPower, String> {
    let v: serde_json::Value = serde_json::from_str(json.trim())
        .map_err(|e| format!("the answer is not JSON ({e}): {:?}", json.trim()))?;
    // Several adapters of one name cannot be, but an array of one is what a pipeline of one
    // object gives in some versions.
    let v = match v {
        serde_json::Value::Array(mut a) if a.len() == 1 => a.remove(0),
        other => other,
    };
    let wake_on_magic_packet = PowerSetting::from_json(&v["WakeOnMagicPacket"])
        .ok_or_else(|| format!("no WakeOnMagicPacket setting in the answer: {v}"))?;
    let wake_on_pattern = PowerSetting::from_json(&v["WakeOnPattern"]);
    Ok(AdapterPower { wake_on_magic_packet, wake_on_pattern })
}

/// Whether PowerShell's error text says the adapter does not exist.
fn says_no_adapter(message: &str) -> bool {
    message.contains("No MSFT_NetAdapter") || message.contains("ObjectNotFound")
}

/// Whether PowerShell's error text says access was denied.
fn says_access_denied(message: &str) -> bool {
    message.contains("Access is denied") || message.contains("PermissionDenied")
}

/// The error for a PowerShell run that failed with `message` on its error output.
pub fn powershell_error(iface: &str, command: &'static str, message: &str) -> WolSettingError {
    let iface = iface.to_owned();
    let action = if command.starts_with("Set-") { "changing" } else { "reading" };
    if says_no_adapter(message) {
        WolSettingError::NoDevice { iface }
    } else if says_access_denied(message) {
        WolSettingError::PermissionDenied { iface, action }
    } else {
        let message = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("failed");
        WolSettingError::PowerShell { iface, command, message: message.to_owned() }
    }
}

#[cfg(windows)]
mod windows {
    use super::*;

    /// Runs `script` in Windows PowerShell and returns its standard output.
    fn powershell(
        iface: &str,
        command: &'static str,
        script: &str,
    ) -> Result<String, WolSettingError> {
        let out = std::process::Command::new("powershell.exe")
            .args(["-NoProfile", "-NonInteractive", "-Command", script])
            .output()
            .map_err(|e| WolSettingError::PowerShellMissing {
                iface: iface.to_owned(),
                detail: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(powershell_error(iface, command, &String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(super) fn query(iface: &str) -> Result<NicWake, WolSettingError> {
        const CMD: &str = "Get-NetAdapterPowerManagement";
        let text = powershell(iface, CMD, &query_script(iface))?;
        let power = parse_adapter_power(&text).map_err(|message| WolSettingError::PowerShell {
            iface: iface.to_owned(),
            command: CMD,
            message,
        })?;
        if power.wake_on_magic_packet == PowerSetting::Unsupported {
            return Err(WolSettingError::NotSupported { iface: iface.to_owned() });
        }
        Ok(NicWake::AdapterPower(power))
    }

    pub(super) fn enable_magic(iface: &str) -> Result<NicWake, WolSettingError> {
        query(iface)?;
        powershell(iface, "Set-NetAdapterPowerManagement", &enable_script(iface))?;
        query(iface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_print_as_ethtool_prints_them() {
        // A typical Intel NIC: "Supports Wake-on: pumbg", "Wake-on: g".
        let intel = WolModes::PHY | WolModes::UCAST | WolModes::MCAST | WolModes::BCAST;
        assert_eq!(WolModes(intel | WolModes::MAGIC).letters(), "pumbg");
        assert_eq!(WolModes(WolModes::MAGIC).letters(), "g");
        assert_eq!(WolModes(0).letters(), "d");
        assert_eq!(WolModes(0xff).letters(), "pumbagsf");
        // Realtek r8169: "Supports Wake-on: pumbg" too; some add SecureOn: "pumbgs".
        assert_eq!(WolModes(intel | WolModes::MAGIC | WolModes::MAGICSECURE).letters(), "pumbgs");
        // Bits this version does not know are not shown.
        assert_eq!(WolModes(1 << 12 | WolModes::ARP).letters(), "a");
        assert_eq!(WolModes(1 << 12).letters(), "d");
        assert_eq!(WolModes(WolModes::FILTER).to_string(), "f");
    }

    #[test]
    fn letters_read_back_to_the_same_modes() {
        for bits in 0..=0xffu32 {
            let m = WolModes(bits);
            assert_eq!(WolModes::from_letters(&m.letters()), Some(m), "{bits:#x}");
        }
        assert_eq!(WolModes::from_letters("gx"), None);
        assert_eq!(WolModes::from_letters("d"), Some(WolModes(0)));
    }

    #[test]
    fn only_g_is_a_magic_packet() {
        assert!(WolModes(WolModes::MAGIC).magic());
        assert!(!WolModes(WolModes::MAGICSECURE).magic());
        assert!(!WolModes(0xff & !WolModes::MAGIC).magic());
    }

    fn ethtool(supported: &str, enabled: &str) -> NicWake {
        NicWake::Ethtool(WolSetting {
            supported: WolModes::from_letters(supported).unwrap(),
            enabled: WolModes::from_letters(enabled).unwrap(),
        })
    }

    #[test]
    fn an_ethtool_answer_says_whether_a_magic_packet_wakes() {
        assert_eq!(ethtool("pumbg", "g").magic(), MagicWake::Enabled);
        assert_eq!(ethtool("pumbg", "d").magic(), MagicWake::Disabled);
        assert_eq!(ethtool("pumb", "d").magic(), MagicWake::NotOffered);
        assert_eq!(ethtool("d", "d").magic(), MagicWake::NotOffered);
        assert_eq!(ethtool("pumbg", "d").describe(), "Supports Wake-on: pumbg, Wake-on: d");
    }

    #[test]
    fn errnos_become_their_own_errors_with_what_to_do() {
        let e = |errno| {
            WolSettingError::from_os("veth0", "reading", io::Error::from_raw_os_error(errno))
        };
        let veth = e(95);
        assert!(matches!(veth, WolSettingError::NotSupported { .. }));
        assert_eq!(
            veth.to_string(),
            "the driver of veth0 does not support Wake-on-LAN: this host cannot be woken through \
             veth0: wake it through another NIC that supports it, or look in the firmware \
             (BIOS/UEFI) for a Wake-on-LAN or \"power on by PCI-E\" setting that makes this NIC \
             offer it"
        );
        let denied = e(1);
        assert!(matches!(denied, WolSettingError::PermissionDenied { .. }));
        assert!(denied.to_string().contains(HERE.nic_settings), "{denied}");
        assert!(matches!(e(13), WolSettingError::PermissionDenied { .. }));
        let gone = e(19);
        assert!(matches!(gone, WolSettingError::NoDevice { .. }));
        assert!(gone.to_string().starts_with("there is no network interface veth0: check"));
        assert!(matches!(e(5), WolSettingError::Os { .. }));
    }

    #[test]
    fn powershell_answers_are_read_as_numbers_or_names() {
        let p = parse_adapter_power(r#"{"WakeOnMagicPacket":3,"WakeOnPattern":2}"#).unwrap();
        assert_eq!(p.wake_on_magic_packet, PowerSetting::Enabled);
        assert_eq!(p.wake_on_pattern, Some(PowerSetting::Disabled));
        assert_eq!(NicWake::AdapterPower(p).magic(), MagicWake::Enabled);
        assert_eq!(
            NicWake::AdapterPower(p).describe(),
            "WakeOnMagicPacket: Enabled, WakeOnPattern: Disabled"
        );
        let p = parse_adapter_power("[{\"WakeOnMagicPacket\":\"Disabled\"}]\r\n").unwrap();
        assert_eq!(p.wake_on_magic_packet, PowerSetting::Disabled);
        assert_eq!(p.wake_on_pattern, None);
        assert_eq!(NicWake::AdapterPower(p).magic(), MagicWake::Disabled);
        let p = parse_adapter_power(r#"{"WakeOnMagicPacket":1}"#).unwrap();
        assert_eq!(NicWake::AdapterPower(p).magic(), MagicWake::Disabled, "inactive");
        let p = parse_adapter_power(r#"{"WakeOnMagicPacket":0}"#).unwrap();
        assert_eq!(NicWake::AdapterPower(p).magic(), MagicWake::NotOffered);
        for bad in ["", "Enabled", r#"{"WakeOnMagicPacket":7}"#, r#"{"Other":3}"#] {
            assert!(parse_adapter_power(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scripts_quote_the_adapter_name() {
        assert_eq!(ps_quote("Ethernet 2"), "'Ethernet 2'");
        assert_eq!(ps_quote("Bob's NIC"), "'Bob''s NIC'");
        assert_eq!(
            query_script("Ethernet"),
            "Get-NetAdapterPowerManagement -Name 'Ethernet' -ErrorAction Stop | Select-Object \
             WakeOnMagicPacket,WakeOnPattern | ConvertTo-Json -Compress"
        );
        assert!(enable_script("x'; Remove-Item C:\\").starts_with(
            "Set-NetAdapterPowerManagement -Name 'x''; Remove-Item C:\\' -WakeOnMagicPacket"
        ));
    }

    #[test]
    fn powershell_errors_name_what_to_do() {
        let gone = powershell_error(
            "Ethernet 9",
            "Get-NetAdapterPowerManagement",
            "Get-NetAdapterPowerManagement : No MSFT_NetAdapter objects found with property 'Name' \
             equal to 'Ethernet 9'.\r\n    + CategoryInfo : ObjectNotFound",
        );
        assert!(matches!(gone, WolSettingError::NoDevice { .. }), "{gone}");
        let denied = powershell_error(
            "Ethernet",
            "Set-NetAdapterPowerManagement",
            "Set-NetAdapterPowerManagement : Access is denied.",
        );
        assert!(
            matches!(denied, WolSettingError::PermissionDenied { action: "changing", .. }),
            "{denied}"
        );
        let other = powershell_error("Ethernet", "Get-NetAdapterPowerManagement", "\n boom \n");
        assert!(
            other
                .to_string()
                .starts_with("Get-NetAdapterPowerManagement for Ethernet: boom: check"),
            "{other}"
        );
    }
}
