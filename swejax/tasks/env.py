"""A task's environment as an episode uses it: its sandbox with the repository at
base_commit, and the grading of a patch in a fresh one.

Every sandbox of a run opens through one TaskEnv: through one DockerPool (per-host caps
over one or more DOCKER_HOST-style URLs) when the backend is Docker, else the local
backend. Failures that are not the agent's come out as InfraError, never as a reward of 0.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import threading
from typing import Any, Callable, Sequence

from swejax.report import record
from swejax.sandbox import BASE_IMAGE, DockerPool, open_sandbox, resolve_backend
from swejax.sandbox.base import SandboxError
from swejax.tasks.grading import GRADE_TAIL_CHARS, grade
from swejax.tasks.repo import prepare_repo


class InfraError(RuntimeError):
  """An episode failed for reasons that are not the agent's (after its retries)."""


@dataclasses.dataclass(frozen=True)
class Graded:
  """What an episode keeps of its grading."""
  resolved: bool
  reason: str
  exit_code: int | None = None
  cached: bool = False  # the verdict of an identical patch graded earlier in the run
  details: dict = dataclasses.field(default_factory=dict)  # record.grade_summary


class _GradeCache:
  """One grading per (task, patch) in a run; concurrent duplicates wait for the first.

  The tests of a validated task are deterministic for a given tree, and the G episodes of
  a group often submit the same patch (the gold one or none at all). Infrastructure
  failures are never cached: the next episode with that patch grades again.
  """

  def __init__(self):
    self._lock = threading.Lock()
    self._entries: dict[tuple[str, str, str], cf.Future] = {}

  def get(self, key, compute: Callable[[], Graded]) -> Graded:
    with self._lock:
      future = self._entries.get(key)
      owner = future is None
      if owner:
        future = self._entries[key] = cf.Future()
    if not owner:
      return dataclasses.replace(future.result(), cached=True)
    try:
      graded = compute()
    except BaseException as e:
      with self._lock:
        del self._entries[key]
      future.set_exception(e)
      raise
    future.set_result(graded)
    return graded


class TaskEnv:
  """Opens and grades the sandboxes of a run's tasks."""

  def __init__(self, backend: str, hosts: Sequence[str], per_host: int,
               limits: dict[str, Any]):
    self.limits = dict(limits)
    self.pool = None
    if hosts:
      self.pool = DockerPool(list(hosts), per_host=per_host)
    elif resolve_backend(backend) == "docker":
      self.pool = DockerPool(None, per_host=per_host)
    self.backend = "docker" if self.pool is not None else "local"
    self._cache = _GradeCache()

  @classmethod
  def from_config(cls, sandbox_config) -> "TaskEnv":
    """From the config's `sandbox` section."""
    return cls(sandbox_config.backend, [h for h in sandbox_config.hosts.split(",") if h],
               sandbox_config.per_host, dict(sandbox_config.limits))

  def open(self, task, **options):
    return open_sandbox(self.backend, task.image or BASE_IMAGE, workdir=task.workdir,
                        pool=self.pool, seed_workspace=not task.repo_snapshot,
                        **{**self.limits, **options})

  def open_prepared(self, task):
    """A sandbox with the task's repository at base_commit."""
    sb = self.open(task)
    try:
      prepare_repo(sb, task)
    except BaseException:
      sb.close()
      raise
    return sb

  def grade(self, task, patch: str, timeout: float):
    """The task's tests on `patch` in a fresh sandbox (a swejax.tasks.GradeResult)."""
    try:  # a long test summary must not be cut: the grader reads its end
      sandbox = self.open(task, tail_chars=GRADE_TAIL_CHARS)
    except SandboxError as e:
      raise InfraError(f"{task.instance_id}: opening the grading sandbox: {e}") from e
    return grade(task, patch, timeout=timeout, sandbox=sandbox)

  def verdict(self, task, patch: str, timeout: float, *, cache: bool = True) -> Graded:
    """grade() as an episode needs it. An empty patch is unresolved without a run (a
    validated task's FAIL_TO_PASS tests fail on the base commit); with `cache`, a patch
    graded before for the same task is not graded again. Raises InfraError."""
    if not patch.strip():
      return Graded(resolved=False, reason="empty_patch")

    def compute() -> Graded:
      result = self.grade(task, patch, timeout)
      if result.infra_error:
        raise InfraError(f"{task.instance_id}: grading failed: {result.infra_error}")
      return Graded(resolved=bool(result.resolved), reason=result.reason,
                    exit_code=getattr(result, "exit_code", None),
                    details=record.grade_summary(result))

    if not cache:
      return compute()
    key = (task.instance_id, task.base_commit, hashlib.sha256(patch.encode()).hexdigest())
    return self._cache.get(key, compute)
