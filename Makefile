# Thin shim over `cargo xtask`: one rule per command, nothing else.
# Variables given to make (RELEASE_GATE_DATABASE_URL=…, TASK=…, NAME=…) reach
# the xtask through the environment, never through a command line. Prefer
# RELEASE_GATE_DATABASE_URL_FILE=<file> for real databases: make's own
# command line is visible to other users of the machine.
XTASK ?= cargo xtask

.DEFAULT_GOAL := help
.PHONY: help release-gate check test docs-freshness db-migration-gate audit-eval gate-status task-preflight task-start task-finish hooks branch-guard pr-scope protect-main release-notes release-tag env-parity deploy verify-deploy rollback

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## /{ printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

release-gate: ## Run the release gate: check, test, docs-freshness, db-migration-gate [, audit-eval]; stop at the first failure
	$(XTASK) release-gate

check: ## Run the policy's quality gate (format, lint, typecheck)
	$(XTASK) check

test: ## Run the policy's test gate
	$(XTASK) test

docs-freshness: ## Check the docs: freshness markers, stale claims, references, ledgers; overrides expire
	$(XTASK) docs-freshness

db-migration-gate: ## Prove the target database is at the single alembic head and the models match (alembic check)
	$(XTASK) db-migration-gate

audit-eval: ## Run the policy's evaluation-audit gate (prompt/model changes)
	$(XTASK) audit-eval

gate-status: ## Show the release-gate record of a commit (exit 1 when none or failed)
	$(XTASK) gate-status

task-preflight: ## Check that a task can start: hooks installed, on a clean main synced with the remote, no open task PR
	$(XTASK) task-preflight

task-start: ## Start a task: run the preflight, then create the task branch from main
	$(XTASK) task-start

task-finish: ## Finish a task: merge its PR once required checks are green (--merge), sync main, delete the merged branch
	$(XTASK) task-finish

hooks: ## Install, verify (--check) or remove (--uninstall) the git hooks that run branch-guard
	$(XTASK) hooks

branch-guard: ## Check that commits and pushes happen on a task branch (the installed git hooks run it)
	$(XTASK) branch-guard

pr-scope: ## Check a PR: a task branch, and exactly one Primary-Task line naming its task (the CI Workflow Guard)
	$(XTASK) pr-scope

protect-main: ## Plan, apply and verify GitHub's protection of main and the repository merge policy
	$(XTASK) protect-main

release-notes: ## Draft the release notes for the commits since the last release tag, grouped by task
	$(XTASK) release-notes

release-tag: ## Tag HEAD of the synced main as the next release vX.Y.Z (gated SHA, notes as the tag message)
	$(XTASK) release-tag

env-parity: ## Compare two environments' env files by the runbook's staging/prod rules
	$(XTASK) env-parity

deploy: ## Deploy a gated SHA or release tag to an environment from a clean worktree, verify it, record both
	$(XTASK) deploy

verify-deploy: ## Verify what the ledger says runs in an environment: HTTP checks, identity, commands; record the result
	$(XTASK) verify-deploy

rollback: ## Roll an environment back to its last verified release tag (or --to TAG), re-verify, record it
	$(XTASK) rollback

.PHONY: init
init: ## Draft a starter xtask.toml from the repository's Makefile, alembic.ini, CI workflows, docs and task ledgers
	$(XTASK) init
