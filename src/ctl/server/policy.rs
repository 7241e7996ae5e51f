//! Who may do what on the control socket, and how much of it.
//!
//! - Who may open it: on Unix the socket file's mode (0660) and group ([`group_id`] finds the
//!   group as the system does); on Windows the pipe's DACL (SYSTEM and Administrators).
//! - What each caller may ask: [`authorize`]. Read-only requests are open to anyone who could
//!   open the socket; the others need a privileged caller (root).
//! - How many connections each may hold: [`Admission`]. Places are kept for root and counted
//!   per uid, so no member of the socket's group can lock root out (see [`super::ServeConfig`]).

use std::sync::atomic::Ordering;

use super::ServeConfig;
use crate::ctl::protocol::Request;
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
pub(super) fn root_only(uid: Option<u32>) -> bool {
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

/// The gid of `group`: a number is taken as a gid, a name is looked up as the system looks
/// names up (`getgrnam_r`, through NSS: `/etc/group`, but also LDAP, sssd, systemd's
/// dynamic users), so a directory group works as well as a local one.
#[cfg(unix)]
pub(super) fn group_id(group: &str) -> Result<u32, crate::ctl::CtlError> {
    use crate::ctl::CtlError;
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(CtlError::UnknownGroup { group: group.to_owned() }),
        Err(e) => Err(CtlError::Io {
            action: "look up the group of",
            path: group.into(),
            source: std::io::Error::from(e),
        }),
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

    #[cfg(unix)]
    #[test]
    fn group_names_are_looked_up_as_the_system_does() {
        // Every system has group 0; its name (root on Linux) is what NSS calls it.
        let root = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(0)).unwrap().unwrap();
        assert_eq!(group_id(&root.name).unwrap(), 0);
        assert_eq!(group_id("997").unwrap(), 997, "a number is a gid");
        let e = group_id("no-such-group-wakeproxy").unwrap_err();
        assert!(matches!(e, crate::ctl::CtlError::UnknownGroup { .. }), "{e}");
    }
}
