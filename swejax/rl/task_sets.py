"""The task sets of a run: the training pool, the held-out evaluation set, their splits."""
from __future__ import annotations

import hashlib
import importlib.resources
import os

from swejax.data.source import TaskSource
from swejax.learner.build import model_config
from swejax.model.pretrained import resolve_init
from swejax.rl import demo
from swejax.schema import TRAINING_STAGES, stage_list
from swejax.tasks import load_tasks
from swejax.tokenizer import Tokenizer
from swejax.tokenizer.check import model_tokenizer

EMBEDDED_TASKS = "synthetic_tasks.jsonl"


def _order(task_id: str, seed: int) -> str:
  return hashlib.sha256(f"{seed}:{task_id}".encode()).hexdigest()


class TaskSets:
  """Loads and splits the tasks named by the config's `tasks` section."""

  def __init__(self, config, workdir: str):
    self.config = config
    t = config.tasks
    m = config.model  # the model's own tokenizer, checked against it before any work
    self.tokenizer: Tokenizer = model_tokenizer(
        resolve_init(m.tokenizer) if m.tokenizer else "",
        resolve_init(m.init) if m.init else "", vocab_size=model_config(m).vocab_size)
    rows = dict(image=t.image, test_cmd=t.test_cmd, image_namespace=t.image_namespace,
                image_template=t.image_template)
    training = any(s.split(":")[0] in TRAINING_STAGES for s in stage_list(config))
    if t.eval_path and not training:  # an evaluation only: no training pool to load
      pool, held = [], load_tasks(t.eval_path, **rows)
    elif t.path:
      pool = load_tasks(t.path, **rows)
      held = load_tasks(t.eval_path, **rows) if t.eval_path else []
    else:
      path = str(importlib.resources.files("swejax") / "assets" / EMBEDDED_TASKS)
      if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the embedded synthetic tasks are missing; "
                                "regenerate them with `swejax tasks synth`")
      pool, held = load_tasks(path), []
    if t.hints and not t.path:
      # The embedded tasks' hint is their one-line fix, which not every one of them has.
      # A task file keeps every row: its hint is the row's own hints_text.
      pool = [x for x in pool if demo.is_demo_task(x)]
      held = [x for x in held if demo.is_demo_task(x)]
    pool = sorted(pool, key=lambda x: _order(x.instance_id, t.split_seed))
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
    if not self.config.tasks.hints:
      return task.problem_statement
    if not self.config.tasks.path:
      return demo.hinted_statement(task)
    if not task.hints_text.strip():
      return task.problem_statement
    return f"{task.problem_statement.rstrip()}\n\nHints:\n{task.hints_text.strip()}"

  def scripted_kwargs(self) -> dict:
    if self.config.tasks.hints and not self.config.tasks.path:
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
