//! Key rollover (`docs/key-rollover.md`): where a file stands, and the three steps that roll
//! it from one key to the next, each refusing a file in the wrong phase.

use std::path::Path;

use super::format::{Marker, Secret};
use super::write::{generate, write};
use super::{KeyError, PROTECTION, RELOAD_COMMAND, read};
use crate::core::proto::KeyId;

/// A step of a key rollover (`docs/key-rollover.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// 1: add a fresh key as the accepted second key.
    AddNext,
    /// 2: make the second key current; the old one stays accepted.
    Promote,
    /// 3: drop the old key.
    Retire,
}

impl Phase {
    /// The `wakeproxy keygen` option of this step.
    pub const fn flag(self) -> &'static str {
        match self {
            Self::AddNext => "--add-next",
            Self::Promote => "--promote",
            Self::Retire => "--retire",
        }
    }

    /// 1, 2 or 3.
    pub const fn number(self) -> u8 {
        match self {
            Self::AddNext => 1,
            Self::Promote => 2,
            Self::Retire => 3,
        }
    }
}

/// Where a key file stands in a rollover, with the ids of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollover {
    /// One key; no rollover under way (before phase 1, or after phase 3).
    Single {
        /// The key.
        current: KeyId,
    },
    /// Phase 1 done: the next key is accepted but does not sign yet.
    NextAdded {
        /// The key that signs.
        current: KeyId,
        /// The next key.
        next: KeyId,
    },
    /// Phase 2 done: the new key signs; the previous one is still accepted.
    Promoted {
        /// The new key, which signs.
        current: KeyId,
        /// The old key.
        previous: KeyId,
    },
    /// Two keys without the comment that says which phase the file is in.
    Unmarked {
        /// The first key.
        current: KeyId,
        /// The second key.
        accepted: KeyId,
    },
}

impl Rollover {
    /// "is in phase 1 of a key rollover (…)": what the file is, for messages.
    fn describe(&self) -> String {
        match self {
            Self::Single { current } => {
                format!("holds one key ({current}): no key rollover is under way")
            }
            Self::NextAdded { current, next } => format!(
                "is in phase 1 of a key rollover (current key {current}, next key {next} \
                 accepted but not signing yet)"
            ),
            Self::Promoted { current, previous } => format!(
                "is in phase 2 of a key rollover (current key {current}, previous key \
                 {previous} still accepted)"
            ),
            Self::Unmarked { current, accepted } => format!(
                "holds two keys (current {current}, accepted {accepted}) but does not say \
                 which phase of a key rollover it is in"
            ),
        }
    }
}

pub(super) fn wrong_phase(path: &Path, asked: Phase, found: &Rollover) -> String {
    let p = path.display();
    let advice = match (asked, found) {
        (_, Rollover::Unmarked { .. }) => format!(
            "the comment line right before the second key must start with `# next key` (it is \
             the new key: phase 1) or `# previous key` (it is the old key: phase 2); add the \
             right one and run `wakeproxy keygen {} {p}` again",
            asked.flag()
        ),
        (Phase::AddNext, Rollover::NextAdded { .. }) => format!(
            "once every node has this file and reloaded it, run `wakeproxy keygen --promote {p}`"
        ),
        (Phase::AddNext | Phase::Promote, Rollover::Promoted { .. }) => format!(
            "once every node has this file and reloaded it, finish with `wakeproxy keygen \
             --retire {p}`"
        ),
        (Phase::Promote | Phase::Retire, Rollover::Single { .. }) => {
            format!("to change the key, start with `wakeproxy keygen --add-next {p}`")
        }
        (Phase::Retire, Rollover::NextAdded { .. }) => format!(
            "retiring now would drop the key every node signs with; once every node has this \
             file and reloaded it, run `wakeproxy keygen --promote {p}` first"
        ),
        // The step fits: not an error (never built).
        (Phase::AddNext, Rollover::Single { .. })
        | (Phase::Promote, Rollover::NextAdded { .. })
        | (Phase::Retire, Rollover::Promoted { .. }) => String::new(),
    };
    format!(
        "cannot run `wakeproxy keygen {}` (phase {} of a key rollover): {p} {}; {advice}",
        asked.flag(),
        asked.number(),
        found.describe()
    )
}

/// What a rollover step did: the file's keys afterwards, and the key it retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloverStep {
    /// The step.
    pub phase: Phase,
    /// The key that signs now.
    pub current: KeyId,
    /// The other accepted key, if any.
    pub accepted: Option<KeyId>,
    /// The key no longer accepted (phase 3).
    pub retired: Option<KeyId>,
}

impl RolloverStep {
    /// What was done to `path` and exactly what to do next, for the operator.
    pub fn report(&self, path: &Path) -> String {
        let p = path.display();
        let (cur, acc) = (self.current, self.accepted.map(|k| k.to_string()).unwrap_or_default());
        let shows = match self.accepted {
            Some(a) => format!("`key: {cur}, also accepts {a}`"),
            None => format!("`key: {cur}`"),
        };
        let (done, then) = match self.phase {
            Phase::AddNext => (
                format!(
                    "phase 1 of 3 done: {p} holds the current key {cur} and the next key {acc}, \
                     which nodes accept but do not sign with yet"
                ),
                format!(
                    "When every node shows that (wake sleeping nodes for it, as for any \
                     update), run:\n  wakeproxy keygen --promote {p}"
                ),
            ),
            Phase::Promote => (
                format!(
                    "phase 2 of 3 done: {p} signs with {cur} now; the previous key {acc} is \
                     still accepted"
                ),
                format!(
                    "When every node shows that (sleeping nodes too), run:\n  wakeproxy keygen \
                     --retire {p}"
                ),
            ),
            Phase::Retire => (
                format!(
                    "phase 3 of 3 done: {p} holds only the key {cur}; the old key {} is no \
                     longer accepted",
                    self.retired.map(|k| k.to_string()).unwrap_or_default()
                ),
                "The rollover is complete when every node shows that; a node still on the old \
                 file is refused by its peers until it gets this one."
                    .to_owned(),
            ),
        };
        format!(
            "{done} ({PROTECTION}).\nnext: copy {p} to every node of the site (where its \
             key_file points) and run `{RELOAD_COMMAND}` there; `wakeproxy status` then shows \
             {shows}. {then}\n"
        )
    }
}

/// Phase 1 of a rollover: adds a fresh key to the one-key file at `path` as the accepted next
/// key. The file keeps signing with its current key.
pub fn add_next(path: &Path) -> Result<RolloverStep, KeyError> {
    let file = read(path)?;
    let found = file.rollover();
    let Rollover::Single { current } = found else {
        return Err(KeyError::WrongPhase { path: path.into(), asked: Phase::AddNext, found });
    };
    let next = Secret::new(generate()?.to_vec().into(), 2)?;
    write(path, &file.current, Some((&next, Marker::Next)))?;
    Ok(RolloverStep { phase: Phase::AddNext, current, accepted: Some(next.id), retired: None })
}

/// Phase 2: makes the next key of a phase-1 file current; the old key stays accepted.
pub fn promote(path: &Path) -> Result<RolloverStep, KeyError> {
    let file = read(path)?;
    let found = file.rollover();
    let (Rollover::NextAdded { current, next }, Some((next_key, _))) = (found, &file.second) else {
        return Err(KeyError::WrongPhase { path: path.into(), asked: Phase::Promote, found });
    };
    write(path, next_key, Some((&file.current, Marker::Previous)))?;
    Ok(RolloverStep {
        phase: Phase::Promote,
        current: next,
        accepted: Some(current),
        retired: None,
    })
}

/// Phase 3: drops the previous key of a phase-2 file.
pub fn retire(path: &Path) -> Result<RolloverStep, KeyError> {
    let file = read(path)?;
    let found = file.rollover();
    let Rollover::Promoted { current, previous } = found else {
        return Err(KeyError::WrongPhase { path: path.into(), asked: Phase::Retire, found });
    };
    write(path, &file.current, None)?;
    Ok(RolloverStep { phase: Phase::Retire, current, accepted: None, retired: Some(previous) })
}
