//! Adopting the tool in an existing repository: `init` drafts the policy
//! from what the repository already has (docs/ADOPTING.md is the guide).

pub mod init;
