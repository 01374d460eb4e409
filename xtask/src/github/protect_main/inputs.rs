//! What protect-main reads before any request: the branch name, the
//! policy's desired state, and the repository's workflow files.

use crate::plumbing::policy::Github;
use crate::plumbing::{exit, Ctx};

use super::plan::MAX_REVIEWS;
/// A branch name as given: it becomes part of a URL, so only git's safe
/// ref characters, and nothing git itself would refuse.
pub(super) fn validate_branch(branch: &str, whence: &str) -> anyhow::Result<()> {
    let ok = !branch.is_empty()
        && branch.len() <= 255
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && !branch.starts_with(['-', '/', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.ends_with(".lock")
        && !branch.contains("..")
        && !branch.contains("//")
        && !branch.contains("/.");
    if ok {
        Ok(())
    } else {
        Err(exit::usage(format!(
            "{whence} {branch:?} is not a branch name this command accepts (letters, digits, `.`, `_`, `-`, `/`; no `..`, no leading `-`): e.g. --branch main"
        )))
    }
}

/// The policy's desired state, checked before anything happens.
pub(super) fn validate_policy(ctx: &Ctx, g: &Github) -> anyhow::Result<()> {
    let file = ctx.policy.path.display();
    let mut problems = Vec::new();
    if g.required_checks.is_empty() {
        let whence = if ctx.policy.from_file {
            format!("{file}")
        } else {
            format!("{file} (absent: built-in defaults)")
        };
        return Err(exit::usage(format!(
            "{whence}: [github] required-checks is empty: protect-main needs the status checks that must pass before merging, e.g. required-checks = [\"check\", \"test\"] (job names from .github/workflows; see docs/POLICY.md, `github.required-checks`)"
        )));
    }
    for name in &g.required_checks {
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            problems.push(format!("{file}: [github] required-checks has {name:?}: a check name is a job name, without surrounding spaces"));
        }
    }
    if g.required_approving_review_count > MAX_REVIEWS {
        problems.push(format!(
            "{file}: [github] required-approving-review-count = {} but GitHub accepts 0 to {MAX_REVIEWS}",
            g.required_approving_review_count
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(exit::usage(problems.join("\n")))
    }
}

/// `.github/workflows/*.yml` and `*.yaml`, sorted, as (relative path, text).
pub(super) fn read_workflows(root: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let dir = root.join(".github/workflows");
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => {
            return Err(exit::usage(format!(
                "{}: cannot list the workflows: {e}",
                dir.display()
            )))
        }
    };
    for entry in entries {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if !is_yaml || !path.is_file() {
            continue;
        }
        let rel = format!(
            ".github/workflows/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push((rel, text)),
                Err(_) => {
                    return Err(exit::usage(format!(
                        "{rel} is not UTF-8 text, so neither GitHub nor protect-main can read it"
                    )))
                }
            },
            Err(e) => return Err(exit::usage(format!("{rel}: cannot read it: {e}"))),
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::workflow;

    #[test]
    fn branch_names_are_validated_before_use() {
        for ok in ["main", "release/1.x", "trunk_2"] {
            validate_branch(ok, "--branch").unwrap();
        }
        for bad in [
            "", "-x", "a..b", "a b", "a/", "/a", "a//b", "x.lock", "a?b", "a%2F", ".hidden",
            "a/.b", "main\n",
        ] {
            assert!(validate_branch(bad, "--branch").is_err(), "{bad:?}");
        }
    }

    /// Step 1 passes on this repository's own workflows and policy.
    #[test]
    fn this_repository_produces_its_own_required_checks() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let policy = crate::plumbing::policy::load(&root.join("xtask.toml"))
            .unwrap()
            .policy;
        assert!(
            !policy.github.required_checks.is_empty(),
            "xtask.toml [github] lists no required checks"
        );
        let files = read_workflows(&root).unwrap();
        let findings = workflow::check_required(
            &files,
            &policy.git.main_branch,
            &policy.github.required_checks,
        );
        assert!(findings.missing.is_empty(), "{:#?}", findings.missing);
        assert!(findings.unreadable.is_empty(), "{:#?}", findings.unreadable);
        assert_eq!(findings.produced.len(), policy.github.required_checks.len());
    }
}
