#!/usr/bin/env bash
# Install tidings with its test dependencies into ./.venv (if needed) and run the whole test suite,
# the slow tests included, then the accuracy gate (scores must stay above benchmarks/accuracy_floors.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pytest -q "$@"
if [ -f benchmarks/check_floors.py ] && [ -d ../shared/eval ]; then
  .venv/bin/python benchmarks/check_floors.py
fi
