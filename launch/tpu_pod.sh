#!/usr/bin/env bash
# Runs `swejax train` on every worker of a Cloud TPU pod slice (multi-controller JAX): one
# `gcloud compute tpus tpu-vm ssh --worker=all` starts the same command on all workers, and
# each worker's jax.distributed.initialize() (config mesh.distributed=true) finds the
# coordinator and its own process id from the TPU metadata.
#   bash launch/tpu_pod.sh --tpu my-v5p-128 --zone us-east5-a \
#     --config configs/dapo_qwen2_5_72b.py:stage2 --workdir gs://bucket/runs/stage2 --copy --install
#   bash launch/tpu_pod.sh ... --num-workers 4 --dry-run     # print the commands, run nothing
# Flags after `--` go to `swejax train` (e.g. --config.rl.iterations=10).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
  cat >&2 <<'EOF'
usage: launch/tpu_pod.sh --tpu NAME --zone ZONE --config PATH[:VARIANT] [options] [-- train flags]
  --tpu NAME            TPU VM (pod slice) name
  --zone ZONE           its zone
  --project PROJECT     gcloud project (default: gcloud's configured one)
  --config SPEC         experiment config, relative to the repository on the workers
  --workdir DIR         run directory shared by all workers (e.g. a gs:// bucket path)
  --repo-dir DIR        repository on the workers (default swejax, in the login home)
  --python PY           interpreter on the workers (default python3)
  --docker-host URL     Docker engine for the sandboxes (exported as DOCKER_HOST on every worker)
  --copy                first copy this repository to --repo-dir on every worker
  --install             first pip install -e '.[tpu]' on every worker
  --num-workers N       workers to show in --dry-run (a live run reaches all of them)
  --dry-run             print the commands, run nothing
EOF
  exit 2
}

tpu="" zone="" project="" config="" workdir="" repo_dir="swejax" python="python3"
docker_host="" copy=0 install=0 num_workers=0 dry=0
extra=()
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "tpu_pod.sh: $1 needs a value" >&2; usage; }; }
while (($#)); do
  case "$1" in
    --tpu) need "$@"; tpu="$2"; shift 2 ;;
    --zone) need "$@"; zone="$2"; shift 2 ;;
    --project) need "$@"; project="$2"; shift 2 ;;
    --config) need "$@"; config="$2"; shift 2 ;;
    --workdir) need "$@"; workdir="$2"; shift 2 ;;
    --repo-dir) need "$@"; repo_dir="$2"; shift 2 ;;
    --python) need "$@"; python="$2"; shift 2 ;;
    --docker-host) need "$@"; docker_host="$2"; shift 2 ;;
    --copy) copy=1; shift ;;
    --install) install=1; shift ;;
    --num-workers) need "$@"; num_workers="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "tpu_pod.sh: unknown flag $1" >&2; usage ;;
  esac
done

for v in tpu zone config; do
  [[ -n "${!v}" ]] || { echo "tpu_pod.sh: --${v} is required" >&2; usage; }
done
[[ "$num_workers" =~ ^[0-9]+$ ]] || { echo "tpu_pod.sh: --num-workers must be a number, got '$num_workers'" >&2; exit 2; }
if [[ "$docker_host" == ssh://* ]]; then
  echo "tpu_pod.sh: --docker-host must be unix:// or tcp:// (tunnel ssh first; see README)" >&2
  exit 2
fi
if [[ "$dry" == 0 ]] && ! command -v gcloud >/dev/null 2>&1; then
  echo "tpu_pod.sh: gcloud is not installed (https://cloud.google.com/sdk); try --dry-run" >&2
  exit 2
fi

# Shell-quotes a command for printing (and eval): words that need it go in single quotes.
quote_cmd() {
  local out="" w
  for w in "$@"; do
    if [[ "$w" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$w "; else out+="'${w//\'/\'\\\'\'}' "; fi
  done
  printf '%s' "${out% }"
}

where=(--zone="$zone")
if [[ -n "$project" ]]; then where+=(--project="$project"); fi

# What every worker runs, as one shell-quoted string.
train=()
if [[ -n "$docker_host" ]]; then train+=(env "DOCKER_HOST=$docker_host"); fi
train+=("$python" -m swejax train "--config=$config" --config.mesh.distributed=true)
if [[ -n "$workdir" ]]; then train+=("--workdir=$workdir"); fi
train+=(${extra[@]+"${extra[@]}"})
worker_cmd="cd $(quote_cmd "$repo_dir") && $(quote_cmd "${train[@]}")"
install_cmd="cd $(quote_cmd "$repo_dir") && $(quote_cmd "$python" -m pip install --quiet -e '.[tpu]')"

steps=()
if ((copy)); then
  steps+=("$(quote_cmd gcloud compute tpus tpu-vm scp --recurse "$root" "$tpu:$repo_dir" \
    --worker=all "${where[@]}")")
fi
if ((install)); then
  steps+=("$(quote_cmd gcloud compute tpus tpu-vm ssh "$tpu" --worker=all "${where[@]}" \
    "--command=$install_cmd")")
fi
steps+=("$(quote_cmd gcloud compute tpus tpu-vm ssh "$tpu" --worker=all "${where[@]}" \
  "--command=$worker_cmd")")

if ((dry)); then
  printf '%s\n' "${steps[@]}"
  echo "# the command each worker runs (jax.distributed finds the coordinator and the process id):"
  if ((num_workers > 0)); then
    for ((w = 0; w < num_workers; w++)); do echo "[worker $w of $num_workers] $worker_cmd"; done
  else
    echo "[every worker] $worker_cmd"
  fi
  exit 0
fi

for step in "${steps[@]}"; do
  echo "+ $step" >&2
  eval "$step"
done
