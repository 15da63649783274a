"""`swejax train --check`: everything a run needs, checked without training.

The config against the schema, the tokenizer against the model, the task files and their
images on the sandbox hosts, the sampler fleet (that it answers, and its sampling
defaults) and the workdir; then the plan of every stage (tasks, iterations, optimizer
steps and every key the stage reads). Nothing is built that costs memory: no weights, no
learner, no sampler.
"""
from __future__ import annotations

import math
import os
import tempfile
from typing import Any

from swejax import schema
from swejax.learner import build
from swejax.learner.optimizer import make_schedule
from swejax.model.pretrained import check_init
from swejax.rl import solve_history
from swejax.rl.task_sets import TaskSets
from swejax.sampling.from_config import probe_fleet, sampler_urls
from swejax.tasks import images


def _value(config, key: str) -> Any:
  node = config
  for part in key.split("."):
    node = node[part]
  return node.to_dict() if hasattr(node, "to_dict") else node


def _keys(config, keys) -> dict[str, Any]:
  return {k: _value(config, k) for k in sorted(keys)}


def workdir_problems(workdir: str) -> list[str]:
  """The workdir can be written (or made): nothing is created here."""
  path = os.path.abspath(workdir)
  while not os.path.exists(path):
    path = os.path.dirname(path)
  if not os.path.isdir(path):
    return [f"--workdir={workdir}: {path} is not a directory"]
  try:
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as e:
    return [f"--workdir={workdir}: {path} is not writable ({e.strerror})"]
  return []


def _stage_plan(config, stage: str, data: TaskSets | None) -> dict[str, Any]:
  kind = stage.split(":")[0]
  plan: dict[str, Any] = {"stage": stage, "config": _keys(config, schema.BY_STAGE[kind])}
  if kind == "eval":
    e = config.eval
    name = stage.split(":", 1)[1] if ":" in stage else "eval"
    runs = e.runs_by_name[name] if name in e.runs_by_name else e.runs
    plan.update(tasks=len(data.eval_tasks()) if data else None, runs=runs, k=min(e.k, runs))
    return plan
  plan["learner"] = {k: v for k, v in vars(build.step_config(
      config, build.stage_loss(kind))).items() if k != "model"}
  if kind == "dapo":
    r = config.rl
    per_iteration = r.problems_per_iteration * r.group_size
    pool = None
    if data is not None:
      try:  # stage 2: the pool before and after the paper's filter
        prior = solve_history.read(r.pool_filter.history)
        pool = {"before_filter": len(data.pool), "after_filter": len(
            data.dapo_pool(prior, stage2=r.pool_filter.enabled)), "history_tasks": len(prior)}
      except ValueError:
        pass  # listed with the problems
    plan.update(
        tasks=len(data.pool) if data else None, pool=pool, iterations=r.iterations,
        episodes_per_iteration=per_iteration,
        # every episode kept (none with A = 0): the most steps an iteration can take
        optimizer_steps_per_iteration_at_most=math.ceil(per_iteration /
                                                        r.trajectories_per_step),
        optimizer_steps_at_most=r.iterations * math.ceil(per_iteration /
                                                         r.trajectories_per_step),
        sampling={"temperature": 1.0, "truncation": None})
    return plan
  section = config.warm_start if kind == "warm_start" else config.rft
  tasks = (data.warm_start_tasks() if kind == "warm_start" else data.rft_tasks()) if data else []
  per_task = section.demos_per_task if kind == "warm_start" else section.samples_per_task
  episodes = len(tasks) * per_task
  steps = section.epochs * math.ceil(episodes / section.trajectories_per_step)
  plan.update(tasks=len(tasks) if data else None, iterations=1, episodes=episodes,
              # RFT trains on the resolved episodes only: at most all of them
              optimizer_steps_at_most=steps)
  return plan


def check(config, workdir: str) -> tuple[dict[str, Any], list[str]]:
  """(the plan, the problems); a run may start when there are no problems."""
  problems = schema.problems(config, strict=False)
  if problems:
    return {}, problems
  stages = schema.check(config)
  plan: dict[str, Any] = {"name": config.name, "workdir": workdir, "stages": stages,
                          "run": _keys(config, schema.RUN)}
  try:
    model = build.model_config(config.model)
    plan["model"] = {"preset": config.model.preset, "params": model.num_params,
                     "vocab_size": model.vocab_size,
                     "max_position_embeddings": model.max_position_embeddings}
  except ValueError as e:
    problems.append(str(e))
  for stage in stages:
    kind = stage.split(":")[0]
    if kind in schema.TRAINING_STAGES:
      optim = build.stage_optim(config, kind)
      if kind == "rft" and not optim["total_steps"]:  # set from the kept data at run time
        optim["total_steps"] = optim["warmup_steps"] + 1
      try:
        make_schedule(optim)
      except ValueError as e:
        problems.append(f"config {kind}: {e}")
  if config.model.init:
    try:
      check_init(config.model.init)
    except ValueError as e:
      problems.append(str(e))
  data = None
  try:  # the tokenizer against the model, and the task files
    data = TaskSets(config, workdir)
    plan["tokenizer"] = {"directory": str(data.tokenizer.directory),
                         "vocab_size": data.tokenizer.vocab_size}
    plan["tasks"] = {"pool": len(data.pool), "held_out": len(data.held_out)}
  except (ValueError, FileNotFoundError, OSError) as e:
    problems.append(str(e))
  if "rl" in config:
    try:
      solve_history.read(config.rl.pool_filter.history)
    except ValueError as e:
      problems.append(str(e))
  if data is not None:
    try:
      images.require_run_images(config.sandbox, config.tasks, data.pool, data.held_out)
    except Exception as e:  # pylint: disable=broad-except
      problems.append(f"task images: {e}")
  try:
    if sampler_urls(config.sampler):
      plan["sampler"], found = probe_fleet(config)
      problems.extend(found)
    else:
      plan["sampler"] = {"kind": config.sampler.kind}
  except ValueError as e:
    problems.append(str(e))
  problems.extend(workdir_problems(workdir))
  if "model" in plan:
    plan["plan"] = [_stage_plan(config, s, data) for s in stages]
  return plan, problems
