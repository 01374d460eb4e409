//! The deployment ledger: an append-only record of deployments,
//! verifications and rollbacks, keyed by commit SHA, kept as git notes
//! under `refs/notes/deployments` (one JSON line per entry), next to the
//! gate record. Entries are only ever appended, never rewritten.

use serde::{Deserialize, Serialize};
use xshell::Shell;

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

/// The result of a deploy or rollback entry written before its first step;
/// its outcome (`passed` or `failed`) is a later entry of the same action.
pub const STARTED: &str = "started";

impl Entry {
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }

    /// A deploy or rollback that began; its outcome is another entry.
    pub fn started(&self) -> bool {
        self.result == STARTED
    }
}

/// The deploy or rollback of `env` that started and never recorded an
/// outcome (the run was killed or its machine lost), when that is the last
/// thing the ledger says about what runs in `env`: what runs there is then
/// unknown, never verified. `entries` in time order (as [`all_entries`]).
/// For every command that reports an environment's state (deploy,
/// verify-deploy, release-notes).
pub fn unfinished_rollout<'a>(entries: &'a [Entry], env: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .rev()
        .find(|e| e.environment == env && matches!(e.action, Action::Deploy | Action::Rollback))
        .filter(|e| e.started())
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
    if git::read_if_ok(sh, &["rev-parse", "--verify", "--quiet", &notes_ref])?.is_none() {
        return Ok(Vec::new());
    }
    let notes = format!("--ref={NOTES_REF}");
    let list = git::read(sh, &["notes", &notes, "list"])?;
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
    let ask = |args: &[&str]| {
        git::read_if_ok(sh, args)
            .ok()
            .flatten()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let ident = ask(&["var", "GIT_AUTHOR_IDENT"]);
    // `Name <email> 1700000000 +0000`: keep what is before the timestamp.
    if let Some(end) = ident.rfind('>') {
        return ident[..=end].trim().to_string();
    }
    let name = ask(&["config", "user.name"]);
    let email = ask(&["config", "user.email"]);
    match (name.as_str(), email.as_str()) {
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
    git::answer(sh, &["remote", "get-url", remote]).is_ok_and(|a| a.ok())
}

/// How many times a notes ref is moved (compare-and-swap) or pushed before
/// giving up when other writers keep moving it.
const ATTEMPTS: u32 = 8;

/// Waits before attempt `attempt + 1`: 20 ms doubling, with a per-process
/// jitter so that racing writers do not retry in lockstep.
fn backoff(attempt: u32) {
    let jitter = u64::from(std::process::id() % 17);
    let ms = (20u64 << attempt.min(6)) + jitter * (u64::from(attempt) + 1);
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// `-c` options that give git a stand-in identity when it has none (CI
/// machines often have none), for the notes commits this program writes.
fn identity_args(sh: &Shell) -> anyhow::Result<Vec<&'static str>> {
    Ok(if git::has_identity(sh)? {
        Vec::new()
    } else {
        vec!["-c", "user.name=xtask", "-c", "user.email=xtask@localhost"]
    })
}

/// Fetches `refs/notes/<name>` from `remote` and merges it into the local
/// notes without losing an entry of either side (see [`merge_notes`]).
/// Returns false when the remote has no such notes yet.
pub fn fetch_notes(sh: &Shell, remote: &str, name: &str) -> anyhow::Result<bool> {
    let local = format!("refs/notes/{name}");
    let listed = git::answer(sh, &["ls-remote", "--refs", remote, &local])?;
    if !listed.ok() {
        return Err(exit::usage(format!(
            "cannot reach the remote {remote:?} to fetch {local}: {}\nThe ledger and the gate records are shared through it; fix the remote (git remote -v) and rerun",
            listed.words()
        )));
    }
    if listed.stdout.trim().is_empty() {
        return Ok(false);
    }
    // The same tracking ref release-tag uses.
    let tracking = format!("refs/notes/xtask-remote/{name}");
    let refspec = format!("+{local}:{tracking}");
    git::run(sh, &["fetch", "--quiet", "--no-tags", remote, &refspec])
        .map_err(|e| exit::usage(format!("cannot fetch {local} from {remote}: {e:#}")))?;
    let fetched = git::read(sh, &["rev-parse", "--verify", &tracking])?;
    merge_notes(sh, name, &fetched)?;
    Ok(true)
}

/// Merges the notes commit `theirs` into `refs/notes/<name>` and moves the
/// ref with compare-and-swap (`git update-ref REF NEW OLD`), retrying when
/// another writer moved it meanwhile: a fast-forward when one side contains
/// the other, else the union of the lines of both (`cat_sort_uniq`), built
/// on a scratch ref so the real one only ever moves atomically.
pub fn merge_notes(sh: &Shell, name: &str, theirs: &str) -> anyhow::Result<()> {
    let local = format!("refs/notes/{name}");
    for attempt in 0..ATTEMPTS {
        let ours = git::read_if_ok(sh, &["rev-parse", "--verify", "--quiet", &local])?
            .map(|s| s.trim().to_string());
        let new = match &ours {
            None => theirs.to_string(),
            Some(ours) if ours == theirs => return Ok(()),
            Some(ours) if git::test(sh, &["merge-base", "--is-ancestor", theirs, ours])? => {
                return Ok(())
            }
            Some(ours) if git::test(sh, &["merge-base", "--is-ancestor", ours, theirs])? => {
                theirs.to_string()
            }
            Some(ours) => union(sh, name, ours, theirs)?,
        };
        let old = ours.as_deref().unwrap_or("");
        if git::answer(sh, &["update-ref", &local, &new, old])?.ok() {
            return Ok(());
        }
        backoff(attempt);
    }
    Err(exit::failed(format!(
        "cannot merge the remote {local} into the local one: it kept moving ({ATTEMPTS} attempts); rerun"
    )))
}

/// The notes commit holding the union of `ours` and `theirs`.
fn union(sh: &Shell, name: &str, ours: &str, theirs: &str) -> anyhow::Result<String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let scratch = format!("xtask-merge/{name}-{}-{nanos}", std::process::id());
    let scratch_ref = format!("refs/notes/{scratch}");
    git::run(sh, &["update-ref", &scratch_ref, ours, ""])?;
    let notes = format!("--ref={scratch}");
    let mut args = identity_args(sh)?;
    args.extend([
        "notes",
        &notes,
        "merge",
        "--quiet",
        "-s",
        "cat_sort_uniq",
        theirs,
    ]);
    let merged =
        git::run(sh, &args).and_then(|()| git::read(sh, &["rev-parse", "--verify", &scratch_ref]));
    let _ = git::answer(sh, &["update-ref", "-d", &scratch_ref]);
    merged.map_err(|e| {
        exit::failed(format!(
            "cannot merge the remote refs/notes/{name} into the local one: {e:#}"
        ))
    })
}

/// Pushes `refs/notes/<name>` to `remote`. When the remote moved on (another
/// operator pushed), fetches and merges its entries first (never a forced
/// push), then pushes again, a bounded number of times with backoff.
pub fn push_notes(sh: &Shell, remote: &str, name: &str) -> anyhow::Result<()> {
    let refspec = format!("refs/notes/{name}:refs/notes/{name}");
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let pushed = git::answer(sh, &["push", "--quiet", remote, &refspec])?;
        if pushed.ok() {
            return Ok(());
        }
        last = pushed.words().to_string();
        backoff(attempt);
        fetch_notes(sh, remote, name)?;
    }
    Err(exit::failed(format!(
        "cannot push refs/notes/{name} to {remote} ({ATTEMPTS} attempts): {last}\nThe entries are recorded locally; push them with: git push {remote} {refspec}"
    )))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn entry(action: Action, result: &str, time: &str) -> Entry {
        Entry {
            sha: "a".repeat(40),
            environment: "staging".into(),
            action,
            result: result.into(),
            time: time.into(),
            operator: "t".into(),
            tag: None,
            reason: None,
            from_sha: None,
            detail: None,
        }
    }

    #[test]
    fn a_rollout_that_only_started_leaves_its_environment_unknown() {
        let mut entries = vec![
            entry(Action::Deploy, STARTED, "1"),
            entry(Action::Deploy, "passed", "2"),
            entry(Action::Verify, "passed", "3"),
        ];
        assert!(unfinished_rollout(&entries, "staging").is_none());
        entries.push(entry(Action::Rollback, STARTED, "4"));
        // A verification after it proves nothing about what the rollback left.
        entries.push(entry(Action::Verify, "passed", "5"));
        assert_eq!(unfinished_rollout(&entries, "staging").unwrap().time, "4");
        assert!(unfinished_rollout(&entries, "prod").is_none());
        entries.push(entry(Action::Rollback, "failed", "6"));
        assert!(unfinished_rollout(&entries, "staging").is_none());
    }

    /// A repository in a temporary directory, isolated from the machine's
    /// git configuration, with one commit; removed by the caller.
    pub(crate) fn scratch_repo(label: &str) -> (std::path::PathBuf, Shell) {
        let dir =
            std::env::temp_dir().join(format!("xtask-{label}-{}-{}", std::process::id(), now()));
        std::fs::create_dir_all(&dir).unwrap();
        let sh = git::shell(&dir).unwrap();
        sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
        sh.set_var("GIT_CONFIG_GLOBAL", "/dev/null");
        sh.set_var("GIT_AUTHOR_NAME", "bench");
        sh.set_var("GIT_AUTHOR_EMAIL", "bench@example.com");
        sh.set_var("GIT_COMMITTER_NAME", "bench");
        sh.set_var("GIT_COMMITTER_EMAIL", "bench@example.com");
        git::run(&sh, &["init", "--quiet", "--initial-branch=main"]).unwrap();
        git::run(&sh, &["commit", "--quiet", "--allow-empty", "-m", "init"]).unwrap();
        (dir, sh)
    }

    /// Appends per second to both notes refs with 1 and 4 concurrent
    /// writers, every entry checked afterwards. A measurement, not a check:
    /// `scripts/bench/ledger.sh` runs it (`--ignored --nocapture`).
    #[test]
    #[ignore]
    fn bench_appends_per_second() {
        let per_writer: usize = std::env::var("BENCH_APPENDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(50);
        println!("| notes ref | writers | appended | refused (retries used up) | seconds | appends/s | entries kept |");
        println!("|---|---|---|---|---|---|---|");
        for notes_ref in [NOTES_REF, "release-gate"] {
            for writers in [1usize, 4] {
                let (dir, sh) = scratch_repo("bench-appends");
                let sha = git::read(&sh, &["rev-parse", "HEAD"]).unwrap();
                let start = std::time::Instant::now();
                let refused = std::sync::atomic::AtomicUsize::new(0);
                std::thread::scope(|scope| {
                    for w in 0..writers {
                        let (dir, sha, refused) = (&dir, &sha, &refused);
                        scope.spawn(move || {
                            let sh = git::shell(dir).unwrap();
                            sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
                            sh.set_var("GIT_CONFIG_GLOBAL", "/dev/null");
                            for i in 0..per_writer {
                                let line = format!("{{\"writer\":{w},\"n\":{i}}}");
                                if git::append_note(&sh, notes_ref, sha, &line).is_err() {
                                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                        });
                    }
                });
                let secs = start.elapsed().as_secs_f64();
                let refused = refused.into_inner();
                let written = writers * per_writer - refused;
                let kept = git::note(&sh, notes_ref, &sha)
                    .unwrap()
                    .unwrap_or_default()
                    .lines()
                    .count();
                println!(
                    "| refs/notes/{notes_ref} | {writers} | {written} | {refused} | {secs:.2} | {:.1} | {kept} |",
                    written as f64 / secs
                );
                // An append that gave up said so (an error); none was lost.
                assert_eq!(kept, written, "appends were lost");
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}
