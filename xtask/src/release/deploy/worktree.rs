//! The clean checkouts deploy and rollback run their steps in, and the
//! reclaiming of those a killed run left behind.
//!
//! Every checkout lives in one known directory,
//! `<git common dir>/xtask/deploy-worktrees/<run>`, next to a marker
//! `<run>.json` naming the run's pid and host. A run removes its own
//! checkout and marker when it ends, however it ends, except SIGKILL; the
//! next deploy or rollback on the same host finds markers whose pid is gone,
//! stops the processes the dead run's steps left running (found by the run
//! id in their environment, `XTASK_DEPLOY_RUN`, through /proc), removes the
//! checkout, runs `git worktree prune`, and says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xshell::Shell;

use super::lock;
use crate::plumbing::process::{self, Sink, Spec};
use crate::plumbing::{exit, git};

/// The environment variable naming the run to its steps (and to whatever
/// they leave running).
pub(super) const RUN_VAR: &str = "XTASK_DEPLOY_RUN";

#[derive(Serialize, Deserialize)]
struct Marker {
    pid: u32,
    host: String,
    environment: String,
    sha: String,
    path: PathBuf,
}

/// A detached checkout of one revision, removed with its marker when dropped
/// (also when a step failed or the tool was interrupted).
pub(super) struct Worktree {
    root: PathBuf,
    pub(super) path: PathBuf,
    marker: PathBuf,
    /// The run's id, also its directory's name.
    pub(super) run: String,
}

/// The directory of every deployment checkout.
fn home(sh: &Shell, root: &Path) -> anyhow::Result<PathBuf> {
    Ok(lock::common_dir(sh, root)?
        .join("xtask")
        .join("deploy-worktrees"))
}

impl Worktree {
    pub(super) fn add(sh: &Shell, root: &Path, env: &str, sha: &str) -> anyhow::Result<Worktree> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let run = format!(
            "{env}-{}-{}-{nanos}",
            &sha[..sha.len().min(12)],
            std::process::id()
        );
        let dir = home(sh, root)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| exit::usage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(&run);
        let marker = dir.join(format!("{run}.json"));
        let text = serde_json::to_string(&Marker {
            pid: std::process::id(),
            host: lock::hostname(),
            environment: env.to_string(),
            sha: sha.to_string(),
            path: path.clone(),
        })?;
        std::fs::write(&marker, text)
            .map_err(|e| exit::usage(format!("cannot write {}: {e}", marker.display())))?;
        let tree = Worktree {
            root: root.to_path_buf(),
            path,
            marker,
            run,
        };
        // Hooks of the user's repository have no business in a deployment checkout.
        let at = tree.path.to_string_lossy().into_owned();
        let args = [
            "-c",
            "core.hooksPath=/dev/null",
            "worktree",
            "add",
            "--quiet",
            "--detach",
            &at,
            sha,
        ];
        git::run(sh, &args).map_err(|e| {
            exit::failed(format!(
                "cannot check out {sha} into a clean worktree at {at}: {e:#}"
            ))
        })?;
        Ok(tree)
    }
}

fn remove(sh: &Shell, path: &Path) {
    let at = path.to_string_lossy();
    let removed =
        git::answer(sh, &["worktree", "remove", "--force", "--force", &at]).is_ok_and(|a| a.ok());
    if !removed {
        let _ = std::fs::remove_dir_all(path);
        let _ = git::answer(sh, &["worktree", "prune"]);
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if let Ok(sh) = git::shell(&self.root) {
            remove(&sh, &self.path);
        }
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// The pids of this host's processes whose environment carries `run`'s id.
fn processes_of(run: &str) -> Vec<u32> {
    let needle = format!("{RUN_VAR}={run}");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .filter(|pid| lock::alive(*pid))
        .collect()
}

/// Sends `signal` to `pids` with kill(1) (argv, no shell).
fn signal(pids: &[u32], signal: &str) {
    let mut argv = vec!["kill".to_string(), format!("-{signal}")];
    argv.extend(pids.iter().map(u32::to_string));
    let _ = process::run(
        &Spec {
            argv: &argv,
            cwd: Path::new("/"),
            env: Vec::new(),
            timeout: Duration::from_secs(10),
        },
        Sink::Capture,
    );
}

/// Stops what a dead run left running: SIGTERM, then SIGKILL after 5 s.
/// The pids it stopped.
fn stop_leftovers(run: &str) -> Vec<u32> {
    let pids = processes_of(run);
    if pids.is_empty() {
        return pids;
    }
    signal(&pids, "TERM");
    let until = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| lock::alive(*p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|p| lock::alive(*p)).collect();
    if !left.is_empty() {
        signal(&left, "KILL");
    }
    pids
}

/// Reclaims the checkouts of dead runs on this host: what each one was,
/// for the report. Runs on other hosts (a shared disk) and live runs are
/// left alone.
pub(super) fn reclaim(sh: &Shell, root: &Path) -> anyhow::Result<Vec<String>> {
    let dir = home(sh, root)?;
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let here = lock::hostname();
    let mut notes = Vec::new();
    for entry in listing.flatten() {
        let marker_path = entry.path();
        if marker_path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&marker_path) else {
            continue;
        };
        let Ok(marker) = serde_json::from_str::<Marker>(&text) else {
            continue;
        };
        if marker.host != here || lock::alive(marker.pid) {
            continue;
        }
        let run = marker_path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let stopped = stop_leftovers(&run);
        remove(sh, &marker.path);
        let _ = std::fs::remove_file(&marker_path);
        let stopped = if stopped.is_empty() {
            "no process of it was left running".to_string()
        } else {
            format!(
                "stopped what its steps left running (pid {})",
                stopped
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        notes.push(format!(
            "reclaimed the worktree of a killed {} run (pid {}, {}) at {}; {stopped}",
            marker.environment,
            marker.pid,
            marker.sha,
            marker.path.display()
        ));
    }
    if !notes.is_empty() {
        git::run(sh, &["worktree", "prune"])?;
    }
    Ok(notes)
}
