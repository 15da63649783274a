"""Resume: a run continued from its iteration-2 state repeats iteration 3 exactly."""
import json
import os
import shutil

import pytest

from swejax.rl.episode import read_episodes

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _first_actions(path):
  out = {}
  for e in read_episodes(path):
    start = e.loss_mask.index(1)
    end = start
    while end < len(e.loss_mask) and e.loss_mask[end] == 1:
      end += 1
    out[(e.task_id, e.group)] = e.tokens[start:end]
  return out


def test_resume_from_iteration_2_repeats_iteration_3(tmp_path, small_tasks, docker_engine,
                                                    smoke_flags, run_train):
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  done = run_train(smoke_flags(small_tasks, a))
  assert done.returncode == 0, done.stderr[-3000:]
  ckpts = sorted(int(x) for x in os.listdir(os.path.join(a, "checkpoints")) if x.isdigit())
  assert len(ckpts) >= 2
  # Workdir B = A as it was at the end of iteration 2.
  os.makedirs(os.path.join(b, "checkpoints"))
  it2 = ckpts[-2]
  shutil.copytree(os.path.join(a, "checkpoints", str(it2)),
                  os.path.join(b, "checkpoints", str(it2)))
  shutil.copy(os.path.join(a, "config.json"), b)
  os.makedirs(os.path.join(b, "trajectories"))
  for name in os.listdir(os.path.join(a, "trajectories")):
    if name != "dapo_3.jsonl":
      shutil.copy(os.path.join(a, "trajectories", name), os.path.join(b, "trajectories"))
  with open(os.path.join(a, "metrics.jsonl")) as src, open(os.path.join(b, "metrics.jsonl"), "w") as dst:
    for line in src:
      if json.loads(line).get("iteration", 0) <= 2:
        dst.write(line)
  again = run_train(smoke_flags(small_tasks, b))
  assert again.returncode == 0, again.stderr[-3000:]
  assert "resumed from" in again.stdout
  first_a = _first_actions(os.path.join(a, "trajectories", "dapo_3.jsonl"))
  first_b = _first_actions(os.path.join(b, "trajectories", "dapo_3.jsonl"))
  assert sorted(first_a) == sorted(first_b)  # the same tasks and groups
  assert first_a == first_b  # token-identical first actions
  # The hand-off to the next stage's pool filter: every DAPO group's outcomes, per task.
  with open(os.path.join(b, "solve_history.jsonl")) as f:
    history = [json.loads(line) for line in f]
  solves = sum(len(h["solves"]) for h in history)
  assert history and 0 < solves <= 3 * 2 * 2  # iterations x problems x group size
