//! The control protocol's parsers on arbitrary lines: `Request::parse` (what the daemon reads
//! from anyone who may open the socket) and `parse_reply` (what the client reads). Neither may
//! panic; a request it accepts must survive `to_line` unchanged, and a reply `reply_line`.
//! Seeds: `fuzz/seeds/ctl_request/`, the lines the command line sends and the daemon answers
//! (`ctl::tests::fuzz_seeds_are_the_lines_the_cli_sends`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wakeproxy::ctl::protocol::{Request, parse_reply, reply_line};

fuzz_target!(|line: &[u8]| {
    if let Ok(request) = Request::parse(line) {
        let again = request.to_line();
        assert_eq!(Request::parse(again.as_bytes()).as_ref(), Ok(&request), "{again}");
        // The redacting Debug must not trip on any request either.
        let _ = format!("{request:?}");
    }
    if let Ok(reply) = parse_reply(line) {
        let again = reply_line(&reply);
        // Compared by outcome and message, not by value: serde_json's default float parser
        // may move a re-read float by one ulp, which is not this code's doing.
        match (parse_reply(again.as_bytes()), &reply) {
            (Ok(Ok(_)), Ok(_)) => {}
            (Ok(Err(a)), Err(b)) => assert_eq!(&a, b),
            (other, _) => panic!("{again} read back as {other:?}"),
        }
    }
});
