"""Pass@1 with its standard error and the unbiased Pass@k, from repeated evaluation runs.

Definitions (as the paper reports them). Let s[t][r] be 1 when run r of task t resolved it,
for T tasks and n runs each.
- Pass@1 = mean over runs r of (mean over tasks t of s[t][r]), i.e. the mean of the n runs'
  solve rates (equal to the mean of all s).
- Its standard error = sample standard deviation (ddof=1) of the n runs' solve rates divided
  by sqrt(n): the run-to-run spread of the score, the error bar of "mean over n runs".
  Undefined (NaN) for a single run.
- Pass@k = mean over tasks of the unbiased estimator 1 - C(n - c_t, k) / C(n, k), where c_t
  is the number of successful runs of task t (Chen et al. 2021): the probability that at
  least one of k runs drawn without replacement from the n succeeds.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
  """Unbiased Pass@k of one task with `c` successes out of `n` runs."""
  if not 0 <= c <= n or not 1 <= k <= n:
    raise ValueError(f"pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
  if n - c < k:
    return 1.0
  # 1 - C(n-c, k) / C(n, k) as a product of k ratios: no huge binomials.
  return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def _as_matrix(per_task_successes: Sequence[Sequence[bool]]) -> np.ndarray:
  if len(per_task_successes) == 0:
    raise ValueError("per_task_successes is empty: no tasks were evaluated")
  n = len(per_task_successes[0])
  for t, runs in enumerate(per_task_successes):
    if len(runs) != n:
      raise ValueError(f"per_task_successes[{t}] has {len(runs)} runs, task 0 has {n}; "
                       "every task needs the same number of runs")
  if n == 0:
    raise ValueError("per_task_successes: tasks have 0 runs")
  return np.asarray(per_task_successes, dtype=bool)


def pass1_with_stderr(per_task_successes: Sequence[Sequence[bool]]) -> tuple[float, float]:
  """(Pass@1, standard error) from [task][run] successes; see the module docstring."""
  s = _as_matrix(per_task_successes)
  run_means = s.mean(axis=0)
  n = run_means.size
  stderr = float(run_means.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
  return float(run_means.mean()), stderr


def pass_at_k_mean(per_task_successes: Sequence[Sequence[bool]], k: int) -> float:
  """Pass@k over tasks from [task][run] successes (k <= the number of runs)."""
  s = _as_matrix(per_task_successes)
  n = s.shape[1]
  return float(np.mean([pass_at_k(n, int(c), k) for c in s.sum(axis=1)]))
