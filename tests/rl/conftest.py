"""Shared set-up for loop tests: a small task file from the embedded synthetic tasks."""
import importlib.resources
import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def small_tasks(tmp_path_factory):
  """The first 12 demo-usable embedded tasks."""
  from swejax.rl import demo
  from swejax.tasks import load_tasks, save_tasks
  path = str(importlib.resources.files("swejax") / "assets" / "synthetic_tasks.jsonl")
  tasks = [t for t in load_tasks(path) if demo.is_demo_task(t)][:12]
  out = str(tmp_path_factory.mktemp("tasks") / "tasks.jsonl")
  save_tasks(tasks, out)
  return out


def _smoke_flags(tasks_path: str, workdir: str, **extra) -> list[str]:
  flags = {
      "tasks.path": tasks_path, "tasks.eval_n": 2, "tasks.warm_start_n": 4, "tasks.rft_n": 2,
      "warm_start.demos_per_task": 1, "warm_start.epochs": 1, "rl.iterations": 3,
      "rl.problems_per_iteration": 2, "rl.group_size": 2, "rl.trajectories_per_step": 4,
      "agent.concurrency": 4, "stages": "warm_start,dapo", "eval.runs": 1, "eval.k": 1,
  }
  flags.update(extra)
  return ["--config=configs/demo.py:smoke", f"--workdir={workdir}"] + [
      f"--config.{k}={v}" for k, v in flags.items()]


def _env():
  """The job's own environment: one CPU device, not the 8 fake ones of the tests."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  return env


def _run_train(args, timeout=900, **kw):
  env = _env()
  return subprocess.run([sys.executable, "-m", "swejax", "train", *args], capture_output=True,
                        text=True, timeout=timeout, env=env, **kw)


@pytest.fixture
def smoke_flags():
  return _smoke_flags


@pytest.fixture
def run_train():
  return _run_train


@pytest.fixture
def job_env():
  return _env()
