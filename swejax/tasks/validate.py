"""Checking tasks end to end: the gold patch resolves, the empty patch does not.

With `repeat` > 1 both are graded that many times; an expected test whose status
changes between runs of the same patch is flaky. `drop_flaky` removes flaky
tests from FAIL_TO_PASS/PASS_TO_PASS (as the paper's filtering does) and judges
the task on the tests that remain. Each validation also carries the task as it
should be written back: flaky tests dropped (if asked) and `meta.f2p_error_types`
(the exception names its FAIL_TO_PASS tests fail with at base_commit, from the
empty patch's log) for the error-type filter (swejax.tasks.filters), which
published rows do not carry.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from typing import Any, Callable, Iterable

from swejax.tasks.grading import GradeResult, grade
from swejax.tasks.schema import Task

_MISSING = "MISSING"


@dataclasses.dataclass(frozen=True)
class Validation:
  instance_id: str
  valid: bool
  gold: GradeResult
  empty: GradeResult
  flaky: tuple[str, ...] = ()  # expected tests whose status changed between runs
  runs: int = 1
  task: Task | None = None  # the task to write back (see the module docstring)

  @property
  def problem(self) -> str:
    """Why the task is invalid ("" when valid)."""
    if self.gold.infra_error or self.empty.infra_error:
      return f"infra: {self.gold.infra_error or self.empty.infra_error}"
    if self.valid:
      return ""
    if self.task is not None and not self.task.FAIL_TO_PASS:
      return f"every FAIL_TO_PASS test is flaky ({list(self.flaky)[:5]})"
    flaky = f"flaky tests {list(self.flaky)[:5]}; " if self.flaky else ""
    if not self.gold.resolved:
      return (f"{flaky}gold patch not resolved ({self.gold.reason}; "
              f"failed {list(self.gold.failed)[:5]})")
    if self.empty.resolved:
      return f"{flaky}empty patch resolves"
    return flaky.rstrip("; ") or "unstable across runs"

  def to_json(self) -> dict[str, Any]:
    return {"instance_id": self.instance_id, "valid": self.valid, "problem": self.problem,
            "runs": self.runs, "flaky": list(self.flaky),
            "gold": {"reason": self.gold.reason, "seconds": self.gold.seconds,
                     "failed": list(self.gold.failed), "note": self.gold.note,
                     "log_tail": self.gold.log_tail[-1500:]},
            "empty": {"reason": self.empty.reason, "seconds": self.empty.seconds,
                      "error_types": dict(self.empty.error_types)}}


def flaky_tests(runs: list[GradeResult], tests: Iterable[str]) -> tuple[str, ...]:
  """Tests whose status differs between `runs` (of one patch; infra errors ignored)."""
  usable = [r for r in runs if r.infra_error is None]
  return tuple(t for t in tests
               if len({r.statuses.get(t, _MISSING) for r in usable}) > 1)


def _holds(run: GradeResult, flaky: set[str], f2p: set[str], gold: bool) -> bool:
  """Does one run agree with a valid task once `flaky` tests are left out?"""
  if run.infra_error is not None:
    return False
  left = set(run.failed) - flaky
  if gold:
    return run.reason == "resolved" or (run.reason == "tests_failed" and not left)
  # the empty patch must fail some FAIL_TO_PASS test that is not flaky (or not grade at all)
  return run.reason != "resolved" and (run.reason != "tests_failed" or bool(left & f2p))


def written_task(task: Task, empty_runs: list[GradeResult], drop: tuple[str, ...]) -> Task:
  """`task` without the tests in `drop`, with meta.f2p_error_types from the empty runs."""
  meta = dict(task.meta or {})
  types = sorted({t for run in empty_runs for t in run.error_types.values()})
  if types and "f2p_error_types" not in meta:
    meta["f2p_error_types"] = types
  if drop:
    meta["dropped_flaky_tests"] = sorted(set(meta.get("dropped_flaky_tests", ())) | set(drop))
  return dataclasses.replace(
      task, meta=meta or task.meta,
      FAIL_TO_PASS=tuple(t for t in task.FAIL_TO_PASS if t not in drop),
      PASS_TO_PASS=tuple(t for t in task.PASS_TO_PASS if t not in drop))


def validate_task(task: Task, *, repeat: int = 1, drop_flaky: bool = False,
                  **grade_options: Any) -> Validation:
  if repeat < 1:
    raise ValueError(f"repeat must be at least 1, got {repeat}")
  gold_runs = [grade(task, task.patch, **grade_options) for _ in range(repeat)]
  empty_runs = [grade(task, "", **grade_options) for _ in range(repeat)]
  expected = task.FAIL_TO_PASS + task.PASS_TO_PASS
  flaky = tuple(sorted(set(flaky_tests(gold_runs, expected))
                       | set(flaky_tests(empty_runs, task.FAIL_TO_PASS))))
  dropped = flaky if drop_flaky else ()
  kept = written_task(task, empty_runs, dropped)
  ignored, f2p = set(dropped), set(kept.FAIL_TO_PASS)
  valid = (bool(f2p) and all(_holds(r, ignored, f2p, True) for r in gold_runs)
           and all(_holds(r, ignored, f2p, False) for r in empty_runs)
           and (drop_flaky or not flaky))
  gold = next((r for r in gold_runs if not r.resolved), gold_runs[0])
  empty = next((r for r in empty_runs if r.resolved), empty_runs[0])
  return Validation(task.instance_id, valid, gold, empty, flaky, repeat, kept)


def validate_tasks(tasks: Iterable[Task], *, jobs: int = 2,
                   on_result: Callable[[Validation], None] | None = None,
                   repeat: int = 1, drop_flaky: bool = False,
                   **grade_options: Any) -> dict[str, Any]:
  """Validates every task with `jobs` in parallel; returns a JSON-ready summary."""
  tasks = list(tasks)
  start = time.monotonic()
  results: list[Validation] = []
  with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
    futures = [pool.submit(validate_task, task, repeat=repeat, drop_flaky=drop_flaky,
                           **grade_options) for task in tasks]
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
      "repeat": repeat,
      "flaky": {r.instance_id: list(r.flaky) for r in results if r.flaky},
      "isolation": sorted({g.isolation for g in grades if g.isolation}),
      "jobs": jobs,
      "seconds": round(seconds, 2),
      "seconds_per_task": round(seconds / max(1, len(tasks)), 3),
      "mean_grade_seconds": round(sum(g.seconds for g in grades) / max(1, len(grades)), 3),
  }
