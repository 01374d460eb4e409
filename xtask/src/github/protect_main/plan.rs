//! What the policy wants and how GitHub's answers compare (pure): the
//! request bodies, every desired field, its live value read from GitHub's
//! GET shapes (absent documented-default fields read as their default),
//! and the differences.

use serde_json::{json, Value};

use crate::plumbing::policy::Github;

/// GitHub's largest accepted `required_approving_review_count`.
pub(super) const MAX_REVIEWS: u32 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    Repository,
    Protection,
}

/// One desired setting, named after where GitHub's GET answer holds it.
#[derive(Clone, Debug)]
pub(super) struct Field {
    pub(super) scope: Scope,
    pub(super) name: &'static str,
    pub(super) desired: Value,
}

impl Field {
    pub(super) fn label(&self) -> String {
        match self.scope {
            Scope::Repository => format!("repository.{}", self.name),
            Scope::Protection => format!("protection.{}", self.name),
        }
    }
}

/// The settings GitHub reports as `{"enabled": bool}` in a protection GET.
const ENABLED_FIELDS: [&str; 7] = [
    "required_linear_history",
    "allow_force_pushes",
    "allow_deletions",
    "block_creations",
    "required_conversation_resolution",
    "lock_branch",
    "allow_fork_syncing",
];

/// Protection settings GitHub documents as `false` by default and may leave
/// out of its GET answer (older servers, or settings the plan lacks): their
/// absence from a protected branch's answer reads as `false`, not as drift.
const DEFAULT_FALSE: [&str; 10] = [
    "required_linear_history",
    "allow_force_pushes",
    "allow_deletions",
    "block_creations",
    "required_conversation_resolution",
    "lock_branch",
    "allow_fork_syncing",
    "dismiss_stale_reviews",
    "require_code_owner_reviews",
    "require_last_push_approval",
];

/// The required checks, de-duplicated and sorted (GitHub keeps no order).
pub(super) fn contexts(g: &Github) -> Vec<String> {
    let mut list = g.required_checks.clone();
    list.sort();
    list.dedup();
    list
}

/// The merge policy (PATCH /repos/{repo}).
pub(super) fn merge_policy_body() -> Value {
    json!({
        "allow_merge_commit": false,
        "allow_squash_merge": true,
        "allow_rebase_merge": true,
        "delete_branch_on_merge": true,
    })
}

/// The protection (PUT …/protection): every key GitHub requires
/// (`required_status_checks`, `enforce_admins`,
/// `required_pull_request_reviews`, `restrictions`) and every optional one
/// we enforce, explicitly, so nothing is left to GitHub's defaults.
pub(super) fn protection_body(g: &Github) -> Value {
    json!({
        "required_status_checks": { "strict": true, "contexts": contexts(g) },
        "enforce_admins": true,
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": g.dismiss_stale_reviews,
            "require_code_owner_reviews": g.require_code_owner_reviews,
            "required_approving_review_count": g.required_approving_review_count,
            "require_last_push_approval": g.require_last_push_approval,
        },
        "restrictions": null,
        "required_linear_history": true,
        "allow_force_pushes": false,
        "allow_deletions": false,
        "block_creations": false,
        "required_conversation_resolution": g.required_conversation_resolution,
        "lock_branch": false,
        "allow_fork_syncing": false,
    })
}

/// Every desired field, for comparison with GitHub's GET answers.
pub(super) fn desired_fields(g: &Github) -> Vec<Field> {
    let mut fields = Vec::new();
    let repo = merge_policy_body();
    for name in [
        "allow_merge_commit",
        "allow_squash_merge",
        "allow_rebase_merge",
        "delete_branch_on_merge",
    ] {
        fields.push(Field {
            scope: Scope::Repository,
            name,
            desired: repo[name].clone(),
        });
    }
    let put = protection_body(g);
    let p = |name, desired| Field {
        scope: Scope::Protection,
        name,
        desired,
    };
    fields.push(p("required_status_checks.strict", json!(true)));
    fields.push(p("required_status_checks.contexts", json!(contexts(g))));
    fields.push(p("enforce_admins", json!(true)));
    for name in [
        "required_approving_review_count",
        "dismiss_stale_reviews",
        "require_code_owner_reviews",
        "require_last_push_approval",
    ] {
        let full = match name {
            "required_approving_review_count" => {
                "required_pull_request_reviews.required_approving_review_count"
            }
            "dismiss_stale_reviews" => "required_pull_request_reviews.dismiss_stale_reviews",
            "require_code_owner_reviews" => {
                "required_pull_request_reviews.require_code_owner_reviews"
            }
            _ => "required_pull_request_reviews.require_last_push_approval",
        };
        fields.push(p(full, put["required_pull_request_reviews"][name].clone()));
    }
    for name in ENABLED_FIELDS {
        fields.push(p(name, put[name].clone()));
    }
    fields.push(p("restrictions", Value::Null));
    fields
}

/// The live value of a field, from GitHub's GET shapes (`None`: GitHub's
/// answer does not have it, e.g. the branch is unprotected).
pub(super) fn live_value(field: &Field, repo: &Value, protection: Option<&Value>) -> Option<Value> {
    if field.scope == Scope::Repository {
        return repo.get(field.name).filter(|v| v.is_boolean()).cloned();
    }
    let p = protection?;
    match field.name {
        "restrictions" => Some(match p.get("restrictions") {
            None | Some(Value::Null) => Value::Null,
            Some(r) => {
                let names = |key: &str, id: &str| -> Vec<Value> {
                    r.get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.get(id).cloned())
                        .collect()
                };
                json!({ "users": names("users", "login"), "teams": names("teams", "slug"), "apps": names("apps", "slug") })
            }
        }),
        "required_status_checks.strict" => p
            .pointer("/required_status_checks/strict")
            .filter(|v| v.is_boolean())
            .cloned(),
        "required_status_checks.contexts" => {
            let rsc = p.get("required_status_checks")?;
            let mut names: Vec<String> = match rsc.get("contexts").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                None => rsc
                    .get("checks")?
                    .as_array()?
                    .iter()
                    .filter_map(|c| c.get("context").and_then(Value::as_str).map(str::to_string))
                    .collect(),
            };
            names.sort();
            names.dedup();
            Some(json!(names))
        }
        "enforce_admins" => p
            .pointer("/enforce_admins/enabled")
            .filter(|v| v.is_boolean())
            .cloned(),
        name if name.starts_with("required_pull_request_reviews.") => {
            let reviews = p.get("required_pull_request_reviews")?;
            let key = &name["required_pull_request_reviews.".len()..];
            match reviews.get(key) {
                Some(Value::Null) | None if DEFAULT_FALSE.contains(&key) => Some(json!(false)),
                Some(Value::Null) | None => None,
                Some(v) => Some(v.clone()),
            }
        }
        name => match p.get(name) {
            // Documented as false when GitHub leaves it out.
            None | Some(Value::Null) if DEFAULT_FALSE.contains(&name) => Some(json!(false)),
            v => v
                .and_then(|v| v.get("enabled"))
                .filter(|v| v.is_boolean())
                .cloned(),
        },
    }
}

/// A desired field and what GitHub reports.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct Diff {
    pub(super) field: String,
    pub(super) desired: Value,
    pub(super) live: Option<Value>,
}

pub(super) fn differences(fields: &[Field], repo: &Value, protection: Option<&Value>) -> Vec<Diff> {
    fields
        .iter()
        .filter_map(|f| {
            let live = live_value(f, repo, protection);
            (live.as_ref() != Some(&f.desired)).then(|| Diff {
                field: f.label(),
                desired: f.desired.clone(),
                live,
            })
        })
        .collect()
}

pub(super) fn show(v: Option<&Value>) -> String {
    match v {
        None => "(not set)".to_string(),
        Some(Value::Null) => "none".to_string(),
        Some(v) => v.to_string(),
    }
}

/// How a ruleset rule on the branch relates to the policy protect-main
/// applies through classic protection.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(super) struct RuleFinding {
    /// The rule's type (`required_status_checks`, `pull_request`, …).
    pub(super) rule: String,
    pub(super) source: String,
    /// `overlap` (the policy requires it too), `conflict` (it requires
    /// more than, or other than, the policy), `other` (not managed by
    /// protect-main).
    pub(super) kind: &'static str,
    pub(super) detail: String,
}

/// A `required_status_checks` rule's checks: required by the policy too,
/// or not.
fn status_check_findings(policy_checks: &[String], rule: &Value) -> Vec<(&'static str, String)> {
    crate::github::client::required_checks_of_rules(std::slice::from_ref(rule))
        .into_iter()
        .map(|c| {
            if policy_checks.contains(&c.context) {
                ("overlap", format!("requires check {}, which the policy requires too", c.label()))
            } else {
                ("conflict", format!("requires check {}, which is not in [github] required-checks: every pull request waits for it too", c.label()))
            }
        })
        .collect()
}

/// A `pull_request` rule against the policy's reviews.
fn pull_request_findings(g: &Github, params: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let count = params["required_approving_review_count"]
        .as_u64()
        .unwrap_or(0);
    let policy = u64::from(g.required_approving_review_count);
    if count > policy {
        out.push((
            "conflict",
            format!("requires {count} approving review(s), the policy {policy}"),
        ));
    } else {
        out.push((
            "overlap",
            format!("requires pull requests ({count} approving review(s); the policy {policy})"),
        ));
    }
    for (key, wanted, name) in [
        (
            "dismiss_stale_reviews_on_push",
            g.dismiss_stale_reviews,
            "dismiss-stale-reviews",
        ),
        (
            "require_code_owner_review",
            g.require_code_owner_reviews,
            "require-code-owner-reviews",
        ),
        (
            "require_last_push_approval",
            g.require_last_push_approval,
            "require-last-push-approval",
        ),
    ] {
        if params[key] == true && !wanted {
            out.push((
                "conflict",
                format!("sets {key}, the policy's {name} is false"),
            ));
        }
    }
    out
}

/// The ruleset rules on the branch against the policy (pure). GitHub
/// applies both; protect-main manages classic protection only.
pub(super) fn ruleset_findings(g: &Github, rules: &[Value]) -> Vec<RuleFinding> {
    let policy_checks = contexts(g);
    let mut out = Vec::new();
    for rule in rules {
        let ty = rule["type"].as_str().unwrap_or("?").to_string();
        let source = crate::github::client::ruleset_name(rule);
        let mut push = |kind: &'static str, detail: String| {
            out.push(RuleFinding {
                rule: ty.clone(),
                source: source.clone(),
                kind,
                detail,
            })
        };
        let found = match ty.as_str() {
            "required_status_checks" => status_check_findings(&policy_checks, rule),
            "pull_request" => pull_request_findings(g, &rule["parameters"]),
            "non_fast_forward" => {
                vec![("overlap", "blocks force pushes, as the policy does".into())]
            }
            "deletion" => vec![("overlap", "blocks deletion, as the policy does".into())],
            "required_linear_history" => {
                vec![(
                    "overlap",
                    "requires linear history, as the policy does".into(),
                )]
            }
            other => vec![(
                "other",
                format!(
                    "{} is not managed by protect-main",
                    crate::github::client::sanitize(other)
                ),
            )],
        };
        for (kind, detail) in found {
            push(kind, detail);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Github {
        Github {
            required_checks: vec!["test".into(), "check".into(), "test".into()],
            ..Github::default()
        }
    }

    /// GitHub's GET answer for a branch protected exactly as `protection_body`.
    fn get_shape(g: &Github) -> Value {
        json!({
            "url": "https://api.github.com/repos/o/r/branches/main/protection",
            "required_status_checks": {
                "strict": true, "contexts": contexts(g),
                "checks": contexts(g).iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>(),
            },
            "required_pull_request_reviews": {
                "dismiss_stale_reviews": false, "require_code_owner_reviews": false,
                "required_approving_review_count": 0, "require_last_push_approval": false,
            },
            "enforce_admins": { "url": "x", "enabled": true },
            "required_linear_history": { "enabled": true },
            "allow_force_pushes": { "enabled": false },
            "allow_deletions": { "enabled": false },
            "block_creations": { "enabled": false },
            "required_conversation_resolution": { "enabled": true },
            "lock_branch": { "enabled": false },
            "allow_fork_syncing": { "enabled": false },
            "required_signatures": { "enabled": false },
        })
    }

    fn compliant_repo() -> Value {
        json!({ "allow_merge_commit": false, "allow_squash_merge": true, "allow_rebase_merge": true, "delete_branch_on_merge": true })
    }

    #[track_caller]
    fn check(repo: Value, protection: Option<Value>, expected: &[&str]) {
        let g = policy();
        let diffs = differences(&desired_fields(&g), &repo, protection.as_ref());
        let names: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_compliant_state_has_no_differences() {
        check(compliant_repo(), Some(get_shape(&policy())), &[]);
    }

    #[test]
    fn an_unprotected_branch_differs_in_every_protection_field() {
        let diffs = differences(&desired_fields(&policy()), &compliant_repo(), None);
        assert_eq!(diffs.len(), desired_fields(&policy()).len() - 4);
        assert!(diffs
            .iter()
            .all(|d| d.field.starts_with("protection.") && d.live.is_none()));
    }

    #[test]
    fn fields_are_read_from_the_get_shape() {
        let mut p = get_shape(&policy());
        p["enforce_admins"]["enabled"] = json!(false);
        p["required_status_checks"]["contexts"] = json!(["check"]);
        p["required_pull_request_reviews"]["required_approving_review_count"] = json!(1);
        p["allow_force_pushes"] = json!({ "enabled": true });
        p["restrictions"] = json!({ "users": [{ "login": "bot" }], "teams": [], "apps": [] });
        let mut repo = compliant_repo();
        repo["allow_merge_commit"] = json!(true);
        repo.as_object_mut()
            .unwrap()
            .remove("delete_branch_on_merge");
        check(
            repo,
            Some(p),
            &[
                "repository.allow_merge_commit",
                "repository.delete_branch_on_merge",
                "protection.required_status_checks.contexts",
                "protection.enforce_admins",
                "protection.required_pull_request_reviews.required_approving_review_count",
                "protection.allow_force_pushes",
                "protection.restrictions",
            ],
        );
    }

    #[test]
    fn checks_are_read_when_contexts_are_absent_and_order_does_not_matter() {
        let mut p = get_shape(&policy());
        p["required_status_checks"]
            .as_object_mut()
            .unwrap()
            .remove("contexts");
        p["required_status_checks"]["checks"] = json!([{ "context": "test", "app_id": 15368 }, { "context": "check", "app_id": 15368 }]);
        check(compliant_repo(), Some(p), &[]);
    }

    #[test]
    fn absent_documented_default_fields_read_as_false() {
        let mut p = get_shape(&policy());
        for key in ["lock_branch", "allow_fork_syncing", "block_creations"] {
            p.as_object_mut().unwrap().remove(key);
        }
        p["required_pull_request_reviews"]
            .as_object_mut()
            .unwrap()
            .remove("require_last_push_approval");
        check(compliant_repo(), Some(p.clone()), &[]);
        // Absent means false, which is not what a policy wanting true has.
        let mut g = policy();
        g.require_last_push_approval = true;
        let diffs = differences(&desired_fields(&g), &compliant_repo(), Some(&p));
        let names: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            names,
            ["protection.required_pull_request_reviews.require_last_push_approval"]
        );
        assert_eq!(diffs[0].live, Some(json!(false)));
        // Without reviews required at all, nothing is assumed about them.
        p.as_object_mut()
            .unwrap()
            .remove("required_pull_request_reviews");
        let diffs = differences(&desired_fields(&policy()), &compliant_repo(), Some(&p));
        assert!(diffs.iter().any(|d| d.field
            == "protection.required_pull_request_reviews.required_approving_review_count"
            && d.live.is_none()));
    }

    #[test]
    fn ruleset_rules_are_told_apart_as_overlap_conflict_or_other() {
        let g = policy();
        let rules = [
            json!({ "type": "required_status_checks", "ruleset_id": 3, "ruleset_source": "acme/service",
                "parameters": { "strict_required_status_checks_policy": true, "required_status_checks": [
                    { "context": "test" }, { "context": "e2e", "integration_id": 42 } ] } }),
            json!({ "type": "pull_request", "ruleset_id": 4, "ruleset_source": "acme",
                "parameters": { "required_approving_review_count": 2, "require_code_owner_review": true } }),
            json!({ "type": "deletion", "ruleset_id": 4, "ruleset_source": "acme" }),
            json!({ "type": "merge_queue", "ruleset_id": 4, "ruleset_source": "acme" }),
        ];
        let got: Vec<(String, &str, String)> = ruleset_findings(&g, &rules)
            .into_iter()
            .map(|f| (f.rule, f.kind, f.detail))
            .collect();
        let kinds: Vec<(&str, &str)> = got.iter().map(|(r, k, _)| (r.as_str(), *k)).collect();
        assert_eq!(
            kinds,
            [
                ("required_status_checks", "overlap"),
                ("required_status_checks", "conflict"),
                ("pull_request", "conflict"),
                ("pull_request", "conflict"),
                ("deletion", "overlap"),
                ("merge_queue", "other"),
            ]
        );
        assert!(
            got[1]
                .2
                .contains("e2e (app 42), which is not in [github] required-checks"),
            "{got:?}"
        );
        assert!(
            got[2]
                .2
                .contains("requires 2 approving review(s), the policy 0"),
            "{got:?}"
        );
        assert!(ruleset_findings(&g, &[]).is_empty());
    }

    #[test]
    fn the_put_body_sends_every_required_key_explicitly() {
        let body = protection_body(&policy());
        for key in [
            "required_status_checks",
            "enforce_admins",
            "required_pull_request_reviews",
            "restrictions",
        ] {
            assert!(body.get(key).is_some(), "{key}");
        }
        assert_eq!(
            body["required_status_checks"],
            json!({ "strict": true, "contexts": ["check", "test"] })
        );
        assert_eq!(body["restrictions"], Value::Null);
    }
}
