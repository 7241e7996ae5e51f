//! `Config::parse` on arbitrary text: it must never panic, and a configuration it accepts must
//! read back equal from its own `to_toml` (the promise `wakeproxy config` makes). Seeds:
//! `fuzz/seeds/config_parse/`, the example configurations of the repository
//! (`store::config::tests::fuzz_seeds_are_the_example_files`).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wakeproxy::store::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = Path::new("/etc/wakeproxy/wakeproxy.toml");
    if let Ok(config) = Config::parse(text, origin) {
        let toml = config.to_toml();
        match Config::parse(&toml, origin) {
            Ok(again) => assert_eq!(again, config, "{toml}"),
            Err(e) => panic!("to_toml wrote what parse refuses: {e}\n{toml}"),
        }
    }
});
