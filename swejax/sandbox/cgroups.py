"""cgroup v1 groups for the local sandbox: memory, pids and cpu caps, and a kill list.

Only used as root on hosts with cgroup v1 controllers mounted under /sys/fs/cgroup;
elsewhere the local sandbox falls back to `prlimit --as` (and reports it).
"""
from __future__ import annotations

import contextlib
import os
import signal
import time

ROOT = "/sys/fs/cgroup"
PARENT = "swejax"
_CONTROLLERS = ("memory", "pids", "cpu")


def available() -> bool:
  """True when we may create memory and pids groups (root, cgroup v1)."""
  if os.geteuid() != 0:
    return False
  return all(os.access(os.path.join(ROOT, c), os.W_OK) for c in ("memory", "pids"))


class Group:
  """The same-named group in each controller; `procs` files to join, kill, remove."""

  def __init__(self, name: str):
    self.name = name
    self.paths = {c: os.path.join(ROOT, c, PARENT, name) for c in _CONTROLLERS
                  if os.path.isdir(os.path.join(ROOT, c))}

  def create(self, memory: int, pids: int, cpus: float) -> None:
    for path in self.paths.values():
      os.makedirs(path, exist_ok=True)
    _write(self.paths["memory"], "memory.limit_in_bytes", str(memory))
    with contextlib.suppress(OSError):  # absent when swap accounting is off
      _write(self.paths["memory"], "memory.memsw.limit_in_bytes", str(memory))
    _write(self.paths["pids"], "pids.max", str(pids))
    if "cpu" in self.paths:
      period = 100_000
      _write(self.paths["cpu"], "cpu.cfs_period_us", str(period))
      _write(self.paths["cpu"], "cpu.cfs_quota_us", str(max(1000, int(cpus * period))))

  def join_command(self) -> str:
    """Shell that moves the calling shell (and so what it execs) into every group."""
    return " && ".join(f"echo $$ > {os.path.join(p, 'cgroup.procs')}" for p in self.paths.values())

  def pids(self) -> list[int]:
    try:
      with open(os.path.join(self.paths["pids"], "cgroup.procs")) as handle:
        return [int(line) for line in handle if line.strip()]
    except OSError:
      return []

  def kill_all(self, wait_s: float = 5.0) -> bool:
    """SIGKILLs every member until none is left (forks race the first passes)."""
    deadline = time.monotonic() + wait_s
    while True:
      members = self.pids()
      if not members:
        return True
      if time.monotonic() > deadline:
        return False
      for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
          os.kill(pid, signal.SIGKILL)
      time.sleep(0.01)

  def memory_failcnt(self) -> int:
    try:
      with open(os.path.join(self.paths["memory"], "memory.failcnt")) as handle:
        return int(handle.read().strip() or 0)
    except OSError:
      return 0

  def oom_kills(self) -> int | None:
    """Processes the kernel killed for the group's memory limit (None: unreadable)."""
    try:
      with open(os.path.join(self.paths["memory"], "memory.oom_control")) as handle:
        for line in handle:
          name, _, value = line.partition(" ")
          if name == "oom_kill":
            return int(value)
    except (OSError, KeyError, ValueError):
      pass
    return None

  def remove(self) -> None:
    self.kill_all()
    for path in self.paths.values():
      for _ in range(50):
        try:
          os.rmdir(path)
          break
        except FileNotFoundError:
          break
        except OSError:  # members still exiting
          time.sleep(0.02)


def _write(path: str, name: str, value: str) -> None:
  with open(os.path.join(path, name), "w") as handle:
    handle.write(value)
