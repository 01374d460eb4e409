//! GitHub: the REST client (through curl), `protect-main`, and the reader
//! of workflow files that proves each required check can appear.

pub mod client;
pub mod protect_main;
pub mod workflow;
