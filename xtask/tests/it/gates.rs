//! The gate runner and release-gate, against real processes and real git.

use crate::support::Repo;

/// A policy whose check gate has three steps, the second failing.
const FAILING_CHECK: &str = r#"
[gates.check]
steps = [
  { name = "first", argv = ["sh", "-c", "echo first-ran > first.out"] },
  { name = "second", argv = ["sh", "-c", "exit 3"] },
  { name = "third", argv = ["sh", "-c", "echo third-ran > third.out"] },
]
"#;

#[test]
fn steps_run_in_order_and_stop_at_the_first_failure() {
    let repo = Repo::new("order");
    repo.write("xtask.toml", FAILING_CHECK);
    let done = repo.xtask(&["check"]).run();
    done.code(1).stderr_has("check/second exited with code 3").stderr_has("Rerun that step alone: cargo xtask check --step second");
    assert!(repo.path("first.out").exists(), "{}", done.dump());
    assert!(!repo.path("third.out").exists(), "the step after the failure ran{}", done.dump());
}
