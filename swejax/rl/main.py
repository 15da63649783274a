"""`swejax train`: the main job. Resumes when the workdir already holds a run.

    swejax train --config=configs/NAME.py[:variant] [--config.a.b=v ...] [--workdir=DIR]
    swejax train --config=... --check   # everything the run needs, checked; its plan

The config is checked against the schema (swejax.schema) before anything else; then the
tokenizer against the model, the task files and every task image on every sandbox host.
"""
from __future__ import annotations

import json
import os
import sys

from swejax import schema
from swejax.checkpoint import Checkpointer
from swejax.config import UsageError, parse_flags
from swejax.learner import make_mesh, maybe_initialize_distributed
from swejax.learner.build import model_config
from swejax.metrics import MetricsWriter
from swejax.model.pretrained import check_init
from swejax.rl import check, finish, loop, solve_history
from swejax.rl.task_sets import TaskSets
from swejax.sampling.from_config import sampler_urls
from swejax.tasks import images
from swejax.tasks.env import TaskEnv

_FLAGS = {"workdir": (None, "where the run lives (default workdirs/<config name>)"),
          "check": ("false", "check everything the run needs and print its plan (JSON); "
                             "exit 1 if anything is wrong; no training")}


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


def _flag_bool(value: str, name: str) -> bool:
  if value.lower() in ("", "true", "1", "yes"):
    return True
  if value.lower() in ("false", "0", "no"):
    return False
  raise UsageError(f"swejax train: --{name}={value!r} is not a boolean")


def main(argv: list[str]) -> int:
  # `--check` alone is a boolean flag; absl's string flags need a value.
  argv = ["--check=true" if a == "--check" else a for a in argv]
  config, flags = parse_flags(argv, "swejax train", _FLAGS)
  workdir = flags["workdir"] or os.path.join("workdirs", config.name)
  if _flag_bool(flags["check"], "check"):
    plan, problems = check.check(config, workdir)
    print(json.dumps({"plan": plan, "problems": problems}, indent=2, default=str))
    return 1 if problems else 0
  try:
    schema.check(config)
  except schema.ConfigError as e:
    raise UsageError(str(e)) from None
  maybe_initialize_distributed(config.mesh)
  try:
    if config.model.init:
      check_init(config.model.init)
    model_config(config.model)
    sampler_urls(config.sampler)
    data = TaskSets(config, workdir)
    if "rl" in config:  # a previous stage's solve history must be readable before any work
      solve_history.read(config.rl.pool_filter.history)
    # Before any work: every task image on every sandbox host (names what to fetch).
    images.require_run_images(config.sandbox, config.tasks, data.pool, data.held_out)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(str(e)) from None
  prepare_workdir(config, workdir)
  ckpt = Checkpointer(workdir, keep=config.checkpoint.keep)
  results, weights = loop.run(config, workdir, data, TaskEnv.from_config(config.sandbox),
                              ckpt=ckpt, metrics=MetricsWriter(workdir, console=sys.stdout),
                              mesh=make_mesh(config.mesh))
  summary = finish.finish(workdir, results, weights, model_config(config.model),
                          data.tokenizer)
  ckpt.close()
  print(finish.table(summary))
  print(json.dumps({"workdir": workdir, "summary": os.path.join(workdir, "summary.json")}))
  return 0
