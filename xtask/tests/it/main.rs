//! All integration tests in one binary (one link, shared helpers): each
//! module runs the real xtask against real git repositories.

mod fake_github;
mod support;

mod bounded;
mod deploy;
mod docs_freshness;
mod gates;
mod github_identity;
mod guards;
mod hooks_txn;
mod hostile_gates;
mod hostile_github;
mod hostile_release;
mod hostile_task;
mod init;
mod merged;
mod migration;
mod pr_scope;
mod protect_main;
mod release;
mod secrets;
mod signals;
mod task_finish;
mod task_start;
mod workflows;
