"""The verdict rules (swejax.tasks.verdict) on hand-made runs, no sandbox."""
from __future__ import annotations

import dataclasses

from swejax.tasks import guard_plugin, patches, verdict
from swejax.tasks.schema import Task

F2P, P2P = "t.py::test_fix", "t.py::test_keep"
NONCE = "n0nce"


def _task(**changes) -> Task:
  task = Task(instance_id="i", repo="o/r", base_commit="0" * 40, patch="", test_patch="",
              problem_statement="p", FAIL_TO_PASS=(F2P,), PASS_TO_PASS=(P2P,), image="img",
              test_cmd="pytest", log_parser="parse_log_pytest")
  return dataclasses.replace(task, **changes)


def _log(**statuses) -> str:
  lines = "".join(f"{s} t.py::{t}\n" for t, s in statuses.items())
  return f"=== short test summary info ===\n{lines}=== done ===\n"


def _record(exit_code: int, failures: int = 0, **statuses) -> str:
  lines = [f"swejax-guard-end {NONCE} exit={exit_code}"]
  lines += [f"swejax-guard-test {NONCE} {s} t.py::{t}" for t, s in statuses.items()]
  lines.append(f"swejax-guard-done {NONCE} tests={len(statuses)} failed={failures}")
  return "\n" + "\n".join(lines) + "\n"


def _run(log: str, record: str | None) -> str:
  return f"swejax-guard-start {NONCE}\n{log}" + (record or "")


def judge(task, log, record, exit_code):
  return verdict.judge(task, _run(log, record), exit_code, NONCE)


def test_honest_runs():
  ok = judge(_task(), _log(test_fix="PASSED", test_keep="PASSED"),
             _record(0, test_fix="PASSED", test_keep="PASSED"), 0)
  assert ok.reason == "resolved"
  bad = judge(_task(), _log(test_fix="FAILED", test_keep="PASSED"),
              _record(1, 1, test_fix="FAILED", test_keep="PASSED"), 1)
  assert (bad.reason, bad.failed) == ("tests_failed", (F2P,))


def test_rewritten_log_loses_to_the_record_and_the_sandbox_exit_status():
  forged = _log(test_fix="PASSED", test_keep="PASSED")
  result = judge(_task(), forged, _record(1, 1, test_fix="FAILED", test_keep="PASSED"), 1)
  assert not result.reason == "resolved" and F2P in result.failed
  assert result.statuses[F2P] == "FAILED"
  # the record's exit status was rewritten too (it cannot be, but say it was): the
  # sandbox's own exit status disagrees
  assert judge(_task(), forged, _record(0, test_fix="PASSED", test_keep="PASSED"), 1
               ).reason == "exit_status_mismatch"


def test_a_test_missing_from_a_complete_record_is_missing():
  result = judge(_task(), _log(test_fix="PASSED", test_keep="PASSED"),
                 _record(0, test_keep="PASSED"), 0)
  assert (result.reason, result.missing) == ("tests_failed", (F2P,))


def test_incomplete_record_or_no_guard():
  assert judge(_task(), _log(test_fix="PASSED", test_keep="PASSED"), None, 0
               ).reason == "unverified_log"
  no_guard = verdict.judge(_task(), _log(test_fix="PASSED", test_keep="PASSED"), 0, NONCE)
  assert no_guard.reason == "unverified_log" and "without the guard" in no_guard.note
  clue = ("ImportError while loading conftest ...\nE   ModuleNotFoundError: No module named "
          "'swejax_guard_0a1b2c'\nError importing plugin \"swejax_guard_0a1b2c\"\n")
  broken = verdict.judge(_task(), clue, 4, NONCE)
  assert broken.reason == "infra_error" and "guard plugin could not be loaded" in broken.infra_error


def test_xfail_and_skip_of_fail_to_pass_are_not_passes_unless_the_task_says_so():
  for status in ("XFAIL", "SKIPPED"):
    result = judge(_task(), _log(test_fix=status, test_keep="PASSED"),
                   _record(0, test_fix=status, test_keep="PASSED"), 0)
    assert (result.reason, result.failed) == ("tests_failed", (F2P,)), status
  allowed = _task(meta={"f2p_pass_statuses": ["PASSED", "XFAIL"]})
  assert judge(allowed, _log(test_fix="XFAIL", test_keep="PASSED"),
               _record(0, test_fix="XFAIL", test_keep="PASSED"), 0).reason == "resolved"
  # PASS_TO_PASS keeps the harness' rule: a marker-based xfail passes
  assert judge(_task(), _log(test_fix="PASSED", test_keep="XFAIL"),
               _record(0, test_fix="PASSED", test_keep="XFAIL"), 0).reason == "resolved"


def test_consistency_allows_failures_outside_the_task():
  log = _log(test_fix="PASSED", test_keep="PASSED", test_other="FAILED")
  result = judge(_task(), log, _record(1, 1, test_fix="PASSED", test_keep="PASSED"), 1)
  assert result.reason == "resolved"
  silent = _log(test_fix="PASSED", test_keep="PASSED")  # a failure only the guard saw
  assert judge(_task(), silent, _record(1, 1, test_fix="PASSED", test_keep="PASSED"), 1
               ).reason == "exit_status_mismatch"
  assert judge(_task(), silent, _record(0, 1, test_fix="PASSED", test_keep="PASSED"), 0
               ).reason == "exit_status_mismatch"


def test_non_pytest_runner_uses_the_sandbox_exit_status():
  task = _task(log_parser="parse_log_django", FAIL_TO_PASS=("test_fix (m.T)",),
               PASS_TO_PASS=("test_keep (m.T)",))
  log = ">>>>> Start Test Output\ntest_fix (m.T) ... ok\ntest_keep (m.T) ... ok\n" \
        ">>>>> End Test Output\n>>>>> Test Exit Code: 0\n"
  assert verdict.judge(task, log, 0, NONCE).reason == "resolved"
  assert verdict.judge(task, log, 1, NONCE).reason == "exit_status_mismatch"
  rewritten = log.replace("Exit Code: 0", "Exit Code: 1")
  assert verdict.judge(task, rewritten, 0, NONCE).reason == "exit_status_mismatch"


def test_error_types_from_summary_lines():
  log = ("=== short test summary info ===\nFAILED t.py::test_fix - AttributeError: 'X' has no "
         "attribute 'y'\nFAILED t.py::test_b - assert 1 == 2\nERROR t.py::test_c - "
         "ModuleNotFoundError: No module named 'z'\n=== 3 failed ===\n")
  assert verdict.error_types(log, ("t.py::test_fix", "t.py::test_c", "t.py::test_b")) == {
      "t.py::test_fix": "AttributeError", "t.py::test_c": "ModuleNotFoundError"}


def test_guard_knows_test_infrastructure_as_the_grader_does():
  paths = ["tests/test_a.py", "pkg/core.py", "conftest.py", "src/pkg/testing/util.py",
           "pkg/a_test.py", "setup.cfg", "x.pth", "pkg.egg-info/PKG-INFO", "pkg/tests.py",
           "docs/conf.py", "pkg/__pycache__/a.pyc", "lib/test/x.py", "pkg/testsuite.py"]
  for path in paths:
    assert guard_plugin.is_test_infrastructure(path) == patches.is_test_infrastructure(path), path


def test_progress_markers_in_published_lists_are_not_tests():
  task = _task(PASS_TO_PASS=(P2P, "[100%]"))
  assert judge(task, _log(test_fix="PASSED", test_keep="PASSED"),
               _record(0, test_fix="PASSED", test_keep="PASSED"), 0).reason == "resolved"


def test_a_skipped_pass_to_pass_test_fails():
  result = judge(_task(), _log(test_fix="PASSED", test_keep="SKIPPED"),
                 _record(0, test_fix="PASSED", test_keep="SKIPPED"), 0)
  assert (result.reason, result.failed) == ("tests_failed", (P2P,))
