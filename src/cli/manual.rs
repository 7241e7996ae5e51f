//! `wakeproxy completions SHELL` and `wakeproxy man`: shell completions and man pages, generated
//! from the same clap command the binary parses, so they never disagree with it.

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
        Err(e) => fail(&ManError { out: out.display().to_string(), source: e }, 1),
    }
}

/// The man pages could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the man pages to {out}: {source}; name a directory you may write to with --out"
)]
struct ManError {
    out: String,
    source: std::io::Error,
}
