//! The site key file: read and checked exactly as the daemon reads it (`store::keys::read`:
//! a regular file, no symbolic link, on Unix closed to group and others and owned by the user
//! the process runs as), owned by root (the service's user), and holding the key the daemon
//! signs with. On Windows the file's ACL is not checked (it inherits its directory's, which is
//! the installer's job, `store::keys`), only that it exists and parses.

use std::io;
use std::path::Path;

use super::{Check, System, Topic, Verdict};
use crate::ctl::DaemonStatus;
use crate::os::words::HERE;
use crate::store::config::Config;
use crate::store::keys::{KeyError, Rollover};

/// The current key of a key file.
fn current(r: &Rollover) -> String {
    match r {
        Rollover::Single { current }
        | Rollover::NextAdded { current, .. }
        | Rollover::Promoted { current, .. }
        | Rollover::Unmarked { current, .. } => current.to_string(),
    }
}

pub(super) fn check(
    config: &Config,
    config_path: &Path,
    status: Option<&DaemonStatus>,
    sys: &dyn System,
) -> Check {
    let path = config.key_file.display().to_string();
    if config.insecure {
        return Check::new(
            Topic::KeyFile,
            "",
            Verdict::Warn,
            format!(
                "{} sets `insecure = true`: nodes sign with the published lab key, so anyone \
                 on the LAN can forge their messages (wake hosts, claim their addresses)",
                config_path.display()
            ),
        )
        .fix(format!(
            "outside a lab, create a key (`wakeproxy keygen {path}`), copy it to every node, \
             and remove `insecure = true`"
        ));
    }
    let facts = match sys.key_file(&config.key_file) {
        Ok(f) => f,
        Err(e) => return refused(&path, &e, sys),
    };
    let id = current(&facts.rollover);
    let mode = facts.mode.map(|m| format!("mode {m:04o}, ")).unwrap_or_default();
    let owner = match facts.owner {
        Some(0) => "owner root, ".to_owned(),
        Some(uid) => format!("owner uid {uid}, "),
        None => String::new(),
    };
    if let Some(uid) = facts.owner.filter(|&u| u != 0) {
        return Check::new(
            Topic::KeyFile,
            &path,
            Verdict::Warn,
            format!(
                "{path} belongs to uid {uid}: the service runs as root and refuses a key file \
                 it does not own"
            ),
        )
        .fix(format!("chown root {path}"));
    }
    let acl = if cfg!(windows) {
        " (its ACL is not checked: windows/install.ps1 restricts its folder)"
    } else {
        ""
    };
    let ok = Check::new(
        Topic::KeyFile,
        &path,
        Verdict::Ok,
        format!("{mode}{owner}current key {id}{acl}"),
    )
    .details(serde_json::json!({ "key_id": id, "mode": facts.mode, "owner": facts.owner }));
    let Some(daemon) = status.and_then(|s| s.key.as_ref()) else { return ok };
    if daemon.id != id && daemon.accepted_id.as_deref() != Some(&id) {
        return Check::new(
            Topic::KeyFile,
            &path,
            Verdict::Fail,
            format!(
                "{path} holds key {id}, but the daemon signs with key {}: the file changed \
                 after the daemon read it, or the daemon reads another file{}",
                daemon.id,
                daemon.file.as_deref().map(|f| format!(" ({f})")).unwrap_or_default()
            ),
        )
        .fix(format!("if the file is right, make the daemon read it: {}", HERE.reload));
    }
    ok
}

/// The check when the key file was refused: its error says what to do.
fn refused(path: &str, e: &KeyError, sys: &dyn System) -> Check {
    let denied = matches!(e, KeyError::Unreadable { source, .. }
        if source.kind() == io::ErrorKind::PermissionDenied);
    if denied && !sys.privileged() {
        return Check::new(
            Topic::KeyFile,
            path,
            Verdict::Unchecked,
            format!("{path} cannot be read by this user (it should be readable by root only)"),
        )
        .fix(format!("run doctor as {}: {}", HERE.superuser, HERE.elevate));
    }
    let fix = match e {
        KeyError::TooOpen { .. } => Some(format!("chmod 600 {path}")),
        KeyError::WrongOwner { .. } => Some(format!("chown root {path}")),
        KeyError::NotFound { .. } => Some(format!(
            "wakeproxy keygen {path} on one node, then copy the file to every node of the site"
        )),
        _ => None,
    };
    let c = Check::new(Topic::KeyFile, path, Verdict::Fail, crate::os::words::error_chain(e));
    match fix {
        Some(f) => c.fix(f),
        None => c,
    }
}
