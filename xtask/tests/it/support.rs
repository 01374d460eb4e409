//! Test plumbing shared by every integration test: temporary git
//! repositories isolated from the machine's git configuration, and a runner
//! for the real xtask binary that dumps everything when an assertion fails.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = temp_base().join(format!("xtask-it-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path.canonicalize().unwrap())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where the tests' directories go: `XTASK_TEST_TMPDIR` when set, else
/// `/dev/shm` when it is a tmpfs of at least 2 GiB, else the system's
/// temporary directory. The tests create and delete many thousands of small
/// files (git objects, refs, locks); on ext4 that is inode allocation and
/// journal work the kernel charges to every git process, and a tmpfs cut the
/// suite's CPU time by a tenth (docs/BENCHMARKS.md, test suite).
pub fn temp_base() -> &'static Path {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("XTASK_TEST_TMPDIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        if large_tmpfs(shm) && probe_writable(shm) {
            return shm.to_path_buf();
        }
        std::env::temp_dir()
    })
}

/// Whether `dir` is a tmpfs mount of at least 2 GiB (its `size=` in /proc/mounts).
fn large_tmpfs(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 4
            && Path::new(f[1]) == dir
            && f[2] == "tmpfs"
            && f[3].split(',').any(|o| {
                o.strip_prefix("size=")
                    .and_then(|k| k.strip_suffix('k'))
                    .and_then(|k| k.parse::<u64>().ok())
                    .is_some_and(|kib| kib >= 2 * 1024 * 1024)
            })
    })
}

fn probe_writable(dir: &Path) -> bool {
    let probe = dir.join(format!("xtask-it-probe-{}", std::process::id()));
    let ok = std::fs::create_dir_all(&probe).is_ok();
    let _ = std::fs::remove_dir_all(&probe);
    ok
}

/// The environment that isolates git from the machine: no global or system
/// configuration, a fixed identity and fixed dates.
pub fn git_env(home: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("HOME", home.as_os_str().to_owned()),
        (
            "GIT_CONFIG_GLOBAL",
            home.join(".gitconfig").into_os_string(),
        ),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_AUTHOR_NAME", "Test Author".into()),
        ("GIT_AUTHOR_EMAIL", "author@example.com".into()),
        ("GIT_COMMITTER_NAME", "Test Committer".into()),
        ("GIT_COMMITTER_EMAIL", "committer@example.com".into()),
        ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z".into()),
        ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z".into()),
        ("GIT_TERMINAL_PROMPT", "0".into()),
        // Hooks installed by `cargo xtask hooks` in a fixture repository run
        // this instead of the xtask, so that a test's own setup commits are
        // not judged; the hook tests (guards.rs) point it at the real binary.
        ("XTASK_BIN", "true".into()),
    ]
}

/// Environment variables of the runbook that must not leak from the
/// developer's shell into a test.
const SCRUBBED: &[&str] = &[
    "RELEASE_GATE_DATABASE_URL",
    "RELEASE_GATE_DATABASE_URL_FILE",
    "RELEASE_GATE_INCLUDE_EVAL",
    "MIGRATION_GATE_DATABASE_URL",
    "MIGRATION_GATE_DATABASE_URL_FILE",
    "MIGRATION_GATE_VALIDATE_AUTOGEN",
    "SKIP_BRANCH_GUARD",
    "SKIP_TASK_SEQUENCE_GUARD",
    "ALLOW_OPEN_TASK_PRS",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "GITHUB_EVENT_PATH",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN_FILE",
    "GITHUB_TOKEN_FILE",
    "PR_BRANCH",
    "PR_BODY",
    "TASK",
    "MERGE",
    "NAME",
    "TASK_FINISH_POLL_INTERVAL",
    "TASK_FINISH_CHECKS_TIMEOUT",
    "DATABASE_URL",
    "NO_COLOR",
    // `make test` exports it; the xtask then hints `make …` (plumbing::env::invocation).
    "MAKELEVEL",
    "PR_TITLE",
];

/// A git repository in a temporary directory, with a bare `origin` beside it.
pub struct Repo {
    pub tmp: TempDir,
    pub root: PathBuf,
    pub origin: PathBuf,
    pub home: PathBuf,
}

impl Repo {
    /// A repository on `main` with one commit (`README.md`) pushed to origin.
    pub fn new(label: &str) -> Repo {
        let tmp = TempDir::new(label);
        let root = tmp.path().join("work");
        let origin = tmp.path().join("origin.git");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        // No automatic maintenance: git would start `git maintenance run
        // --auto` after every commit and fetch (a twentieth of the suite's
        // git processes), and a detached gc could outlive the test's
        // directory.
        std::fs::write(home.join(".gitconfig"), "[maintenance]\n\tauto = false\n").unwrap();
        let repo = Repo {
            tmp,
            root,
            origin,
            home,
        };
        repo.git_in(
            repo.tmp.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                "origin.git",
            ],
        );
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.write("README.md", "# test repository\n");
        repo.git(&["add", "README.md"]);
        repo.git(&["commit", "--quiet", "-m", "initial commit"]);
        let origin = repo.origin.to_string_lossy().into_owned();
        repo.git(&["remote", "add", "origin", &origin]);
        repo.git(&["push", "--quiet", "-u", "origin", "main"]);
        repo
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }

    /// Commits everything in the working tree.
    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
    }

    /// Runs git in the repository; panics with its output when it fails.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_output_in(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed in {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn git_output(&self, args: &[&str]) -> Output {
        self.git_output_in(&self.root, args)
    }

    pub fn git_output_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new("git");
        cmd.args(args).current_dir(dir).stdin(Stdio::null());
        for (k, v) in git_env(&self.home) {
            cmd.env(k, v);
        }
        cmd.output().expect("git must be installed")
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A command running the real xtask binary in this repository.
    pub fn xtask(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args).current_dir(&self.root).stdin(Stdio::null());
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
        for (k, v) in git_env(&self.home) {
            cmd.env(k, v);
        }
        Run {
            cmd,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A prepared xtask invocation.
pub struct Run {
    pub cmd: Command,
    pub args: Vec<String>,
}

impl Run {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Run {
        self.cmd.current_dir(dir);
        self
    }

    pub fn run(mut self) -> Done {
        let out = self.cmd.output().expect("the xtask binary runs");
        Done {
            args: self.args,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The result of a run, with assertions that dump everything on failure.
#[derive(Debug)]
pub struct Done {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    pub fn dump(&self) -> String {
        format!(
            "\n--- xtask {:?} exited with {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Done {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Done {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Done {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn nowhere(&self, text: &str) -> &Done {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "output contains {text:?}{}",
            self.dump()
        );
        self
    }

    /// stdout parsed as the one JSON document it must be.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}{}", self.dump()))
    }
}

/// A tool the tests need, found or a failure that says what to install.
#[track_caller]
pub fn require_tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "this test needs `{name}`, which is not installed: {install} (scripts/setup.sh does it)"
    );
}

/// Writes an executable script (mode 755) at `path`, making its directory.
pub fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Makes a FIFO at `path` (`mkfifo`), for inputs that must never hang.
pub fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `run` with a deadline (a FIFO must never hang a command); the
/// process is killed and the test fails when it is not done in time.
pub fn run_bounded(mut run: Run) -> Done {
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = run.cmd.spawn().expect("the xtask binary runs");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(out) => {
            let out = out.unwrap();
            Done {
                args: run.args,
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("xtask {:?} hung (killed after 30 s)", run.args);
        }
    }
}

/// The hostile-input check: runs `run` bounded, asserts exit `code`, one
/// line on stderr holding every needle, and that `state()` (what the
/// command must not change) is the same after as before.
#[track_caller]
pub fn refused_unchanged<S: PartialEq + std::fmt::Debug>(
    state: impl Fn() -> S,
    run: Run,
    code: i32,
    needles: &[&str],
) -> Done {
    let before = state();
    let done = run_bounded(run);
    done.code(code);
    for needle in needles {
        done.stderr_has(needle);
    }
    let lines: Vec<&str> = done.stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "not a one-line message:{}", done.dump());
    assert_eq!(state(), before, "the state changed:{}", done.dump());
    done
}
