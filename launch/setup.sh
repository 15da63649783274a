#!/usr/bin/env bash
# Idempotent set-up of the project's Python environment (.venv) from a fresh clone.
#   bash launch/setup.sh           # runtime + test dependencies (+ libtpu for AOT checks)
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${SWEJAX_VENV:-.venv}"

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.swejax-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[test,tpu]'
  # The reference pytest-log parser for a parity test; its dependencies are not needed.
  "$VENV/bin/python" -m pip install --quiet --no-deps 'swebench>=5,<6'
  echo "$want" > "$stamp"
fi
# The harness's 4.x specifications, for the spec parity test only: the same package name
# as 5.x, so a directory of its own (the test loads it in a subprocess). unidiff is the one
# dependency its eval-script code needs.
if [[ ! -f "$VENV/swebench4/swebench-4.1.0.dist-info/RECORD" ]]; then
  "$VENV/bin/python" -m pip install --quiet --no-deps --upgrade --target "$VENV/swebench4" \
    'swebench==4.1.0' 'unidiff==0.7.5'
fi
