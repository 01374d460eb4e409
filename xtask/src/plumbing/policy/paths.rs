//! The policy's paths lead inside the repository, symlinks followed.
//!
//! Parsing already refuses the text of an escape (`..`, an absolute path);
//! this is the check against the file system at load: a path whose existing
//! part resolves (through any symlink) outside the anchor, the repository
//! root, is refused with its key path. The part that does not exist yet (a
//! ledger to be created) cannot lead anywhere and is accepted.

use std::path::{Component, Path, PathBuf};

use super::Policy;

/// Every path the policy names, with its key path for messages.
fn paths(policy: &Policy) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let steps = policy
        .prepare
        .iter()
        .map(|(name, steps)| (format!("prepare.{name}"), steps))
        .chain(
            policy
                .gates
                .iter()
                .map(|(name, gate)| (format!("gates.{name}.steps"), &gate.steps)),
        );
    for (what, steps) in steps {
        for (i, step) in steps.iter().enumerate() {
            if let Some(cwd) = &step.cwd {
                out.push((format!("{what}[{i}] ({}): cwd", step.name), cwd.as_str()));
            }
        }
    }
    out.push((
        "migration.directory".to_string(),
        policy.migration.directory.as_str(),
    ));
    out.push((
        "release.migrations-dir".to_string(),
        policy.release.migrations_dir.as_str(),
    ));
    if let Some(ledger) = &policy.task.ledger {
        for file in ledger.files() {
            out.push(("task.ledger".to_string(), file));
        }
    }
    if let Some(docs) = &policy.docs {
        out.push((
            "docs.overrides-file".to_string(),
            docs.overrides_file.as_str(),
        ));
    }
    out
}

/// The problems of the policy's paths under `anchor`, one line each.
pub fn check(policy: &Policy, anchor: &Path) -> Vec<String> {
    let Ok(anchor) = anchor.canonicalize() else {
        // No repository to compare with: the commands report that themselves.
        return Vec::new();
    };
    paths(policy)
        .into_iter()
        .filter_map(|(key, rel)| {
            resolve_inside(&anchor, rel)
                .err()
                .map(|why| format!("{key} {rel:?} {why}"))
        })
        .collect()
}

/// Follows `rel` from `anchor` (canonical) component by component, through
/// symlinks, while it exists; errs when it leaves `anchor`.
pub fn resolve_inside(anchor: &Path, rel: &str) -> Result<PathBuf, String> {
    let mut at = anchor.to_path_buf();
    for component in Path::new(rel).components() {
        let name = match component {
            Component::Normal(name) => name,
            Component::CurDir => continue,
            // The lexical check at parse time refuses these; stay closed.
            _ => return Err("must be a relative path inside the repository".to_string()),
        };
        let next = at.join(name);
        if std::fs::symlink_metadata(&next).is_err() {
            // Not there yet: nothing below it can point anywhere.
            return Ok(next);
        }
        at = next.canonicalize().map_err(|_| {
            format!(
                "goes through {}, a symlink to nothing: fix or remove it",
                next.display()
            )
        })?;
        if !at.starts_with(anchor) {
            return Err(format!(
                "resolves to {}, outside the repository {}: a symlink inside the repository leads out of it; use a path inside it",
                at.display(),
                anchor.display()
            ));
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new(label: &str) -> Dir {
            let p =
                std::env::temp_dir().join(format!("xtask-paths-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p.canonicalize().unwrap())
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn symlinks_are_followed_and_must_stay_inside() {
        let outside = Dir::new("outside");
        let repo = Dir::new("repo");
        let root = &repo.0;
        std::fs::create_dir_all(root.join("service/alembic")).unwrap();
        std::os::unix::fs::symlink(&outside.0, root.join("escape")).unwrap();
        std::os::unix::fs::symlink("service", root.join("alias")).unwrap();
        std::os::unix::fs::symlink(root.join("gone"), root.join("dangling")).unwrap();

        assert_eq!(
            resolve_inside(root, "service").unwrap(),
            root.join("service")
        );
        assert_eq!(
            resolve_inside(root, "alias/alembic").unwrap(),
            root.join("service/alembic")
        );
        assert_eq!(
            resolve_inside(root, "./not/yet/there.md").unwrap(),
            root.join("not")
        );
        let err = resolve_inside(root, "escape/sub").unwrap_err();
        assert!(err.contains("outside the repository"), "{err}");
        assert!(err.contains(&outside.0.display().to_string()), "{err}");
        let err = resolve_inside(root, "dangling").unwrap_err();
        assert!(err.contains("a symlink to nothing"), "{err}");
    }

    #[test]
    fn every_policy_path_is_checked_with_its_key() {
        let outside = Dir::new("outside2");
        let repo = Dir::new("repo2");
        std::os::unix::fs::symlink(&outside.0, repo.0.join("out")).unwrap();
        let text = "[task]\nledger = \"out/BACKLOG.md\"\n[migration]\ndirectory = \"out\"\n[gates.check]\nsteps = [{ name = \"s\", argv = [\"true\"], cwd = \"out\" }]\n[prepare]\ndeps = [{ name = \"d\", argv = [\"true\"], cwd = \"./out/x\" }]\n[docs]\nscope = [\"README.md\"]\noverrides-file = \"out/o.json\"\n";
        let policy = super::super::parse(text, Path::new("xtask.toml")).unwrap();
        let problems = check(&policy, &repo.0);
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(" \"").next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "prepare.deps[0] (d): cwd",
                "gates.check.steps[0] (s): cwd",
                "migration.directory",
                "task.ledger",
                "docs.overrides-file"
            ],
            "{problems:#?}"
        );
        let fine = "[migration]\ndirectory = \"service\"\n";
        let policy = super::super::parse(fine, Path::new("xtask.toml")).unwrap();
        assert!(check(&policy, &repo.0).is_empty());
    }
}
