//! Runs one external command for a gate: argv only, output streamed live
//! and redacted, a finite timeout, and Ctrl-C (or SIGTERM, SIGHUP) handled
//! so that no child outlives the tool.
//!
//! Each child runs in a process group of its own. SIGINT, SIGTERM and SIGHUP
//! only set a flag here ([`crate::plumbing::signals`]); the runner then stops
//! the child's whole group (SIGTERM, then SIGKILL after a grace period) and
//! the command exits 130.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::plumbing::redact::redact;
use crate::plumbing::signals::{self, SIGINT, SIGKILL, SIGTERM};

/// How long a stopped child gets to clean up before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the output pipes once the child is gone.
const DRAIN: Duration = Duration::from_secs(2);

/// Routes SIGINT, SIGTERM and SIGHUP to a flag instead of ending the tool,
/// so that the running child can be stopped first (see
/// [`crate::plumbing::signals`]). Call once, before starting children.
pub fn install_signal_handlers() {
    signals::supervise();
}

/// The signal that interrupted the tool, if any.
pub fn interrupted() -> Option<i32> {
    signals::interrupted()
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Exited with a non-zero code.
    Exited(i32),
    /// Killed by a signal it did not get from us.
    Signaled(i32),
    TimedOut(Duration),
    /// Could not be started: not installed, not executable, bad directory.
    NotStarted(String),
    /// We stopped it because the tool was interrupted.
    Interrupted,
}

impl Outcome {
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Passed => Some(0),
            Outcome::Exited(code) => Some(*code),
            _ => None,
        }
    }

    /// Says which of the ways of failing happened.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Passed => "passed".to_string(),
            Outcome::Exited(code) => format!("exited with code {code}"),
            Outcome::Signaled(sig) => format!("killed by signal {sig} ({})", signals::name(*sig)),
            Outcome::TimedOut(limit) => format!(
                "timed out after {} and was stopped",
                crate::plumbing::output::duration(*limit)
            ),
            Outcome::NotStarted(why) => format!("could not start: {why}"),
            Outcome::Interrupted => {
                let by = match signals::interrupted() {
                    None | Some(SIGINT) => "Ctrl-C",
                    Some(sig) => signals::name(sig),
                };
                format!("interrupted ({by}): stopped with its process group")
            }
        }
    }

    /// A stable word for reports: `exit`, `signal`, `timeout`, `not_started`, `interrupted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Exited(_) => "exit",
            Outcome::Signaled(_) => "signal",
            Outcome::TimedOut(_) => "timeout",
            Outcome::NotStarted(_) => "not_started",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// What to run: an argv with its directory, environment and time limit.
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub cwd: &'a Path,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// Where a child's output goes: streamed to our stderr, or captured.
pub enum Sink {
    Stream,
    Capture,
}

pub struct Finished {
    pub outcome: Outcome,
    pub duration: Duration,
    /// Captured stdout and stderr (with [`Sink::Capture`]), redacted.
    pub stdout: String,
    pub stderr: String,
}

/// Runs `spec` to completion, timeout or interruption. From here on a
/// signal only sets the flag (see [`signals::supervise`]): a child in a
/// process group of its own must be stopped by us, never left running.
pub fn run(spec: &Spec<'_>, sink: Sink) -> Finished {
    signals::supervise();
    let start = Instant::now();
    let finish = |outcome, (stdout, stderr): (String, String)| Finished {
        outcome,
        duration: start.elapsed(),
        stdout,
        stderr,
    };
    let mut child = match spawn(spec) {
        Ok(child) => child,
        Err(outcome) => return finish(outcome, Default::default()),
    };
    let pid = child.id() as i32;
    let done_rx = pump_outputs(&mut child, matches!(sink, Sink::Capture));
    let outcome = supervise(child, pid, start + spec.timeout, spec.timeout);
    if matches!(outcome, Outcome::Interrupted | Outcome::TimedOut(_)) {
        // The leader is gone; make sure nothing it started stays behind.
        signals::kill_group(pid, SIGKILL);
    }
    finish(outcome, collect(&done_rx))
}

/// Starts the child in a process group of its own, or says why it could not.
fn spawn(spec: &Spec<'_>) -> Result<Child, Outcome> {
    if interrupted().is_some() {
        return Err(Outcome::Interrupted);
    }
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(Outcome::NotStarted("empty command".into()));
    };
    if !spec.cwd.is_dir() {
        let why = format!("working directory {} does not exist", spec.cwd.display());
        return Err(Outcome::NotStarted(why));
    }
    Command::new(program)
        .args(args)
        .current_dir(spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Outcome::NotStarted(not_started(program, &e)))
}

/// Why `program` could not be started, in the user's terms.
fn not_started(program: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("`{program}` is not installed (not found on PATH)")
        }
        std::io::ErrorKind::PermissionDenied => format!("`{program}` is not executable"),
        _ => format!("`{program}`: {e}"),
    }
}

/// Starts one pump per output stream; each sends `(is_stderr, captured)`
/// when its stream closes.
fn pump_outputs(child: &mut Child, capture: bool) -> mpsc::Receiver<(bool, String)> {
    let (done_tx, done_rx) = mpsc::channel::<(bool, String)>();
    if let Some(s) = child.stdout.take() {
        pump(s, capture, false, done_tx.clone());
    }
    if let Some(s) = child.stderr.take() {
        pump(s, capture, true, done_tx);
    }
    done_rx
}

/// Waits for the child, stopping its group on interruption or at `deadline`.
fn supervise(mut child: Child, pid: i32, deadline: Instant, limit: Duration) -> Outcome {
    let (status_tx, status_rx) = mpsc::channel::<std::io::Result<ExitStatus>>();
    std::thread::spawn(move || {
        let _ = status_tx.send(child.wait());
    });
    loop {
        match status_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(status)) => return classify(status),
            Ok(Err(e)) => return Outcome::NotStarted(format!("lost track of the process: {e}")),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Outcome::NotStarted("lost track of the process".into())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if interrupted().is_some() {
            stop_group(pid, &status_rx);
            return Outcome::Interrupted;
        }
        if Instant::now() >= deadline {
            stop_group(pid, &status_rx);
            return Outcome::TimedOut(limit);
        }
    }
}

/// The captured `(stdout, stderr)`. Normally both pipes close with the
/// child; a background process that inherited them keeps them open, so
/// this waits at most [`DRAIN`] for it.
fn collect(done_rx: &mpsc::Receiver<(bool, String)>) -> (String, String) {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let wait_until = Instant::now() + DRAIN;
    for _ in 0..2 {
        let left = wait_until.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok((true, text)) => stderr = text,
            Ok((false, text)) => stdout = text,
            Err(_) => break,
        }
    }
    (stdout, stderr)
}

fn classify(status: ExitStatus) -> Outcome {
    if let Some(code) = status.code() {
        return if code == 0 {
            Outcome::Passed
        } else {
            Outcome::Exited(code)
        };
    }
    match status.signal() {
        Some(SIGINT) | Some(SIGTERM) | Some(signals::SIGHUP) if interrupted().is_some() => {
            Outcome::Interrupted
        }
        Some(sig) => Outcome::Signaled(sig),
        None => Outcome::Exited(-1),
    }
}

/// SIGTERM to the child's group, SIGKILL after the grace period.
fn stop_group(pid: i32, status_rx: &mpsc::Receiver<std::io::Result<ExitStatus>>) {
    signals::kill_group(pid, SIGTERM);
    if status_rx.recv_timeout(GRACE).is_err() {
        signals::kill_group(pid, SIGKILL);
        let _ = status_rx.recv_timeout(GRACE);
    }
}

/// Copies a child's stream line by line, redacted: to our stderr, or into a
/// string. Sends what it captured when the stream closes.
fn pump(
    stream: impl Read + Send + 'static,
    capture: bool,
    is_stderr: bool,
    done: mpsc::Sender<(bool, String)>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut captured = String::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = redact(&String::from_utf8_lossy(&line));
                    if capture {
                        captured.push_str(&text);
                    } else {
                        // A child's line is foreign text: no terminal
                        // escapes, no workflow command (output::sanitize).
                        let text = crate::plumbing::output::sanitize(&text);
                        let mut err = std::io::stderr().lock();
                        let _ = err.write_all(text.as_bytes());
                        let _ = err.flush();
                    }
                }
            }
        }
        let _ = done.send((is_stderr, captured));
    });
}

/// The command as people should see it: redacted, quoted where needed.
pub fn display(argv: &[String]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    redact(&words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Finished {
        let argv = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        run(
            &Spec {
                argv: &argv,
                cwd: Path::new("."),
                env: vec![],
                timeout,
            },
            Sink::Capture,
        )
    }

    #[test]
    fn outcomes_are_told_apart() {
        assert_eq!(
            sh("exit 0", Duration::from_secs(10)).outcome,
            Outcome::Passed
        );
        assert_eq!(
            sh("exit 3", Duration::from_secs(10)).outcome,
            Outcome::Exited(3)
        );
        assert_eq!(
            sh("kill -9 $$", Duration::from_secs(10)).outcome,
            Outcome::Signaled(9)
        );
        let slow = sh("sleep 5", Duration::from_secs(1));
        assert_eq!(slow.outcome, Outcome::TimedOut(Duration::from_secs(1)));
        assert!(slow.duration < Duration::from_secs(4));
        let argv = vec!["definitely-not-installed-xtask-tool".to_string()];
        let missing = run(
            &Spec {
                argv: &argv,
                cwd: Path::new("."),
                env: vec![],
                timeout: Duration::from_secs(5),
            },
            Sink::Capture,
        );
        assert!(
            matches!(&missing.outcome, Outcome::NotStarted(why) if why.contains("not installed")),
            "{:?}",
            missing.outcome
        );
    }

    #[test]
    fn captured_output_is_redacted() {
        let f = sh(
            "echo postgresql://u:hunter22@db/x; echo err >&2",
            Duration::from_secs(10),
        );
        assert_eq!(f.stdout, "postgresql://u:***@db/x\n");
        assert_eq!(f.stderr, "err\n");
    }

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        assert_eq!(
            display(&["cargo".into(), "fmt".into(), "--all".into()]),
            "cargo fmt --all"
        );
        assert_eq!(
            display(&["sh".into(), "-c".into(), "a b; c".into()]),
            "sh -c 'a b; c'"
        );
        assert_eq!(display(&["x".into(), "it's".into()]), "x 'it'\\''s'");
    }
}
