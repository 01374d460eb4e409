//! `[task]`: task ids and the branch-name template.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Task {
    /// Task ids are `<id-prefix><digits>`.
    #[serde(default = "default_id_prefix")]
    pub id_prefix: String,
    /// The fewest digits a task id has.
    #[serde(default = "default_id_digits")]
    pub id_digits: usize,
    /// The commit-msg hook also requires the branch's task id in every
    /// commit message (it always refuses another task's id).
    #[serde(default)]
    pub require_id_in_commit_message: bool,
    /// Task branch names; `{NNN}` is the task number, `{slug}` the short name.
    #[serde(default = "default_branch_template")]
    pub branch_template: String,
    /// The task ledger file (relative to the root) in which a task id must
    /// appear before `task-start` creates its branch; none: no such check.
    #[serde(default)]
    pub ledger: Option<String>,
}

impl Default for Task {
    fn default() -> Task {
        Task {
            id_prefix: default_id_prefix(),
            id_digits: default_id_digits(),
            require_id_in_commit_message: false,
            branch_template: default_branch_template(),
            ledger: None,
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
        // Reported by the caller; nothing to render.
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
