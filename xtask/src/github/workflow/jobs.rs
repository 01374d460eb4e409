//! The check names a workflow's jobs report, as GitHub names them: the
//! job's `name:` (with its `${{ matrix.* }}` and `${{ inputs.* }}`
//! evaluated) or its id; for a matrix job, one check per combination, with
//! ` (v1, v2, …)` appended when the name does not read the matrix; for a job
//! that calls a reusable workflow in this repository, `caller / called` for
//! every job of the called workflow, a matrix on either side expanded.
//! Pure: from parsed files to names, or to why a job's names are unknown.

use super::expr::{self, Context};
use super::matrix;
use super::yaml::{Node, Value};

/// One check a job reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: String,
    /// The job id, or `caller / called` ids through reusable workflows.
    pub job: String,
    /// Some job on the way has an `if:` (not evaluated): when it skips,
    /// GitHub counts a required check as passed.
    pub conditional: bool,
}

/// A top-level job and its checks, or why they cannot be known.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub key: String,
    /// The literal text of its `name:` before any expression (or its id).
    pub name_prefix: String,
    pub checks: Result<Vec<Check>, String>,
}

/// The inputs a called workflow gets: values known before the run, and
/// those known only at run time, with why (an error only if a name reads
/// them).
#[derive(Default)]
struct Inputs {
    known: Vec<(String, Value)>,
    run_time: Vec<(String, String)>,
}

/// The parsed workflow files of the repository, for reusable calls.
pub type Files<'a> = &'a [(String, Result<Node, String>)];

/// The longest check name GitHub shows whole.
const MAX_NAME: usize = 100;

/// GitHub's limit on nested reusable workflows.
const MAX_DEPTH: usize = 10;

/// The jobs of a workflow, with the checks each reports.
pub fn jobs(root: &Node, files: Files) -> Result<Vec<Job>, String> {
    let entries = job_entries(root)?;
    let skips = may_skip(entries);
    Ok(entries
        .iter()
        .map(|(key, job)| Job {
            key: key.clone(),
            name_prefix: match job.get("name").and_then(Node::as_str) {
                Some(n) => n.split("${{").next().unwrap_or_default().to_string(),
                None => key.clone(),
            },
            checks: job_checks(key, job, skip_of(&skips, key), &Inputs::default(), files, 0),
        })
        .collect())
}

/// Why a job may be skipped on a pull request, if it may: its own `if:`
/// (not evaluated, unless `always()` or `!cancelled()`), or a job it
/// `needs` that may be skipped (a job whose needs were skipped is skipped
/// too, unless its `if:` says otherwise).
fn may_skip(entries: &[(String, Node)]) -> Vec<(String, Option<String>)> {
    fn visit(key: &str, entries: &[(String, Node)], depth: usize) -> Option<String> {
        let job = entries.iter().find(|(k, _)| k == key).map(|(_, j)| j)?;
        if let Some(cond) = job.get("if") {
            let text = match &cond.value {
                Value::Str(s) => s.trim().to_string(),
                Value::Bool(true) => return None,
                _ => String::new(),
            };
            let inner = text
                .strip_prefix("${{")
                .and_then(|t| t.strip_suffix("}}"))
                .unwrap_or(&text)
                .trim();
            if matches!(inner, "always()" | "!cancelled()" | "true") {
                return None;
            }
            return Some(format!("its `if:` at line {}", cond.line));
        }
        if depth > entries.len() {
            return Some("its `needs:` go round in a circle".to_string());
        }
        let needs: Vec<&str> = match job.get("needs").map(|n| &n.value) {
            Some(Value::Str(n)) => vec![n.as_str()],
            Some(Value::Seq(items)) => items.iter().filter_map(Node::as_str).collect(),
            _ => Vec::new(),
        };
        needs.iter().find_map(|n| {
            visit(n, entries, depth + 1).map(|_| format!("the job it needs, `{n}`, may be skipped"))
        })
    }
    entries
        .iter()
        .map(|(k, _)| (k.clone(), visit(k, entries, 0)))
        .collect()
}

fn skip_of<'a>(skips: &'a [(String, Option<String>)], key: &str) -> Option<&'a str> {
    skips
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, why)| why.as_deref())
}

fn job_entries(root: &Node) -> Result<&[(String, Node)], String> {
    match root.get("jobs") {
        None => Err("it has no top-level `jobs:`".to_string()),
        Some(jobs) => jobs
            .entries()
            .ok_or_else(|| format!("`jobs:` at line {} is not a mapping", jobs.line)),
    }
}

fn valid_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The checks of one job, `inputs` being what its workflow was called with.
fn job_checks(
    key: &str,
    job: &Node,
    skip: Option<&str>,
    inputs: &Inputs,
    files: Files,
    depth: usize,
) -> Result<Vec<Check>, String> {
    if !valid_key(key) {
        return Err(format!(
            "job id {key:?} is not a valid job id, which GitHub rejects"
        ));
    }
    if job.entries().is_none() {
        return Err(format!("the job at line {} is not a mapping", job.line));
    }
    let template = match job.get("name") {
        None => None,
        Some(n) => match &n.value {
            Value::Str(s) => Some(s.clone()),
            Value::Null => None,
            Value::Bool(_) | Value::Number(_) => Some(expr::to_text(&n.value)?),
            _ => return Err(format!("`name:` at line {} is not a string", n.line)),
        },
    };
    let combos = matrix::expand(job)?;
    let conditional = skip.is_some();
    let expanded = combos.is_some()
        || job.get("uses").is_some()
        || template.as_deref().is_some_and(|t| t.contains("${{"));
    if let (Some(why), true) = (skip, expanded) {
        return Err(format!(
            "it may be skipped ({why}), and a skipped job reports one check with its name unexpanded instead of these, so requiring one would leave pull requests waiting whenever it skips"
        ));
    }
    let mut checks = Vec::new();
    for combo in combos.clone().unwrap_or_else(|| vec![Vec::new()]) {
        let cx = Context {
            matrix: &combo,
            inputs: &inputs.known,
            run_time_inputs: &inputs.run_time,
        };
        let mut name = match &template {
            Some(t) => expr::render(t, cx)
                .map_err(|e| format!("its name {t:?} cannot be worked out before it runs: {e}"))?,
            None => key.to_string(),
        };
        if combos.is_some() && !template.as_deref().is_some_and(expr::mentions_matrix) {
            name.push_str(&matrix::suffix(&combo)?);
        }
        match job.get("uses") {
            None => checks.push(Check {
                name,
                job: key.to_string(),
                conditional,
            }),
            Some(uses) => {
                for called in called_checks(uses, job, cx, files, depth)? {
                    checks.push(Check {
                        name: format!("{name} / {}", called.name),
                        job: format!("{key} / {}", called.job),
                        conditional: conditional || called.conditional,
                    });
                }
            }
        }
    }
    if let Some(long) = checks.iter().find(|c| c.name.chars().count() > MAX_NAME) {
        return Err(format!(
            "its check name {:?} is over {MAX_NAME} characters, and GitHub shortens such names",
            long.name
        ));
    }
    Ok(checks)
}

/// The checks of the workflow a job calls, with its `with:` as inputs.
fn called_checks(
    uses: &Node,
    job: &Node,
    cx: Context,
    files: Files,
    depth: usize,
) -> Result<Vec<Check>, String> {
    let Some(target) = uses.as_str() else {
        return Err(format!("`uses:` at line {} is not a string", uses.line));
    };
    let Some(path) = target
        .strip_prefix("./")
        .filter(|p| !p.contains('@') && p.starts_with(".github/workflows/"))
    else {
        return Err(format!(
            "it calls {target:?}, a workflow in another repository or at a ref, which this reader does not fetch, so the names of its checks (`<caller> / <called job>`) are unknown"
        ));
    };
    if depth >= MAX_DEPTH {
        return Err(format!(
            "reusable workflows nest deeper than GitHub's {MAX_DEPTH} levels at {target:?}"
        ));
    }
    let root = match files.iter().find(|(p, _)| p == path) {
        None => return Err(format!("it calls {target:?}, which does not exist")),
        Some((_, Err(why))) => {
            return Err(format!("it calls {target:?}, which cannot be read: {why}"))
        }
        Some((_, Ok(root))) => root,
    };
    let declared = workflow_call_inputs(root)
        .ok_or_else(|| format!("it calls {target:?}, which has no `on: workflow_call` trigger, so GitHub rejects the call"))?;
    let mut inputs = Inputs::default();
    for (name, spec) in declared {
        match spec.get("default") {
            Some(d) if d.as_str().is_some_and(|d| d.contains("${{")) => inputs.run_time.push((
                name.clone(),
                format!("defaults to an expression in {target}, evaluated only when it runs"),
            )),
            Some(d) => inputs.known.push((name.clone(), d.value.clone())),
            None => {}
        }
    }
    if let Some(with) = job.get("with") {
        let Some(entries) = with.entries() else {
            return Err(format!("`with:` at line {} is not a mapping", with.line));
        };
        for (name, value) in entries {
            inputs.known.retain(|(k, _)| k != name);
            inputs.run_time.retain(|(k, _)| k != name);
            match &value.value {
                Value::Str(s) => match expr::render(s, cx) {
                    Ok(text) => inputs.known.push((name.clone(), Value::Str(text))),
                    Err(e) => inputs
                        .run_time
                        .push((name.clone(), format!("is {s:?} in the caller: {e}"))),
                },
                other => inputs.known.push((name.clone(), other.clone())),
            }
        }
    }
    let mut checks = Vec::new();
    let entries = job_entries(root).map_err(|e| format!("{target}: {e}"))?;
    let skips = may_skip(entries);
    for (key, called) in entries {
        let found = job_checks(key, called, skip_of(&skips, key), &inputs, files, depth + 1)
            .map_err(|e| format!("{target}: job `{key}`: {e}"))?;
        checks.extend(found);
    }
    Ok(checks)
}

/// The `on.workflow_call.inputs` of a workflow (empty when it declares
/// none); `None` when it cannot be called.
fn workflow_call_inputs(root: &Node) -> Option<&[(String, Node)]> {
    let on = root.get("on")?;
    match &on.value {
        Value::Str(e) => (e == "workflow_call").then_some(&[][..]),
        Value::Seq(items) => items
            .iter()
            .any(|i| i.as_str() == Some("workflow_call"))
            .then_some(&[][..]),
        Value::Map(_) => {
            let call = on.get("workflow_call")?;
            Some(
                call.get("inputs")
                    .and_then(Node::entries)
                    .unwrap_or(&[][..]),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    /// Each job id with its check names, or the start of its refusal.
    #[track_caller]
    fn check(main: &str, others: &[(&str, &str)], expected: &[(&str, Result<&[&str], &str>)]) {
        let mut files: Vec<(String, Result<Node, String>)> = others
            .iter()
            .map(|(p, t)| (p.to_string(), parse(t)))
            .collect();
        let root = parse(main).unwrap_or_else(|e| panic!("{e}\n{main}"));
        files.push((".github/workflows/main.yml".to_string(), Ok(root.clone())));
        let got = jobs(&root, &files).unwrap();
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for (job, (key, want)) in got.iter().zip(expected) {
            assert_eq!(job.key, *key);
            match (&job.checks, want) {
                (Ok(checks), Ok(names)) => {
                    let got: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
                    assert_eq!(got, *names, "{key}");
                }
                (Err(why), Err(part)) => assert!(why.contains(part), "{key}: {why}"),
                (got, want) => panic!("{key}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn plain_jobs_report_their_name_or_id() {
        check(
            "jobs:\n  check:\n    runs-on: x\n  test:\n    if: github.event_name == 'pull_request'\n    name: \"Unit tests\"\n  folded:\n    name: >-\n      Lint\n      all\n  num:\n    name: 3.10\n  expr:\n    name: ${{ github.event_name }}\n  bad key:\n    runs-on: x\n",
            &[],
            &[
                ("check", Ok(&["check"])),
                ("test", Ok(&["Unit tests"])),
                ("folded", Ok(&["Lint all"])),
                ("num", Ok(&["3.1"])),
                ("expr", Err("run-time context `github`")),
                ("bad key", Err("not a valid job id")),
            ],
        );
    }

    #[test]
    fn matrix_jobs_report_one_check_per_combination() {
        check(
            "jobs:\n  test:\n    strategy:\n      matrix:\n        os: [ubuntu, windows]\n        py: [3.9, '3.10']\n        exclude:\n          - os: windows\n            py: 3.9\n  named:\n    name: Test\n    strategy:\n      matrix:\n        os: [a]\n        include:\n          - os: a\n            extra: x\n  templated:\n    name: ${{ matrix.os }} on py${{ matrix.py }}\n    strategy:\n      matrix:\n        os: [a, b]\n        py: [3]\n  configs:\n    name: ${{ matrix.cfg.name }}\n    strategy:\n      matrix:\n        cfg:\n          - {name: Linux, os: ubuntu}\n          - {name: Mac, os: macos}\n  objects:\n    strategy:\n      matrix:\n        cfg:\n          - {name: Linux, os: ubuntu}\n  dynamic:\n    strategy:\n      matrix: ${{ fromJSON(needs.a.outputs.m) }}\n",
            &[],
            &[
                ("test", Ok(&["test (ubuntu, 3.9)", "test (ubuntu, 3.10)", "test (windows, 3.10)"])),
                ("named", Ok(&["Test (a, x)"])),
                ("templated", Ok(&["a on py3", "b on py3"])),
                ("configs", Ok(&["Linux", "Mac"])),
                ("objects", Ok(&["objects (Linux, ubuntu)"])),
                ("dynamic", Err("known only when the workflow runs")),
            ],
        );
    }

    #[test]
    fn jobs_that_may_be_skipped_keep_only_plain_names() {
        check(
            "jobs:\n  gate:\n    if: github.event_name == 'pull_request'\n  after-gate:\n    needs: gate\n    strategy:\n      matrix:\n        os: [a]\n  always:\n    needs: [gate]\n    if: ${{ always() }}\n    strategy:\n      matrix:\n        os: [a]\n  plain:\n    needs: [gate]\n  named:\n    if: false\n    name: ${{ 'x' }}\n  call:\n    if: github.repository == 'a/b'\n    uses: ./.github/workflows/main.yml\n",
            &[],
            &[
                ("gate", Ok(&["gate"])),
                ("after-gate", Err("it may be skipped (the job it needs, `gate`, may be skipped), and a skipped job reports one check with its name unexpanded")),
                ("always", Ok(&["always (a)"])),
                ("plain", Ok(&["plain"])),
                ("named", Err("may be skipped (its `if:` at line 18)")),
                ("call", Err("may be skipped (its `if:` at line 21)")),
            ],
        );
        let root = parse("jobs:\n  a:\n    needs: b\n  b:\n    needs: a\n  c:\n    if: always()\n")
            .unwrap();
        let found = jobs(&root, &[]).unwrap();
        let conditional: Vec<bool> = found
            .iter()
            .map(|j| j.checks.as_ref().unwrap()[0].conditional)
            .collect();
        assert_eq!(conditional, [true, true, false]);
    }

    #[test]
    fn reusable_workflow_calls_are_named_caller_slash_called() {
        let called = (
            ".github/workflows/lint.yml",
            "on:\n  workflow_call:\n    inputs:\n      target:\n        type: string\n        default: all\n      sha:\n        type: string\n        default: ${{ github.sha }}\njobs:\n  ruff:\n    name: ruff ${{ inputs.target }}\n  unit:\n    strategy:\n      matrix:\n        py: ['3.12', '3.13']\n",
        );
        let not_reusable = (
            ".github/workflows/push.yml",
            "on: push\njobs:\n  a:\n    runs-on: x\n",
        );
        let by_sha = (
            ".github/workflows/by-sha.yml",
            "on:\n  workflow_call:\n    inputs:\n      sha:\n        type: string\njobs:\n  build:\n    name: build ${{ inputs.sha }}\n",
        );
        let nested = (
            ".github/workflows/outer.yml",
            "on: workflow_call\njobs:\n  inner:\n    uses: ./.github/workflows/lint.yml\n    with:\n      target: deep\n",
        );
        check(
            "jobs:\n  lint:\n    uses: ./.github/workflows/lint.yml\n  named:\n    name: Checks\n    uses: ./.github/workflows/lint.yml\n    with:\n      target: src\n  per-os:\n    strategy:\n      matrix:\n        os: [a, b]\n    uses: ./.github/workflows/lint.yml\n    with:\n      target: ${{ matrix.os }}\n  outer:\n    uses: ./.github/workflows/outer.yml\n  remote:\n    uses: org/repo/.github/workflows/x.yml@v1\n  missing:\n    uses: ./.github/workflows/nope.yml\n  push:\n    uses: ./.github/workflows/push.yml\n  planned:\n    uses: ./.github/workflows/lint.yml\n    with:\n      sha: ${{ needs.plan.outputs.sha }}\n  by-sha:\n    uses: ./.github/workflows/by-sha.yml\n    with:\n      sha: ${{ github.sha }}\n  long:\n    name: a caller name of some length, long enough that with the called job's name the check passes 100\n    uses: ./.github/workflows/lint.yml\n",
            &[called, not_reusable, nested, by_sha],
            &[
                ("lint", Ok(&["lint / ruff all", "lint / unit (3.12)", "lint / unit (3.13)"])),
                ("named", Ok(&["Checks / ruff src", "Checks / unit (3.12)", "Checks / unit (3.13)"])),
                (
                    "per-os",
                    Ok(&[
                        "per-os (a) / ruff a",
                        "per-os (a) / unit (3.12)",
                        "per-os (a) / unit (3.13)",
                        "per-os (b) / ruff b",
                        "per-os (b) / unit (3.12)",
                        "per-os (b) / unit (3.13)",
                    ]),
                ),
                (
                    "outer",
                    Ok(&["outer / inner / ruff deep", "outer / inner / unit (3.12)", "outer / inner / unit (3.13)"]),
                ),
                ("remote", Err("another repository")),
                ("missing", Err("does not exist")),
                ("push", Err("no `on: workflow_call`")),
                ("planned", Ok(&["planned / ruff all", "planned / unit (3.12)", "planned / unit (3.13)"])),
                ("by-sha", Err("input `sha` is \"${{ github.sha }}\" in the caller: `${{ github.sha }}`: it depends on the run-time context `github`")),
                ("long", Err("is over 100 characters")),
            ],
        );
    }
}
