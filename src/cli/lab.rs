//! `wakeproxy lab …` (Linux): many hosts in network namespaces.

use std::process::ExitCode;

use wakeproxy::os::words;

use super::args::*;
use super::common::*;

#[cfg(target_os = "linux")]
pub(crate) fn lab(cmd: LabCommand) -> ExitCode {
    use wakeproxy::lab::{self, Lab, LabError};
    let code = |e: &LabError| match e {
        LabError::Command { .. } | LabError::File { .. } => 1,
        _ => EXIT_BAD_INPUT,
    };
    let exe = || {
        std::env::current_exe()
            .map_err(|e| LabError::File { path: "wakeproxy".into(), message: e.to_string() })
    };
    let result: Result<ExitCode, LabError> = (|| match cmd {
        LabCommand::Up { shape, name } => {
            let spec = shape.spec(name.name);
            let lab = Lab::up(&spec, &exe()?)?;
            println!(
                "lab {} is up: {} hosts on {} subnets (10.0.1.0/24 …), files in {}",
                lab.name,
                lab.hosts.len(),
                lab.subnets,
                lab.dir.display()
            );
            println!(
                "next: wakeproxy lab status --name {}    wakeproxy lab down --name {}",
                lab.name, lab.name
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Demo { shape, name } => {
            let spec = shape.spec(name);
            lab::demo::run(&spec, &exe()?)?;
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::WakeLatency { shape, count, name, json } => {
            let spec = shape.spec(name);
            let r = lab::measure::wake_latency(&spec, &exe()?, count)?;
            let code = if r.missed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE };
            if json {
                let report = serde_json::json!({
                    "wakes": r.samples_us.len(),
                    "missed": r.missed,
                    "p50_us": r.quantile(0.5),
                    "p90_us": r.quantile(0.9),
                    "p99_us": r.quantile(0.99),
                    "max_us": r.quantile(1.0),
                    "samples_us": r.samples_us,
                });
                println!("{report}");
                return Ok(code);
            }
            println!(
                "SYN -> magic packet, {} wakes ({} missed): p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us",
                r.samples_us.len(),
                r.missed,
                r.quantile(0.5),
                r.quantile(0.9),
                r.quantile(0.99),
                r.quantile(1.0)
            );
            Ok(code)
        }
        LabCommand::Chaos { shape, duration, seed, resume_delay, name, json } => {
            let spec =
                lab::chaos::ChaosSpec { lab: shape.spec(name), duration, seed, resume_delay };
            let exe = exe()?;
            // Faults as they happen go to stderr, so that --json output stays one document.
            let report = lab::chaos::run(&spec, &exe, &|line| eprintln!("{line}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", report.render());
            }
            Ok(if report.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        LabCommand::Down { name } => {
            lab::preconditions()?;
            let n = lab::down(&name.name);
            println!("lab {}: removed {n} namespaces", name.name);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { name, json } => {
            let lab = Lab::load(&name.name)?;
            let rows = match block_on(lab::status_rows(&lab)) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else {
                print!("{}", lab::render_status(&lab, &rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Exec { host, command, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            Ok(ExitCode::from(lab.exec(i, &command)?.clamp(0, 255) as u8))
        }
        LabCommand::Sleep { host, no_notice, resume_delay, password, name } => {
            if let Some(p) = &password {
                p.parse::<wakeproxy::core::wol::SecureOn>()
                    .map_err(|e| LabError::BadArgs(e.to_string()))?;
            }
            let exe = exe()?;
            let mac = Lab::locked(&name.name, |lab| {
                let i = lab.host(&host)?;
                lab.sleep(i, &exe, !no_notice, resume_delay, password.as_deref())?;
                Ok(lab.hosts[i].mac.clone())
            })?;
            println!(
                "{host} sleeps{}; its NIC wakes it on a magic packet for {mac}",
                if no_notice { " (unannounced)" } else { "" },
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Crash { host, name } => {
            Lab::locked(&name.name, |lab| lab.crash(lab.host(&host)?))?;
            println!("{host}: daemon killed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Restart { host, name } => {
            let exe = exe()?;
            Lab::locked(&name.name, |lab| lab.restart(lab.host(&host)?, &exe))?;
            println!("{host}: daemon started");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Nic { host, resume_delay, password, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            let mac =
                lab.hosts[i].mac.parse().map_err(|e: wakeproxy::core::addr::ParseMacError| {
                    LabError::BadArgs(e.to_string())
                })?;
            let password = password.map(|p| p.parse()).transpose().map_err(
                |e: wakeproxy::core::wol::ParseSecureOnError| LabError::BadArgs(e.to_string()),
            )?;
            let how = lab::wait_for_magic(mac, password).map_err(|e| LabError::Command {
                command: "the simulated NIC".into(),
                message: e.to_string(),
            })?;
            println!(
                "{host}: magic packet for {mac} in {how}; resuming in {}",
                humantime::format_duration(resume_delay)
            );
            std::thread::sleep(resume_delay);
            // Under the record's lock: it may have changed while the host slept, and others
            // may be changing it now.
            let exe = exe()?;
            Lab::locked(&name.name, |lab| lab.resume(i, &exe))?;
            println!("{host}: resumed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Partition { a, b, name } => {
            let lab = Lab::load(&name.name)?;
            let side = |s: &str| {
                s.split(',').map(|h| lab.host(h.trim())).collect::<Result<Vec<usize>, LabError>>()
            };
            lab.partition(&side(&a)?, &side(&b)?)?;
            println!("{a} and {b} can no longer reach each other");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Heal { name } => {
            Lab::load(&name.name)?.heal()?;
            println!("every partition healed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Loss { host, percent, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            lab.loss(i, percent)?;
            println!("{host} loses {percent} % of its packets");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Logs { host, name } => {
            let lab = Lab::load(&name.name)?;
            let i = lab.host(&host)?;
            let path = lab.hosts[i].log();
            let text = std::fs::read_to_string(&path).map_err(|e| LabError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Connect { addr, timeout } => {
            let line = lab::connect(addr, timeout).map_err(|e| LabError::Command {
                command: format!("connect to {addr}"),
                message: e.to_string(),
            })?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Flood { kind, to, ttl, interface, duration } => {
            use lab::flood::{self, FloodKind};
            let (report, what) = match kind {
                FloodKind::Arp => (
                    flood::arp(&interface, duration).map_err(|e| {
                        format!("{e} (an ARP flood needs raw sockets: {})", words::HERE.raw_sockets)
                    }),
                    "ARP requests",
                ),
                datagrams => (
                    flood::udp(&datagrams, to, ttl, duration).map_err(|e| format!("to {to}: {e}")),
                    "datagrams",
                ),
            };
            let r = report
                .map_err(|message| LabError::Command { command: "lab flood".into(), message })?;
            println!(
                "flood: {} {what} in {:.1} s = {:.0}/s ({} sends refused by a full queue)",
                r.sent,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.failed
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Serve { host, ports } => match lab::serve_tcp(&host, &ports) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                Err(LabError::Command { command: "lab serve".into(), message: e.to_string() })
            }
        },
    })();
    result.unwrap_or_else(|e| fail(&e, code(&e)))
}
