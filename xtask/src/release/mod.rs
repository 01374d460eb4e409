//! The release side: release versions and tags, release notes, the
//! deployment ledger, deploy / verify-deploy / rollback, env-parity.

pub mod deploy;
pub mod env_parity;
pub mod ledger;
pub mod notes;
pub mod tag;
pub mod version;
