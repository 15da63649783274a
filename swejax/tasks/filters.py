"""The paper's task filters (PAPER.md, "Data and evaluation"), as options.

Each filter only acts on information the task carries: a task without LLM
scores is not dropped by a score threshold, and the error-type filter reads
`meta.f2p_error_types` (exception names seen when the FAIL_TO_PASS tests failed
at base_commit: swejax's synthetic tasks record them, and `swejax tasks validate
--out` derives them for published rows from the empty patch's log). Published
SWE-rebench rows carry `meta.num_modified_files` and `meta.llm_score`
({difficulty_score, issue_text_score, test_score}); numbers may come as numpy
scalars or strings from parquet and JSON.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import numbers
from typing import Iterable

from swejax.tasks import patches
from swejax.tasks.schema import Task

# Failures that mean "the test needs an API that does not exist yet", not a bug.
DEFAULT_DROP_ERRORS = ("AttributeError", "ImportError", "ModuleNotFoundError", "NameError")


@dataclasses.dataclass(frozen=True)
class FilterConfig:
  """None disables a filter. Score thresholds keep tasks with score <= max."""
  max_modified_files: int | None = 7
  max_changed_lines: int | None = 499  # the paper keeps < 500 changed lines
  max_difficulty_score: float | None = None
  max_issue_text_score: float | None = None
  max_test_score: float | None = None
  drop_error_types: tuple[str, ...] = DEFAULT_DROP_ERRORS


def _meta(task: Task) -> dict:
  return dict(task.meta or {})


def _number(value) -> float | None:
  if isinstance(value, bool):
    return None
  if isinstance(value, numbers.Real):
    return float(value)
  if isinstance(value, str):
    try:
      return float(value)
    except ValueError:
      return None
  return None


def _error_types(meta: dict) -> set[str]:
  seen = meta.get("f2p_error_types") or ()
  if isinstance(seen, dict):  # {test id: exception name}
    seen = seen.values()
  if isinstance(seen, str):
    seen = seen.replace(",", " ").split()
  return {str(name).rsplit(".", 1)[-1] for name in seen}


def drop_reason(task: Task, config: FilterConfig) -> str | None:
  """Why `task` is filtered out, or None to keep it."""
  meta = _meta(task)
  stats = patches.patch_stats(task.patch)
  if config.max_modified_files is not None:
    files = _number(meta.get("num_modified_files"))
    files = files if files is not None else len(stats.files)
    if files > config.max_modified_files:
      return "modified_files"
  if config.max_changed_lines is not None and stats.changed_lines > config.max_changed_lines:
    return "changed_lines"
  scores = meta.get("llm_score") or {}
  if isinstance(scores, str):
    try:
      scores = json.loads(scores)
    except ValueError:
      scores = {}
  for key, limit in (("difficulty_score", config.max_difficulty_score),
                     ("issue_text_score", config.max_issue_text_score),
                     ("test_score", config.max_test_score)):
    value = _number(scores.get(key)) if isinstance(scores, dict) else None
    if limit is not None and value is not None and value > limit:
      return key
  if _error_types(meta) & set(config.drop_error_types):
    return "f2p_error_types"
  return None


def filter_tasks(tasks: Iterable[Task],
                 config: FilterConfig = FilterConfig()) -> tuple[list[Task], dict[str, int]]:
  """Returns (kept tasks in order, {reason: number dropped})."""
  kept: list[Task] = []
  dropped: collections.Counter[str] = collections.Counter()
  for task in tasks:
    reason = drop_reason(task, config)
    if reason is None:
      kept.append(task)
    else:
      dropped[reason] += 1
  return kept, dict(dropped)


def task_stats(tasks: Iterable[Task]) -> dict:
  """Counts and size figures of a task set (for `swejax tasks stats`)."""
  tasks = list(tasks)
  repos = collections.Counter(t.repo for t in tasks)
  sizes = sorted(patches.patch_stats(t.patch).changed_lines for t in tasks)
  f2p = sorted(len(t.FAIL_TO_PASS) for t in tasks)
  statement = sorted(len(t.problem_statement) for t in tasks)

  def median(values: list[int]) -> float:
    return float(values[len(values) // 2]) if values else 0.0

  return {
      "tasks": len(tasks),
      "repos": dict(sorted(repos.items())),
      "with_snapshot": sum(bool(t.repo_snapshot) for t in tasks),
      "median_patch_changed_lines": median(sizes),
      "median_fail_to_pass": median(f2p),
      "median_problem_statement_chars": median(statement),
      "max_problem_statement_chars": statement[-1] if statement else 0,
  }
