//! The rule engine's unit tests: policy snippets in, findings out.

use time::Date;

use super::literal::{literal_starts_every_match, required_literal};
use super::named::{check_ledger, section};
use super::*;
use crate::plumbing::policy::Policy;

fn rules(toml_docs: &str) -> Rules {
    let policy: Policy = toml::from_str(toml_docs).unwrap();
    compile(policy.docs.as_ref().unwrap()).unwrap_or_else(|p| panic!("{p:?}"))
}

fn problems(toml_docs: &str) -> String {
    let policy: Policy = toml::from_str(toml_docs).unwrap();
    match compile(policy.docs.as_ref().unwrap()) {
        Ok(_) => panic!("expected policy problems"),
        Err(p) => p.join("\n"),
    }
}

fn date(s: &str) -> Date {
    parse_date(s).unwrap()
}

/// (rule_id, path, line) of each finding, sorted.
fn ids(mut findings: Vec<Finding>) -> Vec<(String, String, Option<usize>)> {
    findings.sort();
    findings
        .into_iter()
        .map(|f| (f.rule_id, f.path, f.line))
        .collect()
}

fn named(
    rules: &Rules,
    files: &[(&str, &str)],
    today: &str,
) -> Vec<(String, String, Option<usize>)> {
    let map: BTreeMap<&str, &str> = files.iter().copied().collect();
    let fact = |p: &str| match map.get(p) {
        Some(&"\u{0}UNREADABLE") => Fact::Unreadable,
        Some(t) => Fact::Text(t),
        None => Fact::Missing,
    };
    ids(check_named(rules, &fact, date(today), 45))
}

fn text(
    rules: &Rules,
    path: &str,
    body: &str,
    existing: &[&str],
) -> Vec<(String, String, Option<usize>)> {
    let mut out = Vec::new();
    let in_scope = rules.scopes_of(path);
    let mut resolves = |t: &Target| match t {
        Target::File(g) => {
            let g = Glob::new(g).unwrap();
            existing.iter().any(|e| g.matches(e))
        }
        Target::XtaskCommand(c) => existing.contains(&c.as_str()),
    };
    check_text(rules, path, body, &in_scope, &mut resolves, &mut out);
    ids(out)
}

fn one(id: &str, path: &str, line: Option<usize>) -> Vec<(String, String, Option<usize>)> {
    vec![(id.to_string(), path.to_string(), line)]
}

const MARKER: &str = "[docs]\nmarkers = [{ path = \"D.md\", label = \"Last Verified\" }]\n";

#[test]
fn marker_age_boundary_is_45_days_inclusive() {
    let r = rules(MARKER);
    let doc = "# D\n\n**Last Verified**: 2026-01-01\n";
    assert_eq!(
        named(&r, &[("D.md", doc)], "2026-02-15"),
        vec![],
        "45 days old passes"
    );
    assert_eq!(
        named(&r, &[("D.md", doc)], "2026-02-16"),
        one(MARKER_STALE, "D.md", Some(3)),
        "46 days old fails"
    );
}

#[test]
fn marker_missing_future_invalid_and_file_missing() {
    let r = rules(MARKER);
    assert_eq!(
        named(&r, &[], "2026-02-01"),
        one(MARKER_FILE_MISSING, "D.md", None)
    );
    assert_eq!(
        named(&r, &[("D.md", "Last Verified: 2026-01-01")], "2026-02-01"),
        one(MARKER_MISSING, "D.md", None)
    );
    assert_eq!(
        named(
            &r,
            &[("D.md", "**Last Verified**: 2026-02-02")],
            "2026-02-01"
        ),
        one(MARKER_FUTURE, "D.md", Some(1))
    );
    assert_eq!(
        named(
            &r,
            &[("D.md", "\n**Last Verified**:  2026-02-30")],
            "2026-03-01"
        ),
        one(MARKER_INVALID, "D.md", Some(2))
    );
    assert_eq!(
        named(&r, &[("D.md", "\u{0}UNREADABLE")], "2026-03-01"),
        vec![],
        "the unreadable finding covers it"
    );
}

#[test]
fn marker_uses_the_first_match_only() {
    let r = rules(MARKER);
    let doc = "**Last Verified**: 2026-02-01\n**Last Verified**: 2020-01-01\n";
    assert_eq!(named(&r, &[("D.md", doc)], "2026-02-02"), vec![]);
}

#[test]
fn forbidden_text_and_regex_report_the_first_line_once_per_file() {
    let r = rules(
        r#"[docs]
scope = ["docs/**/*.md"]
forbidden = [
  { id = "claim", message = "stale", text = "no auth checks." },
  { id = "claim_re", message = "stale", regex = "\\bfoo\\s+bar\\b" },
]
"#,
    );
    let body = "a\nb no auth checks. c\nno auth checks.\nx foo  bar\n";
    assert_eq!(
        text(&r, "docs/a.md", body, &[]),
        vec![
            ("claim".to_string(), "docs/a.md".to_string(), Some(2)),
            ("claim_re".to_string(), "docs/a.md".to_string(), Some(4))
        ]
    );
    assert_eq!(text(&r, "other/a.md", body, &[]), vec![], "out of scope");
    assert_eq!(text(&r, "docs/b.md", "foobar bar", &[]), vec![]);
}

#[test]
fn references_resolve_through_a_template_once_per_file_and_id() {
    let r = rules(
        r#"[docs]
scope = ["docs/**/*.md"]
references = [{ id = "adr", message = "missing ADR", pattern = "\\bADR-(\\d{3})\\b", template = "docs/adr/{1}-*.md" }]
"#,
    );
    // The search starts at the literal's first occurrence on a line
    // (`xADR-006` does not match, `ADR-007` after it does).
    let body = "see ADR-001 and ADR-002\nagain ADR-002, ADR-0003, xADR-004\nADR-005\nxADR-006 then ADR-007\n";
    let existing = ["docs/adr/001-rust.md"];
    assert_eq!(
        text(&r, "docs/x.md", body, &existing),
        vec![
            ("adr".to_string(), "docs/x.md".to_string(), Some(1)),
            ("adr".to_string(), "docs/x.md".to_string(), Some(3)),
            ("adr".to_string(), "docs/x.md".to_string(), Some(4))
        ]
    );
}

#[test]
fn xtask_command_references() {
    let r = rules(
        r#"[docs]
scope = ["README.md"]
references = [{ id = "cmd", message = "unknown command", pattern = "\\bcargo xtask ([a-z][a-z0-9-]*)", target = "xtask-command" }]
"#,
    );
    let body = "cargo xtask check\n`cargo xtask nope --x` and cargo xtask <name>\n";
    assert_eq!(
        text(&r, "README.md", body, &["check"]),
        one("cmd", "README.md", Some(2))
    );
}

#[test]
fn required_content_each_and_all() {
    let r = rules(
        r#"[docs]
[[docs.required]]
id = "doc_missing"
message = "m"
paths = ["A.md"]
[[docs.required]]
id = "each"
message = "m"
paths = ["A.md"]
lines = ["^###\\s+reports\\s*$", "^###\\s+usage\\s*$"]
[[docs.required]]
id = "all"
message = "m"
report = "all"
paths = ["A.md"]
texts = ["X", "Y"]
"#,
    );
    assert_eq!(
        named(&r, &[], "2026-01-01"),
        one("doc_missing", "A.md", None)
    );
    assert_eq!(
        named(&r, &[("A.md", "### reports  \nX Y")], "2026-01-01"),
        one("each", "A.md", None)
    );
    let got = named(&r, &[("A.md", "#### reports")], "2026-01-01");
    assert_eq!(got.iter().filter(|f| f.0 == "each").count(), 2);
    assert_eq!(got.iter().filter(|f| f.0 == "all").count(), 1);
}

#[test]
fn coupling_needs_both_files() {
    let r = rules(
        r#"[docs]
couplings = [{ id = "c", message = "m", if-file = "a.py", if-contains = "Auth", then-file = "API.md", then-contains = "X-Key" }]
"#,
    );
    assert_eq!(
        named(&r, &[("a.py", "Auth"), ("API.md", "nothing")], "2026-01-01"),
        one("c", "API.md", None)
    );
    assert_eq!(
        named(&r, &[("a.py", "Auth"), ("API.md", "X-Key")], "2026-01-01"),
        vec![]
    );
    assert_eq!(named(&r, &[("a.py", "Auth")], "2026-01-01"), vec![]);
    assert_eq!(
        named(&r, &[("a.py", "none"), ("API.md", "")], "2026-01-01"),
        vec![]
    );
}

#[test]
fn sections_end_at_the_next_level_two_heading() {
    let text = "# T\n## Active Tasks\n- TASK-001\n### sub\n- TASK-002\n## Done\n- TASK-003\n";
    assert_eq!(
        section(text, "Active Tasks"),
        Some("- TASK-001\n### sub\n- TASK-002\n")
    );
    assert_eq!(section(text, "Done"), Some("- TASK-003\n"));
    assert_eq!(section(text, "Nope"), None);
}

#[test]
fn ledger_disjoint_and_subset() {
    let r = rules(
        r#"[docs]
[[docs.ledgers]]
require-files = ["S.md", "P.md"]
id-pattern = "\\bTASK-\\d{3}\\b"
sets.active = [{ file = "S.md", section = "Active" }]
sets.human = [{ file = "S.md", section = "Active", lines-containing = "[HUMAN]" }]
sets.progress = [{ file = "P.md", section = "In Progress" }]
sets.done = [{ file = "S.md", section = "Done" }, { file = "C.md", bullets = true }]
checks = [
  { id = "dual", message = "m", path = "P.md", kind = "disjoint", left = ["active", "progress"], right = ["done"] },
  { id = "sub", message = "m", path = "P.md", kind = "subset", left = ["active"], right = ["progress"] },
  { id = "human", message = "m", path = "P.md", kind = "subset", left = ["human"], right = ["progress"] },
]
"#,
    );
    let s = "## Active\n- TASK-001 [HUMAN]\n- TASK-002 TASK-0003\n## Done\n- TASK-009\n";
    let p = "## In Progress\n- TASK-002\n";
    let c = "- TASK-002\nTASK-001 not a bullet\n";
    let got = named(&r, &[("S.md", s), ("P.md", p), ("C.md", c)], "2026-01-01");
    let got: Vec<&str> = got.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(got, vec!["dual", "human", "sub"]);
    let mut f = Vec::new();
    let map: BTreeMap<&str, &str> = [("S.md", s), ("P.md", p), ("C.md", c)]
        .into_iter()
        .collect();
    check_ledger(
        &r.ledgers[0],
        &|x| map.get(x).map_or(Fact::Missing, |t| Fact::Text(t)),
        &mut f,
    );
    assert!(
        f.iter()
            .any(|f| f.rule_id == "dual" && f.message.contains("TASK-002")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|f| f.rule_id == "sub"
            && f.message.contains("TASK-001")
            && !f.message.contains("TASK-002")),
        "{f:?}"
    );
    assert_eq!(
        named(&r, &[("S.md", s)], "2026-01-01"),
        vec![],
        "P.md missing: not evaluated"
    );
}

#[test]
fn required_literals_are_conservative() {
    let check = |p: &str, expected: Option<&str>| {
        assert_eq!(required_literal(p).as_deref(), expected, "{p}")
    };
    check(r"\bADR-(\d{3})\b", Some("ADR-"));
    check(r"\bcargo xtask ([a-z][a-z0-9-]*)", Some("cargo xtask "));
    check(r"a|b", None);
    check(r"(?i)abc", None);
    check(r"colou?r", Some("colo"));
    check(r"ab*c", Some("a"));
    check(r"x\.y[abc]", Some("x.y"));
    check(r"\d+", None);
    let starts = |p: &str| required_literal(p).is_some_and(|l| literal_starts_every_match(p, &l));
    assert!(starts(r"\bADR-(\d{3})\b"));
    assert!(starts(r"^\bcargo xtask ([a-z]+)"));
    assert!(starts(r"colou?r"), "colo starts every match");
    for not in [
        r"x\.y[abc]",
        r"\d{3}ADR-",
        r"[a-z]ADR",
        r"(ADR)-x",
        r"\sADR-",
    ] {
        assert!(!starts(not), "{not}");
    }
    for p in [r"\bADR-(\d{3})\b", r"colou?r", r"x\.y[abc]+z", r"fo{2}bar"] {
        let re = Regex::new(p).unwrap();
        if let Some(lit) = required_literal(p) {
            for hay in ["ADR-123", "color", "colour", "x.yaaz", "foobar"] {
                if re.is_match(hay) {
                    assert!(hay.contains(&lit), "{p}: {hay} matches without {lit}");
                }
            }
        }
    }
}

#[test]
fn invalid_policies_name_every_problem() {
    let err = problems(
        r#"[docs]
overrides-file = "../x.json"
markers = [{ path = "/etc/passwd", label = "L" }]
forbidden = [{ id = "a b", message = "", text = "x", regex = "y" }, { id = "ok", message = "two\nlines", text = "x" }]
references = [
  { id = "r", message = "m", pattern = "(", template = "x", scope = ["a"] },
  { id = "r2", message = "m", pattern = "ADR-(\\d+)", template = "docs/{2}.md", scope = ["a"] },
]
required = [{ id = "c", message = "m", paths = ["A.md"], texts = ["x"] }]
ledgers = [{ id-pattern = "x", sets = {}, checks = [{ id = "l", message = "m", path = "P.md", kind = "subset", left = ["nope"], right = [] }] }]
"#,
    );
    for want in [
        "docs.overrides-file",
        "docs.markers[0].path",
        "docs.forbidden[0].id",
        "docs.forbidden[0].message",
        "docs.forbidden[1].message must be one line",
        "exactly one of",
        "docs.forbidden[0]: no scope",
        "docs.references[0].pattern",
        "uses {2}",
        "no existence rule",
        "no set named \"nope\"",
        "left and right",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn finder_agrees_with_str_find() {
    let texts = [
        "",
        "ADR-",
        "xxADR-ADR-1",
        "DDDADR",
        "é ADR-001 é",
        "a\nAll API endpoints.\n",
        "ééé",
    ];
    for needle in ["ADR-", "D", "All API", "é A", "éé", "_KEY"] {
        let f = Finder::new(needle);
        for t in texts {
            let mut from = 0;
            loop {
                let want = t[from..].find(needle).map(|i| from + i);
                assert_eq!(
                    f.find_from(t, from),
                    want,
                    "{needle:?} in {t:?} from {from}"
                );
                match want {
                    Some(w) => from = w + needle.chars().next().unwrap().len_utf8(),
                    None => break,
                }
            }
        }
    }
}

#[test]
fn dates_must_exist() {
    assert!(parse_date("2026-02-28").is_some());
    assert!(parse_date("2028-02-29").is_some());
    for bad in [
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "26-01-01",
        "2026-1-01",
        "２026-01-01",
        "2026-01-01x",
    ] {
        assert!(parse_date(bad).is_none(), "{bad}");
    }
}
