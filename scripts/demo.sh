#!/usr/bin/env bash
# Install tidings into ./.venv (if needed) and analyse the bundled sample in examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/tidings analyze examples/ --db sqlite:///tidings.db "$@"
