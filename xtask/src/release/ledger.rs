//! The deployment ledger: an append-only record of deployments,
//! verifications and rollbacks, keyed by commit SHA, kept as git notes
//! under `refs/notes/deployments` (one JSON line per entry), next to the
//! gate record. Entries are only ever appended, never rewritten.

use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::plumbing::{exit, git};

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
    let Some(text) = git::note(sh, NOTES_REF, sha)? else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                exit::failed(format!(
                    "a deployment ledger entry on {sha} is not valid: {e}"
                ))
            })
        })
        .collect()
}

/// Every entry of the ledger, on every commit, sorted by time (then SHA).
pub fn all_entries(sh: &Shell) -> anyhow::Result<Vec<Entry>> {
    let notes_ref = format!("refs/notes/{NOTES_REF}");
    let exists = cmd!(sh, "git rev-parse --verify --quiet {notes_ref}")
        .quiet()
        .ignore_status()
        .output()?
        .status
        .success();
    if !exists {
        return Ok(Vec::new());
    }
    let list = cmd!(sh, "git notes --ref={NOTES_REF} list")
        .quiet()
        .read()?;
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
    let line = crate::plumbing::redact::redact(&serde_json::to_string(entry)?);
    git::append_note(sh, NOTES_REF, &entry.sha, &line)
}

/// The operator as git knows them (`git var GIT_AUTHOR_IDENT`, which honours
/// `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL` and the configuration), for the record.
pub fn operator(sh: &Shell) -> String {
    let ident = cmd!(sh, "git var GIT_AUTHOR_IDENT")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();
    // `Name <email> 1700000000 +0000`: keep what is before the timestamp.
    if let Some(end) = ident.rfind('>') {
        return ident[..=end].trim().to_string();
    }
    let name = cmd!(sh, "git config user.name")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();
    let email = cmd!(sh, "git config user.email")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();
    match (name.trim(), email.trim()) {
        ("", "") => std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        (n, "") => n.to_string(),
        (n, e) => format!("{n} <{e}>"),
    }
}

/// Now, as the ledger writes times: RFC 3339 in UTC with a fixed nine-digit
/// fraction, so that sorting the text sorts by time even within one second.
pub fn now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// Whether `remote` is configured in the repository.
pub fn has_remote(sh: &Shell, remote: &str) -> bool {
    cmd!(sh, "git remote get-url {remote}")
        .quiet()
        .ignore_status()
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Fetches `refs/notes/<name>` from `remote` and merges it into the local
/// notes without rewriting anything: a fast-forward when the local ref does
/// not exist, else `git notes merge -s cat_sort_uniq` (the union of the lines
/// of both sides). Returns false when the remote has no such notes yet.
pub fn fetch_notes(sh: &Shell, remote: &str, name: &str) -> anyhow::Result<bool> {
    let local = format!("refs/notes/{name}");
    let listed = cmd!(sh, "git ls-remote --refs {remote} {local}")
        .quiet()
        .ignore_status()
        .output()?;
    if !listed.status.success() {
        return Err(exit::usage(format!(
            "cannot reach the remote {remote:?} to fetch {local}: {}\nThe ledger and the gate records are shared through it; fix the remote (git remote -v) and rerun",
            String::from_utf8_lossy(&listed.stderr).trim()
        )));
    }
    if String::from_utf8_lossy(&listed.stdout).trim().is_empty() {
        return Ok(false);
    }
    // The same tracking ref release-tag uses.
    let tracking = format!("refs/notes/xtask-remote/{name}");
    let refspec = format!("+{local}:{tracking}");
    cmd!(sh, "git fetch --quiet --no-tags {remote} {refspec}")
        .quiet()
        .run()
        .map_err(|e| exit::usage(format!("cannot fetch {local} from {remote}: {e}")))?;
    let has_local = cmd!(sh, "git rev-parse --verify --quiet {local}")
        .quiet()
        .ignore_status()
        .output()?
        .status
        .success();
    if !has_local {
        let fetched = cmd!(sh, "git rev-parse --verify {tracking}")
            .quiet()
            .read()?;
        cmd!(sh, "git update-ref {local} {fetched}").quiet().run()?;
        return Ok(true);
    }
    let mut merge = cmd!(
        sh,
        "git notes --ref={name} merge --quiet -s cat_sort_uniq {tracking}"
    )
    .quiet();
    if !git::has_identity(sh)? {
        merge = git::with_fallback_identity(merge);
    }
    merge.run().map_err(|e| {
        exit::failed(format!(
            "cannot merge the remote {local} into the local one: {e}"
        ))
    })?;
    Ok(true)
}

/// Pushes `refs/notes/<name>` to `remote`. When the remote moved on, fetches
/// and merges its entries first (never a forced push), then pushes again.
pub fn push_notes(sh: &Shell, remote: &str, name: &str) -> anyhow::Result<()> {
    let refspec = format!("refs/notes/{name}:refs/notes/{name}");
    for attempt in 0..3 {
        let out = cmd!(sh, "git push --quiet {remote} {refspec}")
            .quiet()
            .ignore_status()
            .output()?;
        if out.status.success() {
            return Ok(());
        }
        if attempt == 2 {
            return Err(exit::failed(format!(
                "cannot push refs/notes/{name} to {remote}: {}\nThe entries are recorded locally; push them with: git push {remote} {refspec}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        fetch_notes(sh, remote, name)?;
    }
    Ok(())
}
