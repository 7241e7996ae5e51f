//! The `wakeproxy` command: parses the command line and dispatches; the commands live in
//! [`cli`], and everything they do is the library's.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use wakeproxy::ctl::Request;

use cli::args::{Cli, Command, ConfigCommand};
use cli::{control, doctor, firewall, local, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Status(args) => control::show(args, Request::Status),
        Command::Peers(args) => control::show(args, Request::Peers),
        Command::Events(args) => control::events(args),
        Command::Wake(args) => control::wake(args),
        #[cfg(target_os = "linux")]
        Command::Capture { interface, count, duration, wol_port } => {
            local::capture(&interface, count, duration, wol_port)
        }
        Command::SleepNotice(args) => control::notice(args, Request::SleepNotice),
        Command::ResumeNotice(args) => control::notice(args, Request::ResumeNotice),
        Command::Simulate(args) => local::simulate(args),
        #[cfg(target_os = "linux")]
        Command::Lab(cmd) => cli::lab::lab(cmd),
        Command::Config(ConfigCommand::Check { path }) => local::config_check(path),
        Command::Keygen(args) => local::keygen(args),
        Command::Reload(args) => control::reload(args),
        Command::Firewall(cmd) => firewall::firewall(cmd),
        Command::Doctor(args) => doctor::doctor(args),
        #[cfg(windows)]
        Command::Service(cmd) => cli::service::service(cmd),
        Command::Completions { shell } => cli::manual::completions(shell),
        Command::Man { out } => cli::manual::man(&out),
        Command::Monitoring { out } => cli::manual::monitoring(&out),
    }
}
