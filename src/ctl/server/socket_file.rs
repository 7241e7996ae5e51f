//! The Unix socket file, from claiming its path to removing it: [`bind`] creates the directory,
//! refuses to start while another daemon answers there, removes a stale socket file (a daemon
//! that crashed), binds, and sets the mode and the group; [`SocketFile`] removes the file when
//! the listener goes, unless another process has replaced it meanwhile.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};

use super::ControlListener;
use super::policy::group_id;
use crate::ctl::CtlError;

/// The socket file this listener created, removed on drop if it is still the same file.
#[derive(Debug)]
pub(super) struct SocketFile {
    path: PathBuf,
    /// (device, inode) once known; until then the file is removed unconditionally.
    id: Option<(u64, u64)>,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = match (fs::symlink_metadata(&self.path), self.id) {
            (Ok(m), Some(id)) => (m.dev(), m.ino()) == id,
            (Ok(_), None) => true,
            (Err(_), _) => false,
        };
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

pub(super) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> CtlError + use<> {
    let path = path.to_path_buf();
    move |source| CtlError::Io { action, path, source }
}

pub(super) fn bind(path: &Path, group: Option<&str>) -> Result<ControlListener, CtlError> {
    // Resolve the group first: a typo should not leave a half-made socket behind.
    let gid = group.map(group_id).transpose()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        // Only the directories created here get the mode; an existing /run stays as it is.
        // Set it again on the socket's own directory so a strict umask does not lock the
        // group out.
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err("create the directory", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(io_err("set the mode of", dir))?;
    }
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("inspect", path)(e)),
        Ok(m) if !m.file_type().is_socket() => {
            return Err(CtlError::NotASocket { path: path.to_path_buf() });
        }
        Ok(_) => {
            if answers(path).map_err(io_err("check whether a daemon answers on", path))? {
                return Err(CtlError::AlreadyRunning { path: path.to_path_buf() });
            }
            tracing::info!(path = %path.display(), "removing the stale control socket");
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(io_err("remove the stale control socket", path)(e));
                }
                _ => {}
            }
        }
    }
    let listener = StdUnixListener::bind(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            // Another daemon bound between our check and our bind.
            CtlError::AlreadyRunning { path: path.to_path_buf() }
        } else {
            io_err("bind the control socket", path)(e)
        }
    })?;
    let mut file = SocketFile { path: path.to_path_buf(), id: None };
    listener.set_nonblocking(true).map_err(io_err("configure the control socket", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .map_err(io_err("set the mode of", path))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(io_err("change the group of", path))?;
    }
    let meta = fs::symlink_metadata(path).map_err(io_err("inspect", path))?;
    file.id = Some((meta.dev(), meta.ino()));
    Ok(ControlListener { path: path.to_path_buf(), listener, file })
}

/// Whether a process accepts connections on the socket at `path`. The connect does not
/// block: a full backlog (`EAGAIN`) also means someone is there.
fn answers(path: &Path) -> io::Result<bool> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e)
            if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
