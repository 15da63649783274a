#!/usr/bin/env bash
# The embedded default, from a fresh clone: installs what it needs, then trains a tiny
# model on synthetic tasks on this machine's CPU: the embedded base model (the warm
# start's result, swejax/assets/demo_base) -> eval -> RFT -> eval -> DAPO -> eval.
#   bash launch/demo.sh [extra flags, e.g. --config.rl.iterations=2]
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
.venv/bin/swejax sandbox setup
exec .venv/bin/swejax train --config=configs/demo.py --workdir="${WORKDIR:-workdirs/demo}" "$@"
