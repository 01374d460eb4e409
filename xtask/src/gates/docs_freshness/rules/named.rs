//! The rules on files the policy names: markers, required files and
//! content, couplings, ledgers.

use std::collections::{BTreeMap, BTreeSet};

use time::Date;

use super::text::LineCounter;
use super::*;

/// The rules on named files: markers, required files and content, couplings, ledgers.
pub fn check_named<'a>(
    rules: &Rules,
    fact: &dyn Fn(&str) -> Fact<'a>,
    today: Date,
    max_age_days: u32,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &rules.markers {
        out.extend(check_marker(m, fact(&m.path), today, max_age_days));
    }
    for r in &rules.required {
        for path in &r.paths {
            match fact(path) {
                Fact::Missing if r.texts.is_empty() && r.lines.is_empty() => {
                    out.push(r.meta.finding(path, None, format!("{path} does not exist")))
                }
                Fact::Text(text) => check_required_content(r, path, text, &mut out),
                _ => {}
            }
        }
    }
    for c in &rules.couplings {
        if let (Fact::Text(a), Fact::Text(b)) = (fact(&c.if_file), fact(&c.then_file)) {
            if a.contains(&c.if_contains) && !b.contains(&c.then_contains) {
                let detail = format!(
                    "{} contains {:?}, but {} does not mention {:?}",
                    c.if_file, c.if_contains, c.then_file, c.then_contains
                );
                out.push(c.meta.finding(&c.then_file, None, detail));
            }
        }
    }
    for l in &rules.ledgers {
        check_ledger(l, fact, &mut out);
    }
    out
}

fn check_marker(m: &Marker, fact: Fact, today: Date, max_age_days: u32) -> Option<Finding> {
    let finding = |id: &str, line: Option<usize>, message: String| Finding {
        path: m.path.clone(),
        line,
        rule_id: id.to_string(),
        level: m.level,
        message,
        overridable: m.overridable,
    };
    let shape = format!("**{}**: YYYY-MM-DD", m.label);
    let text = match fact {
        Fact::Missing => {
            return Some(finding(
                MARKER_FILE_MISSING,
                None,
                format!("{} does not exist; it must carry `{shape}`", m.path),
            ))
        }
        Fact::Unreadable => return None,
        Fact::Text(text) => text,
    };
    let Some(caps) = m.re.captures(text) else {
        return Some(finding(
            MARKER_MISSING,
            None,
            format!("no `{shape}` marker; add one with the date you verified the file"),
        ));
    };
    let whole = caps.get(0).expect("group 0");
    let line = Some(LineCounter::new(text).line_of(whole.start()));
    let raw = &caps[1];
    let Some(date) = parse_date(raw) else {
        return Some(finding(
            MARKER_INVALID,
            line,
            format!("`**{}**: {raw}` is not a real date (YYYY-MM-DD)", m.label),
        ));
    };
    if date > today {
        return Some(finding(
            MARKER_FUTURE,
            line,
            format!("**{}** {raw} is after today ({today})", m.label),
        ));
    }
    let age = (today - date).whole_days();
    if age > i64::from(max_age_days) {
        return Some(finding(
            MARKER_STALE,
            line,
            format!(
                "**{}** {raw} is {age} days old (max {max_age_days}); verify the file against the code and update the date",
                m.label
            ),
        ));
    }
    None
}

fn check_required_content(r: &Required, path: &str, text: &str, out: &mut Vec<Finding>) {
    let mut missing: Vec<String> = r
        .texts
        .iter()
        .filter(|t| !text.contains(t.as_str()))
        .map(|t| format!("{t:?}"))
        .collect();
    for re in &r.lines {
        if !text.lines().any(|line| re.is_match(line)) {
            missing.push(format!("a line matching /{}/", re.as_str()));
        }
    }
    if missing.is_empty() {
        return;
    }
    match r.report {
        DocsReport::Each => {
            for item in missing {
                out.push(r.meta.finding(path, None, format!("missing {item}")));
            }
        }
        DocsReport::All => out.push(r.meta.finding(
            path,
            None,
            format!("missing {}", missing.join(", ")),
        )),
    }
}

/// `YYYY-MM-DD` that is a real calendar date.
pub fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let month = time::Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(text[..4].parse().ok()?, month, text[8..].parse().ok()?).ok()
}

/// The text of the section `## <heading>`: the lines after that heading up
/// to the next line starting with `## ` (`###` lines stay inside).
pub fn section<'t>(text: &'t str, heading: &str) -> Option<&'t str> {
    let mut offset = 0;
    let mut start = None;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        match start {
            None => {
                if line
                    .strip_prefix("## ")
                    .is_some_and(|h| h.trim() == heading)
                {
                    start = Some(offset + raw.len());
                }
            }
            Some(s) => {
                if line.starts_with("## ") {
                    return Some(&text[s..offset]);
                }
            }
        }
        offset += raw.len();
    }
    start.map(|s| &text[s..])
}

fn is_bullet(line: &str) -> bool {
    let t = line.trim_start();
    let mut chars = t.chars();
    matches!(chars.next(), Some('-' | '*' | '+')) && matches!(chars.next(), Some(' ' | '\t') | None)
}

fn collect_ids(l: &Ledger, source: &DocsSource, text: &str, into: &mut BTreeSet<String>) {
    let body = match &source.section {
        Some(h) => match section(text, h) {
            Some(s) => s,
            None => return,
        },
        None => text,
    };
    for line in body.lines() {
        if source.bullets && !is_bullet(line) {
            continue;
        }
        if source
            .lines_containing
            .as_deref()
            .is_some_and(|m| !line.contains(m))
        {
            continue;
        }
        into.extend(l.id_re.find_iter(line).map(|m| m.as_str().to_string()));
    }
}

pub(super) fn check_ledger<'a>(
    l: &Ledger,
    fact: &dyn Fn(&str) -> Fact<'a>,
    out: &mut Vec<Finding>,
) {
    if l.require_files
        .iter()
        .any(|p| matches!(fact(p), Fact::Missing))
    {
        return;
    }
    let mut sets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, sources) in &l.sets {
        let set = sets.entry(name).or_default();
        for s in sources {
            match fact(&s.file) {
                Fact::Text(text) => collect_ids(l, s, text, set),
                Fact::Missing => {}
                // The unreadable-file finding already fails the run; a
                // partial set would only add misleading findings.
                Fact::Unreadable => return,
            }
        }
    }
    let union = |names: &[String]| -> BTreeSet<String> {
        names
            .iter()
            .flat_map(|n| sets.get(n.as_str()).into_iter().flatten().cloned())
            .collect()
    };
    for LedgerCheck {
        meta,
        path,
        kind,
        left,
        right,
    } in &l.checks
    {
        let (a, b) = (union(left), union(right));
        let offending: Vec<String> = match kind {
            DocsCheckKind::Disjoint => a.intersection(&b).cloned().collect(),
            DocsCheckKind::Subset => a.difference(&b).cloned().collect(),
        };
        if !offending.is_empty() {
            let relation = match kind {
                DocsCheckKind::Disjoint => {
                    format!("in both {} and {}", left.join("+"), right.join("+"))
                }
                DocsCheckKind::Subset => {
                    format!("in {} but not in {}", left.join("+"), right.join("+"))
                }
            };
            out.push(meta.finding(path, None, format!("{} ({relation})", offending.join(", "))));
        }
    }
}
