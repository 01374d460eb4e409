//! Required status checks as GitHub states them: classic branch
//! protection (`required_status_checks.contexts` and `.checks[].app_id`)
//! and repository rulesets (the rules that apply to a branch, `GET
//! /repos/{owner}/{repo}/rules/branches/{branch}`, with `integration_id`).

use serde_json::Value;

use super::Client;
use crate::plumbing::exit;

/// A status check that must pass, and the GitHub App that must report it
/// (`None`: any reporter; GitHub's `-1` also means any).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RequiredCheck {
    pub context: String,
    pub app_id: Option<i64>,
    /// Where the requirement comes from: `branch protection`, or
    /// `ruleset "<name>"`.
    pub source: String,
}

impl RequiredCheck {
    /// Whether a report by `app` (a check run's app id; `None` for a commit
    /// status) can satisfy this requirement.
    pub fn accepts(&self, app: Option<i64>) -> bool {
        match self.app_id {
            None | Some(-1) => true,
            Some(id) => app == Some(id),
        }
    }

    /// `name`, or `name (app 15368)` when an app is required.
    pub fn label(&self) -> String {
        match self.app_id {
            None | Some(-1) => self.context.clone(),
            Some(id) => format!("{} (app {id})", self.context),
        }
    }
}

/// The checks classic protection requires: `checks[]` (with `app_id`),
/// else `contexts` (any app).
pub fn required_checks_of_protection(required_status_checks: &Value) -> Vec<RequiredCheck> {
    let source = "branch protection".to_string();
    let mut out: Vec<RequiredCheck> = Vec::new();
    for c in required_status_checks["checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(context) = c["context"].as_str() {
            out.push(RequiredCheck {
                context: context.to_string(),
                app_id: c["app_id"].as_i64(),
                source: source.clone(),
            });
        }
    }
    for c in required_status_checks["contexts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(context) = c.as_str() {
            if !out.iter().any(|r| r.context == context) {
                out.push(RequiredCheck {
                    context: context.to_string(),
                    app_id: None,
                    source: source.clone(),
                });
            }
        }
    }
    out
}

/// The checks the `required_status_checks` rules of rulesets require.
pub fn required_checks_of_rules(rules: &[Value]) -> Vec<RequiredCheck> {
    let mut out = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| r["type"] == "required_status_checks")
    {
        let source = ruleset_name(rule);
        for c in rule
            .pointer("/parameters/required_status_checks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(context) = c["context"].as_str() {
                out.push(RequiredCheck {
                    context: context.to_string(),
                    app_id: c["integration_id"].as_i64(),
                    source: source.clone(),
                });
            }
        }
    }
    out
}

/// `ruleset "<source> #<id>"`, for messages.
pub fn ruleset_name(rule: &Value) -> String {
    let id = rule["ruleset_id"]
        .as_i64()
        .map(|i| format!(" #{i}"))
        .unwrap_or_default();
    let source = rule["ruleset_source"].as_str().unwrap_or("?");
    super::sanitize(&format!("ruleset{id} of {source}"))
}

impl Client {
    /// The ruleset rules that apply to `branch`, every page (readable with
    /// read access; classic protection is not among them).
    pub fn branch_rules(&self, branch: &str) -> anyhow::Result<Vec<Value>> {
        self.get_list(
            &format!("/repos/{}/rules/branches/{branch}", self.repo),
            None,
            10,
            "the branch has more ruleset rules than this command reads",
        )
        .map_err(|e| exit::failed(format!("{e:#}\n(the rules of rulesets on {branch})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classic_checks_keep_their_app_and_contexts_fill_in() {
        let rsc = json!({
            "contexts": ["test", "lint"],
            "checks": [{ "context": "test", "app_id": 15368 }, { "context": "lint", "app_id": null }],
        });
        let got = required_checks_of_protection(&rsc);
        assert_eq!(
            got.iter()
                .map(|c| (c.context.as_str(), c.app_id))
                .collect::<Vec<_>>(),
            [("test", Some(15368)), ("lint", None)]
        );
        let only_contexts = required_checks_of_protection(&json!({ "contexts": ["a"] }));
        assert_eq!(only_contexts[0].app_id, None);
    }

    #[test]
    fn ruleset_checks_keep_their_integration() {
        let rules = [
            json!({ "type": "deletion", "ruleset_id": 1, "ruleset_source": "acme/app" }),
            json!({ "type": "required_status_checks", "ruleset_id": 7, "ruleset_source": "acme",
                "parameters": { "strict_required_status_checks_policy": true, "required_status_checks": [
                    { "context": "e2e", "integration_id": 42 }, { "context": "audit" } ] } }),
        ];
        let got = required_checks_of_rules(&rules);
        assert_eq!(
            got.iter()
                .map(|c| (c.context.as_str(), c.app_id, c.source.as_str()))
                .collect::<Vec<_>>(),
            [
                ("e2e", Some(42), "ruleset #7 of acme"),
                ("audit", None, "ruleset #7 of acme")
            ]
        );
        assert!(got[0].accepts(Some(42)) && !got[0].accepts(Some(1)) && !got[0].accepts(None));
        assert!(got[1].accepts(None) && got[1].accepts(Some(1)));
        let any = RequiredCheck {
            context: "x".into(),
            app_id: Some(-1),
            source: String::new(),
        };
        assert!(any.accepts(None));
        assert_eq!(got[0].label(), "e2e (app 42)");
    }
}
