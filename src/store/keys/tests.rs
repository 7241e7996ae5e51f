use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::format::{ParseError, decode_hex, parse};
use super::protect::{MAX_FILE_LEN, read_limited};
use super::*;
use crate::core::proto::{KeyId, SiteKey};
use crate::store::config::Config;

const HEX64: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

fn key_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn id_of(hex: &str) -> KeyId {
    let bytes = decode_hex(hex.as_bytes()).unwrap();
    SiteKey::new(&bytes).unwrap().key_id()
}

#[test]
fn the_lab_key_is_usable_and_obviously_public() {
    assert_eq!(INSECURE_LAB_KEY.len(), 32);
    assert!(SiteKey::new(INSECURE_LAB_KEY).is_ok());
    assert!(std::str::from_utf8(INSECURE_LAB_KEY).unwrap().contains("INSECURE"));
}

#[test]
fn parses_one_hex_line_with_comments_and_either_case() {
    let text = format!("# site key\n\n  {HEX64}  \r\n# trailing comment\n");
    let parsed = parse(text.as_bytes()).unwrap();
    assert!(parsed.second.is_none());
    let (line, key) = &parsed.first;
    assert_eq!((*line, key.len()), (3, 32));
    assert_eq!(&key[..3], &[0x00, 0x11, 0x22]);
    assert_eq!(&key[26..], &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    assert_eq!(parse(HEX64.as_bytes()).unwrap().first.1, *key, "no newline at all");
    assert_eq!(parse(&HEX64.as_bytes()[..32]).unwrap().first.1.len(), 16);
    assert_eq!(parse("ab".repeat(64).as_bytes()).unwrap().first.1.len(), 64);
}

#[test]
fn files_with_zero_one_two_and_three_keys() {
    let dir = tempfile::tempdir().unwrap();
    // 0: no key.
    let empty = write(dir.path(), "0.key", "# nothing\n\n");
    let e = load(&empty).unwrap_err();
    assert!(matches!(e, KeyError::Empty { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("wakeproxy keygen --force {}", empty.display())));
    // 1: the key signs and is the only one accepted.
    let one = write(dir.path(), "1.key", &format!("{HEX64}\n"));
    let k1 = load(&one).unwrap();
    assert_eq!((k1.key_id(), k1.accepted_key_id()), (id_of(HEX64), None));
    // 2: the first signs, both are accepted.
    let two = write(dir.path(), "2.key", &format!("# c\n{HEX64}\n\n# x\n{OTHER}\n"));
    let k2 = load(&two).unwrap();
    assert_eq!((k2.key_id(), k2.accepted_key_id()), (id_of(HEX64), Some(id_of(OTHER))));
    let other_only = SiteKey::new(&decode_hex(OTHER.as_bytes()).unwrap()).unwrap();
    let mut d = Vec::new();
    let h = crate::core::proto::Header {
        sender: crate::core::addr::NodeId::from_u128(1),
        seq: 1,
        timestamp_ms: 1,
    };
    crate::core::proto::encode(&other_only, &h, &crate::core::proto::Message::Leave, &mut d)
        .unwrap();
    assert_eq!(
        crate::core::proto::decode_verified_with(&k2, &d).map(|(_, w)| w),
        Ok(crate::core::proto::VerifiedWith::Accepted)
    );
    assert!(crate::core::proto::decode(&k1, &d).is_err(), "the one-key file does not accept it");
    // 3: refused, naming the line, never quoting a key.
    let third = "c0ffee".repeat(10);
    let three = write(dir.path(), "3.key", &format!("{HEX64}\n# b\n{OTHER}\n{third}\n"));
    let e = load(&three).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, KeyError::Malformed { line: 4, .. }), "{e:?}");
    assert!(msg.contains("line 4: a third key line (the keys are on lines 1 and 3)"), "{msg}");
    assert!(msg.contains(&three.display().to_string()), "{msg}");
    assert!(!msg.contains("c0ffee") && !msg.contains("0011") && !msg.contains("ffee"), "{msg}");
}

#[test]
fn malformed_lines_are_reported_by_number_without_the_secret() {
    let secretish = "c0ffee".repeat(10); // a valid key line of its own
    for (text, line, says) in [
        (format!("# c\n{}zz\n", &HEX64[..62]), 2, "character 63 is not a hexadecimal digit"),
        (format!("{}\n", &HEX64[..63]), 1, "odd number"),
        (format!("{}\n", &HEX64[..30]), 1, "has 30 hexadecimal digits"),
        ("ab".repeat(65), 1, "has 130 hexadecimal digits"),
        (format!("{HEX64}\n\n{HEX64}\n"), 3, "the same key as line 1"),
        (format!("{HEX64}\n{secretish}\n{}zz", &OTHER[..62]), 3, "character 63"),
    ] {
        let err = parse(text.as_bytes()).err().unwrap();
        let ParseError::Line { line: got, problem } = &err else { panic!("{err:?}") };
        assert_eq!(*got, line, "{text}");
        assert!(problem.contains(says), "{problem}");
        assert!(!problem.contains("0011") && !problem.contains("c0ffee"), "{problem}");
    }
    assert_eq!(parse(b"# only a comment\n\n").err(), Some(ParseError::Empty));
    assert_eq!(parse(b"").err(), Some(ParseError::Empty));
}

#[test]
fn the_comment_before_the_second_key_marks_the_phase() {
    let rollover = |text: &str| parse(text.as_bytes()).unwrap().into_file().unwrap().rollover();
    let (a, b) = (id_of(HEX64), id_of(OTHER));
    assert_eq!(rollover(HEX64), Rollover::Single { current: a });
    assert_eq!(
        rollover(&format!("{HEX64}\n# next key (id x):\n\n{OTHER}\n")),
        Rollover::NextAdded { current: a, next: b }
    );
    assert_eq!(
        rollover(&format!(
            "# next key, but this is before the first\n{OTHER}\n# Previous Key\n{HEX64}"
        )),
        Rollover::Promoted { current: b, previous: a }
    );
    // Only the comment right before the second key counts.
    assert_eq!(
        rollover(&format!("{HEX64}\n# next key\n# something else\n{OTHER}\n")),
        Rollover::Unmarked { current: a, accepted: b }
    );
    assert_eq!(
        rollover(&format!("{HEX64}\n{OTHER}\n")),
        Rollover::Unmarked { current: a, accepted: b }
    );
}

#[test]
fn write_new_then_load_round_trips_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/site.key");
    write_new(&path, false).unwrap();
    let first = fs::read_to_string(&path).unwrap();
    let key = load(&path).unwrap();
    let hex_line = first.lines().find(|l| !l.starts_with('#')).unwrap();
    assert_eq!(hex_line.len(), 64);
    assert!(first.contains(&format!("# current key (id {}):", key.key_id())), "{first}");
    assert_eq!(read(&path).unwrap().rollover(), Rollover::Single { current: key.key_id() });

    let err = write_new(&path, false).unwrap_err();
    assert!(matches!(err, KeyError::Exists { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("--force"), "{msg}");
    assert!(msg.contains("--add-next"), "{msg}");
    assert_eq!(fs::read_to_string(&path).unwrap(), first, "untouched");

    write_new(&path, true).unwrap();
    assert_ne!(fs::read_to_string(&path).unwrap(), first, "a new key");
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary files");
}

#[cfg(unix)]
#[test]
fn keys_are_written_0600_and_looser_keys_are_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.key");
    write_new(&path, false).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    for mode in [0o640, 0o604, 0o620, 0o644] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, KeyError::TooOpen { .. }), "{mode:o}: {err:?}");
        assert!(err.to_string().contains(&format!("chmod 600 {}", path.display())), "{err}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(load(&path).is_ok(), "read-only for the owner is fine");
}

#[cfg(unix)]
#[test]
fn a_symlink_is_refused_even_to_a_good_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.key");
    write_new(&real, false).unwrap();
    let link = dir.path().join("site.key");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = load(&link).unwrap_err();
    assert!(matches!(err, KeyError::Symlink { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("site key file {} is a symbolic link", link.display())));
    assert!(msg.contains("replace the symlink with the file"), "{msg}");
    // A dangling link too, and a rollover step never writes through one.
    fs::remove_file(&real).unwrap();
    assert!(matches!(load(&link).unwrap_err(), KeyError::Symlink { .. }));
    assert!(matches!(add_next(&link).unwrap_err(), KeyError::Symlink { .. }));
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "untouched");
    assert!(!real.exists());
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("site.key");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        assert!(std::env::var("CI").is_err(), "CI must have mkfifo (coreutils)");
        eprintln!("SKIPPED: mkfifo is not available");
        return;
    }
    let err = load(&fifo).unwrap_err();
    assert!(matches!(err, KeyError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// Root may give a file away; anyone else cannot make the case.
#[cfg(unix)]
fn running_as_root() -> bool {
    if crate::os::sys::unix::effective_uid() == 0 {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "CI runs as root: the owner checks must run there");
    eprintln!("SKIPPED: giving a file to another user needs root");
    false
}

#[cfg(unix)]
#[test]
fn a_key_file_of_another_user_is_refused_with_the_fix() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.key");
    write_new(&path, false).unwrap();
    std::os::unix::fs::chown(&path, Some(4321), None).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, KeyError::WrongOwner { owner: 4321, expected: 0, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "site key file {p} belongs to uid 4321, but wakeproxy runs as root: whoever owns \
             the file can change the site key; run `chown root {p}`",
            p = path.display()
        )
    );
    // Rollover steps refuse it too, and leave it alone.
    let before = fs::read(&path).unwrap();
    assert!(matches!(add_next(&path).unwrap_err(), KeyError::WrongOwner { .. }));
    assert_eq!(fs::read(&path).unwrap(), before);
    std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    assert!(load(&path).is_ok(), "chown as the message says fixes it");
}

#[test]
fn a_missing_file_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.key");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, KeyError::NotFound { .. }));
    let msg = err.to_string();
    assert!(msg.contains(&format!("wakeproxy keygen {}", path.display())), "{msg}");
    assert!(matches!(promote(&path).unwrap_err(), KeyError::NotFound { .. }));
}

#[test]
fn load_errors_name_the_file_and_line_but_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.key", &format!("# c\n{}q\n", &HEX64[..63]));
    let msg = load(&path).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("line 2"), "{msg}");
    assert!(!msg.contains(&HEX64[..16]), "{msg}");
    let ok = write(dir.path(), "ok.key", HEX64);
    assert_eq!(format!("{:?}", load(&ok).unwrap()), "SiteKey(..)");
    let two = write(dir.path(), "two.key", &format!("{HEX64}\n# next key\n{OTHER}\n"));
    let shown = format!("{:?}", read(&two).unwrap());
    assert_eq!(
        shown,
        format!(
            "KeyFile {{ rollover: NextAdded {{ current: KeyId({}), next: KeyId({}) }} }}",
            id_of(HEX64),
            id_of(OTHER)
        )
    );
}

#[test]
fn a_directory_or_a_huge_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load(dir.path()).unwrap_err(), KeyError::Unreadable { .. }));
    let big = write(dir.path(), "big.key", &"#".repeat(MAX_FILE_LEN + 1));
    assert!(matches!(load(&big).unwrap_err(), KeyError::Malformed { .. }));
    let just =
        write(dir.path(), "just.key", &format!("{HEX64}\n{}", "#".repeat(MAX_FILE_LEN - 65)));
    assert_eq!(fs::metadata(&just).unwrap().len() as usize, MAX_FILE_LEN);
    assert!(load(&just).is_ok(), "exactly the limit is fine");
}

#[test]
fn for_config_uses_the_lab_key_only_when_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg =
        Config { key_file: dir.path().join("missing.key"), insecure: true, ..Config::default() };
    assert!(for_config(&cfg).is_ok());
    cfg.insecure = false;
    assert!(matches!(for_config(&cfg).unwrap_err(), KeyError::NotFound { .. }));
}

#[test]
fn generated_keys_differ() {
    assert_ne!(*generate().unwrap(), *generate().unwrap());
}

#[test]
fn the_three_phases_roll_a_file_from_one_key_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.key");
    write_new(&path, false).unwrap();
    let a = key_lines(&path);
    let ka = load(&path).unwrap().key_id();

    let step = add_next(&path).unwrap();
    let after1 = key_lines(&path);
    assert_eq!(after1.len(), 2);
    assert_eq!(after1[0], a[0], "the current key stays first");
    let kb = step.accepted.unwrap();
    assert_eq!(
        step,
        RolloverStep { phase: Phase::AddNext, current: ka, accepted: Some(kb), retired: None }
    );
    assert_eq!(read(&path).unwrap().rollover(), Rollover::NextAdded { current: ka, next: kb });
    let k = load(&path).unwrap();
    assert_eq!((k.key_id(), k.accepted_key_id()), (ka, Some(kb)));

    let step = promote(&path).unwrap();
    assert_eq!(key_lines(&path), vec![after1[1].clone(), after1[0].clone()], "swapped");
    assert_eq!(
        step,
        RolloverStep { phase: Phase::Promote, current: kb, accepted: Some(ka), retired: None }
    );
    assert_eq!(read(&path).unwrap().rollover(), Rollover::Promoted { current: kb, previous: ka });

    let step = retire(&path).unwrap();
    assert_eq!(key_lines(&path), vec![after1[1].clone()]);
    assert_eq!(
        step,
        RolloverStep { phase: Phase::Retire, current: kb, accepted: None, retired: Some(ka) }
    );
    let k = load(&path).unwrap();
    assert_eq!((k.key_id(), k.accepted_key_id()), (kb, None));
    assert_eq!(crate::store::fsutil::names(dir.path()), ["site.key"], "no temporary files");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // And round again: the rolled file is an ordinary one-key file.
    assert_eq!(add_next(&path).unwrap().current, kb);
}

#[test]
fn a_step_that_does_not_fit_the_phase_is_refused_naming_the_phase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.key");
    let p = path.display().to_string();
    write_new(&path, false).unwrap();
    let refused = |r: Result<RolloverStep, KeyError>, says: &[&str]| {
        let e = r.unwrap_err();
        assert!(matches!(e, KeyError::WrongPhase { .. }), "{e:?}");
        let msg = e.to_string();
        for s in says {
            assert!(msg.contains(s), "`{s}` missing in: {msg}");
        }
    };
    let before = fs::read(&path).unwrap();
    refused(
        promote(&path),
        &[
            "cannot run `wakeproxy keygen --promote` (phase 2",
            "holds one key",
            &format!("--add-next {p}"),
        ],
    );
    refused(retire(&path), &["holds one key", "no key rollover is under way"]);
    assert_eq!(fs::read(&path).unwrap(), before, "a refused step writes nothing");

    add_next(&path).unwrap();
    refused(add_next(&path), &["is in phase 1 of a key rollover", &format!("--promote {p}")]);
    refused(
        retire(&path),
        &["is in phase 1", "would drop the key every node signs with", &format!("--promote {p}")],
    );

    promote(&path).unwrap();
    refused(promote(&path), &["is in phase 2 of a key rollover", &format!("--retire {p}")]);
    refused(add_next(&path), &["is in phase 2", "previous key", &format!("--retire {p}")]);

    // Two keys and no marker: say how to mark it rather than guess.
    let unmarked = write(dir.path(), "hand.key", &format!("{HEX64}\n{OTHER}\n"));
    for step in [add_next, promote, retire] {
        refused(step(&unmarked), &["does not say which phase", "`# next key`", "`# previous key`"]);
    }
}

#[test]
fn each_step_tells_exactly_what_to_do_next() {
    let (a, b) = (id_of(HEX64), id_of(OTHER));
    let path = Path::new("site.key");
    let one = RolloverStep { phase: Phase::AddNext, current: a, accepted: Some(b), retired: None };
    let text = one.report(path);
    assert!(
        text.starts_with(&format!(
            "phase 1 of 3 done: site.key holds the current key {a} and the next key {b}"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("run `{RELOAD_COMMAND}` there")), "{text}");
    assert!(text.contains(&format!("`key: {a}, also accepts {b}`")), "{text}");
    assert!(text.ends_with("run:\n  wakeproxy keygen --promote site.key\n"), "{text}");
    let two = RolloverStep { phase: Phase::Promote, current: b, accepted: Some(a), retired: None };
    let text = two.report(path);
    assert!(text.contains(&format!("`key: {b}, also accepts {a}`")), "{text}");
    assert!(text.ends_with("wakeproxy keygen --retire site.key\n"), "{text}");
    let three = RolloverStep { phase: Phase::Retire, current: b, accepted: None, retired: Some(a) };
    let text = three.report(path);
    assert!(
        text.starts_with(&format!(
            "phase 3 of 3 done: site.key holds only the key {b}; the old key {a}"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("`key: {b}`.")), "{text}");
}

/// Where key material is held: types that clear themselves when dropped. Fails to compile
/// if one of them is changed to a plain buffer.
#[test]
fn key_material_is_held_in_zeroising_buffers() {
    fn zeroised_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "k.key", &format!("{HEX64}\n# next key\n{OTHER}\n"));
    let mut file = File::open(&path).unwrap();
    let bytes = read_limited(&mut file).unwrap().unwrap();
    zeroised_on_drop(&bytes);
    let kf = read(&path).unwrap();
    zeroised_on_drop(&kf.current.bytes);
    zeroised_on_drop(&kf.second.as_ref().unwrap().0.bytes);
    zeroised_on_drop(&generate().unwrap());
    zeroised_on_drop(&decode_hex(HEX64.as_bytes()).unwrap());
}

#[test]
fn from_bytes_finds_what_read_finds() {
    let dir = tempfile::tempdir().unwrap();
    let three = format!("{HEX64}\n{OTHER}\n{}\n", "ab".repeat(32));
    for text in ["", "# only a comment\n", HEX64, &format!("{HEX64}\n{OTHER}\n"), "zz\n", &three] {
        let path = write(dir.path(), "site.key", text);
        let (file, memory) = (read(&path), from_bytes(text.as_bytes(), &path));
        match (file, memory) {
            (Ok(a), Ok(b)) => assert_eq!(a.rollover(), b.rollover(), "{text:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
            (a, b) => panic!("{text:?}: the file gave {a:?}, the bytes {b:?}"),
        }
    }
}

/// `fuzz/seeds/key_parse/` holds files `wakeproxy keygen` and its three rollover steps wrote
/// (`--add-next`, `--promote`, `--retire`; keys nobody uses): each reads as the phase its name
/// says.
#[test]
fn fuzz_seeds_are_key_files_the_tools_wrote() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/key_parse");
    let mut seen = Vec::new();
    for entry in fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let file = from_bytes(&fs::read(&path).unwrap(), &path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let phase = match file.rollover() {
            Rollover::Single { .. } => "keygen",
            Rollover::NextAdded { .. } => "add_next",
            Rollover::Promoted { .. } => "promote",
            Rollover::Unmarked { .. } => "unmarked",
        };
        assert!(name.starts_with(phase), "{name} reads as {phase}");
        seen.push(phase);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, ["add_next", "keygen", "promote"], "every phase has a seed");
}
