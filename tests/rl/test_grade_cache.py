"""Rollout grading: an empty patch is never run, a (task, patch) pair is graded once."""
import concurrent.futures as cf
import threading
import time
import types

import pytest

from swejax.tasks.env import InfraError, TaskEnv


def _task(i="t-1"):
  return types.SimpleNamespace(instance_id=i, base_commit="abc", image="", workdir="/testbed")


class CountingSandboxes(TaskEnv):
  def __init__(self, fail_first: bool = False):
    super().__init__("local", (), 32, {})
    self.calls, self.lock, self.fail_first = [], threading.Lock(), fail_first

  def grade(self, task, patch, timeout):
    with self.lock:
      self.calls.append((task.instance_id, patch))
      n = len(self.calls)
    time.sleep(0.05)  # long enough for the duplicates to arrive while this one runs
    if self.fail_first and n == 1:
      return types.SimpleNamespace(infra_error="engine went away", resolved=False)
    return types.SimpleNamespace(infra_error=None, resolved="fix" in patch,
                                 reason="resolved" if "fix" in patch else "tests_failed",
                                 exit_code=0 if "fix" in patch else 1)


def test_empty_patch_is_unresolved_without_grading():
  sb = CountingSandboxes()
  v = sb.verdict(_task(), "  \n", 10.0)
  assert (v.resolved, v.reason, sb.calls) == (False, "empty_patch", [])


def test_concurrent_duplicates_are_graded_once():
  sb = CountingSandboxes()
  jobs = [(_task("a"), "fix") for _ in range(6)] + [(_task("a"), "wrong")] * 3 + [
      (_task("b"), "fix")] * 3
  with cf.ThreadPoolExecutor(12) as pool:
    verdicts = list(pool.map(lambda j: sb.verdict(j[0], j[1], 10.0), jobs))
  assert sorted(sb.calls) == [("a", "fix"), ("a", "wrong"), ("b", "fix")]
  assert [v.resolved for v in verdicts] == [True] * 6 + [False] * 3 + [True] * 3
  assert sum(not v.cached for v in verdicts) == 3  # one real grading per distinct pair
  assert verdicts[0].exit_code == 0 and verdicts[6].reason == "tests_failed"


def test_cache_off_grades_every_time():
  sb = CountingSandboxes()
  for _ in range(3):
    assert sb.verdict(_task(), "fix", 10.0, cache=False).resolved
  assert len(sb.calls) == 3


def test_infrastructure_failures_are_not_cached():
  sb = CountingSandboxes(fail_first=True)
  with pytest.raises(InfraError, match="engine went away"):
    sb.verdict(_task(), "fix", 10.0)
  v = sb.verdict(_task(), "fix", 10.0)
  assert v.resolved and not v.cached and len(sb.calls) == 2
