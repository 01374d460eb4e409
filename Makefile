# Thin shim over `cargo xtask`: one rule per command, nothing else.
# Variables given to make (RELEASE_GATE_DATABASE_URL=…, TASK=…, NAME=…) reach
# the xtask through the environment, never through a command line. Prefer
# RELEASE_GATE_DATABASE_URL_FILE=<file> for real databases: make's own
# command line is visible to other users of the machine.
XTASK ?= cargo xtask

.DEFAULT_GOAL := help
.PHONY: help release-gate check test audit-eval gate-status docs-freshness

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## /{ printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

release-gate: ## Run the release gate: check, test, docs-freshness, db-migration-gate [, audit-eval]; stop at the first failure
	$(XTASK) release-gate

check: ## Run the policy's quality gate (format, lint, typecheck)
	$(XTASK) check

test: ## Run the policy's test gate
	$(XTASK) test

audit-eval: ## Run the policy's evaluation-audit gate (prompt/model changes)
	$(XTASK) audit-eval

gate-status: ## Show the release-gate record of a commit (exit 1 when none or failed)
	$(XTASK) gate-status

docs-freshness: ## Check the docs: freshness markers, stale claims, references, ledgers; overrides expire
	$(XTASK) docs-freshness
