//! SIGTERM and SIGHUP are handled like Ctrl-C (issue 11): the run ends with
//! 130, the children's process group is stopped, and nothing is written.
//!
//! Real signals go to the real binary at chosen points, reached through
//! FIFOs rather than timing: a gate step that blocks until it is stopped,
//! and, for the commands that run no child of their own, a git on PATH that
//! stops at one chosen git command until the test lets it go.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{mkfifo, require_tool, Repo};

/// How long any one wait may take before the test fails (never a sleep).
const PATIENCE: Duration = Duration::from_secs(60);

/// Reads one line from the FIFO `path` (opening it waits for the writer),
/// or fails after [`PATIENCE`] naming `what`.
fn await_fifo(path: &Path, what: &str) -> String {
    let (tx, rx) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut text));
        let _ = tx.send(text);
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what} never happened"))
}

/// The xtask's stderr, line by line, as it comes.
struct Stderr {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Stderr {
    fn of(child: &mut Child) -> Stderr {
        let stream = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Stderr {
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`.
    fn await_line(&mut self, text: &str) {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "stderr never said {text:?}; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Everything, once the process has ended.
    fn rest(mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

/// Waits for the xtask to end and returns its code; a run that does not
/// end within [`PATIENCE`] is killed and fails the test.
fn exit_code(child: Child) -> Option<i32> {
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait().map(|s| s.code()));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the xtask (pid {pid}) did not end after the signal");
        }
    }
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

fn note(repo: &Repo) -> Option<String> {
    let out = repo.git_output(&["notes", "--ref=release-gate", "show", "HEAD"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A release-gate whose check step reports its pid and then blocks (opening
/// a FIFO nobody writes) until its process group is stopped.
fn blocking_gate(label: &str) -> (Repo, PathBuf) {
    let repo = Repo::new(label);
    let ready = repo.tmp.path().join("step-ready");
    let hold = repo.tmp.path().join("step-hold");
    mkfifo(&ready);
    mkfifo(&hold);
    repo.write(
        "xtask.toml",
        &format!(
            "[gates.check]\nsteps = [{{ name = \"hang\", argv = [\"sh\", \"-c\", \"echo $$ > {}; exec cat {}\"] }}]\n\n[gates.test]\nsteps = [{{ name = \"unit\", argv = [\"sh\", \"-c\", \"echo ran > test-ran\"] }}]\n",
            ready.display(),
            hold.display()
        ),
    );
    repo.write(".gitignore", "test-ran\n");
    repo.commit_all("gate policy");
    (repo, ready)
}

#[test]
fn sigterm_and_sighup_during_a_gate_step_stop_its_group_write_no_record_and_exit_130() {
    for signal in ["TERM", "HUP"] {
        let (repo, ready) = blocking_gate(&format!("sig-step-{signal}"));
        let mut child = repo
            .xtask(&["release-gate", "--format", "json"])
            .env("RELEASE_GATE_DATABASE_URL", "sqlite:///target/gate.db")
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Stderr::of(&mut child);
        let step_pid = await_fifo(&ready, "the blocking step").trim().to_string();
        assert!(alive(&step_pid), "the step {step_pid} is not running");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        send(&child, signal);
        let code = exit_code(child);
        let stdout = stdout.join().unwrap();
        let stderr = stderr.rest();
        assert_eq!(code, Some(130), "SIG{signal}\n{stderr}\n{stdout}");
        assert!(stderr.contains("interrupted"), "SIG{signal}: {stderr}");
        assert!(
            !alive(&step_pid),
            "SIG{signal}: step {step_pid} outlived the run"
        );
        assert!(
            !repo.path("test-ran").exists(),
            "SIG{signal}: the test gate ran after the interruption"
        );
        assert_eq!(note(&repo), None, "SIG{signal}: a gate record was written");
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("SIG{signal}: no JSON report ({e}): {stdout}"));
        assert_eq!(report["record"]["written"], false, "{report}");
        let step = report["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["status"] == "interrupted"))
            .unwrap_or_else(|| panic!("SIG{signal}: no interrupted step: {report}"));
        let reason = step["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&format!("interrupted (SIG{signal})")),
            "SIG{signal}: {reason}"
        );
    }
}

/// A `git` first on PATH that, at the git command whose arguments contain
/// `$FAKE_GIT_BLOCK`, says so on the FIFO `ready` and waits for a line on
/// the FIFO `go` before running the real git.
struct Gate {
    bin: PathBuf,
    ready: PathBuf,
    go: PathBuf,
}

impl Gate {
    fn new(repo: &Repo) -> Gate {
        let real = require_tool("git", "install git");
        let bin = repo.tmp.path().join("fake-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let ready = repo.tmp.path().join("git-ready");
        let go = repo.tmp.path().join("git-go");
        mkfifo(&ready);
        mkfifo(&go);
        let script = format!(
            "#!/bin/sh\ncase \" $* \" in\n  *\"$FAKE_GIT_BLOCK\"*) echo \"$*\" > '{}'; read _ < '{}' ;;\nesac\nexec '{}' \"$@\"\n",
            ready.display(),
            go.display(),
            real.display()
        );
        let path = bin.join("git");
        std::fs::write(&path, script).unwrap();
        let status = Command::new("chmod")
            .args(["+x"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        Gate { bin, ready, go }
    }

    fn path_var(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(paths).unwrap()
    }

    /// Lets the held git go on. The fake git wrote `ready` before it opens
    /// `go` for reading, so the open for writing waits (on a thread, never
    /// blocking the test) until that reader is there: a non-blocking open
    /// could come first, find no reader, and leave git held for ever.
    fn release(&self) {
        let go = self.go.clone();
        std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&go) {
                let _ = f.write_all(b"go\n");
            }
        });
    }
}

/// Runs `args` until the git command matching `block` is held, sends
/// `signal`, waits until the xtask has seen it, lets git go, and returns
/// the exit code and stderr.
fn interrupt_at_git(
    repo: &Repo,
    args: &[&str],
    block: &str,
    signal: &str,
) -> (Option<i32>, String) {
    let gate = Gate::new(repo);
    let mut child = repo
        .xtask(args)
        .env("PATH", gate.path_var())
        .env("FAKE_GIT_BLOCK", block)
        .env("RELEASE_GATE_DATABASE_URL", "sqlite:///target/gate.db")
        .cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = Stderr::of(&mut child);
    let held = await_fifo(&gate.ready, &format!("git {block} (xtask {args:?})"));
    assert!(held.contains(block), "{held}");
    send(&child, signal);
    stderr.await_line("interrupted");
    gate.release();
    let code = exit_code(child);
    (code, stderr.rest())
}

#[test]
fn commands_without_a_child_of_their_own_exit_130_on_sigterm_and_sighup_and_change_nothing() {
    for signal in ["TERM", "HUP"] {
        // release-gate before its first step: nothing ran, no record.
        let (repo, _ready) = blocking_gate(&format!("sig-gate-pre-{signal}"));
        let (code, stderr) =
            interrupt_at_git(&repo, &["release-gate"], "status --porcelain", signal);
        assert_eq!(code, Some(130), "release-gate SIG{signal}: {stderr}");
        assert!(!stderr.contains("==>"), "a step started: {stderr}");
        assert!(!repo.path("test-ran").exists());
        assert_eq!(note(&repo), None, "release-gate SIG{signal}: a record");

        // hooks: interrupted while finding the hooks directory, installs nothing.
        let repo = Repo::new(&format!("sig-hooks-{signal}"));
        let (code, stderr) =
            interrupt_at_git(&repo, &["hooks"], "rev-parse --git-path hooks", signal);
        assert_eq!(code, Some(130), "hooks SIG{signal}: {stderr}");
        for hook in ["pre-commit", "commit-msg", "pre-push"] {
            assert!(
                !repo.path(&format!(".git/hooks/{hook}")).exists(),
                "hooks SIG{signal}: {hook} was installed: {stderr}"
            );
        }

        // task-preflight: interrupted while fetching.
        let repo = Repo::new(&format!("sig-preflight-{signal}"));
        let (code, stderr) = interrupt_at_git(
            &repo,
            &["task-preflight", "--format", "json"],
            "fetch",
            signal,
        );
        assert_eq!(code, Some(130), "task-preflight SIG{signal}: {stderr}");

        // release-tag: interrupted while reading the remote, tags nothing.
        let repo = Repo::new(&format!("sig-tag-{signal}"));
        let (code, stderr) = interrupt_at_git(
            &repo,
            &["release-tag", "--version", "1.0.0", "--push"],
            "ls-remote",
            signal,
        );
        assert_eq!(code, Some(130), "release-tag SIG{signal}: {stderr}");
        assert_eq!(repo.git(&["tag", "--list"]), "", "a tag was created");
        let remote_tags = repo.git_in(&repo.origin, &["tag", "--list"]);
        assert_eq!(remote_tags, "", "a tag was pushed");
    }
}

/// The signal masks of process `pid` from /proc: (ignored, caught).
fn dispositions(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = |name: &str| {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    (mask("SigIgn:"), mask("SigCgt:"))
}

/// Bit `n - 1` of a /proc signal mask stands for signal `n`.
const HUP: u64 = 1;
const INT: u64 = 1 << 1;
const TERM: u64 = 1 << 14;

#[test]
fn a_signal_the_tool_was_started_with_ignored_stays_ignored() {
    for nohup in [false, true] {
        let (repo, ready) = blocking_gate(&format!("sig-nohup-{nohup}"));
        let trap = if nohup { "trap '' HUP; " } else { "" };
        let script = format!("{trap}exec \"$0\" \"$@\"");
        let run = repo.xtask(&["release-gate"]);
        // The same program, arguments and environment, started through sh
        // so that the trap's SIG_IGN is what the xtask inherits.
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(&script)
            .arg(run.cmd.get_program())
            .args(run.cmd.get_args());
        for (k, v) in run.cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.current_dir(repo.root.as_path())
            .env("RELEASE_GATE_DATABASE_URL", "sqlite:///target/gate.db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = sh.spawn().unwrap();
        let stderr = Stderr::of(&mut child);
        await_fifo(&ready, "the blocking step");
        let (ignored, caught) = dispositions(child.id());
        assert_eq!(ignored & HUP != 0, nohup, "SIGHUP ignored: {ignored:#x}");
        assert_eq!(caught & HUP != 0, !nohup, "SIGHUP caught: {caught:#x}");
        assert!(caught & INT != 0 && caught & TERM != 0, "{caught:#x}");
        send(&child, "TERM");
        let code = exit_code(child);
        assert_eq!(code, Some(130), "{}", stderr.rest());
    }
}
