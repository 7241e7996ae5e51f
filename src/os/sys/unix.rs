//! Unix calls `std` does not offer.
#![allow(unsafe_code)]

/// The effective user id of this process: whom the files it creates belong to, and whom a key
/// file must belong to.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}
