//! `parse_proc_net_tcp` on arbitrary text: it must never panic (a kernel of another version, or
//! another OS's `/proc`, may print anything), and it finds at most one port per table row.
//! Seeds: `fuzz/seeds/proc_net_tcp/`, real `/proc/net/tcp` and `/proc/net/tcp6` tables
//! (`daemon::os::ports::tests::fuzz_seeds_are_real_tables`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::daemon::parse_proc_net_tcp;

fuzz_target!(|data: &[u8]| {
    // The daemon reads the table with `read_to_string`: text that is not UTF-8 never gets here.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ports = parse_proc_net_tcp(text);
    assert!(ports.len() <= text.lines().count().saturating_sub(1));
});
