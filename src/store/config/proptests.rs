//! Property tests of the loader: an unknown key anywhere is named with its line, a typo of a
//! key gets a suggestion, and no text makes it panic.

use std::path::Path;

use proptest::prelude::*;

use super::known::Known;
use super::{Config, ConfigError};

const ORIGIN: &str = "test/wakeproxy.toml";

/// Valid lines for each table (`""`: the top level).
const LINES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "peer_port = 30000",
            "heartbeat_interval = \"2s\"",
            "guardians = 5",
            "insecure = true",
            "interfaces = [\"eth0\"]",
            "proxy_mode = \"mac-takeover\"",
        ],
    ),
    ("wake_ports", &["allow = [3389]", "deny = [137]"]),
    ("reconciliation", &["enabled = true", "at = \"9:05\"", "window = \"30m\""]),
    ("log", &["level = \"debug\"", "format = \"json\""]),
];

/// How the unknown key is written in its table.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// After a `[table]` header.
    Header,
    /// `table.key = 1` at the top.
    Dotted,
    /// `table = { ..., key = 1 }` at the top.
    Inline,
}

/// A file with an unknown key `zz_unknown` in table `LINES[level]`, and the line and dotted key
/// an error must name.
fn with_unknown_key() -> impl Strategy<Value = (String, usize, String)> {
    let form = prop_oneof![Just(Form::Header), Just(Form::Dotted), Just(Form::Inline)];
    (0..LINES.len(), form, any::<prop::sample::Index>(), 0usize..3).prop_map(
        |(level, form, at, blanks)| {
            let (table, lines) = LINES[level];
            let mut body: Vec<&str> = lines.to_vec();
            let pos = at.index(body.len() + 1);
            body.insert(pos, "zz_unknown = 1");
            let mut out = vec!["# a comment".to_owned(); blanks];
            if !table.is_empty() {
                out.push("peer_port = 30000".into());
            }
            // At the top level the key is a plain line, whatever the form.
            let form = if table.is_empty() { Form::Header } else { form };
            let line = match form {
                Form::Header => {
                    if !table.is_empty() {
                        out.push(format!("[{table}]"));
                    }
                    let line = out.len() + 1 + pos;
                    out.extend(body.iter().map(|l| (*l).to_owned()));
                    line
                }
                Form::Dotted => {
                    let line = out.len() + 1 + pos;
                    out.extend(body.iter().map(|l| format!("{table}.{l}")));
                    line
                }
                Form::Inline => {
                    out.push(format!("{table} = {{ {} }}", body.join(", ")));
                    out.len()
                }
            };
            if table.is_empty() {
                out.extend(["[log]".to_owned(), "level = \"info\"".to_owned()]);
            }
            let key = if table.is_empty() {
                "zz_unknown".to_owned()
            } else {
                format!("{table}.zz_unknown")
            };
            (out.join("\n") + "\n", line, key)
        },
    )
}

/// One edit of `key`: a character deleted, replaced, inserted, or two swapped.
fn typo(key: &'static str) -> impl Strategy<Value = String> {
    let n = key.len();
    let letter = prop::sample::select(&b"abcdefghijklmnopqrstuvwxyz_"[..]);
    (0..4u8, 0..n, letter).prop_map(move |(edit, i, c)| {
        let mut b = key.as_bytes().to_vec();
        match edit {
            0 => {
                b.remove(i);
            }
            1 => b[i] = c,
            2 => b.insert(i, c),
            _ => b.swap(i, (i + 1) % n),
        }
        String::from_utf8(b).unwrap_or_default()
    })
}

/// A table (`""`: the top level) and one of its keys, as the schema has them.
fn known_key() -> impl Strategy<Value = (&'static str, &'static str)> {
    let known = Known::of::<Config>();
    let mut pairs: Vec<(&'static str, &'static str)> =
        known.keys.iter().map(|k| ("", *k)).collect();
    for (t, sub) in &known.tables {
        pairs.extend(sub.keys.iter().map(|k| (*t, *k)));
    }
    prop::sample::select(pairs)
}

/// Text that looks like a configuration: known and unknown keys, headers, dotted keys, inline
/// tables, arrays of tables and values of every type, in any order.
fn tomlish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        known_key().prop_map(|(t, k)| if t.is_empty() { k.to_owned() } else { format!("{t}.{k}") }),
        known_key().prop_map(|(_, k)| k.to_owned()),
        "[a-z_]{1,8}",
        Just("\"quoted key\"".to_owned()),
    ];
    let value = prop_oneof![
        Just("1".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("1.5".to_owned()),
        Just("true".to_owned()),
        Just("\"5s\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("[1, 2, 70000]".to_owned()),
        Just("[\"eth0\", \"eth0\"]".to_owned()),
        Just("{ level = \"info\", x = 1 }".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        Just("[[1], [2]]".to_owned()),
        "\"[ -~]{0,12}\"",
    ];
    // Mostly well-formed lines, so that many files get past the syntax to the keys and values.
    let line = prop_oneof![
        8 => (key.clone(), value).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => known_key().prop_map(|(t, _)| format!("[{t}]")),
        1 => key.clone().prop_map(|k| format!("[{k}]")),
        1 => key.prop_map(|k| format!("[[{k}]]")),
        1 => Just("# comment".to_owned()),
        1 => Just(String::new()),
        1 => "[ -~]{0,20}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

/// Parses `text` and checks what any error says: the file, and a line within the text.
fn parse_checked(text: &str) -> Result<Config, ConfigError> {
    let result = Config::parse(text, Path::new(ORIGIN));
    if let Err(e) = &result {
        let msg = e.to_string();
        assert!(msg.starts_with(ORIGIN), "names the file: {msg}");
        let lines = text.lines().count().max(1) + 1;
        let line = match e {
            ConfigError::Syntax { line, .. } | ConfigError::UnknownKey { line, .. } => Some(*line),
            ConfigError::BadValue { line, .. } => *line,
            _ => None,
        };
        assert!(line.is_none_or(|l| (1..=lines).contains(&l)), "line {line:?} of {lines}: {msg}");
    }
    result
}

proptest! {
    #[test]
    fn an_unknown_key_is_named_with_its_line((text, line, key) in with_unknown_key()) {
        let e = parse_checked(&text).unwrap_err();
        let ConfigError::UnknownKey { key: k, line: l, .. } = &e else {
            panic!("{text}\n{e:?}");
        };
        prop_assert_eq!((k.as_str(), *l), (key.as_str(), line), "{}", text);
    }

    #[test]
    fn a_typo_gets_a_suggestion(
        (table, typo) in known_key().prop_flat_map(|(t, k)| (Just(t), typo(k))),
    ) {
        let known = Known::of::<Config>();
        let valid = if table.is_empty() { known.keys } else {
            known.table([table]).map_or(&[][..], |t| t.keys)
        };
        prop_assume!(!typo.is_empty() && !valid.contains(&typo.as_str()));
        let text = if table.is_empty() {
            format!("{typo} = 1\n")
        } else {
            format!("[{table}]\n{typo} = 1\n")
        };
        let e = parse_checked(&text).unwrap_err();
        let ConfigError::UnknownKey { hint: Some(hint), .. } = &e else {
            panic!("{text}\n{e:?}");
        };
        let near = hint.strip_prefix("did you mean `").and_then(|h| h.strip_suffix("`?"));
        prop_assert!(
            near.is_some_and(|n| valid.contains(&n) && strsim::levenshtein(&typo, n) <= 2),
            "{}: {}", text, hint
        );
    }

    #[test]
    fn no_text_makes_the_loader_panic(text in any::<String>()) {
        let _ = parse_checked(&text);
    }

    #[test]
    fn no_toml_makes_the_loader_panic(text in tomlish()) {
        let _ = parse_checked(&text);
    }
}
