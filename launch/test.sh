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
exec .venv/bin/python -m pytest "$@"
