//! The report as a person reads it: one line per check (`ok`, `warn`, `FAIL`, `??` for a check
//! that could not run), the fix below each one that needs it, and a verdict at the end, wrapped
//! to 100 columns.

use std::fmt::Write as _;

use super::{Report, Verdict};

/// Where text wraps.
const WIDTH: usize = 100;
/// Where a check's text starts (after its verdict and topic), and its fix, and their
/// continuation lines.
const INDENT: usize = 18;

/// The report as text.
pub fn render(report: &Report) -> String {
    let mut out =
        format!("wakeproxy doctor {}, configuration {}\n", report.version, clean(&report.config));
    for c in &report.checks {
        let subject =
            if c.subject.is_empty() { String::new() } else { format!("{}: ", clean(&c.subject)) };
        let prefix = format!("{:<4}  {:<11} ", c.verdict.label(), c.check.label());
        debug_assert_eq!(prefix.len(), INDENT);
        wrap(&mut out, &prefix, &format!("{subject}{}", clean(&c.summary)), INDENT);
        if let Some(fix) = c.fix.as_ref().filter(|_| c.verdict != Verdict::Ok) {
            wrap(&mut out, &format!("{}fix: ", " ".repeat(INDENT)), &clean(fix), INDENT + 5);
        }
    }
    let (fail, warn, unchecked) = (
        report.count(Verdict::Fail),
        report.count(Verdict::Warn),
        report.count(Verdict::Unchecked),
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![plural(report.count(Verdict::Ok), "ok", "ok")];
    if warn > 0 {
        parts.push(plural(warn, "warning", "warnings"));
    }
    if fail > 0 {
        parts.push(plural(fail, "problem", "problems"));
    }
    if unchecked > 0 {
        parts.push(plural(unchecked, "not checked", "not checked"));
    }
    let verdict = if fail > 0 {
        "wakes through this host may fail: fix the problems above"
    } else if unchecked > 0 {
        "no problem found, but not everything could be checked"
    } else {
        "healthy"
    };
    let _ = writeln!(out, "{}: {verdict} (exit {})", parts.join(", "), report.exit_code());
    out
}

/// `text` without control characters (names and paths come from the system and the daemon),
/// keeping line breaks.
fn clean(text: &str) -> String {
    text.chars().filter(|c| *c == '\n' || !c.is_control()).collect()
}

/// Appends `prefix` as it is, then `text`, each of its lines wrapped at [`WIDTH`] with
/// continuation lines indented by `hang`; a later line of `text` that starts with spaces keeps
/// them (after [`INDENT`]) and its continuations hang two columns further.
fn wrap(out: &mut String, prefix: &str, text: &str, hang: usize) {
    for (i, line) in text.lines().enumerate() {
        let (start, hang) = if i == 0 {
            out.push_str(prefix);
            (prefix.chars().count(), hang)
        } else {
            let lead = INDENT + line.len() - line.trim_start().len();
            out.push_str(&" ".repeat(lead));
            (lead, lead + 2)
        };
        let mut col = start;
        for (n, word) in line.split_whitespace().enumerate() {
            let len = word.chars().count();
            if n > 0 && col + 1 + len > WIDTH {
                out.push('\n');
                out.push_str(&" ".repeat(hang));
                col = hang;
            } else if n > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += len;
        }
        out.push('\n');
    }
}
