"""Benchmark: commands/s through the Sandbox API vs raw `docker exec`, and start-to-ready.

    python -m swejax.bench.sandbox [--sandboxes 16] [--commands 20] [--rounds 2]

16 sandboxes run the same agent-like commands concurrently, once through
`Sandbox.run` (wrapper, timeout, capped output, exit code) and once as plain
`docker exec CONTAINER bash -c CMD` subprocesses on the same containers; rounds
alternate so both see the same machine load. The last stdout line is one JSON
object with `ratio_vs_docker_exec` (API commands/s over raw; higher is better).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import subprocess
import time

from swejax.sandbox import BASE_IMAGE, DockerPool, Limits, ensure_engine_and_image

COMMANDS = (
    "true",
    "echo hello",
    "ls -la /usr/bin | head -n 20",
    "cat /etc/os-release",
    "grep -c '' /etc/passwd",
    "python3 -c 'print(1 + 1)'",
)


def _api_round(boxes, commands: list[str]) -> float:
  """Seconds for every sandbox to run `commands` in order, all sandboxes at once."""

  def work(box) -> None:
    for cmd in commands:
      result = box.run(cmd, timeout=60)
      if result.exit_code != 0:
        raise RuntimeError(f"{cmd!r} failed in the sandbox: {result.output[-300:]}")

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(len(boxes)) as pool:
    list(pool.map(work, boxes))
  return time.perf_counter() - start


def _raw_round(container_ids: list[str], commands: list[str]) -> float:
  """Seconds for the same commands as plain `docker exec` subprocesses."""

  def work(cid: str) -> None:
    for cmd in commands:
      subprocess.run(["docker", "exec", "-w", "/testbed", cid, "bash", "-c", cmd],
                     check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(len(container_ids)) as pool:
    list(pool.map(work, container_ids))
  return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m swejax.bench.sandbox")
  parser.add_argument("--sandboxes", type=int, default=16)
  parser.add_argument("--commands", type=int, default=24, help="commands per sandbox per round")
  parser.add_argument("--rounds", type=int, default=2)
  args = parser.parse_args(argv)
  setup = ensure_engine_and_image()
  commands = [COMMANDS[i % len(COMMANDS)] for i in range(args.commands)]
  limits = Limits.make(memory="512m", disk="256m")
  with DockerPool(per_host=args.sandboxes) as pool:
    ready_s: list[float] = []

    def open_ready():
      start = time.perf_counter()
      box = pool.open(BASE_IMAGE, limits, run_id="bench")
      box.run("true", timeout=60)
      ready_s.append(time.perf_counter() - start)
      return box

    wall = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.sandboxes) as ex:
      boxes = list(ex.map(lambda _: open_ready(), range(args.sandboxes)))
    wall = time.perf_counter() - wall
    try:
      _api_round(boxes, commands[:2])  # warm both paths
      _raw_round([b.id for b in boxes], commands[:2])
      api_s = raw_s = 0.0
      for _ in range(args.rounds):
        api_s += _api_round(boxes, commands)
        raw_s += _raw_round([b.id for b in boxes], commands)
    finally:
      with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda b: b.close(), boxes))
    single = time.perf_counter()  # one start with the engine otherwise idle
    with pool.open(BASE_IMAGE, limits, run_id="bench") as box:
      box.run("true", timeout=60)
      single = time.perf_counter() - single
  total = args.sandboxes * args.commands * args.rounds
  api_rate, raw_rate = total / api_s, total / raw_s
  report = {
      "bench": "sandbox",
      "engine": setup.get("engine_version"),
      "sandboxes": args.sandboxes,
      "commands": total,
      "api_commands_per_s": round(api_rate, 2),
      "docker_exec_commands_per_s": round(raw_rate, 2),
      "ratio_vs_docker_exec": round(api_rate / raw_rate, 3),
      "start_to_ready_s_single": round(single, 3),
      "start_to_ready_s_median_of_concurrent": round(statistics.median(ready_s), 3),
      "start_to_ready_s_max_of_concurrent": round(max(ready_s), 3),
      "start_all_concurrent_wall_s": round(wall, 3),
  }
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
