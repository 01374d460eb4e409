//! The overrides file (`{"overrides": [{"rule_id", "path", "reason",
//! "expires_on"}]}`): parsing, strictly, and applying, purely. An active
//! override turns an overridable finding into a warning; an expired one that
//! still matches is an error; an active one that matches nothing is a warning.

use std::collections::HashMap;

use serde_json::Value;
use time::Date;

use super::rules::{parse_date, Finding};
use crate::plumbing::policy::DocsLevel;

pub const APPLIED: &str = "docs_freshness_override_applied";
pub const EXPIRED: &str = "docs_freshness_override_expired";
pub const UNUSED: &str = "docs_freshness_override_unused";
pub const TOO_LONG: &str = "docs_freshness_override_too_long";

const FIELDS: [&str; 4] = ["rule_id", "path", "reason", "expires_on"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub rule_id: String,
    pub path: String,
    pub reason: String,
    pub expires_on: Date,
    /// The row's line in the overrides file (its findings point there).
    pub line: Option<usize>,
}

/// Parses the file's text; the error names `file`, and line:column for JSON
/// syntax, or the row for a bad row.
pub fn parse(text: &str, file: &str) -> Result<Vec<Override>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what);
        match json_error_at(text, &e) {
            Some((line, col)) => format!("{file}:{line}:{col}: not valid JSON: {what}"),
            None => format!("{file}: not valid JSON: {what}"),
        }
    })?;
    let shape = format!("{file}: expected {{\"overrides\": [{{\"rule_id\", \"path\", \"reason\", \"expires_on\": \"YYYY-MM-DD\"}}]}}");
    let Value::Object(top) = value else {
        return Err(shape);
    };
    if let Some(k) = top.keys().find(|k| *k != "overrides") {
        return Err(format!("{shape}; unknown key {k:?}"));
    }
    let Some(Value::Array(rows)) = top.get("overrides") else {
        return Err(shape);
    };
    let positions = line_cols(text, &row_starts(text));
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let at = match positions.get(i) {
            Some((line, col)) => format!("{file}:{line}:{col}: overrides[{i}]"),
            None => format!("{file}: overrides[{i}]"),
        };
        let Value::Object(obj) = row else {
            return Err(format!(
                "{at}: must be an object with {}, found {row}",
                FIELDS.join(", ")
            ));
        };
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "{at}: unknown field {k:?} (fields: {})",
                FIELDS.join(", ")
            ));
        }
        let get = |name: &str| -> Result<String, String> {
            match obj.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                Some(Value::String(_)) => Err(format!("{at}: {name} is blank")),
                Some(other) => Err(format!("{at}: {name} must be a string, found {other}")),
                None => Err(format!("{at}: {name} is missing")),
            }
        };
        let (rule_id, path, reason, expires) = (
            get("rule_id")?,
            get("path")?,
            get("reason")?,
            get("expires_on")?,
        );
        let Some(expires_on) = parse_date(&expires) else {
            return Err(format!(
                "{at} ({rule_id} on {path}): expires_on {expires:?} is not a real date (YYYY-MM-DD)"
            ));
        };
        let line = positions.get(i).map(|&(line, _)| line);
        out.push(Override {
            rule_id,
            path,
            reason,
            expires_on,
            line,
        });
    }
    Ok(out)
}

/// The 1-based (line, column) of each of the increasing byte `offsets`, as
/// `policy::line_col` counts them, in one pass over the text (calling
/// `line_col` per row would be quadratic in the number of rows).
fn line_cols(text: &str, offsets: &[usize]) -> Vec<(usize, usize)> {
    let (mut line, mut line_start, mut at) = (1, 0, 0);
    let mut out = Vec::with_capacity(offsets.len());
    for &offset in offsets {
        let offset = offset.min(text.len());
        for (i, b) in text.as_bytes()[at..offset].iter().enumerate() {
            if *b == b'\n' {
                line += 1;
                line_start = at + i + 1;
            }
        }
        at = offset;
        let mut end = offset;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push((line, text[line_start..end].chars().count() + 1));
    }
    out
}

/// The 1-based line and column (in characters, as `policy::line_col` and
/// editors count) of a serde_json error. serde_json counts the column in
/// bytes up to and including the offending one, so it is 0 when the error is
/// at the start of a line (e.g. the text ends right after a newline).
fn json_error_at(text: &str, e: &serde_json::Error) -> Option<(usize, usize)> {
    if e.line() == 0 {
        return None;
    }
    let line_start = if e.line() == 1 {
        0
    } else {
        text.match_indices('\n').nth(e.line() - 2)?.0 + 1
    };
    Some(crate::plumbing::policy::line_col(
        text,
        line_start + e.column().saturating_sub(1),
    ))
}

/// Byte offsets of the rows of the top-level `"overrides"` array, found by
/// a small scan of (already validated) JSON: serde_json's values carry no
/// positions, and errors about a row should name its line.
fn row_starts(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    let (mut key_is_overrides, mut in_rows, mut expect_row) = (false, false, false);
    let mut starts = Vec::new();
    while i < b.len() {
        let c = b[i];
        let starts_value = !c.is_ascii_whitespace() && !matches!(c, b',' | b':' | b']' | b'}');
        if in_rows && depth == 2 && expect_row && starts_value {
            starts.push(i);
            expect_row = false;
        }
        match c {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 {
                    key_is_overrides = text.get(start..i) == Some("overrides");
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 2 && c == b'[' && key_is_overrides {
                    in_rows = true;
                    expect_row = true;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth < 2 {
                    in_rows = false;
                }
            }
            b',' if in_rows && depth == 2 => expect_row = true,
            _ => {}
        }
        i += 1;
    }
    starts
}

/// Applies `overrides` to `findings` on `today`; returns the findings plus
/// the overrides' own. `file` is the overrides file (where those are reported).
/// Linear in findings plus overrides: overrides are indexed by (rule, path).
pub fn apply(
    findings: Vec<Finding>,
    overrides: &[Override],
    today: Date,
    max_days: Option<u32>,
    file: &str,
) -> Vec<Finding> {
    let latest = max_days.map(|d| today + time::Duration::days(i64::from(d)));
    let too_long: Vec<bool> = overrides
        .iter()
        .map(|o| latest.is_some_and(|l| o.expires_on > l))
        .collect();
    let active = |i: usize| !too_long[i] && overrides[i].expires_on >= today;
    let mut out: Vec<Finding> = overrides
        .iter()
        .zip(&too_long)
        .filter(|(_, t)| **t)
        .map(|(o, _)| too_long_finding(o, today, max_days.unwrap_or(0), file))
        .collect();
    let mut index: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, o) in overrides.iter().enumerate() {
        index
            .entry((o.rule_id.as_str(), o.path.as_str()))
            .or_default()
            .push(i);
    }
    let mut used = vec![false; overrides.len()];
    let mut expired_reported = vec![false; overrides.len()];
    for mut f in findings {
        let matching = index
            .get(&(f.rule_id.as_str(), f.path.as_str()))
            .map_or(&[][..], Vec::as_slice);
        if matching.is_empty() {
            out.push(f);
            continue;
        }
        if !f.overridable {
            f.message
                .push_str(" (an override exists, but this rule cannot be overridden)");
            out.push(f);
            continue;
        }
        if let Some(&i) = matching.iter().find(|&&i| active(i)) {
            for &j in matching.iter().filter(|&&j| active(j)) {
                used[j] = true;
            }
            out.push(applied(f, &overrides[i]));
            continue;
        }
        for &i in matching
            .iter()
            .filter(|&&i| overrides[i].expires_on < today)
        {
            if !std::mem::replace(&mut expired_reported[i], true) {
                out.push(expired_finding(&overrides[i], file));
            }
        }
        out.push(f);
    }
    let unused = (0..overrides.len()).filter(|&i| !used[i] && active(i));
    out.extend(unused.map(|i| unused_finding(&overrides[i], file)));
    out
}

/// A finding about an override's own row in the overrides file.
fn row_finding(o: &Override, file: &str, id: &str, level: DocsLevel, message: String) -> Finding {
    Finding {
        path: file.to_string(),
        line: o.line,
        rule_id: id.to_string(),
        level,
        message,
        overridable: false,
    }
}

fn too_long_finding(o: &Override, today: Date, max_days: u32, file: &str) -> Finding {
    row_finding(
        o,
        file,
        TOO_LONG,
        DocsLevel::Error,
        format!(
            "the override of {} on {} expires on {}, more than {max_days} days after today ({today}) (docs.max-override-days); overrides are short-lived: shorten it",
            o.rule_id, o.path, o.expires_on
        ),
    )
}

fn expired_finding(o: &Override, file: &str) -> Finding {
    row_finding(
        o,
        file,
        EXPIRED,
        DocsLevel::Error,
        format!(
            "the override of {} on {} expired on {} and the finding is still there (reason was: {}); fix the drift, or renew the row with a new reason",
            o.rule_id, o.path, o.expires_on, o.reason
        ),
    )
}

fn unused_finding(o: &Override, file: &str) -> Finding {
    row_finding(
        o,
        file,
        UNUSED,
        DocsLevel::Warning,
        format!(
            "the override of {} on {} (until {}) matches no overridable finding; remove it",
            o.rule_id, o.path, o.expires_on
        ),
    )
}

/// `f` suppressed by the active override `o`: a warning that says until when and why.
fn applied(f: Finding, o: &Override) -> Finding {
    Finding {
        rule_id: APPLIED.to_string(),
        level: DocsLevel::Warning,
        message: format!(
            "[{}] suppressed until {}: {} (finding: {})",
            f.rule_id, o.expires_on, o.reason, f.message
        ),
        overridable: false,
        ..f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    fn finding(id: &str, path: &str, overridable: bool) -> Finding {
        Finding {
            path: path.into(),
            line: Some(3),
            rule_id: id.into(),
            level: DocsLevel::Error,
            message: "m".into(),
            overridable,
        }
    }

    fn ov(id: &str, path: &str, expires: &str) -> Override {
        Override {
            rule_id: id.into(),
            path: path.into(),
            reason: "because".into(),
            expires_on: date(expires),
            line: Some(7),
        }
    }

    fn check(
        findings: Vec<Finding>,
        overrides: &[Override],
        today: &str,
        expected: &[(&str, &str, DocsLevel)],
    ) {
        let mut got: Vec<(String, String, DocsLevel)> =
            apply(findings, overrides, date(today), Some(90), "O.json")
                .into_iter()
                .map(|f| (f.rule_id, f.path, f.level))
                .collect();
        got.sort();
        let mut want: Vec<(String, String, DocsLevel)> = expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    use DocsLevel::{Error as E, Warning as W};

    #[test]
    fn active_override_turns_an_overridable_finding_into_a_warning() {
        check(
            vec![finding("claim", "a.md", true)],
            &[ov("claim", "a.md", "2026-03-01")],
            "2026-03-01",
            &[(APPLIED, "a.md", W)],
        );
    }

    #[test]
    fn matching_is_exact_on_rule_and_path() {
        check(
            vec![finding("claim", "a.md", true)],
            &[
                ov("claim", "b.md", "2026-03-01"),
                ov("other", "a.md", "2026-03-01"),
            ],
            "2026-02-01",
            &[
                ("claim", "a.md", E),
                (UNUSED, "O.json", W),
                (UNUSED, "O.json", W),
            ],
        );
    }

    #[test]
    fn expired_override_that_still_matches_is_an_error() {
        check(
            vec![
                finding("claim", "a.md", true),
                finding("claim", "a.md", true),
            ],
            &[ov("claim", "a.md", "2026-02-28")],
            "2026-03-01",
            &[
                ("claim", "a.md", E),
                ("claim", "a.md", E),
                (EXPIRED, "O.json", E),
            ],
        );
        // Expired and matching nothing: nothing to say.
        check(
            vec![],
            &[ov("claim", "a.md", "2026-02-28")],
            "2026-03-01",
            &[],
        );
    }

    #[test]
    fn unused_active_override_is_a_warning() {
        check(
            vec![],
            &[ov("claim", "a.md", "2026-03-01")],
            "2026-02-01",
            &[(UNUSED, "O.json", W)],
        );
    }

    #[test]
    fn non_overridable_rules_stay_errors() {
        let out = apply(
            vec![finding("marker", "a.md", false)],
            &[ov("marker", "a.md", "2026-03-01")],
            date("2026-02-01"),
            None,
            "O.json",
        );
        assert!(
            out.iter().any(|f| f.rule_id == "marker"
                && f.level == E
                && f.message.contains("cannot be overridden")),
            "{out:?}"
        );
        assert!(out.iter().any(|f| f.rule_id == UNUSED), "{out:?}");
    }

    #[test]
    fn overrides_beyond_the_cap_are_errors_and_not_applied() {
        check(
            vec![finding("claim", "a.md", true)],
            &[ov("claim", "a.md", "2026-06-01")],
            "2026-02-01",
            &[("claim", "a.md", E), (TOO_LONG, "O.json", E)],
        );
    }

    fn parse_err(text: &str) -> String {
        parse(text, "O.json").unwrap_err()
    }

    #[test]
    fn rows_are_located_by_line_and_column() {
        let text = "{\"x\": \"overrides\", \"overrides\": [\n  {\"a\": [1, {\"b\": \"],\\\"\"}]},\n  \"s\" ,\n  7]}";
        let lines: Vec<(usize, usize)> = row_starts(text)
            .into_iter()
            .map(|o| crate::plumbing::policy::line_col(text, o))
            .collect();
        assert_eq!(lines, vec![(2, 3), (3, 3), (4, 3)], "{text}");
        let err = parse_err("{\"overrides\": [\n  {\"rule_id\": \"a\", \"path\": \"p\", \"reason\": \"r\", \"expires_on\": \"2026-01-31\"},\n  {\"rule_id\": \"a\"}\n]}");
        assert!(
            err.starts_with("O.json:3:3: overrides[1]: path is missing"),
            "{err}"
        );
    }

    #[test]
    fn positions_in_one_pass_agree_with_line_col() {
        let text = "{\n  \"é\": [1,\n\n   2, \"ü\n\", 3]}\n";
        let offsets: Vec<usize> = (0..=text.len()).collect();
        let one_by_one: Vec<(usize, usize)> = offsets
            .iter()
            .map(|&o| crate::plumbing::policy::line_col(text, o))
            .collect();
        assert_eq!(line_cols(text, &offsets), one_by_one);
    }

    #[test]
    fn json_syntax_errors_have_1_based_columns() {
        fn check(text: &str, expected: &str) {
            let err = parse_err(text);
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
        // serde_json reports column 0 for these (the error is at a line start).
        check("{\"overrides\": [\n", "O.json:2:1: not valid JSON: EOF");
        check("{\"overrides\": []\n", "O.json:2:1: not valid JSON: EOF");
        check("{\n}\nx", "O.json:3:1: not valid JSON");
        check("", "O.json:1:1: not valid JSON: EOF");
        check(
            "{\"overrides\": [\n]}x",
            "O.json:2:3: not valid JSON: trailing characters",
        );
        // Columns count characters, not bytes, as for the rows (serde_json: 11).
        check(
            "{\"é\": [1,]}",
            "O.json:1:10: not valid JSON: trailing comma",
        );
        check("{\n  \"overrides\": [,]\n}", "O.json:2:17: not valid JSON");
        for text in ["{", "{\"overrides\": [", "{\n\n\n", "\n", "[1,\n2,\n"] {
            let err = parse_err(text);
            assert!(!err.contains(":0:"), "{text:?}: {err}");
        }
    }

    #[test]
    fn parsing_is_strict_and_names_the_row() {
        assert_eq!(parse(r#"{"overrides": []}"#, "O.json").unwrap(), vec![]);
        let ok = parse(
            r#"{"overrides": [{"rule_id": "a", "path": "p", "reason": "r", "expires_on": "2026-01-31"}]}"#,
            "O.json",
        );
        assert_eq!(
            ok.unwrap(),
            vec![Override {
                rule_id: "a".into(),
                path: "p".into(),
                reason: "r".into(),
                expires_on: date("2026-01-31"),
                line: Some(1),
            }]
        );
        assert!(
            parse_err("{\n  \"overrides\": [,]\n}").starts_with("O.json:2:17: not valid JSON"),
            "{}",
            parse_err("{\n  \"overrides\": [,]\n}")
        );
        assert!(parse_err("[]").contains("expected {\"overrides\""));
        assert!(parse_err(r#"{"overrides": [1]}"#).contains("overrides[0]: must be an object"));
        assert!(parse_err(r#"{"overrides": [{"rule_id": "a", "path": "p", "reason": " ", "expires_on": "2026-01-31"}]}"#).contains("overrides[0]: reason is blank"));
        assert!(parse_err(
            r#"{"overrides": [{"rule_id": "a", "path": "p", "expires_on": "2026-01-31"}]}"#
        )
        .contains("reason is missing"));
        assert!(parse_err(r#"{"overrides": [{"rule_id": "a", "path": "p", "reason": "r", "expires_on": "2026-02-30"}]}"#).contains("not a real date"));
        assert!(parse_err(r#"{"overrides": [{"rule_id": "a", "path": "p", "reason": "r", "expires_on": "2026-01-31", "x": 1}]}"#).contains("unknown field \"x\""));
        assert!(parse_err(r#"{"overrides": [{"rule_id": 5, "path": "p", "reason": "r", "expires_on": "2026-01-31"}]}"#).contains("rule_id must be a string"));
    }
}
