"""kill -9 of the owner while sandboxes are live: the next start's reaper removes them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import docker
import pytest

from swejax.sandbox import cgroups, open_sandbox, reap_local
from swejax.sandbox.owner import LABEL, LABEL_PID

_OWNER_DOCKER = textwrap.dedent("""
    import concurrent.futures, sys, time
    from swejax.sandbox import BASE_IMAGE, DockerPool, Limits
    pool = DockerPool(per_host=32)
    limits = Limits.make(memory="64m", disk="16m", tmp="16m")
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
      boxes = list(ex.map(lambda i: pool.open(BASE_IMAGE, limits, run_id="reapme"), range(32)))
    print("ready", flush=True)
    time.sleep(600)
""")

_OWNER_LOCAL = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    from swejax.sandbox import open_sandbox
    boxes = [open_sandbox("local", memory="64m", disk="16m", tmp="16m") for _ in range(2)]
    for box in boxes:
      box.run("echo data > kept.txt")
    print(json.dumps([box.state_dir for box in boxes]), flush=True)
    time.sleep(600)
""")


def _start_owner(script: str) -> tuple[subprocess.Popen, str]:
  proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
  line = proc.stdout.readline()
  if not line:
    proc.kill()
    raise AssertionError(f"owner process failed (exit {proc.wait()})")
  return proc, line


def _owned_by(client: docker.DockerClient, pid: int) -> list:
  return client.containers.list(all=True, filters={"label": [LABEL, f"{LABEL_PID}={pid}"]})


@pytest.mark.docker
@pytest.mark.slow
def test_kill_9_with_32_live_sandboxes_then_next_start_reaps_them():
  client = docker.from_env()
  proc, _ = _start_owner(_OWNER_DOCKER)
  try:
    assert len(_owned_by(client, proc.pid)) == 32
  finally:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
  assert len(_owned_by(client, proc.pid)) == 32  # nobody cleaned up: the owner died
  with open_sandbox("docker", memory="64m") as sandbox:  # the next start reaps first
    assert _owned_by(client, proc.pid) == []
    assert sandbox.run("echo fresh").output == "fresh\n"
  client.close()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_local_reaper_removes_dirs_mounts_and_cgroups_of_a_dead_owner(bubblewrap):
  proc, line = _start_owner(_OWNER_LOCAL)
  state_dirs = json.loads(line)
  try:
    assert all(os.path.isfile(os.path.join(d, "work", "kept.txt")) for d in state_dirs)
    alive = reap_local()  # the owner is alive: none of its sandboxes may go
    assert not set(alive) & {os.path.basename(d) for d in state_dirs}
  finally:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
  removed = reap_local()
  assert {os.path.basename(d) for d in state_dirs} <= set(removed)
  assert not any(os.path.exists(d) for d in state_dirs)
  with open("/proc/mounts") as handle:
    mounts = handle.read()
  assert not any(d in mounts for d in state_dirs)
  if cgroups.available():
    assert not any(os.path.exists(p) for d in state_dirs
                   for p in cgroups.Group(os.path.basename(d)).paths.values())
