//! [`Policy::reference`]: every key set, for the test that POLICY.md documents each.

use std::collections::BTreeMap;

use super::*;

impl Policy {
    /// A policy with every key set, for the reference test: maps use the key
    /// `<name>`. Written as struct literals without `..Default::default()`, so
    /// that a new key does not compile until it is added here, and then the
    /// test fails until `docs/POLICY.md` documents it.
    #[cfg(test)]
    // tidy: long-fn: one struct literal with every key, so a new key does not compile until it is here
    pub fn reference() -> Policy {
        let step = Step {
            name: "<name>".into(),
            argv: vec!["cargo".into(), "test".into()],
            cwd: Some(".".into()),
            env: BTreeMap::new(),
            timeout: Some("30m".into()),
        };
        let deploy_step = Step {
            name: "<name>".into(),
            argv: vec!["docker".into(), "compose".into(), "up".into(), "-d".into()],
            cwd: Some(".".into()),
            env: BTreeMap::new(),
            timeout: Some("10m".into()),
        };
        Policy {
            secret_env: vec!["SENTRY_DSN".into()],
            git: Git {
                main_branch: "main".into(),
                remote: "origin".into(),
            },
            task: Task {
                id_prefix: "TASK-".into(),
                id_digits: 3,
                id_digits_exact: true,
                branch_template: "task-{NNN}-{slug}".into(),
                ledger: Some(Ledger::Many(vec![
                    "tasks/BACKLOG.md".into(),
                    "tasks/CURRENT_SPRINT.md".into(),
                ])),
                ledger_task_line: Some(DEFAULT_TASK_LINE.into()),
                ledger_done: Some(DEFAULT_DONE.into()),
                pr_title: Some("^{ID}: ".into()),
                require_id_in_commit_message: true,
            },
            prepare: BTreeMap::from([("<name>".to_string(), vec![step.clone()])]),
            gates: BTreeMap::from([(
                "<name>".to_string(),
                Gate {
                    prepare: vec!["<name>".into()],
                    steps: vec![step],
                },
            )]),
            migration: Migration {
                default_database_url: Some("sqlite:///target/release-gate.db".into()),
                alembic: super::gates::default_alembic(),
                directory: "examples/service".into(),
                timeout: "5m".into(),
                env: BTreeMap::from([("<name>".to_string(), "ignore".to_string())]),
                prepare: vec!["deps-dev".into()],
            },
            github: Github {
                repository: Some("acme/service".into()),
                required_checks: vec!["check".into(), "test".into()],
                required_approving_review_count: 1,
                required_conversation_resolution: true,
                dismiss_stale_reviews: false,
                require_code_owner_reviews: false,
                require_last_push_approval: false,
            },
            release: Release {
                migrations_dir: "alembic/versions".into(),
                env_examples: vec![".env.example".into()],
                production_environment: "prod".into(),
                staging_environment: "staging".into(),
                env_files: BTreeMap::from([(
                    "<name>".to_string(),
                    "deploy/staging.env".to_string(),
                )]),
                parity: Parity {
                    must_match: BTreeMap::from([(
                        "<name>".to_string(),
                        vec!["API_AUTH_ENABLED".to_string()],
                    )]),
                    must_differ: BTreeMap::from([(
                        "<name>".to_string(),
                        vec!["REDIS_URL".to_string()],
                    )]),
                    secrets: vec!["API_KEY".into()],
                },
                require_isolated_gate: true,
            },
            docs: Some(Docs {
                scope: vec!["docs/**/*.md".into()],
                max_age_days: 45,
                overrides_file: "docs/DOCS_FRESHNESS_OVERRIDES.json".into(),
                max_override_days: Some(30),
                markers: vec![DocsMarker {
                    path: "docs/RELEASING.md".into(),
                    label: "Last Verified".into(),
                    level: DocsLevel::Error,
                    overridable: false,
                }],
                forbidden: vec![DocsForbidden {
                    id: "stale_claim".into(),
                    message: "a stale claim".into(),
                    level: DocsLevel::Error,
                    overridable: true,
                    text: Some("has no authentication".into()),
                    regex: Some(r"\bno auth\b".into()),
                    scope: Some(vec!["docs/**/*.md".into()]),
                }],
                required: vec![DocsRequired {
                    id: "data_model_table_coverage_missing".into(),
                    message: "a table is not documented".into(),
                    level: DocsLevel::Error,
                    overridable: true,
                    paths: vec!["docs/DATA_MODEL.md".into()],
                    texts: vec!["## Tables".into()],
                    lines: vec![r"^###\s+reports\s*$".into()],
                    report: DocsReport::Each,
                }],
                references: vec![DocsReference {
                    id: "adr_reference_target_missing".into(),
                    message: "no such ADR".into(),
                    level: DocsLevel::Error,
                    overridable: true,
                    pattern: r"\bADR-(\d{3})\b".into(),
                    target: DocsTarget::File,
                    template: Some("docs/adr/{1}-*.md".into()),
                    scope: Some(vec!["docs/**/*.md".into()]),
                }],
                couplings: vec![DocsCoupling {
                    id: "auth_header_doc_missing".into(),
                    message: "the API docs do not mention the auth header".into(),
                    level: DocsLevel::Error,
                    overridable: false,
                    if_file: "src/api/main.py".into(),
                    if_contains: "APIKeyAuthMiddleware".into(),
                    then_file: "docs/API.md".into(),
                    then_contains: "X-API-Key".into(),
                }],
                ledgers: vec![DocsLedger {
                    require_files: vec!["PROJECT_STATUS.md".into()],
                    id_pattern: r"\bTASK-\d{3}\b".into(),
                    sets: BTreeMap::from([(
                        "<name>".to_string(),
                        vec![DocsSource {
                            file: "tasks/CURRENT_SPRINT.md".into(),
                            section: Some("Active Tasks".into()),
                            bullets: true,
                            lines_containing: Some("[REQUIRES_HUMAN]".into()),
                        }],
                    )]),
                    checks: vec![DocsLedgerCheck {
                        id: "task_status_dual_listing".into(),
                        message: "tasks listed as both active and completed".into(),
                        level: DocsLevel::Error,
                        overridable: true,
                        path: "PROJECT_STATUS.md".into(),
                        kind: DocsCheckKind::Disjoint,
                        left: vec!["<name>".into()],
                        right: vec!["<name>".into()],
                    }],
                }],
            }),
            deploy: Deploy {
                environments: BTreeMap::from([(
                    "<name>".to_string(),
                    Environment {
                        production: true,
                        requires_verified_in: Some("staging".into()),
                        steps: vec![deploy_step.clone()],
                        rollback_steps: Some(vec![deploy_step.clone()]),
                        verify: Verify {
                            deadline: Some("60s".into()),
                            retries: Some(5),
                            backoff: Some("2s".into()),
                            checks: vec![HttpCheck {
                                name: "health".into(),
                                url: "http://localhost:8000/health".into(),
                                status: Some(200),
                                contains: vec!["ok".into()],
                                metrics: vec!["http_requests_total".into()],
                                version_field: Some("version".into()),
                                version_header: Some("X-Version".into()),
                            }],
                            commands: vec![deploy_step],
                        },
                    },
                )]),
            },
        }
    }
}
