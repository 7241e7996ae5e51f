//! The real `wakeproxy` binary: arguments, exit codes, output.

use std::process::Command;

fn wakeproxy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wakeproxy")).args(args).output().expect("run wakeproxy")
}

#[test]
fn simulate_prints_a_report() {
    let out = wakeproxy(&[
        "simulate",
        "--nodes",
        "30",
        "--subnets",
        "2",
        "--duration",
        "2m",
        "--seed",
        "4",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("simulated 30 nodes on 2 subnets"), "{text}");
    assert!(text.contains("two managers in a subnet"), "{text}");
}

#[test]
fn simulate_json_is_json() {
    let out = wakeproxy(&["simulate", "--nodes", "10", "--duration", "1m", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"], 10);
}

#[test]
fn simulate_rejects_impossible_arguments_with_exit_code_2() {
    for (args, says) in [
        (&["simulate", "--nodes", "0"][..], "--nodes"),
        (&["simulate", "--loss", "1.5"][..], "--loss"),
        (&["simulate", "--nodes", "3", "--subnets", "5"][..], "--subnets"),
        (&["simulate", "--duration", "soon"][..], "duration"),
        (&["simulate", "--nodes", "many"][..], "--nodes"),
    ] {
        let out = wakeproxy(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
