"""A real `swejax train` smoke run (evaluations included) and headless Chromium, shared by
the report's browser tests."""
import importlib.util
import os
import subprocess
import sys

import pytest

from swejax.report import browser

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_FLAGS = {
    "tasks.eval_n": 2, "tasks.warm_start_n": 4, "tasks.rft_n": 2,
    "warm_start.demos_per_task": 1, "warm_start.epochs": 1, "rl.iterations": 2,
    "rl.problems_per_iteration": 2, "rl.group_size": 2, "rl.trajectories_per_step": 4,
    "agent.concurrency": 4, "stages": "warm_start,eval:base,dapo,eval:final", "eval.runs": 2,
    "eval.k": 2,
}


@pytest.fixture(scope="module")
def smoke_workdir(tmp_path_factory, small_tasks):
  """The workdir of a smoke run: warm start, an evaluation, 2 DAPO iterations, another."""
  workdir = str(tmp_path_factory.mktemp("smoke") / "wd")
  flags = dict(_FLAGS, **{"tasks.path": small_tasks})
  args = ["--config=configs/demo.py:smoke", f"--workdir={workdir}"] + [
      f"--config.{k}={v}" for k, v in flags.items()]
  env = dict(os.environ, JAX_PLATFORMS="cpu")  # one CPU device, not the tests' 8 fake ones
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", "swejax", "train", *args], capture_output=True,
                        text=True, timeout=900, env=env, cwd=_REPO)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


@pytest.fixture(scope="session")
def chromium_installed() -> None:
  """Skips only where the browser cannot be installed (not root); launch/test.sh installs
  Debian's chromium and the test extras install playwright, so elsewhere a missing one fails."""
  problem = None
  if importlib.util.find_spec("playwright") is None:
    problem = "the playwright package is not installed (pip install -e .[test])"
  else:
    try:
      browser.check_chromium()
    except FileNotFoundError as e:
      problem = str(e)
  if problem is None:
    return
  if os.geteuid() != 0:
    pytest.skip(problem)
  pytest.fail(f"{problem}; launch/test.sh installs it")


@pytest.fixture(scope="module")
def chromium(chromium_installed):
  with browser.chromium() as context:
    yield context
