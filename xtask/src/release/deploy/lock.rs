//! The environment lock of deploy and rollback: one run at a time per
//! environment, on this machine and, through the remote, on every machine
//! that shares it.
//!
//! Two locks, taken in this order and released in reverse:
//! - local: `<git common dir>/xtask/locks/<env>.json`, created atomically
//!   (written aside, then hard-linked into place, which fails if it exists);
//! - remote (when the policy's remote exists): the ref
//!   `refs/xtask/locks/<env>` on it, a commit whose message is the holder,
//!   created with `git push --force-with-lease=<ref>:` (only if absent) and
//!   deleted with a lease on our own commit, so a run never removes a lock
//!   it does not hold.
//!
//! Both name the holder (who, host, pid, since when, which SHA). A holder
//! on this host whose pid is gone is stale and taken over; a holder on
//! another host is taken over only with `--break-lock`, and only once it is
//! older than the environment's deploy deadline. [`judge`] decides, purely.
//! The lock is released when the run ends, however it ends, except SIGKILL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::plumbing::{exit, git, output};
use crate::release::ledger;

/// Who holds an environment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Holder {
    pub(super) environment: String,
    /// `deploy` or `rollback`.
    pub(super) command: String,
    pub(super) operator: String,
    pub(super) host: String,
    pub(super) pid: u32,
    /// RFC 3339, UTC (the ledger's format).
    pub(super) since: String,
    pub(super) sha: String,
}

impl Holder {
    pub(super) fn describe(&self) -> String {
        format!(
            "{} of {} by {} on host {} (pid {}) since {}",
            self.command, self.sha, self.operator, self.host, self.pid, self.since
        )
    }
}

/// What to do about a lock someone holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Its holder is gone: take it over, saying so.
    Stale(String),
    /// A foreign holder older than the deadline, broken with `--break-lock`.
    Break(String),
    /// Leave it: the run refuses with this message.
    Refuse(String),
}

/// The facts [`judge`] decides on, gathered by the caller.
pub(super) struct Facts {
    pub(super) here: String,
    /// Whether the holder's pid runs here (asked only for a holder on this host).
    pub(super) alive: bool,
    /// How long the lock has been held (None: its time cannot be read).
    pub(super) age: Option<Duration>,
    /// The environment's deploy deadline: its steps' timeouts plus its verification deadline.
    pub(super) deadline: Duration,
    pub(super) break_lock: bool,
}

/// The verdict on `holder`, pure.
pub(super) fn judge(holder: &Holder, f: &Facts) -> Verdict {
    let who = holder.describe();
    let env = &holder.environment;
    if holder.host == f.here {
        return if f.alive {
            Verdict::Refuse(format!(
                "{env} is being deployed: {who}; wait for it to finish (this run changed nothing)"
            ))
        } else {
            Verdict::Stale(format!(
                "took over a stale lock of {env}: {who}; pid {} is gone",
                holder.pid
            ))
        };
    }
    let deadline = output::duration(f.deadline);
    match f.age {
        Some(age) if age > f.deadline && f.break_lock => Verdict::Break(format!(
            "broke the lock of {env} with --break-lock: {who}, held longer than the deploy deadline ({deadline})"
        )),
        Some(age) if age > f.deadline => Verdict::Refuse(format!(
            "{env} is locked from another host: {who}. It is older than the deploy deadline ({deadline}); if that run is gone, take the lock over with --break-lock (recorded in the ledger)"
        )),
        _ => Verdict::Refuse(format!(
            "{env} is being deployed from another host: {who}; wait for it to finish (a lock younger than the deploy deadline, {deadline}, cannot be broken)"
        )),
    }
}

/// A held lock; dropping it releases both sides.
pub(super) struct Lock {
    root: PathBuf,
    file: PathBuf,
    remote: Option<(String, String)>,
    /// What taking it said (a stale lock taken over, a lock broken).
    pub(super) notes: Vec<String>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let (Some((remote, oid)), Ok(sh)) = (&self.remote, git::shell(&self.root)) {
            let name = self.file.file_stem().unwrap_or_default().to_string_lossy();
            let ref_name = format!("refs/xtask/locks/{name}");
            let lease = format!("--force-with-lease={ref_name}:{oid}");
            let gone = format!(":{ref_name}");
            let released = git::answer(&sh, &["push", "--quiet", &lease, remote, &gone]);
            if !released.as_ref().is_ok_and(git::Answer::ok) {
                output::warning(&format!(
                    "could not release {ref_name} on {remote}; remove it with: git push {remote} {gone}"
                ));
            }
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// This machine's name, as locks record it.
pub(super) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether `pid` runs on this machine (a zombie does not). Where /proc is
/// missing, a pid is taken as alive: a lock is never taken over on a guess.
pub(super) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

fn age_of(since: &str) -> Option<Duration> {
    let since =
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).ok()?;
    let age = time::OffsetDateTime::now_utc() - since;
    age.try_into().ok()
}

/// The git common directory (shared by every worktree of the repository).
pub(super) fn common_dir(sh: &Shell, root: &Path) -> anyhow::Result<PathBuf> {
    let dir = git::read(sh, &["rev-parse", "--git-common-dir"])?;
    Ok(root.join(dir))
}

/// Takes the lock of `holder.environment` or refuses (exit 1) naming its holder.
pub(super) fn acquire(
    sh: &Shell,
    root: &Path,
    remote: Option<&str>,
    holder: &Holder,
    deadline: Duration,
    break_lock: bool,
) -> anyhow::Result<Lock> {
    let dir = common_dir(sh, root)?.join("xtask").join("locks");
    std::fs::create_dir_all(&dir)
        .map_err(|e| exit::usage(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join(format!("{}.json", holder.environment));
    let facts = |h: &Holder| Facts {
        here: holder.host.clone(),
        alive: h.host == holder.host && alive(h.pid),
        age: age_of(&h.since),
        deadline,
        break_lock,
    };
    let mut notes = Vec::new();
    take_local(&file, holder, &facts, &mut notes)?;
    let mut lock = Lock {
        root: root.to_path_buf(),
        file,
        remote: None,
        notes,
    };
    if let Some(remote) = remote {
        let oid = take_remote(sh, remote, holder, &facts, &mut lock.notes)?;
        lock.remote = Some((remote.to_string(), oid));
    }
    Ok(lock)
}

fn take_local(
    file: &Path,
    holder: &Holder,
    facts: &dyn Fn(&Holder) -> Facts,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let text = serde_json::to_string(holder)?;
    let aside = file.with_extension(format!("{}.tmp", holder.pid));
    std::fs::write(&aside, &text)
        .map_err(|e| exit::usage(format!("cannot write {}: {e}", aside.display())))?;
    let result = (|| {
        for _ in 0..3 {
            match std::fs::hard_link(&aside, file) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(exit::usage(format!(
                        "cannot create {}: {e}",
                        file.display()
                    )))
                }
            }
            let Ok(found) = std::fs::read_to_string(file) else {
                continue; // released meanwhile
            };
            let Ok(other) = serde_json::from_str::<Holder>(&found) else {
                return Err(exit::failed(format!(
                    "{} is locked by {}, which cannot be read; if no deploy runs, remove it",
                    holder.environment,
                    file.display()
                )));
            };
            match judge(&other, &facts(&other)) {
                Verdict::Refuse(why) => return Err(exit::failed(why)),
                Verdict::Stale(note) | Verdict::Break(note) => {
                    // Removed only if it still holds what was judged.
                    if std::fs::read_to_string(file).is_ok_and(|now| now == found) {
                        let _ = std::fs::remove_file(file);
                    }
                    notes.push(note);
                }
            }
        }
        Err(exit::failed(format!(
            "{} is being locked and unlocked by other runs; retry",
            holder.environment
        )))
    })();
    let _ = std::fs::remove_file(&aside);
    result
}

/// The commit that holds `holder` on the remote.
fn holder_commit(sh: &Shell, holder: &Holder) -> anyhow::Result<String> {
    let tree = git::answer_with(sh, &["mktree"], Some(""))?.checked()?;
    let tree = tree.stdout.trim();
    let message = serde_json::to_string(holder)?;
    let mut args = if git::has_identity(sh)? {
        Vec::new()
    } else {
        vec!["-c", "user.name=xtask", "-c", "user.email=xtask@localhost"]
    };
    args.extend(["commit-tree", tree, "-m", &message]);
    git::read(sh, &args)
}

/// The remote lock's commit and holder, if it exists.
fn remote_holder(
    sh: &Shell,
    remote: &str,
    ref_name: &str,
) -> anyhow::Result<Option<(String, Holder)>> {
    let listed = git::read(sh, &["ls-remote", remote, ref_name])?;
    let Some(oid) = listed.split_whitespace().next() else {
        return Ok(None);
    };
    let seen = ref_name.replace("refs/xtask/locks/", "refs/xtask/remote-locks/");
    let refspec = format!("+{ref_name}:{seen}");
    if !git::answer(sh, &["fetch", "--quiet", "--no-tags", remote, &refspec])?.ok() {
        return Ok(None); // released meanwhile
    }
    let text = git::read(sh, &["log", "-1", "--format=%B", oid])?;
    let holder = serde_json::from_str(text.trim()).map_err(|_| {
        exit::failed(format!(
            "{ref_name} on {remote} holds no lock this tool wrote; if no deploy runs, remove it with: git push {remote} :{ref_name}"
        ))
    })?;
    Ok(Some((oid.to_string(), holder)))
}

fn take_remote(
    sh: &Shell,
    remote: &str,
    holder: &Holder,
    facts: &dyn Fn(&Holder) -> Facts,
    notes: &mut Vec<String>,
) -> anyhow::Result<String> {
    let ref_name = format!("refs/xtask/locks/{}", holder.environment);
    let ours = holder_commit(sh, holder)?;
    let mut expect = String::new();
    for _ in 0..3 {
        let lease = format!("--force-with-lease={ref_name}:{expect}");
        let refspec = format!("{ours}:{ref_name}");
        let pushed = git::answer(sh, &["push", "--quiet", &lease, remote, &refspec])?;
        if pushed.ok() {
            return Ok(ours);
        }
        let Some((oid, other)) = remote_holder(sh, remote, &ref_name)? else {
            if expect.is_empty() {
                // Not held, yet refused: the remote will not take the ref.
                return Err(exit::failed(format!(
                    "cannot take the lock {ref_name} on {remote}: {}",
                    pushed.words()
                )));
            }
            expect.clear();
            continue;
        };
        match judge(&other, &facts(&other)) {
            Verdict::Refuse(why) => return Err(exit::failed(why)),
            Verdict::Stale(note) | Verdict::Break(note) => {
                if !notes.contains(&note) {
                    notes.push(note);
                }
                expect = oid;
            }
        }
    }
    Err(exit::failed(format!(
        "{} is being locked and unlocked by other runs on {remote}; retry",
        holder.environment
    )))
}

/// A holder for this run.
pub(super) fn holder(sh: &Shell, environment: &str, command: &str, sha: &str) -> Holder {
    Holder {
        environment: environment.to_string(),
        command: command.to_string(),
        operator: ledger::operator(sh),
        host: hostname(),
        pid: std::process::id(),
        since: ledger::now(),
        sha: sha.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str) -> Holder {
        Holder {
            environment: "staging".into(),
            command: "deploy".into(),
            operator: "Ann <ann@example.com>".into(),
            host: host.into(),
            pid: 4242,
            since: "2026-01-01T10:00:00.000000000Z".into(),
            sha: "abc123".into(),
        }
    }

    fn check(h: &Holder, alive: bool, age_s: u64, break_lock: bool, expected: &str) {
        let f = Facts {
            here: "here".into(),
            alive,
            age: Some(Duration::from_secs(age_s)),
            deadline: Duration::from_secs(600),
            break_lock,
        };
        let got = format!("{:?}", judge(h, &f));
        assert!(got.contains(expected), "{got} lacks {expected}");
    }

    #[test]
    fn a_lock_is_taken_over_only_when_its_holder_is_gone_or_broken_explicitly() {
        let local = holder("here");
        check(&local, true, 5, false, "Refuse(\"staging is being deployed: deploy of abc123 by Ann <ann@example.com> on host here (pid 4242) since 2026-01-01T10:00:00.000000000Z");
        check(&local, true, 9999, true, "Refuse");
        check(
            &local,
            false,
            5,
            false,
            "Stale(\"took over a stale lock of staging",
        );
        let foreign = holder("there");
        check(&foreign, false, 5, true, "cannot be broken");
        check(
            &foreign,
            false,
            9999,
            false,
            "take the lock over with --break-lock",
        );
        check(
            &foreign,
            false,
            9999,
            true,
            "Break(\"broke the lock of staging with --break-lock",
        );
        let unreadable = Facts {
            here: "here".into(),
            alive: false,
            age: None,
            deadline: Duration::from_secs(1),
            break_lock: true,
        };
        assert!(matches!(judge(&foreign, &unreadable), Verdict::Refuse(_)));
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    /// What the lock adds to a run: taking and releasing it, local only and
    /// with a remote (a bare repository on the same disk). A measurement:
    /// `scripts/bench/ledger.sh` runs it (`--ignored --nocapture`).
    #[test]
    #[ignore]
    fn bench_lock_take_and_release() {
        let rounds: u32 = std::env::var("BENCH_LOCKS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(20);
        let (dir, sh) = crate::release::ledger::tests::scratch_repo("bench-lock");
        let origin = dir.join("origin.git");
        let at = origin.to_string_lossy().into_owned();
        git::run(&sh, &["init", "--quiet", "--bare", &at]).unwrap();
        git::run(&sh, &["remote", "add", "origin", &at]).unwrap();
        println!("| lock | rounds | mean per take + release |");
        println!("|---|---|---|");
        for remote in [None, Some("origin")] {
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                let h = super::holder(&sh, "staging", "deploy", "abc");
                let lock = acquire(&sh, &dir, remote, &h, Duration::from_secs(60), false).unwrap();
                drop(lock);
            }
            let mean = start.elapsed() / rounds;
            println!(
                "| {} | {rounds} | {:.1} ms |",
                if remote.is_some() {
                    "local file + remote ref"
                } else {
                    "local file only"
                },
                mean.as_secs_f64() * 1000.0
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
