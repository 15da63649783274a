"""Test-wide set-up: 8 fake CPU devices for sharding tests, before JAX starts; the Docker
engine; a small task file and `swejax train` runs for loop tests."""
import importlib.resources
import os
import subprocess
import sys

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()


@pytest.fixture(scope="session")
def docker_engine() -> dict:
  """Starts the engine and builds the base image if needed (minutes the first time)."""
  from swejax.sandbox import SandboxError, engine
  try:
    return engine.ensure_engine_and_image(bubblewrap=False)
  except SandboxError as err:
    if os.geteuid() != 0 and not engine.engine_answers():
      pytest.skip(f"no Docker engine and not root: {err}")
    raise


@pytest.fixture(scope="session")
def bubblewrap() -> str:
  from swejax.sandbox import engine
  path = engine.ensure_bubblewrap()
  if path is None:
    pytest.skip("bubblewrap is not installed and cannot be installed here")
  return path


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
