"""`swejax eval`: Pass@1 +- s.e. and Pass@k on the held-out tasks (the config's eval
section), without training: of a workdir's latest checkpoint, else of model.init."""
from __future__ import annotations

import json
import os
import sys

import jax

from swejax import model as model_lib
from swejax import schema
from swejax.checkpoint import Checkpointer
from swejax.config import UsageError, parse_flags
from swejax.learner import make_mesh
from swejax.learner.build import model_config
from swejax.metrics import MetricsWriter
from swejax.model.pretrained import initial_params
from swejax.rl import loop, stages
from swejax.rl.task_sets import TaskSets
from swejax.sampling.from_config import make_sampler
from swejax.tasks.env import TaskEnv

_FLAGS = {"workdir": (None, "the run's workdir (its latest checkpoint is evaluated)"),
          "name": ("eval", "the name the evaluation is recorded under")}


def main(argv: list[str]) -> int:
  config, flags = parse_flags(argv, "swejax eval", _FLAGS)
  workdir = flags["workdir"] or os.path.join("workdirs", config.name)
  try:
    schema.check(config)
    data = TaskSets(config, workdir)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(str(e)) from None
  mesh = make_mesh(config.mesh)
  model_cfg = model_config(config.model)
  ckpt = Checkpointer(workdir, keep=config.checkpoint.keep)
  ls, learner = loop.restore(config, ckpt, mesh, data.dapo_source().iterator())
  if learner is not None:
    weights = learner.params
  elif config.model.init:
    weights = initial_params(config.model.init, model_cfg, mesh)
  else:
    print(f"note: no checkpoint in {workdir} and no model.init; evaluating freshly "
          "initialized parameters")
    weights = model_lib.init_params(model_cfg, jax.random.key(config.seed))
  sampler = make_sampler(config, model_cfg, weights, version=ls.version, workdir=workdir,
                         stop_token_id=data.tokenizer.im_end_id)
  c = stages.Collaborators(config=config, workdir=workdir, tasks=data,
                           env=TaskEnv.from_config(config.sandbox), tokenizer=data.tokenizer,
                           sampler=sampler, metrics=MetricsWriter(workdir, console=sys.stdout),
                           new_learner=None, source=None)
  try:
    summary = stages.evaluate(c, ls, flags["name"])
  finally:
    sampler.close()
    ckpt.close()
  print(json.dumps({k: summary[k] for k in ("pass@1", "stderr", "pass@k", "k", "tasks", "runs")}))
  return 0
