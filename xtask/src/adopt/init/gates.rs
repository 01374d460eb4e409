//! Which Makefile targets become which gates and `[prepare]` lists (pure,
//! part of `init`'s decide step): `check` (or format/lint/typecheck),
//! `test` (or `test-*`), `audit-eval`; prerequisites that install
//! dependencies become prepare lists, other prerequisites run first as
//! steps (Make's order); a target whose recipe needs a shell runs as
//! `make <target>`.

use std::collections::BTreeSet;

use crate::adopt::init::decide::{quoted, Gate, Prepare, Step};
use crate::adopt::init::makefile::Makefile;

/// Makefile targets of the quality gate, when there is no `check` target.
const CHECK_TARGETS: [&str; 9] = [
    "format",
    "fmt",
    "format-check",
    "lint",
    "typecheck",
    "type-check",
    "types",
    "mypy",
    "clippy",
];

/// A gate or prepare list longer than this is left to make (nobody
/// reviews hundreds of guessed steps), and the walk stops there.
const MAX_STEPS: usize = 100;
/// Prerequisites nested deeper than this run through make.
const MAX_DEPTH: usize = 16;

/// Makefile targets that install dependencies: they become `[prepare]`
/// lists rather than gate steps.
pub fn deps_like(target: &str) -> bool {
    matches!(
        target,
        "deps" | "venv" | "install" | "setup" | "bootstrap" | "sync" | "requirements" | "dev-deps"
    ) || target.starts_with("deps-")
        || target.starts_with("install-")
}

/// The gates and prepare lists a Makefile's targets map to.
pub fn from_makefile(
    file: &str,
    mk: &Makefile,
    notes: &mut Vec<String>,
) -> (Vec<Gate>, Vec<Prepare>) {
    let plan = plan(file, mk, notes);
    let mut gates = Vec::new();
    let mut prepare_names: Vec<String> = Vec::new();
    for (name, targets, why) in plan {
        let mut walk = Walk::new(file, mk);
        let mut prepare = Vec::new();
        for t in &targets {
            walk.gate(t, 0, &mut prepare);
        }
        let mut steps = walk.steps;
        if steps.len() > MAX_STEPS {
            // Too big to review as steps: make runs the targets as before.
            prepare.clear();
            steps = targets
                .iter()
                .map(|t| make_step(file, mk, t, "it expands to more than 100 steps"))
                .collect();
        }
        steps.retain(|s| {
            let shim = runs_the_xtask(&s.argv);
            if shim {
                notes.push(format!(
                    "{file}: the step `{}` of [gates.{name}] was left out: it runs this xtask itself (a Make shim), which would call the gate again",
                    s.name
                ));
            }
            !shim
        });
        if steps.is_empty() {
            notes.push(format!(
                "{file}: {} gave no command to copy into [gates.{name}]: add it by hand",
                quoted(&targets)
            ));
            continue;
        }
        for p in &prepare {
            if !prepare_names.contains(p) {
                prepare_names.push(p.clone());
            }
        }
        gates.push(Gate {
            name: name.to_string(),
            why,
            prepare,
            steps,
        });
    }
    let prepare = prepare_names
        .into_iter()
        .map(|name| prepare_list(file, mk, name))
        .collect();
    (gates, prepare)
}

/// The `[prepare]` list of the dependency target `name`.
pub fn prepare_list(file: &str, mk: &Makefile, name: String) -> Prepare {
    let mut walk = Walk::new(file, mk);
    walk.prepare(&name, 0);
    let mut steps = walk.steps;
    if steps.len() > MAX_STEPS {
        steps = vec![make_step(
            file,
            mk,
            &name,
            "it expands to more than 100 steps",
        )];
    }
    Prepare {
        why: format!("{file} target `{name}`, a prerequisite of the gates below"),
        name,
        steps,
    }
}

/// Which targets each gate starts from: `(gate, targets, why)`.
fn plan(
    file: &str,
    mk: &Makefile,
    notes: &mut Vec<String>,
) -> Vec<(&'static str, Vec<String>, String)> {
    let mut plan: Vec<(&'static str, Vec<String>, String)> = Vec::new();
    if mk.rule("check").is_some() {
        plan.push((
            "check",
            vec!["check".to_string()],
            format!("{file} target `check`"),
        ));
    } else {
        let found: Vec<String> = CHECK_TARGETS
            .iter()
            .filter(|t| mk.rule(t).is_some())
            .map(|t| t.to_string())
            .collect();
        if !found.is_empty() {
            let why = format!("{file} targets {}", quoted(&found));
            plan.push(("check", found, why));
        }
    }
    let tests: Vec<String> = mk
        .rules
        .iter()
        .map(|r| r.target.clone())
        .filter(|t| t == "test" || t.starts_with("test-") || t.starts_with("test_"))
        .collect();
    if tests.iter().any(|t| t == "test") {
        let others: Vec<String> = tests.iter().filter(|t| *t != "test").cloned().collect();
        let mut why = format!("{file} target `test`");
        if !others.is_empty() {
            why.push_str(&format!(
                " (also there: {}; add what the gate needs)",
                quoted(&others)
            ));
        }
        plan.push(("test", vec!["test".to_string()], why));
    } else if !tests.is_empty() {
        let why = format!("{file} targets {}", quoted(&tests));
        plan.push(("test", tests, why));
    }
    if mk.rule("audit-eval").is_some() {
        plan.push((
            "audit-eval",
            vec!["audit-eval".to_string()],
            format!("{file} target `audit-eval`"),
        ));
    }
    if plan.iter().all(|(g, _, _)| *g != "check") {
        notes.push(format!(
            "{file} has no check, format, lint or typecheck target: add [gates.check] by hand"
        ));
    }
    if plan.iter().all(|(g, _, _)| *g != "test") {
        notes.push(format!(
            "{file} has no test target: add [gates.test] by hand"
        ));
    }
    plan
}

/// A walk of a Makefile's targets into steps, each target expanded once.
struct Walk<'a> {
    file: &'a str,
    mk: &'a Makefile,
    seen: BTreeSet<String>,
    steps: Vec<Step>,
}

impl<'a> Walk<'a> {
    fn new(file: &'a str, mk: &'a Makefile) -> Walk<'a> {
        Walk {
            file,
            mk,
            seen: BTreeSet::new(),
            steps: Vec::new(),
        }
    }

    /// Whether to expand `target` now: not seen before, within the step
    /// budget, and not nested too deep (then it becomes one `make` step).
    fn visit(&mut self, target: &str, depth: usize) -> bool {
        if self.steps.len() > MAX_STEPS || !self.seen.insert(target.to_string()) {
            return false;
        }
        if depth > MAX_DEPTH {
            let step = make_step(
                self.file,
                self.mk,
                target,
                "its prerequisites nest too deep",
            );
            self.steps.push(step);
            return false;
        }
        true
    }

    /// A gate's steps for `target`: its non-dependency prerequisites first
    /// (Make's order), then its own plain commands; `make <target>` when its
    /// recipe is not plain (make then runs the prerequisites itself).
    fn gate(&mut self, target: &str, depth: usize, prepare: &mut Vec<String>) {
        if !self.visit(target, depth) {
            return;
        }
        let mk = self.mk;
        if !matches!(mk.plain_steps(target), Some(Ok(_))) {
            self.push_target(target);
            return;
        }
        let rule = mk.rule(target).expect("plain_steps found the rule");
        for p in &rule.prereqs {
            if deps_like(p) {
                if mk.rule(p).is_some() && !prepare.contains(p) {
                    prepare.push(p.clone());
                }
            } else if mk.rule(p).is_some() {
                self.gate(p, depth + 1, prepare);
            }
        }
        self.push_target(target);
    }

    /// A prepare list's steps for `target`: every prerequisite, then its own.
    fn prepare(&mut self, target: &str, depth: usize) {
        if !self.visit(target, depth) {
            return;
        }
        let mk = self.mk;
        if let Some(Ok(_)) = mk.plain_steps(target) {
            let rule = mk.rule(target).expect("plain_steps found the rule");
            for p in &rule.prereqs {
                if mk.rule(p).is_some() {
                    self.prepare(p, depth + 1);
                }
            }
        }
        self.push_target(target);
    }

    /// `target`'s own commands as steps when plain, else `make <target>`.
    fn push_target(&mut self, target: &str) {
        let (file, mk) = (self.file, self.mk);
        let line = mk.rule(target).map_or(0, |r| r.line);
        match mk.plain_steps(target) {
            Some(Ok(own)) => {
                let n = own.len();
                for (i, argv) in own.into_iter().enumerate() {
                    let name = if n == 1 {
                        target.to_string()
                    } else {
                        format!("{target}-{}", i + 1)
                    };
                    let warn = rewrites_files(target, &argv);
                    self.steps.push(Step {
                        name: unique(&self.steps, name),
                        argv,
                        why: format!("{file}:{line} target `{target}` (its own command)"),
                        warn,
                    });
                }
            }
            Some(Err(why)) => {
                let mut step = make_step(file, mk, target, &why);
                step.name = unique(&self.steps, step.name);
                self.steps.push(step);
            }
            None => {}
        }
    }
}

/// The step `make <target>`, and why make runs it.
fn make_step(file: &str, mk: &Makefile, target: &str, why: &str) -> Step {
    let line = mk.rule(target).map_or(0, |r| r.line);
    let argv = vec!["make".to_string(), target.to_string()];
    Step {
        name: target.to_string(),
        warn: rewrites_files(target, &argv),
        argv,
        why: format!("{file}:{line} target `{target}`, run through make: {why}"),
    }
}

/// Whether `argv` runs the xtask (`cargo xtask …`, an `xtask` binary):
/// a Makefile already turned into shims forwards its gates to the tool.
fn runs_the_xtask(argv: &[String]) -> bool {
    let program = argv.first().map(|p| p.rsplit('/').next().unwrap_or(p));
    match program {
        Some("xtask") => true,
        Some("cargo") => argv.get(1).is_some_and(|a| a == "xtask"),
        _ => false,
    }
}

/// Why a step probably rewrites files instead of checking them.
fn rewrites_files(target: &str, argv: &[String]) -> Option<String> {
    let checks = argv.iter().any(|a| a == "--check" || a == "--diff");
    if argv.iter().any(|a| a == "--fix") {
        Some("it fixes files (`--fix`): a gate should only check; remove `--fix`".to_string())
    } else if !checks
        && (matches!(target, "format" | "fmt") || argv.iter().any(|a| a == "format" || a == "fmt"))
    {
        Some("it formats files in place: a gate should only check; add `--check`".to_string())
    } else {
        None
    }
}

fn unique(steps: &[Step], name: String) -> String {
    if !steps.iter().any(|s| s.name == name) {
        return name;
    }
    (2..)
        .map(|i| format!("{name}-{i}"))
        .find(|n| !steps.iter().any(|s| &s.name == n))
        .expect("an unused name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adopt::init::decide::draft;
    use crate::adopt::init::decide::tests::{argv, facts};
    use crate::adopt::init::makefile;

    #[test]
    fn makefile_targets_map_to_gates_in_make_order_with_prerequisites_as_prepare() {
        let d = draft(&facts());
        let names: Vec<_> = d.gates.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["check", "test", "audit-eval"]);
        let check = &d.gates[0];
        assert_eq!(check.prepare, ["deps-dev"]);
        let steps: Vec<_> = check
            .steps
            .iter()
            .map(|s| (s.name.as_str(), argv(s)))
            .collect();
        assert_eq!(
            steps,
            [
                ("format", "uv run --no-sync ruff format src/".to_string()),
                ("lint", "uv run --no-sync ruff check src/".to_string()),
                ("typecheck", "make typecheck".to_string()),
            ]
        );
        assert!(check.steps[2].why.contains("`|`"), "{}", check.steps[2].why);
        assert!(check.steps[0].warn.as_deref().unwrap().contains("--check"));
        assert_eq!(check.steps[1].warn, None);
        let test = &d.gates[1];
        assert!(test.why.contains("`test-integration`"), "{}", test.why);
        assert_eq!(test.steps.len(), 1);
        assert_eq!(argv(&test.steps[0]), "uv run --no-sync pytest tests/");
        // A prerequisite that is not a dependency install runs as a step
        // first, and its own dependency install is the gate's prepare.
        let audit = &d.gates[2];
        assert_eq!(audit.prepare, ["deps"]);
        assert_eq!(argv(&audit.steps[0]), "uv run --no-sync app eval validate");
        assert_eq!(argv(&audit.steps[1]), "uv run --no-sync app eval audit");
        let prepare: Vec<_> = d
            .prepare
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.steps.iter().map(argv).collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            prepare,
            [
                (
                    "deps-dev",
                    vec!["make venv".to_string(), "uv sync --extra dev".to_string()]
                ),
                ("deps", vec!["uv sync".to_string()]),
            ]
        );
    }
    #[test]
    fn a_huge_or_deep_makefile_is_left_to_make_not_walked_without_end() {
        // `check` with 5000 plain prerequisites.
        let mut wide = String::from("check:");
        for i in 0..5000 {
            wide.push_str(&format!(" p{i}"));
        }
        wide.push('\n');
        for i in 0..5000 {
            wide.push_str(&format!("p{i}:\n\tprog {i}\n"));
        }
        let (gates, _) = from_makefile("Makefile", &makefile::parse(&wide), &mut Vec::new());
        assert_eq!(gates[0].steps.len(), 1);
        assert_eq!(gates[0].steps[0].argv, ["make", "check"]);
        assert!(
            gates[0].steps[0].why.contains("more than 100 steps"),
            "{}",
            gates[0].steps[0].why
        );
        // `test` at the top of a chain 50,000 prerequisites deep.
        let mut deep = String::new();
        for i in 0..50_000 {
            deep.push_str(&format!(
                "{}: c{}\n\tprog {i}\n",
                if i == 0 {
                    "test".to_string()
                } else {
                    format!("c{i}")
                },
                i + 1
            ));
        }
        let (gates, _) = from_makefile("Makefile", &makefile::parse(&deep), &mut Vec::new());
        let test = &gates[0];
        assert_eq!(test.name, "test");
        assert_eq!(test.steps[0].argv, ["make", "c17"], "{:?}", test.steps[0]);
        assert!(
            test.steps[0].why.contains("nest too deep"),
            "{}",
            test.steps[0].why
        );
        assert_eq!(test.steps.len(), 18);
    }

    #[test]
    fn a_makefile_of_shims_or_of_messages_gives_no_gate_but_a_note() {
        let shims = "XTASK ?= cargo xtask\ncheck:\n\t$(XTASK) check\ntest:\n\t@echo nothing to test\naudit-eval:\n\ttarget/debug/xtask audit-eval\n";
        let mut notes = Vec::new();
        let (gates, prepare) = from_makefile("Makefile", &makefile::parse(shims), &mut notes);
        assert!(gates.is_empty(), "{gates:?}");
        assert!(prepare.is_empty());
        let notes = notes.join("\n");
        assert!(
            notes.contains(
                "the step `check` of [gates.check] was left out: it runs this xtask itself"
            ),
            "{notes}"
        );
        assert!(
            notes.contains("the step `audit-eval` of [gates.audit-eval] was left out"),
            "{notes}"
        );
        assert!(
            notes.contains("`test` gave no command to copy into [gates.test]"),
            "{notes}"
        );
    }

    #[test]
    fn without_a_check_target_the_quality_targets_are_the_check_gate() {
        let mut f = facts();
        f.makefile = Some((
            "Makefile".to_string(),
            "lint:\n\truff check .\nfmt:\n\truff format --check .\ntest-unit:\n\tpytest unit\ntest-e2e:\n\tpytest e2e\n".to_string(),
        ));
        let d = draft(&f);
        let check = &d.gates[0];
        assert_eq!(check.name, "check");
        let steps: Vec<_> = check.steps.iter().map(argv).collect();
        assert_eq!(steps, ["ruff format --check .", "ruff check ."]);
        assert_eq!(check.steps[0].warn, None, "--check is a check");
        let test = &d.gates[1];
        assert_eq!(
            test.steps.iter().map(argv).collect::<Vec<_>>(),
            ["pytest unit", "pytest e2e"]
        );
        assert!(d.prepare.is_empty());
    }
}
