//! How a problem in the file is traced to its key and line.
//!
//! The text is parsed once into toml's spanned document (`toml::de::DeTable`): that gives the
//! syntax errors and the span of every key and value. The schema is deserialised from that
//! document through `serde_ignored`, which collects the keys no field took; the spans give
//! their lines, and the schema's own field lists ([`Known`]) the valid keys and the likely fix.
//! Tables are read in file order (toml's `preserve_order`), and of an unknown key and a value
//! serde refuses, the one earlier in the file is reported.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;
use super::known::Known;

/// One step of the path to a key: a key of a table, or an element of an array.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(String),
    Index(usize),
}

/// A key of the file: its path, the spans of the key and of its value, and whether the value
/// is a table.
#[derive(Debug)]
struct Entry {
    path: Vec<Step>,
    key: Range<usize>,
    value: Range<usize>,
    is_table: bool,
}

/// A parsed document with the position of every key, so errors found later (by serde, by
/// [`Config::validate`](super::Config::validate)) can name a line.
pub(super) struct Document<'a> {
    text: &'a str,
    origin: &'a Path,
    root: Spanned<DeTable<'a>>,
    entries: Vec<Entry>,
    /// Where each key starts, by path (a file may have many unknown keys to place).
    key_start: HashMap<Vec<Step>, usize>,
}

impl<'a> Document<'a> {
    /// Parses the syntax.
    pub(super) fn new(text: &'a str, origin: &'a Path) -> Result<Self, ConfigError> {
        let root = DeTable::parse(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            ConfigError::Syntax {
                path: origin.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut entries = Vec::new();
        index_table(root.get_ref(), &mut Vec::new(), &mut entries);
        let key_start = entries.iter().map(|e| (e.path.clone(), e.key.start)).collect();
        Ok(Self { text, origin, root, entries, key_start })
    }

    /// Deserialises `T`, refusing keys it has no field for.
    pub(super) fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let mut unknown = Vec::new();
        let de = toml::Deserializer::from(self.root.clone());
        let result: Result<T, _> = serde_ignored::deserialize(de, |path| {
            let mut steps = Vec::new();
            path_steps(&path, &mut steps);
            unknown.push(steps);
        });
        let first_unknown =
            unknown.into_iter().map(|p| (self.key_offset(&p), p)).min_by_key(|(at, _)| *at);
        match (result, first_unknown) {
            (Ok(value), None) => Ok(value),
            (Err(e), Some((at, _))) if e.span().is_some_and(|s| s.start < at) => {
                Err(self.serde_error::<T>(&e))
            }
            (_, Some((_, path))) => Err(self.unknown_key::<T>(&path)),
            (Err(e), None) => Err(self.serde_error::<T>(&e)),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    /// Where the key at `path` starts; for a path the document does not have, where its nearest
    /// parent does (the top of the file if none).
    fn key_offset(&self, path: &[Step]) -> usize {
        (0..=path.len()).rev().find_map(|n| self.key_start.get(&path[..n]).copied()).unwrap_or(0)
    }

    /// The line of `key` (dotted), if the file sets it.
    pub(super) fn line_of_key(&self, key: &str) -> Option<usize> {
        let path: Vec<Step> = key.split('.').map(|k| Step::Key(k.to_owned())).collect();
        self.key_start.get(&path).map(|&at| self.line_of(at))
    }

    fn unknown_key<T: DeserializeOwned>(&self, path: &[Step]) -> ConfigError {
        let known = Known::of::<T>();
        let (parent, key) = match path.split_last() {
            Some((Step::Key(key), parent)) => (parent, key.as_str()),
            _ => (path, ""),
        };
        let table = (!parent.is_empty()).then(|| dotted(parent).into_boxed_str());
        let valid = key_names(parent).and_then(|p| known.table(p)).map_or(&[][..], |t| t.keys);
        ConfigError::UnknownKey {
            path: self.origin.to_path_buf(),
            key: dotted(path),
            line: self.line_of(self.key_offset(path)),
            hint: hint(key, table.as_deref(), valid, &known),
            table,
            valid,
        }
    }

    /// A type or value error from deserialising, attributed to the innermost key whose key or
    /// value contains the error's position.
    fn serde_error<T: DeserializeOwned>(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let within = |outer: &Range<usize>, inner: &Range<usize>| {
            outer.start <= inner.start && inner.end <= outer.end
        };
        let entry = span.as_ref().and_then(|s| {
            self.entries
                .iter()
                .filter(|en| within(&en.key, s) || within(&en.value, s))
                .max_by_key(|en| en.key.start)
        });
        if let Some(not_table) = entry.filter(|en| !en.is_table) {
            let known = Known::of::<T>();
            if let Some(table) = key_names(&not_table.path).and_then(|p| known.table(p)) {
                let name = dotted(&not_table.path);
                return ConfigError::BadValue {
                    path: self.origin.to_path_buf(),
                    line: Some(self.line_of(not_table.key.start)),
                    message: format!(
                        "must be a table: write a [{name}] header followed by its keys ({})",
                        table.keys.join(", ")
                    ),
                    key: name,
                };
            }
        }
        // In a multi-line array the span is the whole array: point at the element the message
        // quotes (`...`), if it can be found in it.
        let quoted = e.message().split('`').nth(1).filter(|q| !q.is_empty());
        let offset = span.map(|s| {
            let found = quoted.and_then(|q| self.text.get(s.clone()).and_then(|v| v.find(q)));
            s.start + found.unwrap_or(0)
        });
        ConfigError::BadValue {
            path: self.origin.to_path_buf(),
            key: entry.map_or_else(|| "a value".to_owned(), |en| dotted(&en.path)),
            line: offset.map(|o| self.line_of(o)),
            message: e.message().trim().to_owned(),
        }
    }
}

/// Records every key of `table` and of the tables and arrays in it.
fn index_table(table: &DeTable<'_>, path: &mut Vec<Step>, out: &mut Vec<Entry>) {
    for (key, value) in table {
        path.push(Step::Key(key.get_ref().to_string()));
        out.push(Entry {
            path: path.clone(),
            key: key.span(),
            value: value.span(),
            is_table: matches!(value.get_ref(), DeValue::Table(_)),
        });
        index_value(value.get_ref(), path, out);
        path.pop();
    }
}

fn index_value(value: &DeValue<'_>, path: &mut Vec<Step>, out: &mut Vec<Entry>) {
    match value {
        DeValue::Table(t) => index_table(t, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                index_value(item.get_ref(), path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The steps of a path `serde_ignored` reports (options and newtypes are no step in the file).
fn path_steps(path: &serde_ignored::Path<'_>, out: &mut Vec<Step>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            path_steps(parent, out);
            out.push(Step::Index(*index));
        }
        Path::Map { parent, key } => {
            path_steps(parent, out);
            out.push(Step::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => {
            path_steps(parent, out);
        }
    }
}

/// The path as written in messages: `log.colour`, `hosts[2].name`.
fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The key names of a path through tables only (`None` if it goes through an array).
fn key_names(path: &[Step]) -> Option<Vec<&str>> {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect()
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Why a key might be unknown: a typo, or a key of another table (keys after a `[table]`
/// header belong to that table, a classic TOML trap).
fn hint(key: &str, table: Option<&str>, valid: &[&str], known: &Known) -> Option<String> {
    if let Some(near) = valid.iter().find(|v| strsim::levenshtein(key, v) <= 2) {
        return Some(format!("did you mean `{near}`?"));
    }
    match table {
        Some(t) if known.keys.contains(&key) => Some(format!(
            "`{key}` is a top-level key: move it above the first [table] header (it is under \
             [{t}] now)"
        )),
        _ => known
            .subtables()
            .into_iter()
            .find(|(_, sub)| sub.keys.contains(&key))
            .map(|(t, _)| format!("`{key}` belongs in the [{t}] table")),
    }
}
