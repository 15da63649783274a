"""Who owns a sandbox, and the reaper that removes sandboxes whose owner is gone.

A sandbox's owner is named by (host name, pid, process start time): a pid alone
is not enough, pids are reused.
"""
from __future__ import annotations

import dataclasses
import socket

import docker
import psutil

LABEL = "swejax.sandbox"
LABEL_PID = "swejax.owner.pid"
LABEL_START = "swejax.owner.start"
LABEL_HOST = "swejax.owner.host"
LABEL_RUN = "swejax.run_id"


@dataclasses.dataclass(frozen=True)
class Owner:
  host: str
  pid: int
  start: str  # process start time, seconds since the epoch, 2 decimals

  @classmethod
  def current(cls) -> "Owner":
    return cls.of_pid(psutil.Process().pid)

  @classmethod
  def of_pid(cls, pid: int) -> "Owner":
    return cls(host=socket.gethostname(), pid=pid, start=_start_time(pid))

  def labels(self, run_id: str | None) -> dict[str, str]:
    return {LABEL: "1", LABEL_PID: str(self.pid), LABEL_START: self.start,
            LABEL_HOST: self.host, LABEL_RUN: run_id or ""}

  @classmethod
  def from_labels(cls, labels: dict[str, str]) -> "Owner | None":
    try:
      return cls(host=labels[LABEL_HOST], pid=int(labels[LABEL_PID]), start=labels[LABEL_START])
    except (KeyError, ValueError):
      return None

  def is_gone(self) -> bool:
    """True only when we can tell: same host, and the pid is missing or was reused."""
    if self.host != socket.gethostname():
      return False
    try:
      return _start_time(self.pid) != self.start
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
      return True


def _start_time(pid: int) -> str:
  proc = psutil.Process(pid)
  if proc.status() == psutil.STATUS_ZOMBIE:
    raise psutil.ZombieProcess(pid)
  return f"{proc.create_time():.2f}"


def reap_docker(client: docker.DockerClient) -> list[str]:
  """Removes (with their volumes) labelled containers whose owner is gone; returns names."""
  removed = []
  # The low-level list: the high-level one inspects each container and fails when one
  # is removed meanwhile (by its owner closing it, or another reaper).
  for info in client.api.containers(all=True, filters={"label": LABEL}):
    owner = Owner.from_labels(info.get("Labels") or {})
    if owner is None or not owner.is_gone():
      continue
    name = (info.get("Names") or [info["Id"][:12]])[0].lstrip("/")
    try:
      client.api.remove_container(info["Id"], force=True, v=True)
      removed.append(name)
    except docker.errors.NotFound:
      pass  # another reaper got there first
    except docker.errors.APIError as err:
      if "already in progress" not in str(err):
        raise
  return removed
