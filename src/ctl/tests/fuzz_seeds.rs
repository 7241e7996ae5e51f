//! The seeds of the fuzz target `ctl_request` (`fuzz/seeds/ctl_request/`) are the lines the
//! command line sends and the daemon answers. After changing the protocol, rewrite them with
//! `WAKEPROXY_BLESS_SEEDS=1 cargo test --lib fuzz_seeds`.

use std::path::Path;

use super::super::protocol::{Request, parse_reply, reply_line};
use super::sample;

fn seeds() -> Vec<(&'static str, String)> {
    let requests = [
        ("status", Request::Status),
        ("peers", Request::Peers),
        ("events_follow", Request::Events { follow: true }),
        (
            "wake_password",
            Request::Wake { target: "aa:bb:cc:dd:ee:ff".into(), password: Some("1.2.3.4".into()) },
        ),
        ("wake_ip", Request::Wake { target: "10.0.0.5".into(), password: None }),
        ("sleep_notice", Request::SleepNotice),
        ("reload", Request::Reload),
    ];
    let mut out: Vec<(&str, String)> =
        requests.into_iter().map(|(name, r)| (name, r.to_line())).collect();
    let status = serde_json::to_value(sample(false)).unwrap();
    out.push(("reply_status", reply_line(&Ok(status))));
    out.push(("reply_error", reply_line(&Err("unknown command \"stat\"".into()))));
    out
}

#[test]
fn fuzz_seeds_are_the_lines_the_cli_sends() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/ctl_request");
    for (name, line) in seeds() {
        assert!(Request::parse(line.as_bytes()).is_ok() || parse_reply(line.as_bytes()).is_ok());
        let path = root.join(format!("{name}.json"));
        if std::env::var_os("WAKEPROXY_BLESS_SEEDS").is_some() {
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(&path, &line).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            line,
            "{} is stale: rerun with WAKEPROXY_BLESS_SEEDS=1",
            path.display()
        );
    }
}
