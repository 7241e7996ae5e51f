//! The state directory's parsers on arbitrary bytes, as if the file had been corrupted:
//! `state::parse_sleepers` (`sleepers.json`) and `state::parse_node_id` (`node-id`). They must
//! never panic; every sleeper accepted must be one the peer protocol can carry and must survive
//! a save (`sleepers_json`) and a load unchanged; a node id must read back from the line the
//! state directory writes for it. Seeds: `fuzz/seeds/state_parse/`, files the state directory
//! wrote (`store::state::tests::fuzz_seeds_are_files_the_state_directory_wrote`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::store::state::{parse_node_id, parse_sleepers, sleepers_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_sleepers(data) {
        let json = sleepers_json(&parsed.sleepers).expect("accepted sleepers serialise");
        let again = parse_sleepers(&json).expect("what the store writes, it reads");
        assert_eq!(again.sleepers, parsed.sleepers);
        assert!(again.skipped.is_empty(), "{:?}", again.skipped);
    }
    if let Some(id) = parse_node_id(data) {
        assert_eq!(parse_node_id(format!("{id}\n").as_bytes()), Some(id));
    }
});
