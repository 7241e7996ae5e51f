//! Keeping the machine awake while this node is a guardian.
#![allow(unsafe_code)]

use windows_sys::Win32::System::Power::{
    ES_CONTINUOUS, ES_SYSTEM_REQUIRED, SetThreadExecutionState,
};

/// `on`: the system must not sleep while the calling thread lives (or until called with
/// `false`); the display may still turn off. The state belongs to the calling thread, so one
/// long-lived thread must make every call.
pub fn keep_awake(on: bool) -> bool {
    let flags = if on { ES_CONTINUOUS | ES_SYSTEM_REQUIRED } else { ES_CONTINUOUS };
    // SAFETY: SetThreadExecutionState takes flags by value and touches no memory of ours.
    unsafe { SetThreadExecutionState(flags) != 0 }
}
