//! The classic ethtool ioctl (`SIOCETHTOOL`) for one thing: the NIC's Wake-on-LAN setting,
//! `ETHTOOL_GWOL` and `ETHTOOL_SWOL` with a `struct ethtool_wolinfo` (`linux/ethtool.h`), as
//! `ethtool IFACE` and `ethtool -s IFACE wol g` use it.
//!
//! The ioctl rather than ethtool's generic-netlink family: the same kernel handler answers both
//! (`get_wol` / `set_wol` of the driver), the ioctl needs no netlink dependency and no family
//! lookup, and it is what every kernel since 2.4 has. The kernel asks for `CAP_NET_ADMIN` for
//! both commands (reading too: the answer holds the SecureOn password), checks that before it
//! asks the driver, and answers `EOPNOTSUPP` when the driver has no Wake-on-LAN at all (veth,
//! bridges, most virtual NICs) and `ENODEV` for an unknown name. Decoding the answer is the
//! caller's (`os::wol_setting`, pure and tested).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `ETHTOOL_GWOL`: get the Wake-on-LAN setting.
const ETHTOOL_GWOL: u32 = 0x0000_0005;
/// `ETHTOOL_SWOL`: set it.
const ETHTOOL_SWOL: u32 = 0x0000_0006;
/// `SOPASS_MAX`: the SecureOn password's length.
const SOPASS_MAX: usize = 6;

/// `struct ethtool_wolinfo`.
#[repr(C)]
#[derive(Clone, Copy)]
struct EthtoolWolinfo {
    cmd: u32,
    supported: u32,
    wolopts: u32,
    sopass: [u8; SOPASS_MAX],
}

/// A NIC's Wake-on-LAN setting as the kernel reports it: bit masks of `WAKE_*` flags.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WolInfo {
    /// The wake-up events the NIC (its driver) supports.
    pub supported: u32,
    /// The ones enabled.
    pub wolopts: u32,
    /// The SecureOn password (kept so that setting other flags does not change it).
    sopass: [u8; SOPASS_MAX],
}

impl std::fmt::Debug for WolInfo {
    /// Without the SecureOn password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WolInfo")
            .field("supported", &format_args!("{:#x}", self.supported))
            .field("wolopts", &format_args!("{:#x}", self.wolopts))
            .finish_non_exhaustive()
    }
}

/// Reads the Wake-on-LAN setting of interface `name` (needs `CAP_NET_ADMIN`).
pub fn get_wol(name: &str) -> io::Result<WolInfo> {
    let mut info = EthtoolWolinfo { cmd: ETHTOOL_GWOL, supported: 0, wolopts: 0, sopass: [0; 6] };
    ethtool(name, &mut info)?;
    Ok(WolInfo { supported: info.supported, wolopts: info.wolopts, sopass: info.sopass })
}

/// Sets the enabled wake-up events of interface `name` to `wolopts`, keeping the SecureOn
/// password `current` holds (read it with [`get_wol`] first). Needs `CAP_NET_ADMIN`; lasts
/// until the driver is reloaded or the machine reboots.
pub fn set_wol(name: &str, current: &WolInfo, wolopts: u32) -> io::Result<()> {
    let mut info = EthtoolWolinfo {
        cmd: ETHTOOL_SWOL,
        supported: current.supported,
        wolopts,
        sopass: current.sopass,
    };
    ethtool(name, &mut info)
}

/// One `SIOCETHTOOL` ioctl on interface `name` with `info` as its data.
fn ethtool(name: &str, info: &mut EthtoolWolinfo) -> io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        // No interface can have this name: as the kernel says for an unknown one.
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid descriptor owned by nobody else; `OwnedFd` closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `ifreq` is plain old data (a name and a union of plain values); all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (info as *mut EthtoolWolinfo).cast();
    // SAFETY: `req` is a valid `ifreq` whose name is NUL-terminated (zeroed, and shorter than
    // IFNAMSIZ) and whose data points at `info`, a valid `ethtool_wolinfo` that outlives the
    // call; the kernel reads and writes at most `size_of::<EthtoolWolinfo>()` bytes there.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL as _, &raw mut req) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_struct_has_the_kernel_s_layout() {
        // cmd, supported, wolopts (3 × u32) and sopass[6], padded to a multiple of 4.
        assert_eq!(std::mem::size_of::<EthtoolWolinfo>(), 20);
        assert_eq!(std::mem::align_of::<EthtoolWolinfo>(), 4);
    }

    #[test]
    fn an_impossible_name_is_no_device() {
        for name in ["", "a-name-longer-than-15", "nul\0inside"] {
            let e = get_wol(name).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{name:?}");
        }
    }

    #[test]
    fn the_debug_output_hides_the_password() {
        let info = WolInfo { supported: 0x2f, wolopts: 0x20, sopass: *b"secret" };
        let shown = format!("{info:?}");
        assert!(shown.contains("0x2f") && shown.contains("0x20"), "{shown}");
        assert!(!shown.contains("sopass") && !shown.contains("115"), "{shown}");
    }
}
