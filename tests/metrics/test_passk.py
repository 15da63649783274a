"""Pass@k against brute-force enumeration; Pass@1 and its standard error by definition."""
import itertools
import math

import numpy as np
import pytest

from swejax.metrics import pass1_with_stderr, pass_at_k, pass_at_k_mean


def _brute_pass_at_k(n, c, k):
  runs = [True] * c + [False] * (n - c)
  subsets = list(itertools.combinations(range(n), k))
  return sum(any(runs[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_pass_at_k_matches_enumeration(n):
  for c in range(n + 1):
    for k in range(1, n + 1):
      assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_large_n_is_stable():
  want = 1 - math.comb(150, 50) / math.comb(200, 50)
  assert pass_at_k(200, 50, 50) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("n,c,k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_bad_counts(n, c, k):
  with pytest.raises(ValueError, match=f"n={n}, c={c}, k={k}"):
    pass_at_k(n, c, k)


def test_pass1_is_mean_of_run_means_with_their_stderr():
  # 3 tasks x 4 runs; run solve rates: 2/3, 1/3, 1, 0.
  s = [[True, False, True, False],
       [True, True, True, False],
       [False, False, True, False]]
  mean, stderr = pass1_with_stderr(s)
  run_means = [2 / 3, 1 / 3, 1.0, 0.0]
  assert mean == pytest.approx(np.mean(run_means))
  assert stderr == pytest.approx(np.std(run_means, ddof=1) / 2.0)


def test_pass1_single_run_has_undefined_stderr():
  mean, stderr = pass1_with_stderr([[True], [False], [False], [True]])
  assert mean == 0.5 and math.isnan(stderr)


def test_pass_at_k_mean_averages_tasks():
  s = [[True, False, False], [False, False, False], [True, True, True]]
  assert pass_at_k_mean(s, 2) == pytest.approx(
      (_brute_pass_at_k(3, 1, 2) + 0.0 + 1.0) / 3)


def test_ragged_or_empty_runs_are_refused():
  with pytest.raises(ValueError, match=r"per_task_successes\[1\] has 1 runs, task 0 has 2"):
    pass1_with_stderr([[True, False], [True]])
  with pytest.raises(ValueError, match="no tasks"):
    pass_at_k_mean([], 1)
