//! `wakeproxy doctor`: runs the library's checks ([`wakeproxy::doctor`]) on this machine and
//! prints the report; its exit code is the report's.

use std::process::ExitCode;

use wakeproxy::doctor::{self, Options, OsSystem};

use super::args::DoctorArgs;
use super::common::*;

pub(crate) fn doctor(args: DoctorArgs) -> ExitCode {
    let (config, path) = match load_config(args.config.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let report = doctor::run(&config, &path, Options { fix: args.fix }, &OsSystem);
    if args.json {
        match serde_json::to_string_pretty(&report.to_json()) {
            Ok(text) => println!("{text}"),
            Err(e) => return fail(&e, 1),
        }
    } else {
        print!("{}", doctor::render(&report));
    }
    ExitCode::from(report.exit_code())
}
