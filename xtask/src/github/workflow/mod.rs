//! Which status checks the repository's GitHub Actions workflows produce on
//! pull requests to a branch: protect-main refuses to require a check that
//! nothing produces, because GitHub would then hold every pull request
//! forever ("Expected — Waiting for status to be reported").
//!
//! Split by responsibility, every part pure (protect-main gathers the
//! files):
//! - `yaml`: the file as values with lines, by a real YAML parser; a file
//!   GitHub rejects is refused with its line.
//! - `triggers` and `filter`: whether `on:` runs the workflow on every pull
//!   request to the branch (GitHub's branch filter patterns).
//! - `jobs`, `matrix` and `expr`: the check names each job reports (matrix
//!   expansion, name templates, reusable workflows in this repository).
//! - this file: each required check matched to a producing job, or the
//!   evidence why none does, with "did you mean" for near misses.
//!
//! It fails closed: whatever it cannot read (a run-time expression in a
//! name or a matrix, a workflow in another repository, an unknown filter)
//! counts as producing nothing, with the line and the reason.

mod expr;
mod filter;
mod jobs;
mod matrix;
mod triggers;
mod yaml;

use std::fmt;

use jobs::Job;
use triggers::Runs;
use yaml::Node;

/// Where a check is produced.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Produced {
    pub check: String,
    pub workflow: String,
    /// The job id (`caller / called` through reusable workflows).
    pub job: String,
    /// The job has an `if:`; a skipped job satisfies the check.
    pub conditional: bool,
}

/// A required check that no workflow produces, with the near misses.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Missing {
    pub check: String,
    pub evidence: Vec<String>,
    /// The closest check name that pull requests do get, if one is close.
    pub did_you_mean: Option<String>,
}

/// What step 1 found: every required check either produced or missing.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Findings {
    pub produced: Vec<Produced>,
    pub missing: Vec<Missing>,
    /// Workflows this reader could not read (shown as warnings).
    pub unreadable: Vec<String>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "required check `{}` is produced by no workflow job that runs on pull requests",
            self.check
        )?;
        if let Some(near) = &self.did_you_mean {
            write!(f, "; did you mean `{near}`?")?;
        }
        for e in &self.evidence {
            write!(f, "\n    {e}")?;
        }
        Ok(())
    }
}

/// One workflow file as read.
struct Read {
    path: String,
    runs: Runs,
    jobs: Result<Vec<Job>, String>,
}

/// Checks every required check against the workflows (`(path, text)`), for
/// pull requests whose base is `branch`.
pub fn check_required(files: &[(String, String)], branch: &str, required: &[String]) -> Findings {
    let parsed: Vec<(String, Result<Node, String>)> = files
        .iter()
        .map(|(path, text)| (path.clone(), yaml::parse(text)))
        .collect();
    let mut findings = Findings::default();
    let mut read = Vec::new();
    for (path, root) in &parsed {
        match root {
            Ok(root) => read.push(Read {
                path: path.clone(),
                runs: triggers::runs_on_pull_requests(root, branch),
                jobs: jobs::jobs(root, &parsed),
            }),
            Err(why) => findings.unreadable.push(format!("{path}: {why}")),
        }
    }
    let offered: Vec<&str> = read
        .iter()
        .filter(|wf| matches!(wf.runs, Runs::Yes(_)))
        .filter_map(|wf| wf.jobs.as_ref().ok())
        .flatten()
        .filter_map(|job| job.checks.as_ref().ok())
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    for check in required {
        match produced_by(&read, check) {
            Some(p) => findings.produced.push(p),
            None => {
                let mut evidence = evidence(&read, check, branch);
                if evidence.is_empty() {
                    evidence.push(format!("no job in .github/workflows/ has that id or `name:` ({} workflow file(s) read)", read.len()));
                }
                evidence.extend(
                    findings
                        .unreadable
                        .iter()
                        .map(|u| format!("{u} (this reader cannot tell what it produces)")),
                );
                findings.missing.push(Missing {
                    check: check.clone(),
                    evidence,
                    did_you_mean: nearest(check, &offered).map(str::to_string),
                });
            }
        }
    }
    findings
}

/// What the workflows offer pull requests to `branch`: every check name a
/// job reports there (as [`Produced`]), and, as notes, what cannot be known
/// (unreadable files, jobs whose names depend on the run). For `init`,
/// which proposes required checks.
pub fn pull_request_checks(
    files: &[(String, String)],
    branch: &str,
) -> (Vec<Produced>, Vec<String>) {
    let parsed: Vec<(String, Result<Node, String>)> = files
        .iter()
        .map(|(path, text)| (path.clone(), yaml::parse(text)))
        .collect();
    let mut offered = Vec::new();
    let mut notes = Vec::new();
    for (path, root) in &parsed {
        let root = match root {
            Ok(root) => root,
            Err(why) => {
                notes.push(format!(
                    "{path} cannot be read ({why}): its jobs are not listed"
                ));
                continue;
            }
        };
        if !matches!(triggers::runs_on_pull_requests(root, branch), Runs::Yes(_)) {
            continue;
        }
        match jobs::jobs(root, &parsed) {
            Err(why) => notes.push(format!("{path}: {why}")),
            Ok(jobs) => {
                for job in jobs {
                    match job.checks {
                        Err(why) => notes.push(format!(
                            "{path}: job `{}` is not a required check: {why}",
                            job.key
                        )),
                        Ok(checks) => offered.extend(checks.into_iter().map(|c| Produced {
                            check: c.name,
                            workflow: path.clone(),
                            job: c.job,
                            conditional: c.conditional,
                        })),
                    }
                }
            }
        }
    }
    (offered, notes)
}

/// The first job of a workflow that runs on pull requests to the branch and
/// reports the check.
fn produced_by(read: &[Read], check: &str) -> Option<Produced> {
    read.iter()
        .filter(|wf| matches!(wf.runs, Runs::Yes(_)))
        .find_map(|wf| {
            let jobs = wf.jobs.as_ref().ok()?;
            let found = jobs
                .iter()
                .filter_map(|job| job.checks.as_ref().ok())
                .flatten()
                .find(|c| c.name == check)?;
            Some(Produced {
                check: check.to_string(),
                workflow: wf.path.clone(),
                job: found.job.clone(),
                conditional: found.conditional,
            })
        })
}

/// Why no job produces the check: jobs that report it where the workflow
/// does not run, jobs with its id but another name, jobs whose names cannot
/// be worked out and might be it.
fn evidence(read: &[Read], check: &str, branch: &str) -> Vec<String> {
    let mut evidence = Vec::new();
    for wf in read {
        let path = &wf.path;
        let jobs = match &wf.jobs {
            Ok(jobs) => jobs,
            Err(why) => {
                evidence.push(format!("{path}: its jobs cannot be read: {why}"));
                continue;
            }
        };
        for job in jobs {
            let key = &job.key;
            match (&job.checks, &wf.runs) {
                (Ok(checks), Runs::No(why)) if checks.iter().any(|c| c.name == check) => {
                    evidence.push(format!("{path}: job `{key}` reports `{check}`, but the workflow does not run on pull requests to `{branch}`: {why}"));
                }
                (Ok(checks), Runs::Unknown(why)) if checks.iter().any(|c| c.name == check) => {
                    evidence.push(format!("{path}: job `{key}` reports `{check}`, but whether the workflow runs on pull requests to `{branch}` cannot be read: {why}"));
                }
                (Ok(checks), _) if key == check => {
                    let names: Vec<String> = checks
                        .iter()
                        .take(3)
                        .map(|c| format!("`{}`", c.name))
                        .collect();
                    let more = if checks.len() > 3 { ", …" } else { "" };
                    evidence.push(format!(
                        "{path}: job `{key}` reports {}{more}, not `{check}`",
                        names.join(", ")
                    ));
                }
                (Err(why), _) if might_be(job, check) => {
                    evidence.push(format!(
                        "{path}: job `{key}` might report `{check}`, but its check names cannot be worked out: {why}"
                    ));
                }
                _ => {}
            }
        }
    }
    evidence
}

/// Whether a job whose names are unknown could be the one meant.
fn might_be(job: &Job, check: &str) -> bool {
    let prefix = job.name_prefix.trim();
    job.key == check
        || check.starts_with(&format!("{} ", job.key))
        || (!prefix.is_empty() && check.starts_with(prefix))
}

/// The offered check name closest to `check`, when close enough to be a
/// typo: same letters in another case, or a few edits apart.
fn nearest<'a>(check: &str, offered: &[&'a str]) -> Option<&'a str> {
    let limit = (check.chars().count() / 4).clamp(1, 3);
    offered
        .iter()
        .map(|o| {
            let d = if o.eq_ignore_ascii_case(check) {
                0
            } else {
                edit_distance(check, o)
            };
            (d, *o)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| (format!(".github/workflows/{p}"), t.to_string()))
            .collect()
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        for (a, b, d) in [
            ("", "", 0),
            ("lint", "lint", 0),
            ("lint", "lnit", 2),
            ("test", "tests", 1),
            ("kitten", "sitting", 3),
            ("é", "e", 1),
        ] {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
        }
        let offered = ["Lint", "test (ubuntu, 3.12)", "docs"];
        assert_eq!(nearest("lint", &offered), Some("Lint"));
        assert_eq!(
            nearest("test (ubuntu, 3.13)", &offered),
            Some("test (ubuntu, 3.12)")
        );
        assert_eq!(nearest("dcs", &offered), Some("docs"));
        assert_eq!(nearest("deploy", &offered), None);
    }

    #[test]
    fn pull_request_checks_lists_what_pull_requests_get_and_what_cannot_be_known() {
        let files = files(&[
            ("ci.yml", "on: pull_request\njobs:\n  lint:\n    runs-on: x\n  test:\n    strategy:\n      matrix:\n        os: [a, b]\n  dyn:\n    name: ${{ github.ref }}\n"),
            ("release.yml", "on: push\njobs:\n  deploy:\n    runs-on: x\n"),
            ("broken.yml", "on: pull_request\njobs:\n  a:\n    name: A: b\n"),
        ]);
        let (offered, notes) = pull_request_checks(&files, "main");
        let names: Vec<(&str, &str)> = offered
            .iter()
            .map(|p| (p.check.as_str(), p.job.as_str()))
            .collect();
        assert_eq!(
            names,
            [("lint", "lint"), ("test (a)", "test"), ("test (b)", "test")]
        );
        assert_eq!(notes.len(), 2, "{notes:#?}");
        assert!(
            notes[0].starts_with(
                ".github/workflows/ci.yml: job `dyn` is not a required check: its name"
            ),
            "{}",
            notes[0]
        );
        assert!(
            notes[1]
                .starts_with(".github/workflows/broken.yml cannot be read (line 4: not valid YAML"),
            "{}",
            notes[1]
        );
    }

    #[test]
    fn required_checks_are_matched_against_pull_request_jobs() {
        let files = files(&[
            ("ci.yml", "on:\n  pull_request:\n    branches: [main]\njobs:\n  check:\n    name: Lint\n  test:\n    runs-on: x\n  matrix:\n    strategy:\n      matrix:\n        os: [a, b]\n  call:\n    uses: ./.github/workflows/reusable.yml\n  dyn:\n    name: dyn ${{ github.ref }}\n"),
            ("reusable.yml", "on: workflow_call\njobs:\n  ruff:\n    if: github.event_name == 'pull_request'\n    runs-on: x\n"),
            ("release.yml", "on: push\njobs:\n  deploy:\n    runs-on: x\n"),
            ("odd.yml", "on:\n  pull_request:\n    tags: [x]\njobs:\n  odd:\n    runs-on: x\n"),
            ("broken.yml", "jobs:\n  a:\n    name: Test: unit\n"),
        ]);
        let required = [
            "Lint",
            "test",
            "matrix (b)",
            "call / ruff",
            "deploy",
            "odd",
            "check",
            "Lnt",
            "dyn refs/x",
        ]
        .map(String::from);
        let f = check_required(&files, "main", &required);
        let produced: Vec<_> = f
            .produced
            .iter()
            .map(|p| (p.check.as_str(), p.job.as_str(), p.conditional))
            .collect();
        assert_eq!(
            produced,
            [
                ("Lint", "check", false),
                ("test", "test", false),
                ("matrix (b)", "matrix", false),
                ("call / ruff", "call / ruff", true),
            ]
        );
        let missing: Vec<_> = f.missing.iter().map(|m| m.check.as_str()).collect();
        assert_eq!(missing, ["deploy", "odd", "check", "Lnt", "dyn refs/x"]);
        let deploy = f.missing[0].to_string();
        assert!(deploy.contains("release.yml: job `deploy` reports `deploy`, but the workflow does not run on pull requests to `main`: it runs on `push` only"), "{deploy}");
        assert!(
            deploy.contains("broken.yml: line 3: not valid YAML"),
            "{deploy}"
        );
        let odd = f.missing[1].to_string();
        assert!(
            odd.contains("odd.yml: job `odd` reports `odd`, but whether the workflow runs"),
            "{odd}"
        );
        let check = f.missing[2].to_string();
        assert!(
            check.contains("ci.yml: job `check` reports `Lint`, not `check`"),
            "{check}"
        );
        assert_eq!(f.missing[3].did_you_mean.as_deref(), Some("Lint"));
        assert!(f.missing[3].to_string().contains("did you mean `Lint`?"));
        let dynamic = f.missing[4].to_string();
        assert!(
            dynamic.contains(
                "job `dyn` might report `dyn refs/x`, but its check names cannot be worked out"
            ),
            "{dynamic}"
        );
        assert!(dynamic.contains("run-time context `github`"), "{dynamic}");
        assert_eq!(f.unreadable.len(), 1);
    }
}
