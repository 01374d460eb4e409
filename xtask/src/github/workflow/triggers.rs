//! Whether a workflow's `on:` runs it on every pull request whose base is a
//! branch: `pull_request` or `pull_request_target`, in string, list or map
//! form, with their `branches`, `branches-ignore`, `paths`, `paths-ignore`
//! and `types` filters. Pure: from the parsed file to a decision.

use super::filter;
use super::yaml::{Node, Value};

/// Whether a workflow runs on pull requests to a branch.
#[derive(Clone, Debug, PartialEq)]
pub enum Runs {
    /// Yes, through this event.
    Yes(String),
    /// No, and why.
    No(String),
    /// Cannot tell, and why (fails closed: counts as no).
    Unknown(String),
}

const PR_EVENTS: [&str; 2] = ["pull_request", "pull_request_target"];

/// The types of `pull_request` events that must all run the workflow, or a
/// pull request's check goes stale or never appears.
const NEEDED_TYPES: [&str; 3] = ["opened", "synchronize", "reopened"];

/// Whether the workflow's top-level `on:` runs it on pull requests whose
/// base is `branch`, unconditionally (no path filter).
pub fn runs_on_pull_requests(root: &Node, branch: &str) -> Runs {
    let Some(on) = root.get("on") else {
        return Runs::No("it has no top-level `on:`".to_string());
    };
    match &on.value {
        Value::Str(event) => {
            if PR_EVENTS.contains(&event.as_str()) {
                Runs::Yes(event.clone())
            } else {
                Runs::No(format!("it runs on `{event}` only"))
            }
        }
        Value::Seq(items) => {
            let mut events = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(e) => events.push(e.to_string()),
                    None => {
                        return Runs::Unknown(format!(
                            "`on:` at line {} lists something other than event names",
                            on.line
                        ))
                    }
                }
            }
            match events.iter().find(|e| PR_EVENTS.contains(&e.as_str())) {
                Some(e) => Runs::Yes(e.clone()),
                None => Runs::No(format!("it runs on {} only", events.join(", "))),
            }
        }
        Value::Map(entries) => {
            let mut reasons = Vec::new();
            let mut unknown = Vec::new();
            for event in PR_EVENTS {
                let Some((_, filters)) = entries.iter().find(|(k, _)| k == event) else {
                    continue;
                };
                match event_filters(event, filters, branch) {
                    Runs::Yes(why) => return Runs::Yes(why),
                    Runs::No(why) => reasons.push(why),
                    Runs::Unknown(why) => unknown.push(why),
                }
            }
            if !unknown.is_empty() {
                return Runs::Unknown(unknown.join("; "));
            }
            if reasons.is_empty() {
                let events: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                return Runs::No(format!("it runs on {} only", events.join(", ")));
            }
            Runs::No(reasons.join("; "))
        }
        _ => Runs::Unknown(format!(
            "`on:` at line {} is neither an event, a list nor a mapping",
            on.line
        )),
    }
}

fn event_filters(event: &str, filters: &Node, branch: &str) -> Runs {
    let entries = match &filters.value {
        Value::Null => return Runs::Yes(event.to_string()),
        Value::Map(entries) => entries,
        _ => {
            return Runs::Unknown(format!(
                "`{event}:` at line {} is neither empty nor a mapping of filters",
                filters.line
            ))
        }
    };
    for (key, _) in entries {
        let known = [
            "branches",
            "branches-ignore",
            "paths",
            "paths-ignore",
            "types",
        ];
        if !known.contains(&key.as_str()) {
            return Runs::Unknown(format!("`{event}.{key}` is not a filter this reader knows"));
        }
    }
    for key in ["paths", "paths-ignore"] {
        if filters.get(key).is_some() {
            return Runs::No(format!(
                "`{event}` has a `{key}` filter, so it does not run on pull requests that change no matching file (and those would wait for the check forever)"
            ));
        }
    }
    if let Some(types) = filters.get("types") {
        let listed = match strings(types) {
            Ok(list) => list,
            Err(why) => return Runs::Unknown(format!("`{event}.types`: {why}")),
        };
        let missing: Vec<&str> = NEEDED_TYPES
            .iter()
            .copied()
            .filter(|t| !listed.iter().any(|l| l == t))
            .collect();
        if !missing.is_empty() {
            return Runs::No(format!(
                "`{event}.types` leaves out {}, so the check is missing or stale on some pull requests",
                missing.join(", ")
            ));
        }
    }
    match (filters.get("branches"), filters.get("branches-ignore")) {
        (Some(_), Some(_)) => Runs::Unknown(format!(
            "`{event}` has both `branches` and `branches-ignore`, which GitHub rejects"
        )),
        (Some(list), None) => match strings(list).and_then(|p| filter::included(&p, branch)) {
            Ok(true) => Runs::Yes(format!("{event} (branches include {branch})")),
            Ok(false) => Runs::No(format!("`{event}.branches` does not include `{branch}`")),
            Err(why) => Runs::Unknown(format!("`{event}.branches`: {why}")),
        },
        (None, Some(list)) => match strings(list).and_then(|p| filter::ignored(&p, branch)) {
            Ok(false) => Runs::Yes(format!("{event} (branches-ignore leaves {branch} in)")),
            Ok(true) => Runs::No(format!("`{event}.branches-ignore` excludes `{branch}`")),
            Err(why) => Runs::Unknown(format!("`{event}.branches-ignore`: {why}")),
        },
        (None, None) => Runs::Yes(event.to_string()),
    }
}

/// A string or a sequence of strings (a filter list). Numbers and booleans
/// are refused: GitHub's filters are strings, and `3.10` would be 3.1.
fn strings(node: &Node) -> Result<Vec<String>, String> {
    let one = |n: &Node| {
        n.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("line {}: expected a string", n.line))
    };
    match &node.value {
        Value::Seq(items) => items.iter().map(one).collect(),
        _ => one(node).map(|s| vec![s]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Runs) {
        let root = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(runs_on_pull_requests(&root, "main"), expected, "{text}");
    }

    #[track_caller]
    fn unknown(text: &str, why: &str) {
        match runs_on_pull_requests(&parse(text).unwrap(), "main") {
            Runs::Unknown(msg) => assert!(msg.contains(why), "{text}: {msg}"),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn yes(why: &str) -> Runs {
        Runs::Yes(why.to_string())
    }

    #[test]
    fn on_in_string_list_and_map_forms() {
        check("on: pull_request\n", yes("pull_request"));
        check("'on': pull_request_target\n", yes("pull_request_target"));
        check("on: push\n", Runs::No("it runs on `push` only".into()));
        check("on: [push, pull_request]\n", yes("pull_request"));
        check("on:\n  - push\n  - pull_request\n", yes("pull_request"));
        check(
            "on:\n- schedule\n",
            Runs::No("it runs on schedule only".into()),
        );
        check("on:\n  push:\n  pull_request:\n", yes("pull_request"));
        check("\u{feff}on:\n  pull_request: {}\n", yes("pull_request"));
        check("on: {pull_request: null}\n", yes("pull_request"));
        check(
            "on:\n  push:\n    branches: [main]\n",
            Runs::No("it runs on push only".into()),
        );
        check("name: x\n", Runs::No("it has no top-level `on:`".into()));
        unknown("on: [[push]]\n", "something other than event names");
        unknown("on: 3\n", "neither an event");
    }

    #[test]
    fn anchors_and_aliases_in_on_read_right() {
        check(
            "on:\n  push:\n    branches: &b [main, 'release/**']\n  pull_request:\n    branches: *b\n",
            yes("pull_request (branches include main)"),
        );
        check(
            "on:\n  push: &f\n    branches: [dev]\n  pull_request: *f\n",
            Runs::No("`pull_request.branches` does not include `main`".into()),
        );
    }

    #[test]
    fn branch_filters_decide_for_the_protected_branch() {
        check(
            "on:\n  pull_request:\n    branches: [main]\n",
            yes("pull_request (branches include main)"),
        );
        check(
            "on:\n  pull_request:\n    branches:\n      - main\n      - \"[0-9]+.[0-9]+.x\"\n",
            yes("pull_request (branches include main)"),
        );
        check(
            "on:\n  pull_request:\n    branches: '*'\n",
            yes("pull_request (branches include main)"),
        );
        check(
            "on:\n  pull_request:\n    branches: ['ma?in']\n",
            yes("pull_request (branches include main)"),
        );
        check(
            "on:\n  pull_request:\n    branches: [develop, \"[0-9]+.x\"]\n",
            Runs::No("`pull_request.branches` does not include `main`".into()),
        );
        check(
            "on:\n  pull_request:\n    branches: ['**', '!main']\n",
            Runs::No("`pull_request.branches` does not include `main`".into()),
        );
        check(
            "on:\n  pull_request:\n    branches-ignore: [main]\n",
            Runs::No("`pull_request.branches-ignore` excludes `main`".into()),
        );
        check(
            "on:\n  pull_request:\n    branches-ignore: ['m[a-z]+']\n",
            Runs::No("`pull_request.branches-ignore` excludes `main`".into()),
        );
        check(
            "on:\n  pull_request:\n    branches-ignore: [dev]\n",
            yes("pull_request (branches-ignore leaves main in)"),
        );
        check(
            "on:\n  pull_request:\n    branches: [develop]\n  pull_request_target:\n    branches: [main]\n",
            yes("pull_request_target (branches include main)"),
        );
        unknown(
            "on:\n  pull_request:\n    branches: ['[main']\n",
            "not closed",
        );
        unknown(
            "on:\n  pull_request:\n    branches: [main]\n    branches-ignore: [x]\n",
            "both",
        );
        unknown(
            "on:\n  pull_request:\n    branches: [3.10]\n",
            "expected a string",
        );
    }

    #[test]
    fn path_filters_and_partial_types_do_not_count() {
        for text in [
            "on:\n  pull_request:\n    paths: ['src/**']\n",
            "on:\n  pull_request:\n    branches: [main]\n    paths-ignore: ['docs/**']\n",
            "on:\n  pull_request:\n    types: [opened]\n",
        ] {
            assert!(
                matches!(
                    runs_on_pull_requests(&parse(text).unwrap(), "main"),
                    Runs::No(_)
                ),
                "{text}"
            );
        }
        check(
            "on:\n  pull_request:\n    types: [opened, synchronize, reopened, labeled]\n",
            yes("pull_request"),
        );
        unknown("on:\n  pull_request:\n    tags: [v1]\n", "not a filter");
    }
}
