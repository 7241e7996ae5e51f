//! The daemon's end of the control socket.
//!
//! [`ControlListener::bind`] claims the socket path; [`serve`] accepts connections until its
//! shutdown future completes. Each connection runs in its own task: it parses request lines,
//! checks them against the caller's credentials ([`authorize`]), hands each allowed request to
//! the daemon as a [`CtlCall`] and writes the answer back. The daemon never waits for a client:
//! it answers through a oneshot and publishes events on a broadcast channel, and every write to
//! a client has a timeout, so a slow or dead client only loses its own connection.
//!
//! On Unix the endpoint is a socket file; on Windows a named pipe (default `\\.\pipe\wakeproxy`)
//! whose DACL admits only SYSTEM and Administrators, so every Windows caller is privileged. The
//! connection logic is the same for both; on other platforms `bind` and `serve` return
//! [`CtlError::Unsupported`].
//!
//! # Nobody can lock root out
//!
//! Anyone in the socket's group may open connections, and `events --follow` keeps one open for
//! as long as it likes. So the limits are per caller ([`ServeConfig`]): of the
//! `max_connections`, `reserved_for_privileged` are kept for privileged callers (root) and
//! never given to anyone else; every other uid may hold at most `max_per_user` connections, of
//! which at most `max_followers_per_user` follow events. A connection that asks nothing for
//! `idle_timeout` is closed (followers excepted), and every write has `write_timeout`, so a
//! follower whose client stops reading is dropped. A connection over a limit gets one error line
//! naming the limit, then is closed. On Windows every caller is an administrator (the pipe's
//! DACL), so only `max_connections` applies there.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::CtlError;
use super::protocol::Request;
use crate::os::words::{HERE, Words};

/// Who is on the other end of a connection, from the kernel (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Its user id, if the kernel told.
    pub uid: Option<u32>,
    /// Its process id, if the kernel told.
    pub pid: Option<i32>,
    /// It may send requests that change state or send packets (by default: uid 0).
    pub privileged: bool,
}

impl Caller {
    /// A caller with these credentials, privileged if it is root.
    pub fn new(uid: Option<u32>, pid: Option<i32>) -> Self {
        Self { uid, pid, privileged: root_only(uid) }
    }
}

/// The default privilege rule: uid 0.
fn root_only(uid: Option<u32>) -> bool {
    uid == Some(0)
}

/// Whether `caller` may send `request`. Read-only requests are open to anyone who can open the
/// socket (its mode 0660 and group decide who can); the others need a privileged caller. The
/// error is the reply the client gets.
pub fn authorize(request: &Request, caller: &Caller) -> Result<(), String> {
    if request.is_read_only() || caller.privileged {
        Ok(())
    } else {
        Err(needs_privilege(request, &HERE))
    }
}

/// The refusal of a request that needs the system's rights, in `words`.
fn needs_privilege(request: &Request, words: &Words) -> String {
    format!("{} needs {}: {}", request.name(), words.superuser, words.elevate)
}

/// One request for the daemon. The daemon answers through `reply` (dropping it answers "the
/// daemon dropped the request"):
///
/// - `Status` → a [`super::DaemonStatus`];
/// - `Peers` → `Vec<IfaceStatus>`, the interfaces with their peers;
/// - `Events { .. }` → an array of the recent events, oldest first, whatever `follow` says (the
///   server streams the rest from the broadcast channel). If events carry a numeric `"seq"`
///   field that grows by event, live events already in that history are not sent twice;
/// - `Wake`, `SleepNotice`, `ResumeNotice` → whatever tells the operator what was done.
///
/// An `Err` is shown to the operator as it is: say what is wrong and what to do.
#[derive(Debug)]
pub struct CtlCall {
    /// What is asked.
    pub request: Request,
    /// Who asks (already authorized for `request`).
    pub caller: Caller,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Value, String>>,
}

/// Limits of [`serve_with`]. [`ServeConfig::default`] is what [`serve`] uses.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Connections served at once, from everyone together; more are told to try again and
    /// closed (default 64).
    pub max_connections: usize,
    /// Of `max_connections`, how many only privileged callers (root) may use: the others can
    /// never hold more than `max_connections - reserved_for_privileged` (default 8).
    pub reserved_for_privileged: usize,
    /// Connections one unprivileged uid may hold at once (default 16). Privileged callers are
    /// limited by `max_connections` only.
    pub max_per_user: usize,
    /// `events --follow` streams one unprivileged uid may hold at once, within its
    /// `max_per_user` (default 4).
    pub max_followers_per_user: usize,
    /// How long one reply line may take to write before the client is dropped (default 5 s).
    pub write_timeout: Duration,
    /// How long the daemon may take to take and answer one call (default 10 s).
    pub call_timeout: Duration,
    /// How long a connection may stay silent between requests, except while it follows events
    /// (default 60 s).
    pub idle_timeout: Duration,
    /// Decides [`Caller::privileged`] from the caller's uid (default: uid 0). Tests, which run
    /// as root, inject `|_| false` to see a refusal. Not used on Windows, where the pipe's DACL
    /// admits only SYSTEM and Administrators and every caller is privileged.
    pub is_privileged: fn(Option<u32>) -> bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            max_connections: 64,
            reserved_for_privileged: 8,
            max_per_user: 16,
            max_followers_per_user: 4,
            write_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            is_privileged: root_only,
        }
    }
}

/// Serves the control socket with the default limits until `shutdown` completes; then stops
/// accepting, closes every connection and removes the socket file.
///
/// `requests` carries the calls to the daemon; `events` is the daemon's event channel, which
/// `events --follow` subscribes to. Returns an error only if the listener cannot be used.
pub async fn serve<F: Future>(
    listener: ControlListener,
    requests: mpsc::Sender<CtlCall>,
    events: broadcast::Sender<Value>,
    shutdown: F,
) -> Result<(), CtlError> {
    serve_with(ServeConfig::default(), listener, requests, events, shutdown).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with<F: Future>(
    config: ServeConfig,
    listener: ControlListener,
    requests: mpsc::Sender<CtlCall>,
    events: broadcast::Sender<Value>,
    shutdown: F,
) -> Result<(), CtlError> {
    #[cfg(unix)]
    {
        unix::serve(config, listener, requests, events, shutdown).await
    }
    #[cfg(windows)]
    {
        windows::serve(config, listener, requests, events, shutdown).await
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (config, listener, requests, events, shutdown);
        Err(CtlError::Unsupported)
    }
}

/// Hands `request` to the daemon and waits for its answer, all within `limit`.
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
async fn ask(
    requests: &mpsc::Sender<CtlCall>,
    request: Request,
    caller: Caller,
    limit: Duration,
) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + limit;
    let late = || {
        format!(
            "the daemon did not answer within {} s: see its log ({})",
            limit.as_secs(),
            HERE.logs
        )
    };
    let (reply, answer) = oneshot::channel();
    match tokio::time::timeout_at(deadline, requests.send(CtlCall { request, caller, reply })).await
    {
        Err(_) => return Err(late()),
        Ok(Err(_)) => return Err("the daemon is shutting down: try again when it is back".into()),
        Ok(Ok(())) => {}
    }
    match tokio::time::timeout_at(deadline, answer).await {
        Err(_) => Err(late()),
        Ok(Err(_)) => Err(format!(
            "the daemon dropped the request without answering: see its log ({})",
            HERE.logs
        )),
        Ok(Ok(answer)) => answer,
    }
}

/// The `"seq"` of an event, if it has one.
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
fn seq_of(event: &Value) -> Option<u64> {
    event.get("seq").and_then(Value::as_u64)
}

/// Who holds how many connections and followers: one per server, shared by its accept loop
/// and its connections. Each admitted connection holds a [`Slot`], which gives its place back
/// when dropped.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    config: ServeConfig,
    held: std::sync::Arc<std::sync::Mutex<Held>>,
}

/// What is held now.
#[derive(Debug, Default)]
struct Held {
    total: usize,
    /// Held by unprivileged callers.
    unprivileged: usize,
    /// Per unprivileged uid (`None`: the kernel did not say).
    users: std::collections::HashMap<Option<u32>, PerUser>,
}

#[derive(Debug, Default, Clone, Copy)]
struct PerUser {
    connections: usize,
    followers: usize,
}

/// A connection's place, given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Admission,
    /// The uid it counts against; `None` for a privileged caller.
    user: Option<Option<u32>>,
    following: std::sync::atomic::AtomicBool,
}

/// A uid as a refusal names it.
fn who(uid: Option<u32>) -> String {
    uid.map_or_else(
        || "this user (the kernel did not say its uid)".to_owned(),
        |u| format!("uid {u}"),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Admission {
    pub(crate) fn new(config: ServeConfig) -> Self {
        Self { config, held: Default::default() }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic elsewhere while holding the lock leaves consistent counts: keep going.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// (connections, followers) `uid` holds now, for tests.
    #[cfg(test)]
    pub(crate) fn held_by(&self, uid: Option<u32>) -> (usize, usize) {
        let held = self.held();
        held.users.get(&uid).map_or((0, 0), |u| (u.connections, u.followers))
    }

    /// Connections held now, for tests.
    #[cfg(test)]
    pub(crate) fn total(&self) -> usize {
        self.held().total
    }

    /// A place for a connection from `caller`, or the reason there is none (the line the
    /// caller is sent before its connection is closed).
    pub(crate) fn admit(&self, caller: &Caller) -> Result<Slot, String> {
        let c = &self.config;
        let mut held = self.held();
        if held.total >= c.max_connections {
            return Err(format!(
                "the daemon is serving {}, its limit: try again shortly",
                plural(c.max_connections, "control connection", "control connections")
            ));
        }
        let user = if caller.privileged {
            None
        } else {
            let mine = held.users.get(&caller.uid).map_or(0, |u| u.connections);
            if mine >= c.max_per_user {
                return Err(format!(
                    "{} already has {} open, the limit per user: close some (each `wakeproxy \
                     events --follow` holds one) and try again",
                    who(caller.uid),
                    plural(mine, "control connection", "control connections")
                ));
            }
            let pool = c.max_connections.saturating_sub(c.reserved_for_privileged);
            if held.unprivileged >= pool {
                return Err(format!(
                    "the daemon is serving {} for users other than {superuser}, their limit \
                     ({} more are kept for {superuser}): try again shortly, or {}",
                    plural(pool, "control connection", "control connections"),
                    c.reserved_for_privileged,
                    HERE.elevate,
                    superuser = HERE.superuser,
                ));
            }
            held.unprivileged += 1;
            held.users.entry(caller.uid).or_default().connections += 1;
            Some(caller.uid)
        };
        held.total += 1;
        drop(held);
        Ok(Slot { admission: self.clone(), user, following: Default::default() })
    }
}

impl Slot {
    /// Makes this connection a follower of events, if its user may have one more.
    pub(crate) fn follow(&self) -> Result<(), String> {
        let Some(uid) = self.user else { return Ok(()) };
        if self.following.load(Ordering::Relaxed) {
            return Ok(());
        }
        let max = self.admission.config.max_followers_per_user;
        let mut held = self.admission.held();
        let user = held.users.entry(uid).or_default();
        if user.followers >= max {
            return Err(format!(
                "{} already follows events on {}, the limit per user: stop one of them (Ctrl-C) \
                 and try again",
                who(uid),
                plural(user.followers, "connection", "connections")
            ));
        }
        user.followers += 1;
        self.following.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.admission.held();
        held.total = held.total.saturating_sub(1);
        if let Some(uid) = self.user {
            held.unprivileged = held.unprivileged.saturating_sub(1);
            if let Some(u) = held.users.get_mut(&uid) {
                u.connections = u.connections.saturating_sub(1);
                if self.following.load(Ordering::Relaxed) {
                    u.followers = u.followers.saturating_sub(1);
                }
                if u.connections == 0 {
                    held.users.remove(&uid);
                }
            }
        }
    }
}

/// The socket, bound and ready for [`serve`]. Dropping it (or `serve` returning) removes the
/// socket file, unless another process has replaced it meanwhile. On Windows it holds the first
/// instance of the named pipe; the pipe goes away with its last instance.
#[derive(Debug)]
pub struct ControlListener {
    path: PathBuf,
    #[cfg(unix)]
    listener: std::os::unix::net::UnixListener,
    #[cfg(unix)]
    file: unix::SocketFile,
    #[cfg(windows)]
    first: tokio::net::windows::named_pipe::NamedPipeServer,
}

impl ControlListener {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Claims the control socket at `path`: creates its directory (mode 0755) if needed, refuses
    /// if another daemon answers there, removes a stale socket file, binds, sets mode 0660 and,
    /// if `group` is given (a group name as the system knows it, or a numeric gid), gives the
    /// socket to that group so its members may run the read-only commands.
    ///
    /// Needs no runtime on Unix: call it before starting tokio if that suits.
    ///
    /// On Windows `path` is the pipe name (`\\.\pipe\wakeproxy`): `bind` creates the pipe's
    /// first instance, which fails with [`CtlError::AlreadyRunning`] if the pipe exists, with a
    /// DACL that admits only SYSTEM and Administrators. `group` has no meaning there and is
    /// ignored with a warning. It needs a tokio runtime with I/O enabled.
    pub fn bind(path: &Path, group: Option<&str>) -> Result<Self, CtlError> {
        #[cfg(unix)]
        {
            unix::bind(path, group)
        }
        #[cfg(windows)]
        {
            windows::bind(path, group)
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (path, group);
            Err(CtlError::Unsupported)
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::{self, DirBuilder};
    use std::future::Future;
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
    use std::os::unix::net::UnixListener as StdUnixListener;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use serde_json::Value;
    use tokio::net::UnixStream;
    use tokio::sync::{broadcast, mpsc};
    use tokio::task::JoinSet;

    use super::connection::{Gate, refusal_line};
    use super::{Caller, ControlListener, CtlCall, ServeConfig};
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

    fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CtlError + use<> {
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
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The gid of `group`: a number is taken as a gid, a name is looked up as the system looks
    /// names up (`getgrnam_r`, through NSS: `/etc/group`, but also LDAP, sssd, systemd's
    /// dynamic users), so a directory group works as well as a local one.
    pub(super) fn group_id(group: &str) -> Result<u32, CtlError> {
        if let Ok(gid) = group.parse::<u32>() {
            return Ok(gid);
        }
        match nix::unistd::Group::from_name(group) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            Ok(None) => Err(CtlError::UnknownGroup { group: group.to_owned() }),
            Err(e) => Err(io_err("look up the group of", Path::new(group))(io::Error::from(e))),
        }
    }

    pub(super) async fn serve<F: Future>(
        config: ServeConfig,
        listener: ControlListener,
        requests: mpsc::Sender<CtlCall>,
        events: broadcast::Sender<Value>,
        shutdown: F,
    ) -> Result<(), CtlError> {
        // `file` lives until this function returns, then removes the socket.
        let ControlListener { path, listener, file: _file } = listener;
        let listener = tokio::net::UnixListener::from_std(listener)
            .map_err(io_err("listen on the control socket", &path))?;
        tracing::info!(path = %path.display(), "control socket ready");
        let is_privileged = config.is_privileged;
        let gate = Gate::new(config, requests, events);
        let mut tasks = JoinSet::new();
        let mut backoff = Duration::from_millis(10);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        backoff = Duration::from_millis(10);
                        let caller = caller_of(&stream, is_privileged);
                        match gate.admit(&caller) {
                            Ok(conn) => {
                                let (rd, wr) = stream.into_split();
                                tasks.spawn(conn.run(rd, wr));
                            }
                            // Best effort, never waits: the client may not be reading. Dropping
                            // the stream closes it.
                            Err(refused) => {
                                let _ = stream.try_write(refusal_line(&refused).as_bytes());
                            }
                        }
                    }
                    Err(e) => {
                        // Usually out of file descriptors: wait for some to be freed.
                        tracing::warn!(error = %e, "control socket: accept failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
            }
        }
        tasks.shutdown().await;
        tracing::info!(path = %path.display(), "control socket closed");
        Ok(())
    }

    fn caller_of(stream: &UnixStream, is_privileged: fn(Option<u32>) -> bool) -> Caller {
        let (uid, pid) = match stream.peer_cred() {
            Ok(c) => (Some(c.uid()), c.pid()),
            Err(e) => {
                tracing::debug!(error = %e, "control socket: no peer credentials");
                (None, None)
            }
        };
        Caller { uid, pid, privileged: is_privileged(uid) }
    }
}

/// Windows: the named pipe. Only SYSTEM and Administrators may open it (its DACL, set on every
/// instance), so every caller is privileged.
#[cfg(windows)]
mod windows {
    use std::ffi::OsStr;
    use std::future::Future;
    use std::io;
    use std::path::Path;
    use std::time::Duration;

    use serde_json::Value;
    use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
    use tokio::sync::{broadcast, mpsc};
    use tokio::task::JoinSet;

    use super::connection::{Gate, refusal_line};
    use super::{Caller, ControlListener, CtlCall, ServeConfig};
    use crate::ctl::CtlError;
    use crate::os::sys::windows::{CONTROL_PIPE_SDDL, create_pipe_instance};

    /// `ERROR_ACCESS_DENIED`: what creating a `first_pipe_instance` of an existing pipe fails with.
    const ERROR_ACCESS_DENIED: i32 = 5;
    /// `ERROR_PIPE_BUSY`: the pipe exists and has no free instance.
    const ERROR_PIPE_BUSY: i32 = 231;

    /// Every caller that could open the pipe: SYSTEM or an Administrator.
    const CALLER: Caller = Caller { uid: None, pid: None, privileged: true };

    /// A new server instance of the pipe `name`; `first` makes it fail if the pipe exists.
    fn instance(name: &Path, first: bool) -> io::Result<NamedPipeServer> {
        let mut options = ServerOptions::new();
        options.first_pipe_instance(first).reject_remote_clients(true);
        create_pipe_instance(&options, OsStr::new(name), CONTROL_PIPE_SDDL)
    }

    pub(super) fn bind(path: &Path, group: Option<&str>) -> Result<ControlListener, CtlError> {
        if let Some(group) = group {
            tracing::warn!(
                group,
                "control_group has no effect on Windows: only SYSTEM and Administrators may open \
                 the control pipe"
            );
        }
        let io_err = |source| CtlError::Io {
            action: "create the control pipe",
            path: path.to_path_buf(),
            source,
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io_err(io::Error::other("the control pipe needs a tokio runtime")));
        }
        let first = instance(path, true).map_err(|e| match e.raw_os_error() {
            Some(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY) => {
                CtlError::AlreadyRunning { path: path.to_path_buf() }
            }
            _ => io_err(e),
        })?;
        Ok(ControlListener { path: path.to_path_buf(), first })
    }

    pub(super) async fn serve<F: Future>(
        config: ServeConfig,
        listener: ControlListener,
        requests: mpsc::Sender<CtlCall>,
        events: broadcast::Sender<Value>,
        shutdown: F,
    ) -> Result<(), CtlError> {
        let ControlListener { path, first } = listener;
        tracing::info!(path = %path.display(), "control pipe ready");
        let gate = Gate::new(config, requests, events);
        let mut tasks = JoinSet::new();
        let mut backoff = Duration::from_millis(10);
        // The instance clients connect to next; `None` after creating one failed.
        let mut waiting = Some(first);
        tokio::pin!(shutdown);
        loop {
            let server = match waiting.take() {
                Some(server) => server,
                None => match instance(&path, false) {
                    Ok(server) => server,
                    Err(e) => {
                        tracing::warn!(error = %e, "control pipe: could not create an instance");
                        tokio::select! {
                            _ = &mut shutdown => break,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                },
            };
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => waiting = Some(server),
                connected = server.connect() => match connected {
                    Ok(()) => {
                        backoff = Duration::from_millis(10);
                        // The next instance first, so a client always finds one waiting.
                        waiting = instance(&path, false)
                            .inspect_err(|e| {
                                tracing::warn!(error = %e, "control pipe: could not create an instance");
                            })
                            .ok();
                        match gate.admit(&CALLER) {
                            Ok(conn) => {
                                let (rd, wr) = tokio::io::split(server);
                                tasks.spawn(conn.run(rd, wr));
                            }
                            // Best effort, never waits: the client may not be reading.
                            Err(refused) => {
                                let _ = server.try_write(refusal_line(&refused).as_bytes());
                            }
                        }
                    }
                    Err(e) => {
                        // This instance is broken: drop it and make another after a pause.
                        tracing::warn!(error = %e, "control pipe: connect failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
            }
        }
        tasks.shutdown().await;
        tracing::info!(path = %path.display(), "control pipe closed");
        Ok(())
    }
}

#[cfg(all(test, any(unix, windows)))]
pub(crate) use connection::{Gate, refusal_line};

/// One client connection, the same on a Unix socket and a Windows named pipe: parses request
/// lines, authorizes them, asks the daemon and writes the answers back.
#[cfg(any(unix, windows))]
mod connection {
    use serde_json::Value;
    use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
    use tokio::sync::broadcast::error::RecvError;
    use tokio::sync::{broadcast, mpsc};

    use super::{Admission, Caller, CtlCall, ServeConfig, Slot, ask, authorize, seq_of};
    use crate::ctl::line::{LineRead, read_line};
    use crate::ctl::protocol::{MAX_REQUEST_LINE, ProtocolError, Request, reply_line};

    /// The line a connection over a limit gets before it is closed.
    pub(crate) fn refusal_line(why: &str) -> String {
        format!("{}\n", reply_line(&Err(why.to_owned())))
    }

    /// What every connection of one server shares: its limits, who holds what, and the way to
    /// the daemon. The accept loops (and tests, with callers of their choosing) ask it to admit
    /// each new connection.
    pub(crate) struct Gate {
        config: ServeConfig,
        admission: Admission,
        requests: mpsc::Sender<CtlCall>,
        events: broadcast::Sender<Value>,
    }

    impl Gate {
        pub(crate) fn new(
            config: ServeConfig,
            requests: mpsc::Sender<CtlCall>,
            events: broadcast::Sender<Value>,
        ) -> Self {
            Self { admission: Admission::new(config.clone()), config, requests, events }
        }

        /// A connection from `caller`, ready to run, or why there is no room for it (send that
        /// with [`refusal_line`], then close).
        pub(crate) fn admit(&self, caller: &Caller) -> Result<Connection, String> {
            let slot = self.admission.admit(caller).inspect_err(|why| {
                tracing::debug!(uid = ?caller.uid, pid = ?caller.pid, "control connection refused: {why}");
            })?;
            Ok(Connection {
                config: self.config.clone(),
                caller: *caller,
                requests: self.requests.clone(),
                events: self.events.clone(),
                slot,
            })
        }

        /// Who holds what (tests).
        #[cfg(test)]
        pub(crate) fn admission(&self) -> &Admission {
            &self.admission
        }
    }

    /// The client went away or could not be written to in time: end the connection.
    struct Gone;

    pub(crate) struct Connection {
        config: ServeConfig,
        caller: Caller,
        requests: mpsc::Sender<CtlCall>,
        events: broadcast::Sender<Value>,
        /// Its place among the connections; given back when the connection ends.
        slot: Slot,
    }

    impl Connection {
        /// Serves the connection whose two directions are `rd` and `wr` until the client closes
        /// it, breaks the protocol or is too slow.
        pub(crate) async fn run<R, W>(self, rd: R, mut wr: W)
        where
            R: AsyncRead + Unpin,
            W: AsyncWrite + Unpin,
        {
            let mut rd = BufReader::new(rd);
            let _ = self.serve_requests(&mut rd, &mut wr).await;
            tracing::trace!(uid = ?self.caller.uid, pid = ?self.caller.pid, "control connection closed");
        }

        async fn serve_requests<R, W>(&self, rd: &mut R, wr: &mut W) -> Result<(), Gone>
        where
            R: AsyncBufRead + Unpin,
            W: AsyncWrite + Unpin,
        {
            let mut buf = Vec::new();
            loop {
                let limit = self.config.idle_timeout;
                match tokio::time::timeout(limit, read_line(rd, &mut buf, MAX_REQUEST_LINE)).await {
                    Err(_) => {
                        let msg = format!("no request for {limit:?}: closing the connection");
                        return self.send(wr, &Err(msg)).await;
                    }
                    Ok(Err(_)) | Ok(Ok(LineRead::Eof)) => return Ok(()),
                    Ok(Ok(LineRead::TooLong)) => {
                        let e = ProtocolError::RequestTooLong { max: MAX_REQUEST_LINE };
                        return self.send(wr, &Err(e.to_string())).await;
                    }
                    Ok(Ok(LineRead::Line)) => {}
                };
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let request = match Request::parse(&buf) {
                    Ok(r) => r,
                    Err(e) => {
                        self.send(wr, &Err(e.to_string())).await?;
                        continue;
                    }
                };
                tracing::debug!(
                    cmd = request.name(),
                    uid = ?self.caller.uid,
                    pid = ?self.caller.pid,
                    "control request"
                );
                if let Err(refused) = authorize(&request, &self.caller) {
                    self.send(wr, &Err(refused)).await?;
                    continue;
                }
                if request == (Request::Events { follow: true }) {
                    if let Err(refused) = self.slot.follow() {
                        // The client waits for a stream, not for a prompt: end the connection.
                        return self.send(wr, &Err(refused)).await;
                    }
                    return self.follow(rd, wr).await;
                }
                let answer =
                    ask(&self.requests, request, self.caller, self.config.call_timeout).await;
                self.send(wr, &answer).await?;
            }
        }

        /// `events --follow`: the history the daemon returns, one line per event, then every
        /// new event until the client closes its end.
        async fn follow<R, W>(&self, rd: &mut R, wr: &mut W) -> Result<(), Gone>
        where
            R: AsyncRead + Unpin,
            W: AsyncWrite + Unpin,
        {
            // Subscribe before asking for the history, so no event falls between the two.
            let mut live = self.events.subscribe();
            let request = Request::Events { follow: true };
            let history =
                match ask(&self.requests, request, self.caller, self.config.call_timeout).await {
                    Ok(Value::Array(events)) => events,
                    Ok(Value::Null) => Vec::new(),
                    Ok(other) => vec![other],
                    // The client waits for events, not for a prompt: end the connection.
                    Err(e) => return self.send(wr, &Err(e)).await,
                };
            let mut last_seq = None;
            for event in history {
                last_seq = last_seq.max(seq_of(&event));
                self.send(wr, &Ok(event)).await?;
            }
            let mut scratch = [0u8; 512];
            loop {
                tokio::select! {
                    received = live.recv() => match received {
                        Ok(event) => {
                            if matches!((seq_of(&event), last_seq), (Some(s), Some(l)) if s <= l) {
                                continue;
                            }
                            self.send(wr, &Ok(event)).await?;
                        }
                        Err(RecvError::Lagged(n)) => {
                            let msg = format!(
                                "missed {n} events: this client read too slowly; the stream goes on"
                            );
                            self.send(wr, &Err(msg)).await?;
                        }
                        Err(RecvError::Closed) => return Ok(()),
                    },
                    // Anything the client sends now is ignored; its end of file ends the stream.
                    read = rd.read(&mut scratch) => match read {
                        Ok(0) | Err(_) => return Ok(()),
                        Ok(_) => {}
                    },
                }
            }
        }

        async fn send<W: AsyncWrite + Unpin>(
            &self,
            wr: &mut W,
            reply: &Result<Value, String>,
        ) -> Result<(), Gone> {
            let mut line = reply_line(reply);
            line.push('\n');
            match tokio::time::timeout(self.config.write_timeout, wr.write_all(line.as_bytes()))
                .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Gone),
                Err(_) => {
                    tracing::debug!(uid = ?self.caller.uid, "control client too slow: dropped");
                    Err(Gone)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_requests_are_open_to_anyone() {
        let nobody = Caller::new(Some(65534), Some(42));
        assert!(!nobody.privileged);
        for r in [Request::Status, Request::Peers, Request::Events { follow: true }] {
            assert_eq!(authorize(&r, &nobody), Ok(()));
        }
        let unknown = Caller::new(None, None);
        assert_eq!(authorize(&Request::Status, &unknown), Ok(()));
    }

    #[test]
    fn state_changing_requests_need_root() {
        let user = Caller::new(Some(1000), None);
        let root = Caller::new(Some(0), None);
        assert!(root.privileged);
        let wake = Request::Wake { target: "pc".into(), password: None };
        assert_eq!(authorize(&wake, &user), Err("wake needs root: run it with sudo".into()));
        assert_eq!(
            authorize(&Request::SleepNotice, &user),
            Err("sleep-notice needs root: run it with sudo".into())
        );
        assert_eq!(
            authorize(&Request::ResumeNotice, &Caller::new(None, None)),
            Err("resume-notice needs root: run it with sudo".into())
        );
        for r in [wake, Request::SleepNotice, Request::ResumeNotice] {
            assert_eq!(authorize(&r, &root), Ok(()));
        }
    }

    #[test]
    fn refusals_are_in_the_words_of_each_platform() {
        use crate::os::words::{LINUX, WINDOWS};
        assert_eq!(
            needs_privilege(&Request::Reload, &LINUX),
            "reload needs root: run it with sudo"
        );
        assert_eq!(
            needs_privilege(&Request::Reload, &WINDOWS),
            "reload needs an administrator: run it from an elevated prompt (Run as administrator)"
        );
    }

    #[test]
    fn events_are_deduplicated_by_seq_only_when_they_have_one() {
        assert_eq!(seq_of(&serde_json::json!({"seq": 7, "event": "x"})), Some(7));
        assert_eq!(seq_of(&serde_json::json!({"event": "x"})), None);
        assert_eq!(seq_of(&serde_json::json!({"seq": "7"})), None);
    }

    #[cfg(unix)]
    #[test]
    fn group_names_are_looked_up_as_the_system_does() {
        // Every system has group 0; its name (root on Linux) is what NSS calls it.
        let root = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(0)).unwrap().unwrap();
        assert_eq!(super::unix::group_id(&root.name).unwrap(), 0);
        assert_eq!(super::unix::group_id("997").unwrap(), 997, "a number is a gid");
        let e = super::unix::group_id("no-such-group-wakeproxy").unwrap_err();
        assert!(matches!(e, CtlError::UnknownGroup { .. }), "{e}");
    }
}
