//! The gate record: one JSON line per release-gate run on a clean tree,
//! kept in `refs/notes/release-gate` on the commit it gated. The release
//! steps (release-notes, release-tag, deploy) read it to prove "the same
//! commit SHA through every promotion step".

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::gates::runner::Status;
use crate::plumbing::env::Bypass;
use crate::plumbing::{exit, git};

pub const NOTES_REF: &str = "release-gate";

/// The record written against a commit when release-gate ran on a clean tree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GateRecord {
    pub sha: String,
    pub tree: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub steps: Vec<RecordStep>,
    pub bypasses: Vec<Bypass>,
    pub database: Option<String>,
    pub tool: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordStep {
    pub gate: String,
    pub name: String,
    pub status: Status,
    pub duration_ms: u64,
}

impl GateRecord {
    pub fn passed(&self) -> bool {
        self.status == "passed"
    }
}

/// Every gate record on `sha`, oldest first.
pub fn records(sh: &xshell::Shell, sha: &str) -> anyhow::Result<Vec<GateRecord>> {
    let Some(text) = git::note(sh, NOTES_REF, sha)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: GateRecord = serde_json::from_str(line)
            .map_err(|e| exit::failed(format!("the gate record on {sha} is not valid: {e}")))?;
        out.push(record);
    }
    Ok(out)
}

/// The latest gate record on `sha`, if any: what release steps consult.
/// Chosen by time, not by line order: merging notes from the remote
/// (`git notes merge -s cat_sort_uniq`) may sort the lines of a note that
/// both sides extended.
pub fn latest_record(sh: &xshell::Shell, sha: &str) -> anyhow::Result<Option<GateRecord>> {
    Ok(latest_by_time(records(sh, sha)?))
}

pub(crate) fn latest_by_time(records: Vec<GateRecord>) -> Option<GateRecord> {
    let when = |r: &GateRecord| OffsetDateTime::parse(&r.finished_at, &Rfc3339).ok();
    // max_by_key keeps the last of equal keys: a tie goes to the later line.
    records.into_iter().max_by_key(when)
}
