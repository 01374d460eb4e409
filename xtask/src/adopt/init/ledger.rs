//! The `[task]` guesses (pure, part of `init`'s decide step): the task id
//! prefix and digits and the ledger file from markdown lines that start
//! with a task id, the branch template from existing branch names.

use std::collections::BTreeMap;

use crate::adopt::init::decide::{guess, Facts, Guess, Task};

/// A task id at the start of a line, after markdown decoration
/// (`- `, `## `, `| `, `[ ] `, `**`): `(prefix, digits)`.
fn task_line(line: &str) -> Option<(String, usize)> {
    let mut s = line.trim_start();
    loop {
        let before = s;
        for deco in [
            "- ", "* ", "+ ", "|", "[ ] ", "[x] ", "[X] ", "**", "`", "~~",
        ] {
            s = s.strip_prefix(deco).unwrap_or(s).trim_start();
        }
        s = s.trim_start_matches('#').trim_start();
        if s == before {
            break;
        }
    }
    let prefix_len = s
        .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
        .filter(|&i| {
            i > 0 && s[i..].starts_with('-') && s.starts_with(|c: char| c.is_ascii_uppercase())
        })?;
    let rest = &s[prefix_len + 1..];
    let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
    let boundary = rest[digits..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_ascii_alphanumeric());
    (digits >= 2 && boundary).then(|| (s[..=prefix_len].to_string(), digits))
}

/// Ledgers of tasks that may start, by file name, in the order listed.
const OPEN_LEDGERS: [&str; 4] = ["BACKLOG.MD", "CURRENT_SPRINT.MD", "SPRINT.MD", "TODO.MD"];

fn open_rank(path: &str) -> Option<usize> {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_uppercase();
    OPEN_LEDGERS.iter().position(|n| *n == name)
}

/// Files with at least this many task lines are task ledgers.
const LEDGER_MIN_LINES: usize = 3;

/// Task lines by id prefix: `prefix -> (lines, fewest digits)` over all
/// files, and `file -> (prefix -> lines)`.
type Counts = (
    BTreeMap<String, (usize, usize)>,
    Vec<(String, BTreeMap<String, usize>)>,
);

fn count(facts: &Facts) -> Counts {
    let mut totals: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut per_file = Vec::new();
    for (path, text) in &facts.markdown {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (prefix, digits) in text.lines().filter_map(task_line) {
            *counts.entry(prefix.clone()).or_default() += 1;
            let t = totals.entry(prefix).or_insert((0, usize::MAX));
            t.0 += 1;
            t.1 = t.1.min(digits);
        }
        per_file.push((path.clone(), counts));
    }
    (totals, per_file)
}

/// The `[task]` section: the ledger's id shape and file, the branch
/// template; `None` when there is neither a ledger nor task branches.
pub fn task(facts: &Facts, notes: &mut Vec<String>) -> Option<Task> {
    let (totals, per_file) = count(facts);
    let ledgers_of = |prefix: &str| -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = per_file
            .iter()
            .filter_map(|(path, c)| {
                c.get(prefix)
                    .filter(|n| **n >= LEDGER_MIN_LINES)
                    .map(|n| (path.clone(), *n))
            })
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let best = totals
        .iter()
        .filter(|(p, _)| !ledgers_of(p).is_empty())
        .max_by(|a, b| (a.1 .0, a.0.as_str() == "TASK-").cmp(&(b.1 .0, b.0.as_str() == "TASK-")));
    let branch_template = branch_template(facts);
    let Some((prefix, (_, digits))) = best else {
        notes.push("no task ledger (a markdown file with task ids at the start of its lines): [task] keeps its defaults".to_string());
        return branch_template.map(|t| Task {
            id_prefix: guess("TASK-".to_string(), "the default"),
            id_digits: guess(3, "the default"),
            ledger: None,
            branch_template: Some(t),
        });
    };
    let ledgers = ledgers_of(prefix);
    // The backlog and the current sprint hold the tasks that may start; a
    // completed-tasks file may be longer but its ids are done.
    let mut open: Vec<&(String, usize)> = ledgers
        .iter()
        .filter(|(p, _)| open_rank(p).is_some())
        .collect();
    open.sort_by_key(|(p, _)| (open_rank(p), p.matches('/').count(), p.clone()));
    let chosen: Vec<&(String, usize)> = if open.is_empty() {
        ledgers.first().into_iter().collect()
    } else {
        open
    };
    let files: Vec<String> = chosen.iter().map(|(p, _)| p.clone()).collect();
    let counted: Vec<String> = chosen.iter().map(|(p, n)| format!("{p} ({n})")).collect();
    let mut why = format!(
        "the lines starting with a task id in {}",
        counted.join(", ")
    );
    let others: Vec<String> = ledgers
        .iter()
        .filter(|(p, _)| !files.contains(p))
        .map(|(p, n)| format!("{p} ({n})"))
        .collect();
    if !others.is_empty() {
        let shown = others.len().min(4);
        why.push_str(&format!(
            "; also full of task ids, not ledgers of open tasks: {}",
            others[..shown].join(", ")
        ));
        if others.len() > shown {
            why.push_str(&format!(" and {} more", others.len() - shown));
        }
    }
    let preferred = chosen[0];
    Some(Task {
        id_prefix: guess(
            prefix.clone(),
            format!(
                "the most common task id prefix at the start of a line in {}",
                preferred.0
            ),
        ),
        id_digits: guess(
            (*digits).clamp(1, 9),
            format!("the fewest digits of a `{prefix}` id at the start of a line"),
        ),
        ledger: Some(guess(files, why)),
        branch_template,
    })
}

/// `<prefix>task-{NNN}-{slug}` from the most common shape of existing
/// task branches (`codex/task-117-fix-gate`).
fn branch_template(facts: &Facts) -> Option<Guess<String>> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for b in &facts.branches {
        let Some(i) = b.find("task-") else { continue };
        let (prefix, rest) = (&b[..i], &b[i + "task-".len()..]);
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let shaped = digits > 0
            && rest[digits..].starts_with('-')
            && rest.len() > digits + 1
            && (prefix.is_empty() || prefix.ends_with('/'));
        if shaped {
            *counts.entry(prefix.to_string()).or_default() += 1;
        }
    }
    let (prefix, n) = counts
        .iter()
        .max_by_key(|(p, n)| (**n, std::cmp::Reverse((*p).clone())))?;
    Some(guess(
        format!("{prefix}task-{{NNN}}-{{slug}}"),
        format!("{n} existing branches named `{prefix}task-<number>-<name>`"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adopt::init::decide::draft;
    use crate::adopt::init::decide::tests::facts;

    #[test]
    fn the_backlog_and_the_current_sprint_are_the_ledgers_else_the_fullest_file() {
        let md = |p: &str, t: &str| (p.to_string(), t.to_string());
        let mut f = facts();
        f.markdown.push(md(
            "tasks/CURRENT_SPRINT.md",
            "- TASK-0104 d\n- TASK-0105 e\n- [x] TASK-0101 a\n",
        ));
        f.markdown.push(md(
            "tasks/sprints/SPRINT_001.md",
            "- TASK-0001\n- TASK-0002\n- TASK-0003\n",
        ));
        let ledger = draft(&f).task.unwrap().ledger.unwrap();
        assert_eq!(
            ledger.value,
            ["tasks/BACKLOG.md", "tasks/CURRENT_SPRINT.md"]
        );
        // No file named like a ledger of open tasks: the one with most task lines.
        f.markdown
            .retain(|(p, _)| !p.ends_with("BACKLOG.md") && !p.ends_with("CURRENT_SPRINT.md"));
        f.markdown.push(md(
            "plan/work.md",
            "- TASK-0201\n- TASK-0202\n- TASK-0203\n- TASK-0204\n- TASK-0205\n",
        ));
        let ledger = draft(&f).task.unwrap().ledger.unwrap();
        assert_eq!(ledger.value, ["plan/work.md"]);
    }

    #[test]
    fn the_backlog_is_the_ledger_and_branches_give_the_template() {
        let t = draft(&facts()).task.unwrap();
        assert_eq!(t.id_prefix.value, "TASK-");
        assert_eq!(t.id_digits.value, 4);
        let ledger = t.ledger.unwrap();
        assert_eq!(ledger.value, ["tasks/BACKLOG.md"]);
        assert!(
            ledger
                .why
                .contains("not ledgers of open tasks: tasks/COMPLETED.md (4)"),
            "{}",
            ledger.why
        );
        let template = t.branch_template.unwrap();
        assert_eq!(template.value, "codex/task-{NNN}-{slug}");
        assert!(
            template.why.starts_with("2 existing branches"),
            "{}",
            template.why
        );
    }
    #[test]
    fn task_lines_need_an_id_at_the_start() {
        assert_eq!(task_line("### TASK-117: x"), Some(("TASK-".to_string(), 3)));
        assert_eq!(
            task_line("- [ ] **TASK-0042** y"),
            Some(("TASK-".to_string(), 4))
        );
        assert_eq!(task_line("| TASK-12 | z |"), Some(("TASK-".to_string(), 2)));
        assert_eq!(task_line("Next ids start at TASK-371"), None);
        assert_eq!(task_line("- TASK-1 too short"), None);
        assert_eq!(task_line("- TASK-123abc"), None);
        assert_eq!(task_line("- task-123"), None);
    }
}
