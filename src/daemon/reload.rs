//! Re-reading the site key without a restart: `wakeproxy reload` (a privileged control request)
//! and, on Unix, SIGHUP.
//!
//! Only the key is reloaded: the file the daemon read it from at start is read again with the
//! same checks (`keys::load`), and the node signs with the new current key from its next
//! message on and accepts the new pair of keys from the next datagram on. Every other setting
//! takes effect at the next restart. If the file cannot be used, the daemon keeps the key it
//! has, and the reply and the log say why.
//!
//! [`Daemon::set_key`] is the one place a new key is installed.

use tracing::{info, warn};

use super::Daemon;
use crate::core::proto::SiteKey;
use crate::ctl::{KeyStatus, ReloadReply};
use crate::store::keys;

/// Why the key was not reloaded. The daemon keeps the key it had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The daemon runs with the built-in lab key, which has no file.
    #[error(
        "this daemon runs with insecure = true and the built-in public lab key: there is no key \
         file to reload; set `insecure = false` and `key_file`, then restart the service"
    )]
    NoKeyFile,
    /// The key file could not be used.
    #[error("could not reload the site key: {source}; the daemon keeps the key it had ({kept})")]
    Key {
        /// Why.
        source: keys::KeyError,
        /// The key it keeps, by id.
        kept: String,
    },
}

/// The key status of `key`, read from `file` (`None`: the built-in lab key).
fn status_of(key: &SiteKey, file: Option<&std::path::Path>) -> KeyStatus {
    KeyStatus {
        id: key.key_id().to_string(),
        accepted_id: key.accepted_key_id().map(|id| id.to_string()),
        file: file.map(|f| f.display().to_string()),
    }
}

/// "signs with 1a2b3c4d, also accepts 5e6f7a8b", for messages.
fn describe(k: &KeyStatus) -> String {
    match &k.accepted_id {
        Some(a) => format!("signs with {}, also accepts {a}", k.id),
        None => format!("signs with {} only", k.id),
    }
}

impl Daemon {
    /// The key in use, by id (for `status`).
    pub fn key_status(&self) -> KeyStatus {
        status_of(&self.opts.key, self.opts.key_file.as_deref())
    }

    /// Re-reads the key file the daemon started with and installs its keys. On failure the
    /// daemon keeps the key it had.
    pub fn reload_key(&mut self) -> Result<ReloadReply, ReloadError> {
        let Some(path) = self.opts.key_file.clone() else {
            return Err(ReloadError::NoKeyFile);
        };
        let before = self.key_status();
        let key = keys::load(&path)
            .map_err(|source| ReloadError::Key { source, kept: describe(&before) })?;
        let after = status_of(&key, Some(&path));
        let reply = ReloadReply { reloaded: "key".to_owned(), before, after };
        self.set_key(key);
        Ok(reply)
    }

    /// `wakeproxy reload`: reloads and logs; the answer is the reply.
    pub(super) fn reload_request(&mut self) -> Result<serde_json::Value, String> {
        let result = self.reload_logged("wakeproxy reload");
        result.map(|r| serde_json::to_value(r).unwrap_or(serde_json::Value::Null))
    }

    /// SIGHUP: reloads and logs.
    pub(super) fn reload_on_signal(&mut self) {
        let _ = self.reload_logged("SIGHUP");
    }

    fn reload_logged(&mut self, why: &str) -> Result<ReloadReply, String> {
        match self.reload_key() {
            Ok(r) => {
                let file = r.after.file.as_deref().unwrap_or("?");
                if r.before == r.after {
                    info!(
                        target: crate::os::host::LIFECYCLE,
                        "{why}: reloaded the site key from {file}: unchanged, {}",
                        describe(&r.after)
                    );
                } else {
                    info!(
                        target: crate::os::host::LIFECYCLE,
                        key_id = %r.after.id,
                        "{why}: reloaded the site key from {file}: now {} (before: {}); only the \
                         key is reloaded, other settings need a restart",
                        describe(&r.after),
                        describe(&r.before)
                    );
                }
                Ok(r)
            }
            Err(e) => {
                warn!("{why}: {e}");
                Err(e.to_string())
            }
        }
    }
}

/// SIGHUP on Unix (the daemon's conventional "reload"); never on other platforms.
pub(super) struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    /// Starts listening for SIGHUP (from then on it no longer ends the process).
    pub(super) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| {
                    warn!("cannot listen for SIGHUP ({e}): reload the key with `wakeproxy reload`")
                })
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes when a SIGHUP arrives; never, if there is no signal to wait for.
    pub(super) async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            if s.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_name_keys_by_id_only() {
        let secret = [0x5a; 32];
        let key = SiteKey::new(&secret).unwrap();
        let one = status_of(&key, Some(std::path::Path::new("/etc/wakeproxy/site.key")));
        assert_eq!(one.id, key.key_id().to_string());
        assert_eq!(one.accepted_id, None);
        assert_eq!(one.file.as_deref(), Some("/etc/wakeproxy/site.key"));
        assert_eq!(describe(&one), format!("signs with {} only", one.id));
        let two = key.clone().with_accepted(&[0xa5; 32]).unwrap();
        let both = status_of(&two, None);
        let accepted = two.accepted_key_id().unwrap().to_string();
        assert_eq!(describe(&both), format!("signs with {}, also accepts {accepted}", both.id));
        assert_eq!(both.file, None, "the lab key has no file");
        let shown = format!("{both:?}{}", describe(&both));
        assert!(!shown.contains("5a5a") && !shown.contains("a5a5"), "{shown}");
    }

    #[test]
    fn a_failed_reload_says_why_and_what_is_kept() {
        let e = ReloadError::Key {
            source: keys::KeyError::NotFound { path: "/etc/wakeproxy/site.key".into() },
            kept: "signs with 1a2b3c4d only".into(),
        };
        let msg = e.to_string();
        assert!(msg.starts_with("could not reload the site key: site key file /etc/wakeproxy/site.key does not exist"), "{msg}");
        assert!(
            msg.ends_with("; the daemon keeps the key it had (signs with 1a2b3c4d only)"),
            "{msg}"
        );
        assert!(ReloadError::NoKeyFile.to_string().contains("insecure = true"));
    }
}
