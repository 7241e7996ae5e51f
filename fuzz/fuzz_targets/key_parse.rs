//! The site key file's parser (`keys::from_bytes`, what `keys::read` applies to a file that
//! passed its ownership and mode checks) on arbitrary bytes. It must never panic; a file it
//! accepts must give a usable `SiteKey`; and neither an error nor `KeyFile`'s `Debug` may quote
//! a key line (key material never reaches a log). Seeds: `fuzz/seeds/key_parse/`, files
//! `wakeproxy keygen` and the rollover steps wrote (`keys::tests::fuzz_seeds_are_key_files_the_tools_wrote`).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wakeproxy::store::keys::from_bytes;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/etc/wakeproxy/site.key");
    let shown = match from_bytes(data, path) {
        Ok(file) => {
            file.site_key(path).expect("an accepted file gives a key");
            format!("{file:?}")
        }
        Err(e) => format!("{e} {e:?}"),
    };
    // Every line that could be a secret: 32 hex digits or more, as the parser trims it.
    for line in data.split(|&b| b == b'\n').map(<[u8]>::trim_ascii) {
        if line.len() >= 32 && line.iter().all(u8::is_ascii_hexdigit) {
            let line = std::str::from_utf8(line).expect("hex digits are ASCII");
            assert!(!shown.contains(line), "key material in {shown}");
        }
    }
});
