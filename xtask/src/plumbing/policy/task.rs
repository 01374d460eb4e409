//! `[task]`: task ids and the branch-name template.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Task {
    /// Task ids are `<id-prefix><digits>`.
    #[serde(default = "default_id_prefix")]
    pub id_prefix: String,
    /// The fewest digits a task id has (exactly this many with `id-digits-exact`).
    #[serde(default = "default_id_digits")]
    pub id_digits: usize,
    /// Task ids have exactly `id-digits` digits, not at least that many.
    #[serde(default)]
    pub id_digits_exact: bool,
    /// The commit-msg hook also requires the branch's task id in every
    /// commit message (it always refuses another task's id).
    #[serde(default)]
    pub require_id_in_commit_message: bool,
    /// Task branch names; `{NNN}` is the task number, `{slug}` the short name.
    #[serde(default = "default_branch_template")]
    pub branch_template: String,
    /// The task ledger file or files (relative to the root) in which a task
    /// must have a task line that is not done before `task-start` creates
    /// its branch; none: no such check.
    #[serde(default)]
    pub ledger: Option<Ledger>,
    /// What a task line of a ledger is: a regular expression in which `{ID}`
    /// stands for a task id. Unset: [`DEFAULT_TASK_LINE`].
    #[serde(default)]
    pub ledger_task_line: Option<String>,
    /// What marks a task line done: a regular expression. Unset: [`DEFAULT_DONE`].
    #[serde(default)]
    pub ledger_done: Option<String>,
    /// pr-scope also checks the PR title against this regular expression, in
    /// which `{ID}` stands for the branch's task id (e.g. `^{ID}: `). Unset:
    /// titles are not checked.
    #[serde(default)]
    pub pr_title: Option<String>,
}

/// One ledger file or several: `ledger = "tasks/BACKLOG.md"` or
/// `ledger = ["tasks/BACKLOG.md", "tasks/CURRENT_SPRINT.md"]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Ledger {
    One(String),
    Many(Vec<String>),
}

impl Ledger {
    pub fn files(&self) -> Vec<&str> {
        match self {
            Ledger::One(f) => vec![f.as_str()],
            Ledger::Many(fs) => fs.iter().map(String::as_str).collect(),
        }
    }
}

/// A task line, unless the policy says otherwise: the id leads the line,
/// after at most a markdown heading, bullet, checkbox or list number and
/// emphasis (`### TASK-117: …`, ``- `TASK-117` …``, `- [ ] TASK-117 …`).
/// Prose that mentions an id (`next ids start at TASK-371`) is no task line.
pub const DEFAULT_TASK_LINE: &str =
    r"^\s*(?:#{1,6}\s+|[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+)?[`*_~]*{ID}\b";

/// Done, unless the policy says otherwise: a check mark, a ticked box or a
/// struck-through line.
pub const DEFAULT_DONE: &str = r"✅|✔|\[[xX]\]|~~";

impl Task {
    /// The policy's task-line pattern, `{ID}` standing for `id_pattern`.
    pub fn task_line_regex(&self, id_pattern: &str) -> Result<regex_lite::Regex, String> {
        let raw = self
            .ledger_task_line
            .as_deref()
            .unwrap_or(DEFAULT_TASK_LINE);
        // A named group: the pattern's own groups (`^(### |- ){ID}:`) do not
        // move it.
        regex_lite::Regex::new(&raw.replace("{ID}", &format!("(?P<id>{id_pattern})")))
            .map_err(|e| format!("task.ledger-task-line {raw:?} is not a regular expression: {e}"))
    }

    /// The policy's done pattern.
    pub fn done_regex(&self) -> Result<regex_lite::Regex, String> {
        let raw = self.ledger_done.as_deref().unwrap_or(DEFAULT_DONE);
        regex_lite::Regex::new(raw)
            .map_err(|e| format!("task.ledger-done {raw:?} is not a regular expression: {e}"))
    }

    /// The pattern of any task id (case-insensitive prefix, the policy's digits).
    pub fn any_id_pattern(&self) -> String {
        let max = if self.id_digits_exact {
            self.id_digits
        } else {
            9
        };
        format!(
            "(?i:{})[0-9]{{{},{max}}}",
            regex_lite::escape(&self.id_prefix),
            self.id_digits
        )
    }

    /// The PR title rule for task `id` (`None`: titles are not checked).
    pub fn pr_title_regex(&self, id: &str) -> Option<Result<regex_lite::Regex, String>> {
        let raw = self.pr_title.as_deref()?;
        Some(
            regex_lite::Regex::new(&raw.replace("{ID}", &regex_lite::escape(id)))
                .map_err(|e| format!("task.pr-title {raw:?} is not a regular expression: {e}")),
        )
    }
}

impl Default for Task {
    fn default() -> Task {
        Task {
            id_prefix: default_id_prefix(),
            id_digits: default_id_digits(),
            id_digits_exact: false,
            require_id_in_commit_message: false,
            branch_template: default_branch_template(),
            ledger: None,
            ledger_task_line: None,
            ledger_done: None,
            pr_title: None,
        }
    }
}

fn default_id_prefix() -> String {
    "TASK-".to_string()
}
fn default_id_digits() -> usize {
    3
}
fn default_branch_template() -> String {
    "task-{NNN}-{slug}".to_string()
}

/// What git's `check-ref-format` refuses in a branch name (`refs/heads/<name>`),
/// and a leading `-` (git would read it as an option); empty when `name`
/// is a valid branch name. Pure: no process runs at policy load.
pub fn ref_name_problems(name: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if name.is_empty() {
        return vec!["is empty"];
    }
    if name.starts_with('-') {
        problems.push("starts with '-' (git reads it as an option)");
    }
    if name == "@" {
        problems.push("is '@'");
    }
    if name.chars().any(|c| c.is_ascii_control() || c == ' ') {
        problems.push("contains a space or a control character");
    }
    if name.chars().any(|c| "~^:?*[\\".contains(c)) {
        problems.push("contains one of ~ ^ : ? * [ \\");
    }
    if name.contains("..") {
        problems.push("contains '..'");
    }
    if name.contains("@{") {
        problems.push("contains '@{'");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        problems.push("has an empty path component (a leading, trailing or double '/')");
    }
    if name.ends_with('.') {
        problems.push("ends with '.'");
    }
    if name
        .split('/')
        .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        problems.push("has a component starting with '.' or ending with '.lock'");
    }
    problems
}

/// What is wrong with the `[task]` templates: the id prefix, and the branch
/// names the template makes from sample numbers and short names (each must be
/// a valid branch name, not an option, and read back as its task). One line
/// per problem, naming the key.
pub fn template_problems(task: &Task) -> Vec<String> {
    let mut problems = Vec::new();
    problems.extend(ledger_problems(task));
    let prefix = &task.id_prefix;
    let prefix_ok = prefix.len() <= 32
        && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !prefix_ok {
        problems.push(format!(
            "task.id-prefix {prefix:?} must start with a letter and hold only letters, digits, '-' and '_' (at most 32), e.g. \"TASK-\""
        ));
    }
    let t = &task.branch_template;
    if !t.contains("{NNN}") || !t.contains("{slug}") {
        problems.push(format!(
            "task.branch-template {t:?} must contain {{NNN}} and {{slug}}"
        ));
        return problems;
    }
    if t.matches("{NNN}").count() > 1 || t.matches("{slug}").count() > 1 {
        problems.push(format!(
            "task.branch-template {t:?} must contain {{NNN}} and {{slug}} once each"
        ));
        return problems;
    }
    let digits = task.id_digits.clamp(1, 9);
    let numbers = ["0".repeat(digits), "9".repeat(9)];
    let slugs = ["a", "short-name", "v1.2_fix", "9lives"];
    for n in &numbers {
        for slug in slugs {
            let name = t.replace("{NNN}", n).replace("{slug}", slug);
            let bad = ref_name_problems(&name);
            if !bad.is_empty() {
                problems.push(format!(
                    "task.branch-template {t:?} makes branch names git refuses: {name:?} {}",
                    bad.join("; ")
                ));
                return problems;
            }
        }
    }
    problems
}

/// What is wrong with the ledger keys: files outside the repository, an
/// empty list, patterns that do not compile or lack `{ID}`.
fn ledger_problems(task: &Task) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(ledger) = &task.ledger {
        let files = ledger.files();
        if files.is_empty() {
            problems.push("task.ledger: name at least one file, or leave it unset".to_string());
        }
        for f in files {
            let p = std::path::Path::new(f);
            let inside = !f.trim().is_empty()
                && !f.starts_with('-')
                && p.is_relative()
                && p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                problems.push(format!(
                    "task.ledger {f:?} must be a relative path inside the repository"
                ));
            }
        }
    }
    if let Some(line) = &task.ledger_task_line {
        if !line.contains("{ID}") {
            problems.push(format!(
                "task.ledger-task-line {line:?} must contain {{ID}} where the task id stands"
            ));
        }
    }
    let id = task.any_id_pattern();
    problems.extend(task.task_line_regex(&id).err());
    problems.extend(task.done_regex().err());
    if let Some(Err(e)) = task.pr_title_regex("TASK-001") {
        problems.push(e);
    }
    problems
}
