"""The task sets of a run: the training pool, the held-out evaluation set, their splits."""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os

from swejax.data.source import TaskSource
from swejax.rl import demo
from swejax.tokenizer import Tokenizer, default_tokenizer

EMBEDDED_TASKS = "synthetic_tasks.jsonl"


def _order(task_id: str, seed: int) -> str:
  return hashlib.sha256(f"{seed}:{task_id}".encode()).hexdigest()


class TaskSets:
  """Loads and splits the tasks named by the config's `tasks` section."""

  def __init__(self, config, workdir: str):
    from swejax.tasks import load_tasks  # pylint: disable=import-outside-toplevel
    self.config = config
    t = config.tasks
    self.tokenizer: Tokenizer = default_tokenizer()
    if t.path:
      pool = load_tasks(t.path)
      held = load_tasks(t.eval_path) if t.eval_path else []
    else:
      path = str(importlib.resources.files("swejax") / "assets" / EMBEDDED_TASKS)
      if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the embedded synthetic tasks are missing; "
                                "regenerate them with `swejax tasks synth`")
      pool, held = load_tasks(path), []
    if t.hints:
      pool = [x for x in pool if demo.is_demo_task(x)]
      held = [x for x in held if demo.is_demo_task(x)]
    pool = sorted(pool, key=lambda x: _order(x.instance_id, t.synthetic_seed))
    if not held:  # hold out the last eval_n of a seeded order
      if len(pool) <= t.eval_n:
        raise ValueError(f"tasks: {len(pool)} usable tasks, but tasks.eval_n={t.eval_n} are "
                         "to be held out")
      pool, held = pool[:-t.eval_n], pool[-t.eval_n:]
    self.pool, self.held_out = pool, held[:t.eval_n] if t.eval_n else held
    overlap = {x.instance_id for x in self.pool} & {x.instance_id for x in self.held_out}
    if overlap:
      raise ValueError(f"tasks: {len(overlap)} tasks are both in training and held out, "
                       f"e.g. {sorted(overlap)[0]}")
    self.by_id = {x.instance_id: x for x in self.pool + self.held_out}

  def problem_statement(self, task) -> str:
    return demo.hinted_statement(task) if self.config.tasks.hints else task.problem_statement

  def scripted_kwargs(self) -> dict:
    if self.config.tasks.hints:
      return {"plan": demo.demo_plan}
    return {}

  def warm_start_tasks(self):
    return self.pool[: self.config.tasks.warm_start_n or None]  # 0: every training task

  def rft_tasks(self):
    n = self.config.tasks.rft_n
    return self.pool[-n:] if n else self.pool

  def eval_tasks(self):
    return self.held_out

  def dapo_source(self) -> TaskSource:
    return TaskSource(len(self.pool), seed=self.config.seed, shard_index=0, shard_count=1)

  def dapo_pool(self, history: dict[str, list[int]], stage2: bool):
    """The pool; in stage 2 without tasks solved >= 2/3 of the time and never-solved ones
    (tasks with no history yet stay)."""
    if not stage2:
      return self.pool
    keep = []
    for x in self.pool:
      h = history.get(x.instance_id)
      if h and (sum(h) == 0 or sum(h) / len(h) >= 2 / 3):
        continue
      keep.append(x)
    return keep or self.pool
