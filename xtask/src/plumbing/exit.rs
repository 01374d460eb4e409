//! Exit codes, and the error type that carries one through `anyhow`.
//!
//! Every command returns `anyhow::Result<()>`; a failure that must end with a
//! specific code wraps an [`Exit`] so that `main` can find it with `downcast_ref`.

use std::fmt;

/// The documented exit codes (README, "Exit codes").
pub const OK: i32 = 0;
/// A gate or check failed.
pub const FAILED: i32 = 1;
/// Usage, policy or environment error: bad flag, malformed file, missing tool.
pub const USAGE: i32 = 2;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: i32 = 130;

/// An error that ends the process with `code`. Its message has already been
/// printed when `message` is empty.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// A usage, policy or environment error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: USAGE,
        message: message.into(),
    }
    .into()
}

/// A failed gate or check (exit 1).
pub fn failed(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: FAILED,
        message: message.into(),
    }
    .into()
}

/// Ends with `code` once the command has already told the user why.
pub fn silent(code: i32) -> anyhow::Error {
    Exit {
        code,
        message: String::new(),
    }
    .into()
}

/// The exit code an error stands for: its [`Exit`] code, else 2 (an error the
/// command did not classify is an environment problem, never a pass).
pub fn code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Exit>())
        .map(|e| e.code)
        .unwrap_or(USAGE)
}
