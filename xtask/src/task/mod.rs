//! The task workflow: task ids and branch names, the preflight, starting
//! and finishing a task, the branch guard and the git hooks that run it,
//! and the PR scope check (the CI Workflow Guard).

pub mod finish;
pub mod guard;
pub mod hooks;
pub mod id;
pub mod merged;
pub mod pr_scope;
pub mod preflight;
pub mod start;
