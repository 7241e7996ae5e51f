//! The keys each table of the schema accepts, read from the schema's own `Deserialize`, so the
//! "valid keys there" and "did you mean" of an error cannot drift from the structs.
//!
//! serde's derive hands a struct's field names to `Deserializer::deserialize_struct`. A probe
//! deserializer records them, then offers the struct one field at a time: a field that is itself
//! a struct asks for `deserialize_struct` again and is a table; any other value fails the probe
//! at once. Options and newtypes are looked through. A table inside an array or a map, or a
//! `#[serde(flatten)]` field, is not seen; the schema has none.

use std::cell::Cell;

use serde::de::value::Error;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// A table: its keys, in the order of its struct, and those of them that are tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Known {
    pub(super) keys: &'static [&'static str],
    pub(super) tables: Vec<(&'static str, Self)>,
}

/// Deeper than any configuration goes; stops a type that contains itself.
const MAX_DEPTH: usize = 8;

impl Known {
    /// The tables and keys of `T` (a struct; anything else has no keys).
    pub(super) fn of<T: DeserializeOwned>() -> Self {
        Self::at::<T>(&mut Vec::new()).unwrap_or(Self { keys: &[], tables: Vec::new() })
    }

    fn at<T: DeserializeOwned>(path: &mut Vec<&'static str>) -> Option<Self> {
        let keys = probe::<T>(path)?;
        let mut tables = Vec::new();
        if path.len() < MAX_DEPTH {
            for &key in keys {
                path.push(key);
                if let Some(sub) = Self::at::<T>(path) {
                    tables.push((key, sub));
                }
                path.pop();
            }
        }
        Some(Self { keys, tables })
    }

    /// The table at `path` (key names from the top), if the schema has one there.
    pub(super) fn table<'k>(&self, path: impl IntoIterator<Item = &'k str>) -> Option<&Self> {
        path.into_iter().try_fold(self, |t, key| {
            t.tables.iter().find(|(name, _)| *name == key).map(|(_, sub)| sub)
        })
    }

    /// Every table below this one with its dotted name, parents first.
    pub(super) fn subtables(&self) -> Vec<(String, &Self)> {
        let mut out = Vec::new();
        for (name, sub) in &self.tables {
            out.push(((*name).to_owned(), sub));
            out.extend(sub.subtables().into_iter().map(|(n, t)| (format!("{name}.{n}"), t)));
        }
        out
    }
}

/// The field names `T` shows when it is offered the struct at `path`, if it is a struct there.
fn probe<T: DeserializeOwned>(path: &[&'static str]) -> Option<&'static [&'static str]> {
    let found = Cell::new(None);
    // Only what `deserialize_struct` was shown matters; the probe fails on the first plain value.
    let _ = T::deserialize(Probe { path, found: &found });
    found.get()
}

type Found = Cell<Option<&'static [&'static str]>>;

/// Walks `path` into nested structs and records the fields of the last one.
struct Probe<'a> {
    path: &'a [&'static str],
    found: &'a Found,
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::custom("not a table"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Some((&key, rest)) = self.path.split_first() else {
            self.found.set(Some(fields));
            return visitor.visit_map(OneField { next: None, value: None });
        };
        let value = Probe { path: rest, found: self.found };
        visitor.visit_map(OneField { next: Some((key, value)), value: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A table with at most one key, whose value is the probe one level down.
struct OneField<'a> {
    next: Option<(&'static str, Probe<'a>)>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for OneField<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.next.take() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(IntoDeserializer::<Error>::into_deserializer(key)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        match self.value.take() {
            Some(probe) => seed.deserialize(probe),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}
