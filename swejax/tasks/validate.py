"""Checking tasks end to end: the gold patch resolves, the empty patch does not."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from typing import Any, Callable, Iterable

from swejax.tasks.grading import GradeResult, grade
from swejax.tasks.schema import Task


@dataclasses.dataclass(frozen=True)
class Validation:
  instance_id: str
  valid: bool
  gold: GradeResult
  empty: GradeResult

  @property
  def problem(self) -> str:
    """Why the task is invalid ("" when valid)."""
    if self.gold.infra_error or self.empty.infra_error:
      return f"infra: {self.gold.infra_error or self.empty.infra_error}"
    if not self.gold.resolved:
      return f"gold patch not resolved ({self.gold.reason}; failed {list(self.gold.failed)[:5]})"
    if self.empty.resolved:
      return "empty patch resolves"
    return ""

  def to_json(self) -> dict[str, Any]:
    return {"instance_id": self.instance_id, "valid": self.valid, "problem": self.problem,
            "gold": {"reason": self.gold.reason, "seconds": self.gold.seconds,
                     "failed": list(self.gold.failed), "log_tail": self.gold.log_tail[-1500:]},
            "empty": {"reason": self.empty.reason, "seconds": self.empty.seconds}}


def validate_task(task: Task, **grade_options: Any) -> Validation:
  gold = grade(task, task.patch, **grade_options)
  empty = grade(task, "", **grade_options)
  valid = (gold.resolved and not empty.resolved and gold.infra_error is None
           and empty.infra_error is None)
  return Validation(task.instance_id, valid, gold, empty)


def validate_tasks(tasks: Iterable[Task], *, jobs: int = 2,
                   on_result: Callable[[Validation], None] | None = None,
                   **grade_options: Any) -> dict[str, Any]:
  """Validates every task with `jobs` in parallel; returns a JSON-ready summary."""
  tasks = list(tasks)
  start = time.monotonic()
  results: list[Validation] = []
  with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
    futures = [pool.submit(validate_task, task, **grade_options) for task in tasks]
    for future in concurrent.futures.as_completed(futures):
      result = future.result()
      results.append(result)
      if on_result is not None:
        on_result(result)
  seconds = time.monotonic() - start
  grades = [r.gold for r in results] + [r.empty for r in results]
  return {
      "tasks": len(tasks),
      "valid": sum(r.valid for r in results),
      "invalid": sorted(r.instance_id for r in results if not r.valid),
      "gold_resolved": sum(r.gold.resolved for r in results),
      "empty_resolved": sum(r.empty.resolved for r in results),
      "infra_errors": sum(g.infra_error is not None for g in grades),
      "isolation": sorted({g.isolation for g in grades if g.isolation}),
      "jobs": jobs,
      "seconds": round(seconds, 2),
      "seconds_per_task": round(seconds / max(1, len(tasks)), 3),
      "mean_grade_seconds": round(sum(g.seconds for g in grades) / max(1, len(grades)), 3),
  }
