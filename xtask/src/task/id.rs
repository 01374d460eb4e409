//! Task ids and task branch names, as the policy's `[task]` defines them.
//! Pure functions: nothing here runs a process or reads a file.
//!
//! Input from users (`TASK=117`, `NAME="Fix the gate"`) becomes a git ref,
//! so everything is validated here before any command sees it.

use crate::plumbing::exit;
use crate::plumbing::policy::Task;

/// Whether `digits` (all ASCII digits) have a task id's length: at least
/// `id-digits` (exactly that many with `id-digits-exact`), at most 9.
pub fn digits_ok(task: &Task, digits: &str) -> bool {
    let n = digits.len();
    n >= task.id_digits && n <= 9 && (!task.id_digits_exact || n == task.id_digits)
}

/// `TASK-123`, `task-123` and `123` all mean `TASK-123` (with the policy's
/// prefix and at least its number of digits).
pub fn normalize_id(task: &Task, input: &str) -> anyhow::Result<String> {
    let raw = input.trim();
    let digits = match raw.get(..task.id_prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(&task.id_prefix) => &raw[task.id_prefix.len()..],
        _ => raw,
    };
    if digits_ok(task, digits) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(format!("{}{digits}", task.id_prefix))
    } else {
        // Too few digits: show the padded id rather than guess that it is meant.
        let hint = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            let padded = format!("{digits:0>width$}", width = task.id_digits);
            format!("; for {}{padded}, write {padded}", task.id_prefix)
        } else {
            String::new()
        };
        let how_many = if task.id_digits_exact {
            format!("exactly {} digits", task.id_digits)
        } else {
            format!("{} or more digits", task.id_digits)
        };
        Err(exit::usage(format!(
            "invalid task id {input:?}: expected {p}{n} or {n} ({how_many}){hint}",
            p = task.id_prefix,
            n = "N".repeat(task.id_digits),
        )))
    }
}

/// The digits of a normalized id.
pub fn number<'a>(task: &Task, id: &'a str) -> &'a str {
    id.strip_prefix(task.id_prefix.as_str()).unwrap_or(id)
}

/// The short name as it goes into a branch: lower case, runs of characters
/// outside `a-z 0-9 . _ -` become `-`, trimmed of `-`; it must start with a
/// letter or digit and be a valid part of a git ref.
pub fn slugify(name: &str) -> anyhow::Result<String> {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-').to_string();
    let problems = slug_problems(&slug);
    if problems.is_empty() {
        Ok(slug)
    } else {
        Err(exit::usage(format!(
            "invalid short name {name:?}: its slug {slug:?} {}; choose another name, e.g. NAME=fix-release-gate",
            problems.join("; ")
        )))
    }
}

/// What makes a slug unusable in a git ref, each as a phrase after "its slug
/// \"…\""; empty when it is valid.
fn slug_problems(slug: &str) -> Vec<String> {
    if slug.is_empty() {
        return vec!["is empty: the name needs at least one letter or digit".to_string()];
    }
    let mut problems = Vec::new();
    if !slug.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        problems.push("must start with a letter or digit".to_string());
    }
    if slug.contains("..") {
        problems.push("contains '..' (git refuses it in a branch name)".to_string());
    }
    if slug.ends_with(".lock") {
        problems.push("ends with '.lock' (git refuses it in a branch name)".to_string());
    } else if slug.ends_with('.') {
        problems.push("ends with '.' (git refuses it in a branch name)".to_string());
    }
    if slug.len() > 64 {
        problems.push(format!("is {} characters long (at most 64)", slug.len()));
    }
    problems
}

/// The branch for a task: the template with `{NNN}` and `{slug}` filled in.
pub fn branch_name(task: &Task, id: &str, slug: &str) -> String {
    task.branch_template
        .replace("{NNN}", number(task, id))
        .replace("{slug}", slug)
}

/// The template as people read it: `task-NNN-short-name`.
pub fn branch_pattern(task: &Task) -> String {
    task.branch_template
        .replace("{NNN}", &"N".repeat(task.id_digits))
        .replace("{slug}", "short-name")
}

/// An example branch name for messages.
pub fn branch_example(task: &Task) -> String {
    let n = format!("{:0width$}", 110, width = task.id_digits);
    task.branch_template
        .replace("{NNN}", &n)
        .replace("{slug}", "workflow-guards")
}

/// The task id of a branch that matches the template, else `None`.
pub fn task_of_branch(task: &Task, branch: &str) -> Option<String> {
    let t = &task.branch_template;
    let (before_n, after_n) = t.split_once("{NNN}")?;
    let (between, after_slug) = after_n.split_once("{slug}")?;
    let rest = branch.strip_prefix(before_n)?;
    let digits_len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, rest) = rest.split_at(digits_len);
    if !digits_ok(task, digits) {
        return None;
    }
    let rest = rest.strip_prefix(between)?;
    let slug = rest.strip_suffix(after_slug)?;
    let slug_ok = slug
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    slug_ok.then(|| format!("{}{digits}", task.id_prefix))
}

/// Every task id named in `text` (word-bounded, case-insensitive prefix),
/// normalized, in order of appearance, without repeats.
pub fn ids_in_text(task: &Task, text: &str) -> Vec<String> {
    let prefix = task.id_prefix.to_ascii_lowercase();
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut ids = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&prefix) {
        let start = from + pos;
        from = start + prefix.len();
        let boundary_before =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let digits: String = lower[from..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let end = from + digits.len();
        let boundary_after =
            end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        if boundary_before && boundary_after && digits_ok(task, &digits) {
            let id = format!("{}{digits}", task.id_prefix);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// A line of a task ledger that names a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerLine {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub text: String,
}

impl LedgerLine {
    /// `file:line: "text"`, the text quoted and cut at 120 characters.
    pub fn shown(&self) -> String {
        let text: String = self.text.trim().chars().take(120).collect();
        format!("{}:{}: {text:?}", self.file, self.line)
    }
}

/// What the task ledgers say about one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InLedger {
    /// A task line that is not done (and none that is).
    Open(LedgerLine),
    /// A task line marked done.
    Done(LedgerLine),
    /// No task line; the lines that merely mention the id.
    Missing { mentions: Vec<LedgerLine> },
}

/// Judges task `id` from the ledger files' `(name, text)`, by the policy's
/// task-line and done patterns (pure).
pub fn judge_ledgers(
    task: &Task,
    id: &str,
    files: &[(String, String)],
) -> Result<InLedger, String> {
    let line_re = task.task_line_regex(&task.any_id_pattern())?;
    let done_re = task.done_regex()?;
    let (mut open, mut done, mut mentions) = (None, None, Vec::new());
    for (file, text) in files {
        for (i, line) in text.lines().enumerate() {
            let at = || LedgerLine {
                file: file.clone(),
                line: i + 1,
                text: line.to_string(),
            };
            let is_task_line = line_re.captures(line).is_some_and(|c| {
                c.name("id")
                    .and_then(|m| normalize_id(task, m.as_str()).ok())
                    .is_some_and(|found| found == id)
            });
            if is_task_line && done_re.is_match(line) {
                done.get_or_insert_with(at);
            } else if is_task_line {
                open.get_or_insert_with(at);
            } else if ids_in_text(task, line).iter().any(|i| i == id) {
                mentions.push(at());
            }
        }
    }
    Ok(match (done, open) {
        (Some(line), _) => InLedger::Done(line),
        (None, Some(line)) => InLedger::Open(line),
        (None, None) => InLedger::Missing { mentions },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(template: &str) -> Task {
        Task {
            branch_template: template.to_string(),
            ..Task::default()
        }
    }

    #[test]
    fn ids_are_normalized() {
        let t = Task::default();
        for input in ["TASK-123", "task-123", "123", " 123 ", "Task-0123"] {
            let id = normalize_id(&t, input).unwrap();
            assert!(id == "TASK-123" || id == "TASK-0123", "{input} -> {id}");
        }
        for bad in [
            "12",
            "TASK-12",
            "TASK-12a",
            "abc",
            "",
            "TASK-",
            "--upload-pack=x",
            "1;2",
            "1\n23",
        ] {
            assert!(normalize_id(&t, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn too_few_digits_are_refused_with_the_padded_id() {
        let t = Task::default();
        for (input, expected) in [
            ("12", "; for TASK-012, write 012"),
            ("TASK-7", "; for TASK-007, write 007"),
        ] {
            let err = normalize_id(&t, input).unwrap_err().to_string();
            assert!(err.ends_with(expected), "{input}: {err}");
        }
        let err = normalize_id(&t, "12a").unwrap_err().to_string();
        assert!(!err.contains("write"), "{err}");
    }

    #[test]
    fn slugs_are_safe_ref_components() {
        assert_eq!(
            slugify("Fix the Release Gate!").unwrap(),
            "fix-the-release-gate"
        );
        assert!(slugify("  a__b..c ").is_err());
        assert_eq!(slugify("v1.2_fix").unwrap(), "v1.2_fix");
        for bad in [
            "",
            "---",
            "../x",
            ".hidden",
            "_x",
            "a..b",
            "x.lock",
            "trailing.",
            "\n",
            ";",
        ] {
            assert!(slugify(bad).is_err(), "{bad:?}");
        }
        assert_eq!(slugify("--upload-pack=evil").unwrap(), "upload-pack-evil");
        assert_eq!(slugify(&"a".repeat(64)).unwrap(), "a".repeat(64));
        assert!(slugify(&"a".repeat(65)).is_err());
        assert_eq!(slugify("a;rm -rf /").unwrap(), "a-rm--rf");
    }

    #[test]
    fn slug_errors_name_the_actual_problem() {
        fn check(name: &str, expected: &str) {
            let err = slugify(name).unwrap_err().to_string();
            assert!(err.contains(expected), "{name:?}: {err}");
            assert!(!err.contains("letters, digits, '.', '_' or '-'"), "{err}");
        }
        check("x..y", "its slug \"x..y\" contains '..'");
        check("x.lock", "its slug \"x.lock\" ends with '.lock'");
        check("trailing.", "its slug \"trailing.\" ends with '.'");
        check(
            ".hidden",
            "its slug \".hidden\" must start with a letter or digit",
        );
        check("_x", "must start with a letter or digit");
        check("---", "its slug \"\" is empty");
        check(";", "is empty");
        check(&"a".repeat(65), "is 65 characters long (at most 64)");
        check(
            "_a..b.",
            "must start with a letter or digit; contains '..' (git refuses it in a branch name); ends with '.' (",
        );
        let err = slugify("x.lock").unwrap_err().to_string();
        assert!(!err.contains("ends with '.' ("), "{err}");
    }

    #[test]
    fn branches_follow_the_template() {
        let t = Task::default();
        assert_eq!(
            branch_name(&t, "TASK-117", "short-name"),
            "task-117-short-name"
        );
        assert_eq!(
            task_of_branch(&t, "task-117-short-name").as_deref(),
            Some("TASK-117")
        );
        assert_eq!(
            task_of_branch(&t, "task-1170-x").as_deref(),
            Some("TASK-1170")
        );
        for bad in [
            "main",
            "task-17-x",
            "task-117-",
            "task-117-Upper",
            "task-117",
            "feature/task-117-x",
            "task-117-.x",
        ] {
            assert_eq!(task_of_branch(&t, bad), None, "{bad}");
        }
        let codex = policy("codex/task-{NNN}-{slug}");
        assert_eq!(
            task_of_branch(&codex, "codex/task-110-workflow-guards").as_deref(),
            Some("TASK-110")
        );
        assert_eq!(task_of_branch(&codex, "task-110-workflow-guards"), None);
        assert_eq!(branch_pattern(&codex), "codex/task-NNN-short-name");
        assert_eq!(branch_example(&t), "task-110-workflow-guards");
    }

    #[test]
    fn ids_are_found_word_bounded() {
        let t = Task::default();
        assert_eq!(
            ids_in_text(&t, "TASK-101: fix; see task-102 and TASK-101"),
            vec!["TASK-101", "TASK-102"]
        );
        assert!(ids_in_text(&t, "XTASK-101 TASK-10 TASK-101a").is_empty());
    }
}

#[cfg(test)]
mod ledger_tests {
    use super::*;

    fn judge(text: &str, id: &str) -> InLedger {
        let files = [("tasks/BACKLOG.md".to_string(), text.to_string())];
        judge_ledgers(&Task::default(), id, &files).unwrap()
    }

    #[test]
    fn only_a_task_line_that_is_not_done_makes_an_id_valid() {
        let backlog = "# Backlog\n\nNext available task IDs start at `TASK-371`.\n\n### TASK-117: fix the gate\nFollows TASK-100 (done).\n- `TASK-289` planned in the sprint\n- TASK-100: old work ✅\n- [x] TASK-101 ticked\n- ~~TASK-102~~ dropped\n1. TASK-103 numbered\n";
        assert!(matches!(judge(backlog, "TASK-117"), InLedger::Open(l) if l.line == 5));
        assert!(matches!(judge(backlog, "TASK-289"), InLedger::Open(_)));
        assert!(matches!(judge(backlog, "TASK-103"), InLedger::Open(_)));
        match judge(backlog, "TASK-371") {
            InLedger::Missing { mentions } => {
                assert_eq!(mentions.len(), 1);
                assert_eq!(
                    mentions[0].shown(),
                    "tasks/BACKLOG.md:3: \"Next available task IDs start at `TASK-371`.\""
                );
            }
            other => panic!("{other:?}"),
        }
        for done in ["TASK-100", "TASK-101", "TASK-102"] {
            assert!(matches!(judge(backlog, done), InLedger::Done(_)), "{done}");
        }
        assert!(
            matches!(judge(backlog, "TASK-999"), InLedger::Missing { mentions } if mentions.is_empty())
        );
    }

    #[test]
    fn the_policy_patterns_decide() {
        let task = Task {
            ledger_task_line: Some("^## {ID} ".into()),
            ledger_done: Some("\\[DONE\\]".into()),
            ..Task::default()
        };
        let files = [(
            "L.md".to_string(),
            "## TASK-001 a\n## TASK-002 b [DONE]\n- TASK-003 c\n".to_string(),
        )];
        let j = |id| judge_ledgers(&task, id, &files).unwrap();
        assert!(matches!(j("TASK-001"), InLedger::Open(_)));
        assert!(matches!(j("TASK-002"), InLedger::Done(_)));
        assert!(matches!(j("TASK-003"), InLedger::Missing { .. }));
        // Groups of the pattern's own do not move the id (Horadus's backlog
        // blocks and completed lines).
        let task = Task {
            ledger_task_line: Some("^(### |- ){ID}:".into()),
            ..Task::default()
        };
        let files = [(
            "tasks/BACKLOG.md".to_string(),
            "### TASK-363: open
- TASK-208: closed ✅
Next available task IDs start at `TASK-371`
"
            .to_string(),
        )];
        let j = |id| judge_ledgers(&task, id, &files).unwrap();
        assert!(matches!(j("TASK-363"), InLedger::Open(_)));
        assert!(matches!(j("TASK-208"), InLedger::Done(_)));
        assert!(matches!(j("TASK-371"), InLedger::Missing { .. }));
    }

    #[test]
    fn exact_digits_refuse_longer_ids() {
        let task = Task {
            id_digits_exact: true,
            ..Task::default()
        };
        assert!(normalize_id(&task, "117").is_ok());
        let err = normalize_id(&task, "1170").unwrap_err().to_string();
        assert!(err.contains("exactly 3 digits"), "{err}");
        assert_eq!(task_of_branch(&task, "task-1170-x"), None);
        assert_eq!(
            ids_in_text(&task, "TASK-1170 and TASK-117"),
            vec!["TASK-117"]
        );
        assert!(normalize_id(&Task::default(), "1170").is_ok());
    }
}
