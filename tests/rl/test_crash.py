"""kill -9 in the middle of rollouts loses no finished episode; rerunning completes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from swejax.rl.episode import read_episodes

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_kill_9_mid_rollouts_then_rerun(tmp_path, small_tasks, docker_engine, smoke_flags,
                                        run_train, job_env):
  wd = str(tmp_path / "run")
  args = smoke_flags(small_tasks, wd, **{"rl.iterations": 1, "rl.problems_per_iteration": 3})
  traj = os.path.join(wd, "trajectories", "dapo_1.jsonl")
  proc = subprocess.Popen([sys.executable, "-m", "swejax", "train", *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=job_env)
  try:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
      if os.path.exists(traj) and len(list(read_episodes(traj))) >= 2:
        break
      time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
  finally:
    proc.wait()
  before = {(e.task_id, e.group): e.to_json() for e in read_episodes(traj)}
  assert len(before) >= 2
  with open(traj) as f:  # every finished episode is whole on disk
    lines = f.read().split("\n")
  assert all(json.loads(line) for line in lines[:-1])
  done = run_train(args)
  assert done.returncode == 0, done.stderr[-3000:]
  after = {(e.task_id, e.group): e.to_json() for e in read_episodes(traj)}
  assert len(after) == 6  # 3 tasks x 2 episodes, the killed run's reused
  for key, line in before.items():
    assert after[key] == line
  assert os.path.exists(os.path.join(wd, "summary.json"))
