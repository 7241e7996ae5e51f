//! `wakeproxy firewall …`: show, apply and remove the firewall exceptions.

use std::process::ExitCode;

use super::args::*;
use super::common::*;

pub(crate) fn firewall(cmd: FirewallCommand) -> ExitCode {
    use wakeproxy::os::firewall::{self, Format};
    let rules_of =
        |arg: &FirewallConfig| load_config(arg.config.clone()).map(|(c, _)| firewall::rules(&c));
    let (rules, result, done): (Vec<firewall::Rule>, Result<(), firewall::FirewallError>, &str) =
        match cmd {
            FirewallCommand::Show { format, profile, config, json } => {
                let rules = match rules_of(&config) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                if json {
                    return match serde_json::to_string_pretty(&rules) {
                        Ok(text) => {
                            println!("{text}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => fail(&e, 1),
                    };
                }
                let format = format.unwrap_or_else(Format::native);
                if profile.profile.is_some() && format != Format::Windows {
                    eprintln!("note: --profile only applies to --format windows");
                }
                print!("{}", firewall::render(&rules, format, profile.profile.unwrap_or_default()));
                return ExitCode::SUCCESS;
            }
            #[cfg(any(target_os = "linux", windows))]
            FirewallCommand::Apply {
                #[cfg(windows)]
                profile,
                config,
            } => {
                #[cfg(windows)]
                let profiles = profile.profile.unwrap_or_default();
                #[cfg(not(windows))]
                let profiles = firewall::Profiles::default();
                let rules = match rules_of(&config) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let result = firewall::apply(&rules, profiles);
                (rules, result, "installed")
            }
            #[cfg(any(target_os = "linux", windows))]
            FirewallCommand::Remove { config } => {
                let rules = match rules_of(&config) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let result = firewall::remove(&rules);
                (rules, result, "removed")
            }
        };
    match result {
        Ok(()) => {
            let what = if cfg!(windows) {
                format!("{} Windows Firewall rules \"wakeproxy …\"", rules.len())
            } else {
                format!("the nftables table {}", firewall::NFT_TABLE)
            };
            println!("{done} {what}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, 1),
    }
}
