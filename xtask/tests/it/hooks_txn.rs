//! `hooks` install and uninstall under concurrency and under failure: the
//! user's own hooks survive byte for byte, whatever happens.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use crate::support::{write_exec, Repo};

/// Every entry of a directory: bytes (of files) and mode.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let bytes = if meta.is_file() {
            std::fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        files.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            (bytes, meta.permissions().mode()),
        );
    }
    files
}

const USER_HOOK: &str = "#!/bin/sh\n# the team's own pre-commit hook\nexit 0\n";

#[test]
fn concurrent_installs_and_uninstalls_never_lose_the_users_hook() {
    let repo = Repo::new("hooks-race");
    let hooks = repo.root.join(".git/hooks");
    let user = hooks.join("pre-commit");
    write_exec(&user, USER_HOOK);
    let before = snapshot(&hooks);
    const ROUNDS: usize = 25;
    const AT_ONCE: usize = 4;
    for round in 0..ROUNDS {
        // Half install, half uninstall, all started before any is waited for.
        let children: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let args: &[&str] = if (round + i) % 2 == 0 {
                    &["hooks"]
                } else {
                    &["hooks", "--uninstall"]
                };
                let mut run = repo.xtask(args);
                run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                (args, run.cmd.spawn().expect("the xtask binary runs"))
            })
            .collect();
        for (args, child) in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: xtask {args:?} exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Installed or not, the user's hook is intact in one of its two places.
        let kept = hooks.join("pre-commit.local");
        let (at, other) = if kept.exists() {
            (kept.clone(), Some(std::fs::read_to_string(&user).unwrap()))
        } else {
            (user.clone(), None)
        };
        assert_eq!(
            std::fs::read(&at).unwrap(),
            USER_HOOK.as_bytes(),
            "round {round}: the user's hook at {} changed",
            at.display()
        );
        if let Some(ours) = other {
            assert!(
                ours.contains("# xtask-managed hook"),
                "round {round}: {ours}"
            );
        }
        let leftovers: Vec<String> = snapshot(&hooks)
            .into_keys()
            .filter(|n| n.contains("xtask-"))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: left {leftovers:?}");
    }
    repo.xtask(&["hooks", "--uninstall"]).run().code(0);
    assert_eq!(snapshot(&hooks), before, "the hooks are not as they were");
}

#[test]
fn a_failure_half_way_through_install_restores_every_hook() {
    let repo = Repo::new("hooks-fail");
    let hooks = repo.root.join(".git/hooks");
    write_exec(&hooks.join("pre-commit"), USER_HOOK);
    write_exec(
        &hooks.join("commit-msg"),
        "#!/bin/sh\n# the team's own commit-msg hook\nexit 0\n",
    );
    // pre-push is written last; a directory where its temporary file must go
    // fails that step after pre-commit and commit-msg were replaced.
    std::fs::create_dir_all(hooks.join("pre-push.xtask-tmp/inside")).unwrap();
    let before = snapshot(&hooks);
    let done = repo.xtask(&["hooks"]).run();
    done.code(2)
        .stderr_has("cannot write")
        .stderr_has("pre-push")
        .stderr_has("every change was undone: the hooks are as they were");
    assert_eq!(
        done.stderr.trim().lines().count(),
        1,
        "not one line:{}",
        done.dump()
    );
    assert_eq!(
        snapshot(&hooks),
        before,
        "a failed install left the hooks changed"
    );

    // Uninstall fails half-way too: commit-msg's kept hook cannot come back
    // (a directory stands in its place), so pre-commit's, put back first, is
    // undone again.
    std::fs::remove_dir_all(hooks.join("pre-push.xtask-tmp")).unwrap();
    repo.xtask(&["hooks"]).run().code(0);
    let installed = snapshot(&hooks);
    std::fs::remove_file(hooks.join("commit-msg.local")).unwrap();
    std::fs::create_dir_all(hooks.join("commit-msg.local")).unwrap();
    let mid = snapshot(&hooks);
    let done = repo.xtask(&["hooks", "--uninstall"]).run();
    done.code(2).stderr_has("commit-msg");
    assert_eq!(
        snapshot(&hooks),
        mid,
        "a failed uninstall changed the hooks"
    );
    assert_ne!(mid, installed);
}
