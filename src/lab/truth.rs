//! The lab's own record of which host is really awake: every `lab sleep` and every resume
//! appends a line to the lab's `truth.log` (the moment the host stops answering, the moment it
//! answers again), so a checker that does not trust the daemons (`lab chaos`) knows the truth
//! from the lab itself. Lines are appended with one `write` each (`O_APPEND`), so the simulated
//! NICs, which resume their hosts from processes of their own, never tear another's line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Lab, LabError};

/// What happened to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// It is about to sleep: written before its SleepNotice, so from here on a proxy may
    /// answer for it.
    Sleeps,
    /// It answers again: written once its addresses are back and it announced itself.
    Awake,
}

/// One line of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Unix time, microseconds.
    pub at_us: u64,
    /// The host's index in the lab.
    pub host: usize,
    /// What happened.
    pub change: Change,
}

/// Unix time now, in microseconds.
pub fn unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl Lab {
    /// The lab's record of sleeps and resumes.
    pub fn truth_log(&self) -> PathBuf {
        self.dir.join("truth.log")
    }

    /// Appends `change` of host `i`, now.
    pub(super) fn record(&self, i: usize, change: Change) -> Result<(), LabError> {
        let fact = Fact { at_us: unix_us(), host: i, change };
        let mut line = serde_json::to_vec(&fact).unwrap_or_default();
        line.push(b'\n');
        let path = self.truth_log();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|e| LabError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    }
}

/// Every fact recorded in `path`, in order; lines that do not parse (a torn last line of a
/// killed writer) are skipped.
pub fn read(path: &Path) -> Vec<Fact> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
