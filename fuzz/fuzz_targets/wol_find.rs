//! `wol::find_magic` on arbitrary bytes: it must never panic, and a packet it reports must be
//! in the input. Seeds: `fuzz/seeds/wol_find/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::core::wol::{MAGIC_PACKET_LEN, MagicPacket, find_magic};

fuzz_target!(|data: &[u8]| {
    if let Some(found) = find_magic(data) {
        let (bytes, _) = MagicPacket::new(found.target).payload();
        let needle = &bytes[..MAGIC_PACKET_LEN];
        assert!(data.windows(MAGIC_PACKET_LEN).any(|w| w == needle));
    }
});
