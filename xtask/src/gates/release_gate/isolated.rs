//! `release-gate --isolated`: the gates run in a clean temporary worktree
//! of HEAD, so a file that is not in the commit (gitignored, untracked,
//! modified) cannot make them pass. Build caches are shared so it is not a
//! cold build: cargo's target directory and uv's cache.

use std::path::{Path, PathBuf};

use crate::gates::runner::Plan;
use crate::plumbing::{exit, git, policy, Ctx};

/// A detached worktree of HEAD in a temporary directory, removed (and
/// pruned from `git worktree list`) when dropped, however the run ends.
pub struct Worktree {
    /// The repository the worktree belongs to.
    repo: PathBuf,
    pub path: PathBuf,
}

impl Worktree {
    pub fn of_head(repo: &Path) -> anyhow::Result<Worktree> {
        let sh = git::shell(repo)?;
        let sha = git::head_sha(&sh)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("xtask-release-gate-{}-{nanos}", std::process::id()));
        let shown = path.to_string_lossy().into_owned();
        git::answer(
            &sh,
            &["worktree", "add", "--quiet", "--detach", &shown, &sha],
        )?
        .checked()
        .map_err(|e| {
            exit::usage(format!(
                "release-gate --isolated cannot make a worktree of HEAD: {e:#}"
            ))
        })?;
        Ok(Worktree {
            repo: repo.to_path_buf(),
            path,
        })
    }

    /// `ctx` moved into the worktree: its root, and the policy the commit
    /// holds (a policy named with `--policy` stays, and then no record is
    /// written, as without `--isolated`).
    pub fn ctx(&self, ctx: &Ctx) -> anyhow::Result<Ctx> {
        let committed = ctx.policy.from_file
            && ctx.policy.path.canonicalize().ok()
                == self.repo.join("xtask.toml").canonicalize().ok();
        let policy = if committed {
            policy::load(&self.path.join("xtask.toml"))?
        } else {
            policy::load(&ctx.policy.path)?
        };
        Ok(Ctx {
            root: self.path.clone(),
            policy,
            format: ctx.format,
            cli: ctx.cli,
        })
    }

    /// The caches the steps share with the repository: cargo's target
    /// directory (CARGO_TARGET_DIR as set, else the repository's `target`)
    /// and uv's cache (UV_CACHE_DIR as set, else the repository's
    /// `.uv-cache` when there is one; uv's per-user cache is shared anyway).
    pub fn cache_env(&self) -> Vec<(String, String)> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.repo.join("target"));
        let mut env = vec![(
            "CARGO_TARGET_DIR".to_string(),
            target.to_string_lossy().into_owned(),
        )];
        let uv = std::env::var_os("UV_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| Some(self.repo.join(".uv-cache")).filter(|p| p.is_dir()));
        if let Some(uv) = uv {
            env.push((
                "UV_CACHE_DIR".to_string(),
                uv.to_string_lossy().into_owned(),
            ));
        }
        env
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if let Ok(sh) = git::shell(&self.repo) {
            let shown = self.path.to_string_lossy().into_owned();
            let _ = git::answer(&sh, &["worktree", "remove", "--force", &shown]);
            let _ = git::answer(&sh, &["worktree", "prune"]);
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Adds the shared caches to every step, unless the step's own policy
/// environment sets the variable.
pub fn share_caches(plan: &mut Plan, caches: &[(String, String)]) {
    for p in &mut plan.steps {
        for (k, v) in caches {
            if !p.step.env.contains_key(k) {
                p.hidden_env.push((k.clone(), v.clone()));
            }
        }
    }
}
