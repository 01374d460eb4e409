//! docs-freshness against fixture trees: the Horadus catalogue
//! (`examples/horadus/xtask.toml`) id by id, overrides, dates, unreadable
//! files, malformed policies and overrides files, and the output formats.

use crate::support::{Done, Repo};

const HORADUS: &str = include_str!("../../../examples/horadus/xtask.toml");
const OVERRIDES: &str = "docs/DOCS_FRESHNESS_OVERRIDES.json";

/// (level, rule_id, path) of every finding, in the report's order.
fn triples(done: &Done) -> Vec<(String, String, String)> {
    let json = done.json();
    json["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array{}", done.dump()))
        .iter()
        .map(|f| (s(&f["level"]), s(&f["rule_id"]), s(&f["path"])))
        .collect()
}

fn s(v: &serde_json::Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn sorted(mut v: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    v.sort();
    v
}

fn expect(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    sorted(
        list.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect(),
    )
}

/// A tree on which every Horadus rule that needs the files to exist fires.
fn horadus_tree(label: &str) -> Repo {
    let repo = Repo::new(label);
    repo.write("xtask.toml", HORADUS);
    repo.write("AGENTS.md", "# Agents\n\nNo hierarchy here.\n");
    repo.write(
        "PROJECT_STATUS.md",
        "# Status\n\nSee AGENTS.md.\n\nAPI_KEY setting in config (`src/core/config.py`) is defined but never enforced.\n\n## In Progress\n- TASK-001\n- TASK-003\n\n## Blocked\n- TASK-010\n",
    );
    repo.write(
        "tasks/CURRENT_SPRINT.md",
        "# Sprint\n\nAGENTS.md, Canonical Source-of-Truth Hierarchy.\n\n## Active Tasks\n- TASK-001\n- TASK-002 [REQUIRES_HUMAN]\n### notes\n\n## Completed This Sprint\n- TASK-003\n",
    );
    repo.write(
        "tasks/COMPLETED.md",
        "- TASK-004\nTASK-001 is not on a bullet line\n",
    );
    repo.write(
        "docs/ARCHITECTURE.md",
        "# A\n\n**Last Verified**: 2026-01-14\n",
    );
    repo.write(
        "docs/DEPLOYMENT.md",
        "# D\n\n**Last Verified**: 2026-03-02\n",
    );
    repo.write(
        "docs/ENVIRONMENT.md",
        "# E\n\n**Last Verified**: 2026-02-30\n",
    );
    repo.write("docs/guide.md", "# Guide\n\nAll API endpoints have no authentication checks.\n\nSee ADR-001 and ADR-002, ADR-002 again.\n");
    repo.write("docs/adr/001-use-postgres.md", "# ADR-001\n");
    repo.write(
        "docs/adr/sub/002-nested.md",
        "# not searched: docs/adr is not recursive\n",
    );
    repo.write(
        "docs/DATA_MODEL.md",
        "# Data model\n\n### reports\n### api_usage\n#### trend_outcomes\n",
    );
    repo.write(
        "docs/POTENTIAL_ISSUES.md",
        "# Old issues\n\nSee tasks/BACKLOG.md.\n",
    );
    repo.write(
        "src/api/main.py",
        "app.add_middleware(APIKeyAuthMiddleware)\n",
    );
    repo.write("docs/API.md", "# API\n\nNo auth documented.\n");
    repo.write(
        "src/core/api_key_manager.py",
        "limit = settings.API_RATE_LIMIT_PER_MINUTE\n",
    );
    repo
}

const TODAY: &str = "2026-03-01";

#[test]
fn horadus_catalogue_on_a_tree_with_every_file() {
    let repo = horadus_tree("df-horadus-full");
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY, "--format", "json"])
        .run();
    done.code(1);
    assert_eq!(
        sorted(triples(&done)),
        expect(&[
            ("error", "hierarchy_policy_heading_missing", "AGENTS.md"),
            ("error", "required_marker_missing", "PROJECT_STATUS.md"),
            (
                "error",
                "hierarchy_policy_reference_missing",
                "PROJECT_STATUS.md"
            ),
            (
                "error",
                "stale_api_key_not_enforced_claim",
                "PROJECT_STATUS.md"
            ),
            ("error", "task_status_dual_listing", "PROJECT_STATUS.md"),
            (
                "error",
                "project_status_missing_active_sprint_task",
                "PROJECT_STATUS.md"
            ),
            (
                "error",
                "project_status_missing_blocked_human_task",
                "PROJECT_STATUS.md"
            ),
            ("error", "required_marker_stale", "docs/ARCHITECTURE.md"),
            ("error", "required_marker_future_date", "docs/DEPLOYMENT.md"),
            (
                "error",
                "required_marker_invalid_date",
                "docs/ENVIRONMENT.md"
            ),
            (
                "error",
                "runtime_marker_rate_limit_doc_missing",
                "docs/ENVIRONMENT.md"
            ),
            ("error", "required_marker_file_missing", "docs/RELEASING.md"),
            ("error", "stale_auth_unenforced_claim", "docs/guide.md"),
            ("error", "adr_reference_target_missing", "docs/guide.md"),
            (
                "error",
                "data_model_table_coverage_missing",
                "docs/DATA_MODEL.md"
            ),
            (
                "error",
                "data_model_table_coverage_missing",
                "docs/DATA_MODEL.md"
            ),
            (
                "error",
                "archived_doc_status_banner_missing",
                "docs/POTENTIAL_ISSUES.md"
            ),
            (
                "error",
                "archived_doc_authoritative_pointer_missing",
                "docs/POTENTIAL_ISSUES.md"
            ),
            (
                "error",
                "runtime_marker_auth_header_doc_missing",
                "docs/API.md"
            ),
            (
                "error",
                "runtime_marker_auth_toggle_doc_missing",
                "docs/API.md"
            ),
        ]),
        "{}",
        done.dump()
    );
    let json = done.json();
    assert_eq!(json["errors"], 20, "{}", done.dump());
    assert_eq!(json["warnings"], 0);
    let messages: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| s(&f["message"]))
        .collect();
    let has = |text: &str| {
        assert!(
            messages.iter().any(|m| m.contains(text)),
            "no message contains {text:?}{}",
            done.dump()
        )
    };
    has("TASK-003 (in both active+in-progress and completed)");
    has("TASK-002 (in active but not in in-progress)");
    has("\"ADR-002\": no file matches docs/adr/002-*.md");
    has("/^###\\s+trend_outcomes\\s*$/");
    has("/^###\\s+human_feedback\\s*$/");
    has("missing \"tasks/CURRENT_SPRINT.md\", \"PROJECT_STATUS.md\"");
    has("is 46 days old (max 45)");
}

#[test]
fn horadus_catalogue_on_an_empty_tree() {
    let repo = Repo::new("df-horadus-empty");
    repo.write("xtask.toml", HORADUS);
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY, "--format", "json"])
        .run();
    done.code(1);
    assert_eq!(
        sorted(triples(&done)),
        expect(&[
            ("error", "hierarchy_policy_file_missing", "AGENTS.md"),
            (
                "error",
                "hierarchy_policy_reference_file_missing",
                "PROJECT_STATUS.md"
            ),
            (
                "error",
                "hierarchy_policy_reference_file_missing",
                "tasks/CURRENT_SPRINT.md"
            ),
            ("error", "required_marker_file_missing", "PROJECT_STATUS.md"),
            (
                "error",
                "required_marker_file_missing",
                "docs/ARCHITECTURE.md"
            ),
            (
                "error",
                "required_marker_file_missing",
                "docs/DEPLOYMENT.md"
            ),
            (
                "error",
                "required_marker_file_missing",
                "docs/ENVIRONMENT.md"
            ),
            ("error", "required_marker_file_missing", "docs/RELEASING.md"),
            ("error", "data_model_doc_missing", "docs/DATA_MODEL.md"),
            ("error", "archived_doc_missing", "docs/POTENTIAL_ISSUES.md"),
        ]),
        "{}",
        done.dump()
    );
}

/// A tree that passes the whole Horadus catalogue.
fn horadus_clean(label: &str) -> Repo {
    let repo = Repo::new(label);
    repo.write("xtask.toml", HORADUS);
    repo.write("AGENTS.md", "## Canonical Source-of-Truth Hierarchy\n");
    let pointer = "AGENTS.md: Canonical Source-of-Truth Hierarchy\n";
    repo.write(
        "PROJECT_STATUS.md",
        &format!("**Last Updated**: 2026-02-20\n{pointer}\n## In Progress\n- TASK-001\n- TASK-002\n## Blocked\n- TASK-002\n"),
    );
    repo.write(
        "tasks/CURRENT_SPRINT.md",
        &format!("{pointer}\n## Active Tasks\n- TASK-001\n- TASK-002 [REQUIRES_HUMAN]\n## Completed This Sprint\n- TASK-000\n"),
    );
    for doc in ["ARCHITECTURE", "DEPLOYMENT", "RELEASING"] {
        repo.write(&format!("docs/{doc}.md"), "**Last Verified**: 2026-01-15\n");
    }
    repo.write(
        "docs/ENVIRONMENT.md",
        "**Last Verified**:2026-02-01\nAPI_RATE_LIMIT_PER_MINUTE\n",
    );
    repo.write(
        "docs/DATA_MODEL.md",
        "### reports\n### api_usage\n###   trend_outcomes  \n### human_feedback\n",
    );
    repo.write(
        "docs/POTENTIAL_ISSUES.md",
        "**Status**: Archived historical snapshot (superseded)\ntasks/CURRENT_SPRINT.md tasks/BACKLOG.md PROJECT_STATUS.md\n",
    );
    repo.write("docs/guide.md", "ADR-001\n");
    repo.write("docs/adr/001-x.md", "x\n");
    repo.write("src/api/main.py", "APIKeyAuthMiddleware\n");
    repo.write("docs/API.md", "X-API-Key, API_AUTH_ENABLED\n");
    repo
}

#[test]
fn a_clean_tree_passes_and_the_age_boundary_is_45_days() {
    let repo = horadus_clean("df-clean");
    // The oldest marker is 2026-01-15: 45 days before 2026-03-01.
    let done = repo.xtask(&["docs-freshness", "--today", TODAY]).run();
    done.code(0)
        .stderr_has("docs-freshness passed: 0 errors, 0 warnings");
    let done = repo
        .xtask(&[
            "docs-freshness",
            "--today",
            "2026-03-02",
            "--format",
            "json",
        ])
        .run();
    done.code(1);
    let stale: Vec<_> = triples(&done)
        .into_iter()
        .filter(|t| t.1 == "required_marker_stale")
        .map(|t| t.2)
        .collect();
    assert_eq!(
        stale,
        vec![
            "docs/ARCHITECTURE.md",
            "docs/DEPLOYMENT.md",
            "docs/RELEASING.md"
        ],
        "{}",
        done.dump()
    );
    // --max-age-days overrides the policy's 45.
    repo.xtask(&[
        "docs-freshness",
        "--today",
        "2026-03-02",
        "--max-age-days",
        "46",
    ])
    .run()
    .code(0);
    repo.xtask(&["docs-freshness", "--today", TODAY, "--max-age-days", "44"])
        .run()
        .code(1)
        .stderr_has("[required_marker_stale]");
}

#[test]
fn overrides_active_expired_unused_and_on_a_non_overridable_rule() {
    let repo = horadus_tree("df-overrides");
    repo.write(
        OVERRIDES,
        r#"{"overrides": [
  {"rule_id": "stale_auth_unenforced_claim", "path": "docs/guide.md", "reason": "rewrite in TASK-100", "expires_on": "2026-03-01"},
  {"rule_id": "adr_reference_target_missing", "path": "docs/guide.md", "reason": "ADR being written", "expires_on": "2026-02-28"},
  {"rule_id": "stale_auth_unenforced_claim", "path": "docs/other.md", "reason": "long gone", "expires_on": "2026-04-01"},
  {"rule_id": "required_marker_stale", "path": "docs/ARCHITECTURE.md", "reason": "markers are not overridable", "expires_on": "2026-04-01"}
]}"#,
    );
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY, "--format", "json"])
        .run();
    done.code(1);
    let got = triples(&done);
    let count = |level: &str, id: &str, path: &str| {
        got.iter()
            .filter(|t| t.0 == level && t.1 == id && t.2 == path)
            .count()
    };
    // Active (expires today): the claim becomes a warning naming rule, reason and expiry.
    assert_eq!(
        count(
            "warning",
            "docs_freshness_override_applied",
            "docs/guide.md"
        ),
        1,
        "{}",
        done.dump()
    );
    assert_eq!(
        count("error", "stale_auth_unenforced_claim", "docs/guide.md"),
        0,
        "{}",
        done.dump()
    );
    // Expired yesterday and still matching: the finding stays, plus an error.
    assert_eq!(
        count("error", "adr_reference_target_missing", "docs/guide.md"),
        1,
        "{}",
        done.dump()
    );
    assert_eq!(
        count("error", "docs_freshness_override_expired", OVERRIDES),
        1,
        "{}",
        done.dump()
    );
    // Active, matching nothing; and on a rule that cannot be overridden.
    assert_eq!(
        count("warning", "docs_freshness_override_unused", OVERRIDES),
        2,
        "{}",
        done.dump()
    );
    assert_eq!(
        count("error", "required_marker_stale", "docs/ARCHITECTURE.md"),
        1,
        "{}",
        done.dump()
    );
    done.stdout_has(
        "[stale_auth_unenforced_claim] suppressed until 2026-03-01: rewrite in TASK-100",
    )
    .stdout_has("cannot be overridden");
    let json = done.json();
    let line_of = |id: &str| -> Vec<u64> {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule_id"] == id)
            .map(|f| f["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        line_of("docs_freshness_override_expired"),
        vec![3],
        "the row's line{}",
        done.dump()
    );
    assert_eq!(
        line_of("docs_freshness_override_unused"),
        vec![4, 5],
        "the rows' lines{}",
        done.dump()
    );
    let line_of = |id: &str| -> Vec<u64> {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule_id"] == id)
            .map(|f| f["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        line_of("docs_freshness_override_expired"),
        vec![3],
        "the row's line{}",
        done.dump()
    );
    assert_eq!(
        line_of("docs_freshness_override_unused"),
        vec![4, 5],
        "the rows' lines{}",
        done.dump()
    );
    assert_eq!(json["errors"], 20, "{}", done.dump());
    assert_eq!(json["warnings"], 3, "{}", done.dump());
}

#[test]
fn warnings_fail_only_with_fail_on_warnings() {
    let repo = horadus_clean("df-warnings");
    repo.write(
        "docs/guide.md",
        "All API endpoints have no authentication checks.\n",
    );
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(1)
        .stderr_has("[stale_auth_unenforced_claim]");
    repo.write(
        OVERRIDES,
        r#"{"overrides": [{"rule_id": "stale_auth_unenforced_claim", "path": "docs/guide.md", "reason": "r", "expires_on": "2026-03-10"}]}"#,
    );
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(0)
        .stderr_has("warning: [docs_freshness_override_applied]")
        .stderr_has("(docs/guide.md:1)")
        .stderr_has("0 errors, 1 warning");
    repo.xtask(&["docs-freshness", "--today", TODAY, "--fail-on-warnings"])
        .run()
        .code(1)
        .stderr_has("(--fail-on-warnings)");
}

#[test]
fn override_expiry_may_be_capped_by_the_policy() {
    let repo = horadus_clean("df-cap");
    repo.write(
        "xtask.toml",
        &HORADUS.replace(
            "max-age-days = 45\n",
            "max-age-days = 45\nmax-override-days = 14\n",
        ),
    );
    repo.write(
        "docs/guide.md",
        "All API endpoints have no authentication checks.\n",
    );
    repo.write(
        OVERRIDES,
        r#"{"overrides": [{"rule_id": "stale_auth_unenforced_claim", "path": "docs/guide.md", "reason": "r", "expires_on": "2026-03-16"}]}"#,
    );
    let done = repo.xtask(&["docs-freshness", "--today", TODAY]).run();
    done.code(1)
        .stderr_has("[docs_freshness_override_too_long]")
        .stderr_has("error: [stale_auth_unenforced_claim]");
    repo.xtask(&[
        "docs-freshness",
        "--today",
        "2026-03-02",
        "--max-age-days",
        "50",
    ])
    .run()
    .code(0)
    .stderr_has("0 errors, 1 warning");
}

#[test]
fn unreadable_and_non_utf8_files_are_findings() {
    let repo = horadus_clean("df-unreadable");
    std::fs::write(repo.path("docs/binary.md"), b"caf\xe9 \xff\n").unwrap();
    std::fs::write(
        repo.path("PROJECT_STATUS.md"),
        b"**Last Updated**: 2026-02-20 \xff\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("nowhere.md", repo.path("docs/dangling.md")).unwrap();
    std::fs::remove_file(repo.path("docs/RELEASING.md")).unwrap();
    std::fs::create_dir_all(repo.path("docs/RELEASING.md")).unwrap();
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY, "--format", "json"])
        .run();
    done.code(1);
    let unreadable: Vec<String> = triples(&done)
        .into_iter()
        .filter(|t| t.1 == "docs_freshness_unreadable_file")
        .map(|t| t.2)
        .collect();
    assert_eq!(
        unreadable,
        vec![
            "PROJECT_STATUS.md",
            "docs/RELEASING.md",
            "docs/binary.md",
            "docs/dangling.md"
        ],
        "{}",
        done.dump()
    );
    done.stdout_has("not valid UTF-8 (first invalid byte at offset 3)");
}

#[test]
fn human_output_lists_findings_then_a_summary() {
    let repo = horadus_clean("df-human");
    repo.write(
        "docs/guide.md",
        "x\n\nAll API endpoints have no authentication checks.\n",
    );
    repo.write("docs/b.md", "ADR-007\n");
    let done = repo.xtask(&["docs-freshness", "--today", TODAY]).run();
    done.code(1);
    assert_eq!(
        done.stdout,
        "",
        "human mode prints nothing on stdout{}",
        done.dump()
    );
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", done.dump());
    assert!(
        lines[0].starts_with(
            "error: [adr_reference_target_missing] the ADR does not exist: \"ADR-007\""
        ),
        "{}",
        done.dump()
    );
    assert!(lines[0].ends_with("(docs/b.md:1)"), "{}", done.dump());
    assert!(
        lines[1].starts_with("error: [stale_auth_unenforced_claim]")
            && lines[1].ends_with("(docs/guide.md:3)"),
        "{}",
        done.dump()
    );
    assert!(
        lines[2].starts_with("docs-freshness failed: 2 errors, 0 warnings"),
        "{}",
        done.dump()
    );
}

#[test]
fn json_findings_are_sorted_and_shaped_as_documented() {
    let repo = horadus_tree("df-json");
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY, "--format", "json"])
        .run();
    let json = done.json();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec!["errors", "findings", "warnings"],
        "{}",
        done.dump()
    );
    let findings = json["findings"].as_array().unwrap();
    let order: Vec<(String, Option<u64>, String)> = findings
        .iter()
        .map(|f| (s(&f["path"]), f["line"].as_u64(), s(&f["rule_id"])))
        .collect();
    let mut want = order.clone();
    want.sort();
    assert_eq!(
        order,
        want,
        "findings must be sorted by path, line, rule_id{}",
        done.dump()
    );
    for f in findings {
        let mut k: Vec<&String> = f.as_object().unwrap().keys().collect();
        k.sort();
        assert_eq!(
            k,
            vec!["level", "line", "message", "path", "rule_id"],
            "{f}"
        );
    }
    let claim = findings
        .iter()
        .find(|f| f["rule_id"] == "stale_auth_unenforced_claim")
        .unwrap();
    assert_eq!(claim["line"], 3);
    let missing = findings
        .iter()
        .find(|f| f["rule_id"] == "required_marker_file_missing")
        .unwrap();
    assert!(missing["line"].is_null());
}

#[test]
fn findings_become_github_annotations_and_a_step_summary() {
    let repo = horadus_clean("df-gha");
    repo.write(
        "docs/guide.md",
        "\nAll API endpoints have no authentication checks.\n",
    );
    let summary = repo.tmp.path().join("summary.md");
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    done.code(1)
        .stderr_has("::error file=docs/guide.md,line=2::[stale_auth_unenforced_claim] stale claim");
    let md = std::fs::read_to_string(&summary)
        .unwrap_or_else(|e| panic!("no step summary: {e}{}", done.dump()));
    assert!(
        md.contains("### docs-freshness: 1 error, 0 warnings"),
        "{md}"
    );
    assert!(
        md.contains("| error | `stale_auth_unenforced_claim` | `docs/guide.md:2` |"),
        "{md}"
    );
}

#[test]
fn xtask_command_references_must_name_real_commands() {
    let repo = Repo::new("df-commands");
    repo.write(
        "xtask.toml",
        r#"[docs]
scope = ["README.md", "docs/**/*.md"]
[[docs.references]]
id = "xtask_command_missing"
message = "no such command"
pattern = "\\bcargo xtask ([a-z][a-z0-9-]*)"
target = "xtask-command"
"#,
    );
    repo.write(
        "README.md",
        "cargo xtask docs-freshness\ncargo xtask release-gate --dry-run\n`cargo xtask <name>`\n",
    );
    repo.write(
        "docs/x.md",
        "run `cargo xtask no-such-thing` then cargo xtask check\n",
    );
    repo.xtask(&["docs-freshness"])
        .run()
        .code(1)
        .stderr_has("[xtask_command_missing] no such command: \"cargo xtask no-such-thing\": this xtask has no command \"no-such-thing\"")
        .stderr_has("(docs/x.md:1)")
        .stderr_has("1 error, 0 warnings");
}

#[test]
fn a_policy_without_docs_is_a_usage_error() {
    let repo = Repo::new("df-nodocs");
    repo.write("xtask.toml", "[git]\nmain-branch = \"main\"\n");
    repo.xtask(&["docs-freshness"])
        .run()
        .code(2)
        .stderr_has("has no [docs] section");
}

#[test]
fn malformed_policies_exit_2_with_their_location() {
    let repo = Repo::new("df-badpolicy");
    repo.write(
        "xtask.toml",
        "[docs]\nscope = [\"docs/**/*.md\"]\nmax-age = 3\n",
    );
    repo.xtask(&["docs-freshness"])
        .run()
        .code(2)
        .stderr_has("xtask.toml:3:1: unknown field `max-age`");
    repo.write("xtask.toml", "[docs]\nscope = [\"docs/**/*.md\"\n");
    repo.xtask(&["docs-freshness"])
        .run()
        .code(2)
        .stderr_has("xtask.toml:2:");
    repo.write("xtask.toml", "[docs]\nscope = [\"docs/**/*.md\"]\nforbidden = [{ id = \"x\", message = \"m\", regex = \"(\" }]\n");
    repo.xtask(&["docs-freshness"])
        .run()
        .code(2)
        .stderr_has("docs.forbidden[0].regex \"(\" is not a valid regex");
    repo.write("xtask.toml", "[docs]\nscope = [\"../**/*.md\"]\n");
    repo.xtask(&["docs-freshness"])
        .run()
        .code(2)
        .stderr_has("docs.scope[0]");
    repo.write("xtask.toml", "[docs]\n");
    repo.xtask(&["docs-freshness", "--today", "2026-02-30"])
        .run()
        .code(2)
        .stderr_has("--today \"2026-02-30\" is not a real date");
}

#[test]
fn malformed_overrides_exit_2_naming_the_file_and_row() {
    let repo = horadus_clean("df-badoverrides");
    repo.write(
        OVERRIDES,
        "{\n  \"overrides\": [\n    {\"rule_id\": \"x\",}\n  ]\n}\n",
    );
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(2)
        .stderr_has("docs/DOCS_FRESHNESS_OVERRIDES.json:3:21: not valid JSON: trailing comma");
    // A file cut short after a newline: serde_json says column 0; columns are 1-based.
    repo.write(OVERRIDES, "{\n  \"overrides\": [\n");
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(2)
        .stderr_has(
            "docs/DOCS_FRESHNESS_OVERRIDES.json:3:1: not valid JSON: EOF while parsing a list",
        );
    repo.write(
        OVERRIDES,
        r#"{"overrides": [{"rule_id": "a", "path": "p", "reason": "r", "expires_on": "2026-03-01"}, {"rule_id": "b", "path": "p", "reason": "r", "expires_on": "2026-02-30"}]}"#,
    );
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(2)
        .stderr_has("docs/DOCS_FRESHNESS_OVERRIDES.json:1:90: overrides[1] (b on p): expires_on \"2026-02-30\" is not a real date");
    repo.write(OVERRIDES, r#"{"overrides": ["x"]}"#);
    let done = repo
        .xtask(&["docs-freshness", "--today", TODAY, "--format", "json"])
        .run();
    done.code(2);
    assert_eq!(done.json()["exit_code"], 2);
    repo.write(OVERRIDES, r#"{"overrides": [{"rule_id": "a", "path": "", "reason": "r", "expires_on": "2026-03-01"}]}"#);
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(2)
        .stderr_has("overrides[0]: path is blank");
}

/// The overrides file is read only as a regular file of at most 16 MiB:
/// larger is refused (never truncated), a FIFO is refused at once instead
/// of hanging, and both name the file and the policy key.
#[test]
fn an_overrides_file_too_large_or_not_a_file_exits_2_at_once() {
    let repo = horadus_clean("df-bounded-overrides");
    let mut big = String::from("{\"overrides\": []}\n");
    big.push_str(&" ".repeat(16 << 20));
    repo.write(OVERRIDES, &big);
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(2)
        .stderr_has(
            "the overrides file (docs.overrides-file \"docs/DOCS_FRESHNESS_OVERRIDES.json\")",
        )
        .stderr_has("is too large (over the 16 MiB limit)");
    std::fs::remove_file(repo.path(OVERRIDES)).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(repo.path(OVERRIDES))
        .status()
        .expect("mkfifo runs (coreutils)");
    assert!(status.success());
    repo.xtask(&["docs-freshness", "--today", TODAY])
        .run()
        .code(2)
        .stderr_has("is a FIFO (named pipe), not a regular file");
}
