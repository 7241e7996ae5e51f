//! `wakeproxy completions SHELL` and `wakeproxy man`: shell completions and man pages, generated
//! from the same clap command the binary parses, so they never disagree with it. And
//! `wakeproxy monitoring`: the alerting rules and the dashboard of `contrib/`, built into the
//! binary, so a host without the sources (a Windows PC) has the ones that match its metrics.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::args::Cli;
use super::common::fail;

/// Prints the completion script for `shell` on standard output.
pub(crate) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wakeproxy", &mut script);
    print_all(&script)
}

/// Writes `bytes` to standard output; a reader that went away (`| head`) is no error.
fn print_all(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => fail(&e, 1),
        _ => ExitCode::SUCCESS,
    }
}

/// Writes `wakeproxy.1` and a page per command into `out`, and names each file written.
pub(crate) fn man(out: &Path) -> ExitCode {
    let written = std::fs::create_dir_all(out).and_then(|()| {
        clap_mangen::generate_to(Cli::command(), out)?;
        let mut pages: Vec<String> = std::fs::read_dir(out)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("wakeproxy") && n.ends_with(".1"))
            .collect();
        pages.sort();
        Ok(pages)
    });
    match written {
        Ok(pages) => {
            let list: String =
                pages.iter().map(|p| format!("{}\n", out.join(p).display())).collect();
            print_all(list.as_bytes())
        }
        Err(e) => {
            let what = "the man pages";
            fail(&WriteError { what, out: out.display().to_string(), source: e }, 1)
        }
    }
}

/// The monitoring files, as `contrib/` holds them.
const MONITORING: [(&str, &str); 2] = [
    ("wakeproxy-alerts.yml", include_str!("../../contrib/prometheus/wakeproxy-alerts.yml")),
    ("wakeproxy-dashboard.json", include_str!("../../contrib/grafana/wakeproxy-dashboard.json")),
];

/// Writes the alerting rules and the dashboard into `out`, and names each file written.
pub(crate) fn monitoring(out: &Path) -> ExitCode {
    let mut list = String::new();
    for (name, text) in MONITORING {
        let path = out.join(name);
        let written = std::fs::create_dir_all(out)
            .and_then(|()| wakeproxy::store::fsutil::atomic_write(&path, text.as_bytes(), 0o644));
        if let Err(source) = written {
            let what = WriteError {
                what: "the monitoring files",
                out: path.display().to_string(),
                source,
            };
            return fail(&what, 1);
        }
        list.push_str(&format!("{}\n", path.display()));
    }
    print_all(list.as_bytes())
}

/// Files could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} to {out}: {source}; name a directory you may write to with --out")]
struct WriteError {
    what: &'static str,
    out: String,
    source: std::io::Error,
}
