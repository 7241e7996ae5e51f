//! What every command shares: loading the configuration, the exit codes, printing an error,
//! running one async call.

use std::path::PathBuf;
use std::process::ExitCode;

use wakeproxy::os::words;
use wakeproxy::store::config::Config;

use super::args::*;

/// Exit code of a bad configuration, key file or invocation (as clap's own errors).
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

/// The control socket named by the configuration (the default one if none is given).
pub(crate) fn socket_of(arg: &ConfigArg) -> Result<PathBuf, ExitCode> {
    load_config(arg.config.clone()).map(|(c, _)| c.control_socket)
}

/// The configuration `given` on the command line, or the one at the default path, with its
/// path; a bad one is said and is exit code 2. A missing file is an error only when it was
/// named: without one the daemon runs with the defaults.
pub(crate) fn load_config(given: Option<PathBuf>) -> Result<(Config, PathBuf), ExitCode> {
    let explicit = given.is_some();
    let path = given.unwrap_or_else(Config::default_path);
    let config = Config::load_or_default(&path, explicit).map_err(|e| fail(&e, EXIT_BAD_INPUT))?;
    Ok((config, path))
}

/// Runs one async client call on a small runtime.
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, ExitCode> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Ok(rt.block_on(f)),
        Err(e) => Err(fail(&e, 1)),
    }
}

/// Prints `e` with every cause it does not already name ([`words::error_chain`]) and returns
/// `code`.
pub(crate) fn fail(e: &(dyn std::error::Error + 'static), code: u8) -> ExitCode {
    eprintln!("error: {}", words::error_chain(e));
    ExitCode::from(code)
}
