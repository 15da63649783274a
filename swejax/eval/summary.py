"""Evaluation summaries from episodes: Pass@1 +- s.e. and Pass@k (swejax.metrics.passk)."""
from __future__ import annotations

import math

from swejax.metrics.passk import pass1_with_stderr, pass_at_k_mean


def per_task_successes(episodes) -> dict[str, list[bool]]:
  out: dict[str, list[tuple[int, bool]]] = {}
  for e in episodes:
    out.setdefault(e.task_id, []).append((e.group, bool(e.resolved)))
  return {t: [r for _, r in sorted(v)] for t, v in out.items()}


def summarize(per_task: dict[str, list[bool]], k: int) -> dict:
  tasks = sorted(per_task)
  if not tasks:
    return {"pass@1": 0.0, "stderr": 0.0, "pass@k": 0.0, "k": k, "tasks": 0, "runs": 0}
  n = min(len(per_task[t]) for t in tasks)
  matrix = [list(per_task[t][:n]) for t in tasks]
  mean, se = pass1_with_stderr(matrix)
  kk = min(k, n)
  return {"pass@1": mean, "stderr": 0.0 if math.isnan(se) else se,
          "pass@k": pass_at_k_mean(matrix, kk), "k": kk, "tasks": len(tasks), "runs": n}


def difference_stderr(a: dict, b: dict) -> float:
  """Standard error of Pass@1(a) - Pass@1(b) for independent evaluations."""
  return math.sqrt(a["stderr"] ** 2 + b["stderr"] ** 2)
