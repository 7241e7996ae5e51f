//! Commands that talk to the running daemon over its control socket: `status`, `peers`,
//! `events`, `wake`, `sleep-notice`, `resume-notice`, `reload`.

use std::process::ExitCode;

use wakeproxy::core::node::IfaceStatus;
use wakeproxy::ctl::{self, Request};

use super::args::*;
use super::common::*;

pub(crate) fn reload(args: ConfigArg) -> ExitCode {
    let socket = match socket_of(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let reply = match block_on(ctl::call(&socket, &Request::Reload)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return fail(&e, 1),
        Err(code) => return code,
    };
    match serde_json::from_value::<ctl::ReloadReply>(reply) {
        Ok(r) => {
            print!("{}", ctl::render_reload(&r));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: the daemon's answer is not what this wakeproxy expects ({e}): is it the same version?"
            );
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn show(args: ShowArgs, request: Request) -> ExitCode {
    let socket = match socket_of(&args.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let reply = match block_on(ctl::call(&socket, &request)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return fail(&e, 1),
        Err(code) => return code,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let text = match request {
        Request::Status => {
            serde_json::from_value::<ctl::DaemonStatus>(reply).map(|s| ctl::render_status(&s))
        }
        _ => serde_json::from_value::<Vec<IfaceStatus>>(reply).map(|i| ctl::render_peers(&i)),
    };
    match text {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: the daemon's answer is not what this wakeproxy expects ({e}): is it the same version?"
            );
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn events(args: EventsArgs) -> ExitCode {
    let socket = match socket_of(&args.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let print = |e: &serde_json::Value| {
        if args.json {
            println!("{e}");
        } else {
            println!("{}", ctl::render_event(e));
        }
    };
    let result = block_on(async {
        if args.follow {
            let mut stream = ctl::follow_events(&socket).await?;
            while let Some(e) = stream.next().await {
                print(&e?);
            }
        } else {
            let v = ctl::call(&socket, &Request::Events { follow: false }).await?;
            for e in v.as_array().into_iter().flatten() {
                print(e);
            }
        }
        Ok::<(), ctl::CtlError>(())
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e, 1),
        Err(code) => code,
    }
}

pub(crate) fn notice(args: ConfigArg, request: Request) -> ExitCode {
    let socket = match socket_of(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match block_on(ctl::call(&socket, &request)) {
        Ok(Ok(_)) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e, 1),
        Err(code) => code,
    }
}

pub(crate) fn wake(args: WakeArgs) -> ExitCode {
    use wakeproxy::direct_wake::{DirectWake, parse_macs, read_mac_file};
    if args.is_direct() {
        let mut macs = match parse_macs(&args.targets) {
            Ok(m) => m,
            Err(e) => return fail(&e, EXIT_BAD_INPUT),
        };
        if let Some(f) = &args.file {
            match read_mac_file(f) {
                Ok(more) => macs.extend(more),
                Err(e) => return fail(&e, EXIT_BAD_INPUT),
            }
        }
        let password = match args.password.as_deref().map(str::parse).transpose() {
            Ok(p) => p,
            Err(e) => return fail(&e, EXIT_BAD_INPUT),
        };
        let w = DirectWake {
            macs,
            port: args.port.unwrap_or(wakeproxy::core::wol::DEFAULT_WOL_PORT),
            broadcast: args.broadcast,
            interface: args.interface,
            password,
            raw: args.raw,
        };
        return match w.send() {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
                ExitCode::SUCCESS
            }
            Err(e @ wakeproxy::direct_wake::WakeCmdError::BadMac { .. }) => {
                fail(&e, EXIT_BAD_INPUT)
            }
            Err(e) => fail(&e, 1),
        };
    }
    let socket = match socket_of(&args.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut targets = args.targets.clone();
    if let Some(f) = &args.file {
        match read_mac_file(f) {
            Ok(more) => targets.extend(more.iter().map(ToString::to_string)),
            Err(e) => return fail(&e, EXIT_BAD_INPUT),
        }
    }
    if targets.is_empty() {
        eprintln!(
            "error: no target given: name MAC addresses, addresses or host names, or use --file"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let mut status = ExitCode::SUCCESS;
    for t in targets {
        // The daemon takes MACs and addresses; a host name is resolved here.
        let target = match resolve(&t) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                status = ExitCode::from(EXIT_BAD_INPUT);
                continue;
            }
        };
        let request = Request::Wake { target, password: args.password.clone() };
        match block_on(ctl::call(&socket, &request)) {
            Ok(Ok(v)) => println!("waking {t}: {}", v["mac"].as_str().unwrap_or("?")),
            Ok(Err(e @ ctl::CtlError::NotRunning { .. })) => {
                eprintln!("error: {t}: {e}; or send the magic packet from here with --direct");
                return ExitCode::FAILURE;
            }
            Ok(Err(e)) => {
                eprintln!("error: {t}: {e}");
                status = ExitCode::FAILURE;
            }
            Err(code) => return code,
        }
    }
    status
}

/// A MAC or an address as given; a host name resolved to its first IPv4 address.
pub(crate) fn resolve(target: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    if target.parse::<wakeproxy::core::addr::MacAddr>().is_ok()
        || target.parse::<std::net::IpAddr>().is_ok()
    {
        return Ok(target.to_owned());
    }
    if target.contains(':') || target.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        // Looks like a MAC but is not one: say so rather than try DNS.
        return target
            .parse::<wakeproxy::core::addr::MacAddr>()
            .map(|m| m.to_string())
            .map_err(|e| e.to_string());
    }
    let addrs = (target, 0).to_socket_addrs().map_err(|e| {
        format!("`{target}` is not a MAC address, an IP address or a host name that resolves: {e}")
    })?;
    addrs
        .map(|a| a.ip())
        .find(std::net::IpAddr::is_ipv4)
        .map(|ip| ip.to_string())
        .ok_or_else(|| format!("{target} has no IPv4 address"))
}
