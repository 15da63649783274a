#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the Python environments, starts the
# Docker engine and builds the offline base image when missing, then runs pytest.
#   bash launch/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
if [[ -f launch/setup_vllm.sh ]]; then
  bash launch/setup_vllm.sh
fi
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
.venv/bin/swejax sandbox setup
# The bubblewrap backend runs the host's python3, which needs pytest for grading; the
# launch scripts are checked with shellcheck; image pulls are tested against Debian's
# docker-registry served on 127.0.0.1; the report is opened in headless chromium.
need=()
/usr/bin/python3 -c "import pytest" 2>/dev/null || need+=(python3-pytest)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v chromium >/dev/null || need+=(chromium chromium-driver)
if [[ "$(id -u)" == 0 && ${#need[@]} -gt 0 ]]; then
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
exec .venv/bin/python -m pytest "$@"
