"""The driver: the config's stages in order, resumable at any point.

`run` takes its collaborators built (tasks, environment, checkpointer, metrics) and builds
the two that depend on the weights once, before the first stage: the learner (restored
from the workdir's latest checkpoint into its abstract state, or fresh around model.init)
and the sampler serving those weights. A checkpoint follows every training unit (a
stage, a DAPO iteration); see swejax.rl.stages for what each stage does.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax

from swejax import model as model_lib
from swejax.checkpoint import Checkpointer
from swejax.learner import build
from swejax.learner.trainer import Learner
from swejax.metrics import MetricsWriter
from swejax.model.pretrained import initial_params
from swejax.rl import solve_history
from swejax.rl import stages as stages_lib
from swejax.rl.stages import Collaborators, LoopState
from swejax.rl.task_sets import TaskSets
from swejax.sampling.from_config import make_sampler
from swejax.schema import TRAINING_STAGES, stage_list
from swejax.tasks.env import TaskEnv


def first_training_stage(stages: list[str]) -> str | None:
  """The stage whose optimizer a run's first learner gets (None: an evaluation only). A run
  may start with an evaluation of its model.init before any training."""
  for stage in stages:
    if stage.split(":")[0] in TRAINING_STAGES:
      return stage.split(":")[0]
  return None


def restore(config, ckpt: Checkpointer, mesh, source) -> tuple[LoopState, Learner | None]:
  """The loop state and learner of the latest checkpoint (a fresh state and None without
  one). The arrays are read straight into their shardings: no weights are made first."""
  step = ckpt.latest_step()
  if step is None:
    return LoopState(), None
  ls = LoopState(**ckpt.restore_loop_state(step))
  if not ls.optim_stage:
    raise ValueError(f"{ckpt.directory}/{step}: the checkpoint names no optimizer stage")
  data_state = {}

  def read(abstract):
    state, data, _ = ckpt.restore(step, abstract)
    data_state.update(data)
    return state

  learner = Learner.restored(build.step_config(config, build.stage_loss(ls.optim_stage)),
                             build.stage_optim(config, ls.optim_stage), mesh, read)
  if data_state:
    source.set_state(data_state)
  return ls, learner


def run(config, workdir: str, tasks: TaskSets, env: TaskEnv, *, ckpt: Checkpointer,
        metrics: MetricsWriter, mesh) -> tuple[dict, Any]:
  """Runs (or resumes) the config's stages: (evaluation results by name, final weights)."""
  stages = stage_list(config)
  model_cfg = build.model_config(config.model)
  source = tasks.dapo_source().iterator()
  ls, learner = restore(config, ckpt, mesh, source)
  if learner is not None:
    print(f"resumed from {workdir}/checkpoints/{ckpt.latest_step()} (stage "
          f"{stages[min(ls.stage_index, len(stages) - 1)]}, iteration {ls.iteration})",
          flush=True)
  first = first_training_stage(stages)
  if learner is None and first is not None:  # model.init, or random weights when empty
    learner = Learner(build.step_config(config, build.stage_loss(first)),
                      build.stage_optim(config, first), mesh,
                      params=initial_params(config.model.init, model_cfg, mesh),
                      seed=config.seed)
  if learner is not None:
    weights = learner.params
  else:  # an evaluation only: the weights, without a learner or its optimizer state
    weights = (initial_params(config.model.init, model_cfg, mesh) if config.model.init
               else model_lib.init_params(model_cfg, jax.random.key(config.seed)))
  holder = {"learner": learner}
  prior = (solve_history.read(config.rl.pool_filter.history)
           if any(s.split(":")[0] == "dapo" for s in stages) else {})
  if prior:
    print(f"solve history of earlier stages: {len(prior)} tasks "
          f"({config.rl.pool_filter.history})", flush=True)
  c = Collaborators(
      config=config, workdir=workdir, tasks=tasks, env=env, tokenizer=tasks.tokenizer,
      sampler=make_sampler(config, model_cfg, weights, version=ls.version, workdir=workdir,
                           stop_token_id=tasks.tokenizer.im_end_id),
      metrics=metrics, source=source, prior_history=prior,
      new_learner=stages_lib.new_learner_factory(config, mesh,
                                                 lambda: holder["learner"].params))

  def save() -> None:
    # Checkpoints are numbered by the loop's units of work (a stage, an iteration):
    # optimizer steps restart in every training stage, and an iteration may have none.
    ls.saves += 1
    ckpt.save(ls.saves, holder["learner"].state, source.get_state(), dataclasses.asdict(ls))
    # The next stage's pool filter reads it (config rl.pool_filter.history).
    if jax.process_index() == 0:
      solve_history.write(os.path.join(workdir, solve_history.FILE),
                          solve_history.merge(prior, ls.history))

  try:
    while ls.stage_index < len(stages):
      stage = stages[ls.stage_index]
      kind = stage.split(":")[0]
      print(f"== stage {ls.stage_index + 1}/{len(stages)}: {stage}", flush=True)
      if kind == "eval":
        stages_lib.evaluate(c, ls, stage.split(":", 1)[1] if ":" in stage else "eval")
        ls.stage_index += 1
        continue
      if kind == "dapo":
        r = config.rl
        if ls.optim_stage != "dapo":
          holder["learner"] = c.new_learner("dapo", r.optim.to_dict())
          ls.optim_stage = "dapo"
        if ls.iteration >= r.iterations:  # done; the last iteration saved already
          ls.stage_index += 1
          continue
        stages_lib.dapo_iteration(c, holder["learner"], ls)
        save()
        if r.eval_every and ls.iteration % r.eval_every == 0 and ls.iteration < r.iterations:
          stages_lib.evaluate(c, ls, f"dapo_{ls.iteration}")
        continue
      if kind == "warm_start":
        holder["learner"] = stages_lib.warm_start(c, ls)
      else:
        holder["learner"] = stages_lib.rft(c, ls)
      ls.stage_index += 1
      save()
    ckpt.wait()
  finally:
    c.sampler.close()
  final = holder["learner"].params if holder["learner"] is not None else weights
  return ls.results, final
