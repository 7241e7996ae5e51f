//! How a problem in the file is traced to its key and line: the syntax, the keys every table
//! accepts, and the position of every key for the errors serde and [`Config::validate`](super::Config::validate) find.

use std::ops::Range;
use std::path::Path;

use super::ConfigError;

/// The keys of the top level, in the order of [`Config`](super::Config).
pub(super) const TOP_KEYS: &[&str] = &[
    "peer_port",
    "wol_port",
    "heartbeat_interval",
    "probe_timeout",
    "guardians",
    "interfaces",
    "key_file",
    "insecure",
    "state_dir",
    "control_socket",
    "control_group",
    "prefer_guardian",
    "proxy_mode",
    "wake_unicast",
    "syn_replay",
    "sleep_hooks",
    "wake_relays",
    "wake_ports",
    "reconciliation",
    "log",
];

/// The sub-tables and their keys.
pub(super) const TABLES: &[(&str, &[&str])] = &[
    ("wake_ports", &["allow", "deny"]),
    ("reconciliation", &["enabled", "at", "window"]),
    ("log", &["level", "format"]),
];

/// A parsed document with the position of every known key, so errors found later (by serde,
/// by [`Config::validate`](super::Config::validate)) can name a line.
pub(super) struct Document<'a> {
    text: &'a str,
    origin: &'a Path,
    /// Dotted key, span of the key, span of its value.
    entries: Vec<(String, Range<usize>, Range<usize>)>,
}

impl<'a> Document<'a> {
    /// Parses the syntax and checks that every key is known.
    pub(super) fn new(text: &'a str, origin: &'a Path) -> Result<Self, ConfigError> {
        let root = toml::de::DeTable::parse(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            ConfigError::Syntax {
                path: origin.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut doc = Self { text, origin, entries: Vec::new() };
        doc.check_table(root.get_ref(), None)?;
        Ok(doc)
    }

    fn check_table(
        &mut self,
        table: &toml::de::DeTable<'_>,
        name: Option<&'static str>,
    ) -> Result<(), ConfigError> {
        let valid = match name {
            None => TOP_KEYS,
            Some(t) => TABLES.iter().find(|(n, _)| *n == t).map_or(&[][..], |(_, keys)| *keys),
        };
        // In file order, so the first problem reported is the first in the file.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in entries {
            let k: &str = key.get_ref();
            let line = self.line_of(key.span().start);
            let Some(&known) = valid.iter().find(|v| **v == k) else {
                return Err(ConfigError::UnknownKey {
                    path: self.origin.to_path_buf(),
                    key: name.map_or_else(|| k.to_owned(), |t| format!("{t}.{k}")),
                    line,
                    table: name,
                    valid,
                    hint: hint(k, name, valid),
                });
            };
            let dotted = name.map_or_else(|| known.to_owned(), |t| format!("{t}.{known}"));
            self.entries.push((dotted.clone(), key.span(), value.span()));
            let is_table = name.is_none() && TABLES.iter().any(|(t, _)| *t == known);
            if is_table {
                let toml::de::DeValue::Table(sub) = value.get_ref() else {
                    let keys = TABLES.iter().find(|(t, _)| *t == known).map_or(&[][..], |t| t.1);
                    return Err(ConfigError::BadValue {
                        path: self.origin.to_path_buf(),
                        key: dotted,
                        line: Some(line),
                        message: format!(
                            "must be a table: write a [{known}] header followed by its keys \
                             ({})",
                            keys.join(", ")
                        ),
                    });
                };
                self.check_table(sub, Some(known))?;
            }
        }
        Ok(())
    }

    fn line_of(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    /// The line of `key` (dotted), if the file sets it.
    pub(super) fn line_of_key(&self, key: &str) -> Option<usize> {
        self.entries.iter().find(|(k, _, _)| k == key).map(|(_, span, _)| self.line_of(span.start))
    }

    /// A type or value error from deserialising, attributed to the innermost key whose key or
    /// value contains the error's position.
    pub(super) fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let within = |outer: &Range<usize>, inner: &Range<usize>| {
            outer.start <= inner.start && inner.end <= outer.end
        };
        let key = span.as_ref().and_then(|s| {
            self.entries
                .iter()
                .filter(|(_, k, v)| within(k, s) || within(v, s))
                .max_by_key(|(_, k, _)| k.start)
                .map(|(name, _, _)| name.clone())
        });
        // In a multi-line array the span is the whole array: point at the element the message
        // quotes (`...`), if it can be found in it.
        let quoted = e.message().split('`').nth(1).filter(|q| !q.is_empty());
        let offset = span.map(|s| {
            let found = quoted.and_then(|q| self.text.get(s.clone()).and_then(|v| v.find(q)));
            s.start + found.unwrap_or(0)
        });
        ConfigError::BadValue {
            path: self.origin.to_path_buf(),
            key: key.unwrap_or_else(|| "a value".to_owned()),
            line: offset.map(|o| self.line_of(o)),
            message: e.message().trim().to_owned(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Why a key might be unknown: a typo, or a key of another table (keys after a `[table]`
/// header belong to that table, a classic TOML trap).
fn hint(key: &str, table: Option<&str>, valid: &[&str]) -> Option<String> {
    if let Some(near) = valid.iter().find(|v| strsim::levenshtein(key, v) <= 2) {
        return Some(format!("did you mean `{near}`?"));
    }
    match table {
        Some(t) if TOP_KEYS.contains(&key) => Some(format!(
            "`{key}` is a top-level key: move it above the first [table] header (it is under \
             [{t}] now)"
        )),
        _ => TABLES
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(t, _)| format!("`{key}` belongs in the [{t}] table")),
    }
}
