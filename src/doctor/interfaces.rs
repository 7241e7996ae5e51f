//! Which interfaces the daemon manages: the same selection as the daemon's
//! (`daemon::select_links` over `interfaces`), so doctor checks the NICs the daemon uses.

use super::{Check, System, Topic, Verdict};
use crate::daemon::{Link, select_links};
use crate::store::config::Config;

/// The managed interfaces; a failed check for each configured one the daemon cannot use, and
/// one when there is none at all.
pub(super) fn check(config: &Config, sys: &dyn System, checks: &mut Vec<Check>) -> Vec<Link> {
    let (chosen, missing) = select_links(&sys.links(), &config.interfaces);
    for (name, why) in missing {
        checks.push(
            Check::new(
                Topic::Interface,
                &name,
                Verdict::Fail,
                format!("`interfaces` names {name:?}, which {why}: the daemon does not run on it"),
            )
            .fix(format!(
                "bring {name} up with an IPv4 address, or correct `interfaces` in the \
                 configuration and restart the service ({})",
                crate::os::words::HERE.service_restart
            )),
        );
    }
    if chosen.is_empty() {
        let what = if config.interfaces.is_empty() {
            "no interface is up, Ethernet and with an IPv4 address".to_owned()
        } else {
            "none of the configured `interfaces` can be used".to_owned()
        };
        checks.push(
            Check::new(
                Topic::Interface,
                "",
                Verdict::Fail,
                format!("{what}: the daemon has nothing to manage"),
            )
            .fix("connect the host to its LAN, or name its interface in `interfaces`"),
        );
    }
    chosen
}
