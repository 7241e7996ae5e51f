//! The platform's vocabulary: what a message tells its reader to do, in the words of the
//! operating system it runs on.
//!
//! Every message that names a privilege, a log, a service command or the capture library takes
//! the words from [`HERE`] instead of spelling them itself, so a Windows administrator never
//! reads `systemctl`, `journalctl`, `sudo` or `CAP_NET_RAW`, and a Linux one never reads
//! "elevated prompt". Each idea is written once per platform, in [`LINUX`] and [`WINDOWS`]; both
//! tables are compiled everywhere, so the tests check the Windows wording on Linux too, and
//! [`HERE`] is chosen by `cfg(windows)`.
//!
//! Phrases are written to be dropped into a sentence: imperative ones ("run it …") follow a
//! colon or a semicolon, nouns ("root", "Npcap") stand where a noun does.

/// One platform's words for the things messages tell a user to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// The platform's name, as its users say it.
    pub os: &'static str,
    /// Who has the rights an ordinary user lacks: "root", "an administrator".
    pub superuser: &'static str,
    /// How to run one command with those rights.
    pub elevate: &'static str,
    /// How to get the rights raw sockets need (ICMP probes, raw Ethernet frames, interface-bound
    /// sockets).
    pub raw_sockets: &'static str,
    /// What the layer-2 capture (answering for sleepers) needs: a noun phrase.
    pub capture: &'static str,
    /// How to get the rights that reading and changing a NIC's settings (its Wake-on-LAN
    /// setting) need.
    pub nic_settings: &'static str,
    /// How to get into the control socket (or pipe) when it refuses the caller.
    pub control_access: &'static str,
    /// Where the service's log is read.
    pub logs: &'static str,
    /// How to see whether the service runs.
    pub service_status: &'static str,
    /// How to stop the service.
    pub service_stop: &'static str,
    /// How to restart the service.
    pub service_restart: &'static str,
    /// How to make the daemon re-read its site key file.
    pub reload: &'static str,
    /// How the files wakeproxy writes (the site key) are protected.
    pub file_protection: &'static str,
    /// How to find the program that listens on a TCP port.
    pub tcp_listeners: &'static str,
    /// How to set the clock right and keep it so.
    pub time_sync: &'static str,
}

/// The Windows way to get an administrator's rights, which stands for several ideas there.
const ELEVATED: &str = "run it from an elevated prompt (Run as administrator)";

/// Linux (and the other Unix systems wakeproxy builds on), run by systemd.
pub const LINUX: Words = Words {
    os: "Linux",
    superuser: "root",
    elevate: "run it with sudo",
    raw_sockets: "run it as root or with CAP_NET_RAW",
    capture: "root or CAP_NET_RAW",
    nic_settings: "run it as root or with CAP_NET_ADMIN",
    control_access: "run it as root or join the group that owns the socket",
    logs: "journalctl -u wakeproxy",
    service_status: "systemctl status wakeproxy",
    service_stop: "systemctl stop wakeproxy",
    service_restart: "systemctl restart wakeproxy",
    reload: "sudo wakeproxy reload",
    file_protection: "mode 0600",
    tcp_listeners: "ss -ltnp",
    time_sync: "turn on NTP (timedatectl set-ntp true) and check `timedatectl status`",
};

/// Windows, run by the service control manager.
pub const WINDOWS: Words = Words {
    os: "Windows",
    superuser: "an administrator",
    elevate: ELEVATED,
    raw_sockets: ELEVATED,
    capture: "Npcap (https://npcap.com) and administrator rights",
    nic_settings: ELEVATED,
    // The pipe's DACL admits SYSTEM and Administrators only (`sys::windows::CONTROL_PIPE_SDDL`).
    control_access: ELEVATED,
    logs: "Event Viewer → Windows Logs → Application, source wakeproxy",
    service_status: "wakeproxy service status, or Services (services.msc)",
    service_stop: "wakeproxy service stop, or Services (services.msc)",
    service_restart: "wakeproxy service stop, then wakeproxy service start, or restart it in \
                      Services (services.msc)",
    reload: "wakeproxy reload (from an elevated prompt)",
    file_protection: "readable by SYSTEM and Administrators only",
    tcp_listeners: "netstat -ano -p tcp (from an elevated prompt: netstat -abno -p tcp)",
    time_sync: "resynchronise the clock (w32tm /resync, from an elevated prompt) and check \
                `w32tm /query /status`",
};

/// The words of the platform this wakeproxy was built for.
#[cfg(windows)]
pub const HERE: Words = WINDOWS;
/// The words of the platform this wakeproxy was built for.
#[cfg(not(windows))]
pub const HERE: Words = LINUX;

impl Words {
    /// Every phrase, named, for tests and for anyone who wants to see the table.
    pub fn phrases(&self) -> [(&'static str, &'static str); 15] {
        [
            ("os", self.os),
            ("superuser", self.superuser),
            ("elevate", self.elevate),
            ("raw_sockets", self.raw_sockets),
            ("capture", self.capture),
            ("nic_settings", self.nic_settings),
            ("control_access", self.control_access),
            ("logs", self.logs),
            ("service_status", self.service_status),
            ("service_stop", self.service_stop),
            ("service_restart", self.service_restart),
            ("reload", self.reload),
            ("file_protection", self.file_protection),
            ("tcp_listeners", self.tcp_listeners),
            ("time_sync", self.time_sync),
        ]
    }
}

/// An error as a user reads it: its message, then every cause (`source()`) whose text the
/// message does not already contain, each after a colon, so no error hides its cause and none is
/// said twice (many of wakeproxy's messages name their cause themselves).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("stopping the service")]
        Hides(#[source] Middle),
        #[error("stopping the service: {0}")]
        Says(#[source] Middle),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("IO error in winapi call")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_once() {
        let os = || std::io::Error::other("The service has not been started. (os error 1062)");
        assert_eq!(
            error_chain(&Outer::Hides(Middle(os()))),
            "stopping the service: IO error in winapi call: The service has not been started. \
             (os error 1062)"
        );
        assert_eq!(
            error_chain(&Outer::Says(Middle(os()))),
            "stopping the service: IO error in winapi call: The service has not been started. \
             (os error 1062)"
        );
        assert_eq!(error_chain(&os()), "The service has not been started. (os error 1062)");
    }

    /// Words only one platform's users know.
    const LINUX_ONLY: &[&str] =
        &["systemctl", "journalctl", "sudo", "root", "CAP_NET_RAW", "mode 0", "group"];
    const WINDOWS_ONLY: &[&str] =
        &["elevated", "administrator", "Event Viewer", "services.msc", "Npcap", "SYSTEM"];

    fn assert_free_of(words: &Words, foreign: &[&str]) {
        for (name, phrase) in words.phrases() {
            for f in foreign {
                assert!(!phrase.contains(f), "{} `{name}` says {f:?}: {phrase:?}", words.os);
            }
        }
    }

    #[test]
    fn windows_words_say_nothing_of_linux() {
        assert_free_of(&WINDOWS, LINUX_ONLY);
    }

    #[test]
    fn linux_words_say_nothing_of_windows() {
        assert_free_of(&LINUX, WINDOWS_ONLY);
    }

    #[test]
    fn each_platform_says_what_its_administrators_type() {
        assert_eq!(LINUX.logs, "journalctl -u wakeproxy");
        assert_eq!(WINDOWS.logs, "Event Viewer → Windows Logs → Application, source wakeproxy");
        assert_eq!(LINUX.service_restart, "systemctl restart wakeproxy");
        assert!(
            WINDOWS
                .service_restart
                .starts_with("wakeproxy service stop, then wakeproxy service start")
        );
        assert_eq!(LINUX.raw_sockets, "run it as root or with CAP_NET_RAW");
        assert_eq!(WINDOWS.raw_sockets, "run it from an elevated prompt (Run as administrator)");
        assert!(WINDOWS.capture.starts_with("Npcap"), "{}", WINDOWS.capture);
    }

    #[test]
    fn no_phrase_is_empty_or_ends_a_sentence() {
        for words in [LINUX, WINDOWS] {
            for (name, phrase) in words.phrases() {
                assert!(!phrase.trim().is_empty(), "{} `{name}` is empty", words.os);
                assert!(!phrase.ends_with('.'), "{} `{name}` ends with a period", words.os);
                assert_eq!(phrase, phrase.trim(), "{} `{name}` has outer spaces", words.os);
            }
        }
    }

    #[test]
    fn here_is_the_build_platform() {
        if cfg!(windows) {
            assert_eq!(HERE, WINDOWS);
        } else {
            assert_eq!(HERE, LINUX);
        }
    }
}
