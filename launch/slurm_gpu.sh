#!/usr/bin/env bash
# Multi-node GPU training under SLURM: one process per node, each driving all its GPUs.
# From a login node this submits itself with sbatch; inside the allocation it starts
# `swejax train` on every node with srun. jax.distributed.initialize() (config
# mesh.distributed=true) reads the coordinator from JAX_COORDINATOR_ADDRESS (the first node of
# the allocation) and the process count and id from SLURM (SLURM_NTASKS, SLURM_PROCID).
#   bash launch/slurm_gpu.sh --nodes 16 --gpus-per-node 8 --partition gpu \
#     --config configs/dapo_qwen2_5_72b.py:stage2 --workdir /shared/runs/stage2
#   bash launch/slurm_gpu.sh --nodes 4 --config ... --dry-run      # print the commands only
# Flags after `--` go to `swejax train`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
self="$root/launch/$(basename "$0")"

usage() {
  cat >&2 <<'EOF'
usage: launch/slurm_gpu.sh --nodes N --config PATH[:VARIANT] [options] [-- train flags]
  --nodes N             nodes (one JAX process each)
  --gpus-per-node G     GPUs per node (default 8)
  --cpus-per-node C     CPUs per node for the process (default 64: rollouts and sandboxes)
  --config SPEC         experiment config
  --workdir DIR         run directory on a file system all nodes share
  --partition P         SLURM partition      --account A   SLURM account
  --time T              time limit (default 7-00:00:00)
  --job-name NAME       (default swejax)
  --port PORT           coordinator port on the first node (default 12345)
  --python PY           interpreter on the nodes (default REPO/.venv/bin/python, else python3)
  --docker-host URL     Docker engine for the sandboxes (exported as DOCKER_HOST)
  --nodelist HOSTS      comma-separated names shown by --dry-run (default node0, node1, ...)
  --dry-run             print the sbatch command and every node's command, run nothing
EOF
  exit 2
}

nodes="" gpus=8 cpus=64 config="" workdir="" partition="" account="" time_limit="7-00:00:00"
job_name="swejax" port=12345 python="" docker_host="" nodelist="" dry=0 inside=0
extra=()
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "slurm_gpu.sh: $1 needs a value" >&2; usage; }; }
while (($#)); do
  case "$1" in
    --nodes) need "$@"; nodes="$2"; shift 2 ;;
    --gpus-per-node) need "$@"; gpus="$2"; shift 2 ;;
    --cpus-per-node) need "$@"; cpus="$2"; shift 2 ;;
    --config) need "$@"; config="$2"; shift 2 ;;
    --workdir) need "$@"; workdir="$2"; shift 2 ;;
    --partition) need "$@"; partition="$2"; shift 2 ;;
    --account) need "$@"; account="$2"; shift 2 ;;
    --time) need "$@"; time_limit="$2"; shift 2 ;;
    --job-name) need "$@"; job_name="$2"; shift 2 ;;
    --port) need "$@"; port="$2"; shift 2 ;;
    --python) need "$@"; python="$2"; shift 2 ;;
    --docker-host) need "$@"; docker_host="$2"; shift 2 ;;
    --nodelist) need "$@"; nodelist="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --inside-allocation) inside=1; shift ;;  # set by the sbatch step itself
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "slurm_gpu.sh: unknown flag $1" >&2; usage ;;
  esac
done

[[ -n "$nodes" ]] || { echo "slurm_gpu.sh: --nodes is required" >&2; usage; }
[[ -n "$config" ]] || { echo "slurm_gpu.sh: --config is required" >&2; usage; }
for v in nodes gpus cpus port; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "slurm_gpu.sh: ${v} must be a positive number, got '${!v}'" >&2; exit 2; }
done
if [[ "$docker_host" == ssh://* ]]; then
  echo "slurm_gpu.sh: --docker-host must be unix:// or tcp:// (tunnel ssh first; see README)" >&2
  exit 2
fi
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
device_ids="$(seq -s, 0 $((gpus - 1)))"
# Shell-quotes a command for printing (and eval): words that need it go in single quotes.
quote_cmd() {
  local out="" w
  for w in "$@"; do
    if [[ "$w" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$w "; else out+="'${w//\'/\'\\\'\'}' "; fi
  done
  printf '%s' "${out% }"
}

# The command every node runs (srun starts one per node).
env_vars=("JAX_LOCAL_DEVICE_IDS=$device_ids")
if [[ -n "$docker_host" ]]; then env_vars+=("DOCKER_HOST=$docker_host"); fi
train=("$python" -m swejax train "--config=$config" --config.mesh.distributed=true)
if [[ -n "$workdir" ]]; then train+=("--workdir=$workdir"); fi
train+=(${extra[@]+"${extra[@]}"})

srun_cmd() {  # $1: coordinator host
  run=(srun --nodes="$nodes" --ntasks-per-node=1 --gpus-per-node="$gpus"
       --cpus-per-task="$cpus" --kill-on-bad-exit=1
       env "JAX_COORDINATOR_ADDRESS=$1:$port" "${env_vars[@]}" "${train[@]}")
}

# Re-invoked by sbatch on the first node of the allocation.
if ((inside)); then
  [[ -n "${SLURM_JOB_NODELIST:-}" ]] || { echo "slurm_gpu.sh: not inside a SLURM allocation" >&2; exit 2; }
  # Read every name (no `| head`: with pipefail, an early close would fail the step).
  mapfile -t allocated < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
  [[ ${#allocated[@]} -gt 0 ]] || { echo "slurm_gpu.sh: scontrol listed no nodes" >&2; exit 2; }
  srun_cmd "${allocated[0]}"
  echo "+ $(quote_cmd "${run[@]}")" >&2
  cd "$root"
  exec "${run[@]}"
fi

batch=(sbatch --job-name="$job_name" --nodes="$nodes" --ntasks-per-node=1
       --gpus-per-node="$gpus" --cpus-per-task="$cpus" --time="$time_limit"
       --output="$root/workdirs/slurm/%x-%j.out" --exclusive)
if [[ -n "$partition" ]]; then batch+=(--partition="$partition"); fi
if [[ -n "$account" ]]; then batch+=(--account="$account"); fi
again=("$self" --inside-allocation --nodes "$nodes" --gpus-per-node "$gpus"
       --cpus-per-node "$cpus" --config "$config" --port "$port" --python "$python")
if [[ -n "$workdir" ]]; then again+=(--workdir "$workdir"); fi
if [[ -n "$docker_host" ]]; then again+=(--docker-host "$docker_host"); fi
again+=(-- ${extra[@]+"${extra[@]}"})
batch+=("${again[@]}")

if ((dry)); then
  quote_cmd "${batch[@]}"
  echo
  hosts=()
  if [[ -n "$nodelist" ]]; then IFS=, read -r -a hosts <<<"$nodelist"; fi
  for ((i = ${#hosts[@]}; i < nodes; i++)); do hosts+=("node$i"); done
  srun_cmd "${hosts[0]}"
  echo "# inside the allocation, on ${hosts[0]}: $(quote_cmd "${run[@]}")"
  echo "# which runs on each node (SLURM sets SLURM_PROCID and SLURM_NTASKS=$nodes):"
  for ((i = 0; i < nodes; i++)); do
    echo "[${hosts[$i]} process $i of $nodes] $(quote_cmd env "SLURM_PROCID=$i" \
      "JAX_COORDINATOR_ADDRESS=${hosts[0]}:$port" "${env_vars[@]}" "${train[@]}")"
  done
  exit 0
fi

command -v sbatch >/dev/null 2>&1 || { echo "slurm_gpu.sh: sbatch not found (not a SLURM login node?); try --dry-run" >&2; exit 2; }
mkdir -p "$root/workdirs/slurm"
exec "${batch[@]}"
