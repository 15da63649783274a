"""`swejax train`: the main job. Resumes when the workdir already holds a run."""
from __future__ import annotations

import json
import os
import sys

from swejax.config import UsageError, parse_flags
from swejax.tasks import images

_FLAGS = {"workdir": (None, "where the run lives (default workdirs/<config name>)")}


def prepare_workdir(config, workdir: str) -> None:
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
    if old != text:
      print(f"note: {path} differs from this command's config; the workdir's checkpoints are "
            f"resumed with the new config (the old one is kept as config.previous.json)",
            file=sys.stderr)
      with open(os.path.join(workdir, "config.previous.json"), "w") as f:
        f.write(old)
  with open(path, "w") as f:
    f.write(text)


# What `swejax train` reads besides the learner's sections (configs/demo.py has them all).
_RUN_SECTIONS = ("stages", "tasks", "agent", "sandbox", "sampler", "eval", "checkpoint",
                 "warm_start", "rft", "seed")


def main(argv: list[str]) -> int:
  config, flags = parse_flags(argv, "swejax train", _FLAGS)
  missing = [k for k in _RUN_SECTIONS if k not in config]
  if missing:
    raise UsageError(
        f"config {config.get('name', '')!r} has no {', '.join(missing)}: it configures the "
        f"learner only (for `python -m swejax.aot` and the benchmarks); `swejax train` needs "
        f"the run's sections too, as configs/demo.py has them")
  workdir = flags["workdir"] or os.path.join("workdirs", config.name)
  from swejax.learner import maybe_initialize_distributed  # pylint: disable=import-outside-toplevel
  maybe_initialize_distributed(config.get("mesh"))
  from swejax.rl import report  # pylint: disable=import-outside-toplevel
  from swejax.rl.data import TaskSets  # pylint: disable=import-outside-toplevel
  from swejax.rl.loop import Run  # pylint: disable=import-outside-toplevel
  from swejax.rl.loop import check_init  # pylint: disable=import-outside-toplevel
  from swejax.rl.samplers import sampler_urls  # pylint: disable=import-outside-toplevel
  try:
    if config.model.get("init", ""):
      check_init(config.model.init)
    sampler_urls(config.sampler)
    data = TaskSets(config, workdir)
    # Before any work: every task image on every sandbox host (names what to fetch).
    images.require_run_images(config.sandbox, config.tasks, data.pool, data.held_out)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(str(e)) from None
  prepare_workdir(config, workdir)
  run = Run(config, workdir, data)
  results = run.run()
  summary = report.finish(run, results)
  print(report.table(summary))
  print(json.dumps({"workdir": workdir, "summary": os.path.join(workdir, "summary.json")}))
  return 0
