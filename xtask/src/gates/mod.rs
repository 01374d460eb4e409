//! The gates: the step runner behind `check`, `test` and `audit-eval`,
//! `release-gate` and the gate record it leaves on a commit, the alembic
//! migration gate, and docs-freshness.

pub mod docs_freshness;
pub mod migration;
pub mod record;
pub mod release_gate;
pub mod runner;
