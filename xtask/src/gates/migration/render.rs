//! What the gate shows: one line per check on stderr, the outcome with its
//! evidence and fix, the JSON report on stdout, the GitHub step summary.

use std::time::Duration;

use super::{Gate, Report};
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, Ctx};

impl Gate {
    /// One line per check on stderr, in both formats (stdout carries the JSON report).
    pub(super) fn line(&self, status: &str, title: &str, detail: &str, took: Option<Duration>) {
        let word = match status {
            "passed" => output::green("passed"),
            "failed" | "interrupted" => output::red(status),
            other => output::yellow(other),
        };
        let pad = " ".repeat(8usize.saturating_sub(status.len()));
        let took = took
            .map(|d| format!(" ({})", output::duration(d)))
            .unwrap_or_default();
        output::say(&format!("  {word}{pad} {title:<13} {detail}{took}"));
    }
}

/// Prints the outcome for people (stderr, both formats) and the report
/// (JSON: stdout), writes the GitHub step summary, and ends with the
/// report's exit code.
pub(super) fn finish(ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
    match &report.failure {
        None => output::say(&output::green(&format!(
            "db-migration-gate passed: the database is at head {}{}.",
            report.head.as_deref().unwrap_or("?"),
            if report.bypasses.is_empty() {
                " and the models match the migrations"
            } else {
                " (model parity NOT checked: bypass)"
            }
        ))),
        Some(f) => {
            output::error(&format!(
                "db-migration-gate failed ({}): {}",
                f.class.word(),
                f.message
            ));
            for line in &f.evidence {
                output::say(&format!("  {line}"));
            }
            if let Some(fix) = &f.fix {
                output::say(&format!("  fix: {fix}"));
            }
        }
    }
    if ctx.format == Format::Json {
        output::json(&serde_json::to_value(report).unwrap_or_default());
    }
    let mut md = format!(
        "### db-migration-gate: {}\n\n| check | status | detail |\n|---|---|---|\n",
        report.status
    );
    for c in &report.checks {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            c.name,
            c.status,
            c.detail.as_deref().unwrap_or("").replace('|', "\\|")
        ));
    }
    for b in &report.bypasses {
        md.push_str(&format!(
            "\nBypass used: `{}={}` ({})\n",
            b.variable, b.value, b.effect
        ));
    }
    output::step_summary(&md);
    match report.exit_code {
        exit::OK => Ok(()),
        code => Err(exit::silent(code)),
    }
}
