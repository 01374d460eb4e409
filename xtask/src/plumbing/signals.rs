//! SIGINT, SIGTERM and SIGHUP, handled alike: the tool ends with exit 130
//! (README, "Exit codes") and never leaves a child, a git write or a record
//! half-done.
//!
//! `main` calls [`install`] first thing. From then on a signal either
//! - ends the tool at once with 130 when nothing is in flight (a command
//!   that runs no child of its own: release-tag, hooks, task-preflight,
//!   release-gate before its steps), or
//! - waits for the end of the [`Shield`] in flight (one git command, one
//!   write that must be whole) and ends the tool with 130 there, or
//! - only sets a flag, once a command that stops its own children has
//!   called [`supervise`] (the gate runner, the migration gate, deploy):
//!   that command stops the child's process group, writes no record and
//!   returns, and `main` turns the flag into 130.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// The signals the tool treats as "stop now".
const HANDLED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];
/// Exit code of an interrupted run (`exit::INTERRUPTED`; a literal here
/// because the handler may use nothing but async-signal-safe code).
const INTERRUPTED_CODE: i32 = 130;

/// `SIG_IGN`: the disposition `nohup` (SIGHUP) and a shell's background
/// jobs (SIGINT) inherit.
const SIG_IGN: usize = 1;

extern "C" {
    /// `handler` is a function pointer or `SIG_IGN`; returns the previous one.
    fn signal(signum: i32, handler: usize) -> usize;
    fn kill(pid: i32, sig: i32) -> i32;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn _exit(code: i32) -> !;
}

static INTERRUPTED_BY: AtomicI32 = AtomicI32::new(0);
/// Set by [`supervise`]: the running command stops its own children.
static SUPERVISED: AtomicBool = AtomicBool::new(false);
/// How many [`Shield`]s are alive.
static SHIELDS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(sig: i32) {
    // Only atomics, write(2) and _exit(2): all async-signal-safe.
    INTERRUPTED_BY.store(sig, Ordering::SeqCst);
    if SUPERVISED.load(Ordering::SeqCst) {
        return;
    }
    if SHIELDS.load(Ordering::SeqCst) > 0 {
        say_raw(b"interrupted: stopping after the step in flight (exit 130)\n");
        return;
    }
    say_raw(b"interrupted: stopped (exit 130)\n");
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { _exit(INTERRUPTED_CODE) }
}

fn say_raw(text: &[u8]) {
    // SAFETY: write(2) on stderr with a valid buffer; async-signal-safe.
    unsafe { write(2, text.as_ptr(), text.len()) };
}

/// Routes SIGINT, SIGTERM and SIGHUP to [`on_signal`]. `main` calls it
/// before anything else; calling it again is harmless. A signal the tool
/// was started with ignored stays ignored (`nohup cargo xtask deploy …`
/// keeps running when the terminal goes away).
pub fn install() {
    let handler = on_signal as extern "C" fn(i32) as usize;
    for sig in HANDLED {
        // SAFETY: `on_signal` is async-signal-safe and has the C ABI
        // `signal` expects; SIG_IGN is a valid disposition.
        unsafe {
            if signal(sig, handler) == SIG_IGN {
                signal(sig, SIG_IGN);
            }
        }
    }
}

/// The running command stops its own children and checks [`interrupted`]
/// between steps: from now on a signal only sets the flag. (The handlers
/// are `main`'s, from [`install`]; a unit test installs none.)
pub fn supervise() {
    SUPERVISED.store(true, Ordering::SeqCst);
}

/// The signal that interrupted the tool, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED_BY.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// While alive, a signal waits: what the shield covers (one git command,
/// one file or ref written whole) finishes, then the tool ends with 130
/// when the last shield drops (unless a supervising command handles it).
pub struct Shield(());

impl Shield {
    pub fn new() -> Shield {
        SHIELDS.fetch_add(1, Ordering::SeqCst);
        Shield(())
    }
}

impl Default for Shield {
    fn default() -> Shield {
        Shield::new()
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        let left = SHIELDS.fetch_sub(1, Ordering::SeqCst) - 1;
        if left == 0 && !SUPERVISED.load(Ordering::SeqCst) {
            if let Some(sig) = interrupted() {
                crate::plumbing::output::say(&format!(
                    "interrupted by {}: stopped before the next step (exit 130)",
                    name(sig)
                ));
                std::process::exit(INTERRUPTED_CODE);
            }
        }
    }
}

/// Runs `f` under a [`Shield`].
pub fn shielded<T>(f: impl FnOnce() -> T) -> T {
    let _shield = Shield::new();
    f()
}

/// Sends `sig` to the process group `pgid` (a group this tool created).
pub fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: plain syscall on a process group we created.
    unsafe { kill(-pgid, sig) };
}

/// The conventional name of a signal number.
pub fn name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}
