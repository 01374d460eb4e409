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
