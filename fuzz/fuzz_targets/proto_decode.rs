//! Fuzzes the peer-protocol decoder: it must never panic, and whatever it accepts must survive
//! an encode/decode round trip unchanged.
//!
//! Random bytes almost never carry a valid tag, which would leave the body parser unexplored.
//! So each input is decoded twice: as it is, and sealed (body length fixed up, correct tag
//! appended), as an authenticated peer could send it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::core::proto::{Decoded, HEADER_LEN, MAX_DATAGRAM, SiteKey, TAG_LEN, decode, encode};

fn check(key: &SiteKey, datagram: &[u8]) {
    if let Ok(first) = decode(key, datagram) {
        if let Decoded::Message(header, msg) = &first {
            let mut again = Vec::new();
            encode(key, header, msg, &mut again).expect("a decoded message must re-encode");
            assert_eq!(decode(key, &again).as_ref(), Ok(&first));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let key = SiteKey::new(&[0x42; 32]).expect("32 bytes is a valid key length");
    check(&key, data);

    if data.len() >= HEADER_LEN && data.len() + TAG_LEN <= MAX_DATAGRAM {
        let mut sealed = data.to_vec();
        let body_len = (data.len() - HEADER_LEN) as u16;
        sealed[HEADER_LEN - 2..HEADER_LEN].copy_from_slice(&body_len.to_be_bytes());
        let tag = key.tag(&sealed);
        sealed.extend_from_slice(&tag);
        check(&key, &sealed);
    }
});
