#!/usr/bin/env bash
# Install tidings with every extra and its test dependencies into ./.venv (if needed), start the services
# the tests use (a throwaway PostgreSQL on 127.0.0.1; Debian's Chromium for the browser tests), run the
# whole test suite — the slow tests included — and then the accuracy gate (benchmarks/accuracy_floors.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
log() { echo "test.sh: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,all]' 2>&1 | grep -v "^WARNING: Location" || true

# System packages for the browser and PostgreSQL tests (root only; without them those tests skip with a reason).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || log "could not install ${missing[*]}; the tests that need them will be skipped"
  fi
fi

if [ -x scripts/pg_test_server.sh ] && [ -z "${TIDINGS_TEST_PG_URL:-}" ]; then
  if url=$(scripts/pg_test_server.sh); then
    export TIDINGS_TEST_PG_URL="$url"
    trap 'scripts/pg_test_server.sh --stop >/dev/null 2>&1 || true' EXIT
  else
    log "no PostgreSQL server: PostgreSQL tests will be skipped"
  fi
fi

.venv/bin/python -m pytest -q "$@"
# The accuracy gate. In CI (CI=true) the gold data must be there: a gate that skips itself proves nothing.
if [ -d ../shared/eval ]; then
  .venv/bin/python benchmarks/check_floors.py
elif [ "${CI:-}" = "true" ]; then
  log "../shared/eval is missing: the accuracy gate cannot run in CI"
  exit 1
else
  log "../shared/eval not found: accuracy gate skipped (it is required when CI=true)"
fi
