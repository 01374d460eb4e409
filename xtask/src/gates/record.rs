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
    /// Whether the gates ran in a clean temporary worktree of the commit
    /// (`release-gate --isolated`), so that no local file (gitignored or
    /// untracked) could make them pass. Records written before the flag
    /// existed were not isolated.
    #[serde(default)]
    pub isolated: bool,
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

/// Whether the release steps may take `record` as the gate of its commit
/// under `[release] require-isolated-gate`: `Err` says why not and how to get
/// a record that counts. Pure: release-tag and deploy call it with the record
/// they found and the policy's switch, and refuse (exit 1) on `Err`.
pub fn admit_isolation(record: &GateRecord, require_isolated: bool) -> Result<(), String> {
    if !require_isolated || record.isolated {
        return Ok(());
    }
    let short = record.sha.get(..12).unwrap_or(&record.sha);
    Err(format!(
        "the gate record of {short} (finished {}) was not made in an isolated worktree, and [release] require-isolated-gate = true: rerun `cargo xtask release-gate --isolated` on {short}",
        record.finished_at
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(isolated: bool) -> GateRecord {
        GateRecord {
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            tree: "t".into(),
            status: "passed".into(),
            started_at: "2026-12-01T10:00:00Z".into(),
            finished_at: "2026-12-01T10:01:00Z".into(),
            steps: Vec::new(),
            bypasses: Vec::new(),
            database: None,
            tool: "xtask 0".into(),
            isolated,
        }
    }

    #[test]
    fn only_an_isolated_record_counts_when_the_policy_requires_one() {
        assert_eq!(admit_isolation(&record(false), false), Ok(()));
        assert_eq!(admit_isolation(&record(true), false), Ok(()));
        assert_eq!(admit_isolation(&record(true), true), Ok(()));
        let why = admit_isolation(&record(false), true).unwrap_err();
        assert!(
            why.contains("0123456789ab") && why.contains("release-gate --isolated"),
            "{why}"
        );
        assert!(why.contains("require-isolated-gate = true"), "{why}");
    }

    #[test]
    fn records_from_before_the_flag_read_as_not_isolated() {
        let mut value = serde_json::to_value(record(true)).unwrap();
        value.as_object_mut().unwrap().remove("isolated");
        let old: GateRecord = serde_json::from_value(value).unwrap();
        assert!(!old.isolated);
    }
}
