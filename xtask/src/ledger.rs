//! The deployment ledger: an append-only record of deployments,
//! verifications and rollbacks, keyed by commit SHA, kept as git notes
//! under `refs/notes/deployments` (one JSON line per entry), next to the
//! gate record. Entries are only ever appended, never rewritten.

use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::{exit, git};

pub const NOTES_REF: &str = "deployments";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Deploy,
    Verify,
    Rollback,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The commit deployed (also the note's object).
    pub sha: String,
    /// `staging`, `prod`, … (the policy's environment names).
    pub environment: String,
    pub action: Action,
    /// `passed` or `failed`.
    pub result: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// `Name <email>` of the git user who ran it.
    pub operator: String,
    /// The release tag, when the SHA had one.
    pub tag: Option<String>,
    /// Rollbacks: why, and the SHA rolled back from.
    pub reason: Option<String>,
    pub from_sha: Option<String>,
    /// Free-form detail (the failed check, the command that failed).
    pub detail: Option<String>,
}

impl Entry {
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }
}

/// The entries recorded on `sha`, oldest first.
pub fn entries(sh: &Shell, sha: &str) -> anyhow::Result<Vec<Entry>> {
    let Some(text) = git::note(sh, NOTES_REF, sha)? else { return Ok(Vec::new()) };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| exit::failed(format!("a deployment ledger entry on {sha} is not valid: {e}")))
        })
        .collect()
}

/// Every entry of the ledger, on every commit, sorted by time (then SHA).
pub fn all_entries(sh: &Shell) -> anyhow::Result<Vec<Entry>> {
    let notes_ref = format!("refs/notes/{NOTES_REF}");
    let exists = cmd!(sh, "git rev-parse --verify --quiet {notes_ref}").quiet().ignore_status().output()?.status.success();
    if !exists {
        return Ok(Vec::new());
    }
    let list = cmd!(sh, "git notes --ref={NOTES_REF} list").quiet().read()?;
    let mut all = Vec::new();
    for line in list.lines() {
        if let Some((_, sha)) = line.split_once(' ') {
            all.extend(entries(sh, sha.trim())?);
        }
    }
    all.sort_by(|a, b| (a.time.as_str(), a.sha.as_str()).cmp(&(b.time.as_str(), b.sha.as_str())));
    Ok(all)
}

/// Appends `entry` to the note of its SHA.
pub fn append(sh: &Shell, entry: &Entry) -> anyhow::Result<()> {
    let line = crate::redact::redact(&serde_json::to_string(entry)?);
    git::append_note(sh, NOTES_REF, &entry.sha, &line)
}

/// The operator as git knows them, for the record.
pub fn operator(sh: &Shell) -> String {
    let name = cmd!(sh, "git config user.name").quiet().ignore_status().read().unwrap_or_default();
    let email = cmd!(sh, "git config user.email").quiet().ignore_status().read().unwrap_or_default();
    match (name.trim(), email.trim()) {
        ("", "") => std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        (n, "") => n.to_string(),
        (n, e) => format!("{n} <{e}>"),
    }
}
