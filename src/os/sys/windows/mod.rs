//! Windows: named-pipe instances with an explicit security descriptor; the TCP listener table
//! is in [`tcp`].
//!
//! Without one, `CreateNamedPipeW` gives a pipe the default DACL, which lets any local user (and
//! `Everyone` read access) open it. Every instance of a pipe takes its own `SECURITY_ATTRIBUTES`,
//! so [`create_pipe_instance`] builds the descriptor again for each one (tokio-rs/tokio#6128).
#![allow(unsafe_code)]

pub mod npcap;
pub mod power;
pub mod service_entry;
pub mod tcp;

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::ptr;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};

/// The DACL of the control pipe: protected (no inherited entries), full access for SYSTEM (`SY`)
/// and the Administrators group (`BA`), nobody else.
pub const CONTROL_PIPE_SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";

/// A self-relative security descriptor parsed from SDDL, freed with `LocalFree` on drop.
///
/// Deliberately neither `Send` nor `Sync` (it holds a raw pointer): build it where it is used.
#[derive(Debug)]
pub struct SecurityDescriptor {
    /// Non-null, allocated by `ConvertStringSecurityDescriptorToSecurityDescriptorW`, owned.
    raw: PSECURITY_DESCRIPTOR,
}

impl SecurityDescriptor {
    /// Parses `sddl` (a security descriptor string, revision 1).
    pub fn from_sddl(sddl: &str) -> io::Result<Self> {
        if sddl.contains('\0') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "SDDL contains NUL"));
        }
        let wide: Vec<u16> = OsStr::new(sddl).encode_wide().chain(Some(0)).collect();
        let mut raw: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call; `raw` is a
        // valid place for the out pointer; the size out-parameter may be null.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut raw,
                ptr::null_mut(),
            )
        };
        if ok == 0 || raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { raw })
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: `raw` was allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW,
        // which documents LocalFree as its deallocator; it is owned here and freed only once.
        unsafe {
            LocalFree(self.raw);
        }
    }
}

/// Creates one server instance of the pipe `name` with `options`, its DACL given by `sddl`.
///
/// Needs a tokio runtime with I/O enabled.
pub fn create_pipe_instance(
    options: &ServerOptions,
    name: &OsStr,
    sddl: &str,
) -> io::Result<NamedPipeServer> {
    let descriptor = SecurityDescriptor::from_sddl(sddl)?;
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.raw,
        bInheritHandle: 0,
    };
    // SAFETY: `attributes` is a valid SECURITY_ATTRIBUTES whose descriptor (`descriptor`, a
    // valid self-relative descriptor) outlives the call; CreateNamedPipeW only reads both during
    // the call and keeps no pointer to them.
    unsafe { options.create_with_security_attributes_raw(name, (&raw mut attributes).cast()) }
}
