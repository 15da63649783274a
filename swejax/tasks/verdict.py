"""The verdict of one test run, from what the sandbox itself observed.

Two sources the code under test cannot write:
- the exit status of the test command, as the sandbox reports it (never a number
  printed in the log);
- for pytest runs, the guard plugin's record (swejax.tasks.guard_plugin): its
  per-test outcomes and pytest's exit status, written at the end of the run to a
  private duplicate of stdout taken before the repository's code ran, each line
  tagged with a one-time nonce.
And one it can: the test log, parsed by the task's parser.

Rules, in order:
1. The guard started but wrote no complete record -> `unverified_log` (pytest
   did not end normally: killed, or exited early from the code under test).
   A pytest-format task whose run never started the guard -> `unverified_log`
   too; `infra_error` when the log shows the guard could not be imported (the
   task's test command hides it), with a message saying so.
2. The guard's exit status, and a `Test Exit Code: N` line in the log if any,
   must equal the sandbox's -> else `exit_status_mismatch`. The guard's exit 3
   (pytest's functions replaced, test files changed during the run) -> `tampering`.
3. Each expected test's status is the worse of the guard's record and the log
   (for pytest ids a test absent from a complete record is missing). A missing
   test has failed, as in the harness.
4. Consistency: a non-zero exit status iff a failure is recorded (log or guard);
   exit 0 needs something to have run (unless the task is fail_only); a log that
   shows no failure while the guard recorded some was rewritten. Tests outside
   FAIL_TO_PASS/PASS_TO_PASS may fail (as with many gold patches), so a non-zero
   status alone is no reason to fail the grade. -> `exit_status_mismatch`.
5. FAIL_TO_PASS tests pass only as PASSED; a task that means XFAIL (or SKIPPED)
   to count says so in `meta.f2p_pass_statuses` (e.g. ["PASSED", "XFAIL"], the
   harness' own rule). PASS_TO_PASS tests pass as PASSED or XFAIL; an xfail or
   skip reached from library code is already a failure in the guard's record and
   in pytest's own report. A skipped PASS_TO_PASS test fails (harness 5.x counts it
   as maintained; but a `skipif` in a test file can read a value the library sets).
   Ids that are pytest progress markers (`[100%]`, in two published lists) are
   not tests and are left out.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Mapping

from swejax.tasks import logparse
from swejax.tasks.schema import Task

# As in guard_plugin.py (a standalone file run in the sandbox; a test keeps them equal).
END_LINE = "swejax-guard-end"
START_LINE = "swejax-guard-start"
TEST_LINE = "swejax-guard-test"
DONE_LINE = "swejax-guard-done"
TAMPERED_EXIT = 3
# The harness' markers around the test output, and its recorded exit status.
START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
_EXIT_LINE = re.compile(r"^>>>>> Test Exit Code:\s*(-?\d+)\s*$", re.M)
# Parsers whose ids are pytest node ids: the guard's record names the same tests.
_NODE_ID_PARSERS = frozenset({logparse.parse_pytest_log, logparse.parse_pytest_v2_log})
_PYTEST_PARSERS = _NODE_ID_PARSERS | {logparse.parse_pytest_options_log,
                                      logparse.parse_matplotlib_log,
                                      logparse.parse_seaborn_log}
_SEVERITY = {logparse.PASSED: 0, logparse.XFAIL: 1, logparse.SKIPPED: 2, logparse.FAILED: 3,
             logparse.ERROR: 4, None: 5}
_ERROR_TYPE = re.compile(r"^([A-Za-z_][\w.]*?(?:Error|Exception|Exit|Interrupt|Warning|"
                         r"Iteration|Failed|Skipped|XFailed)|[A-Z]\w*)(?::|$|\s)")
# Published lists that carry a pytest progress marker as a test id (the harness' parser
# read it from an inner session's output: pytest-dev__pytest-5262, -7521): not a test.
_NOT_A_TEST = re.compile(r"^\[\s*\d+%\]$")
_LOAD_CLUE = re.compile(r"^[^\n]*(?:(?:Error|error)[^\n]*swejax_guard|swejax_guard[^\n]*"
                        r"(?:Error|error))[^\n]*$", re.M)


@dataclasses.dataclass(frozen=True)
class GuardRecord:
  exit_code: int
  statuses: Mapping[str, str]
  failures: int  # failed or erroring test phases, over every test that ran


@dataclasses.dataclass(frozen=True)
class Verdict:
  # resolved | tests_failed | exit_status_mismatch | unverified_log | tampering | infra_error
  reason: str
  statuses: Mapping[str, str]
  failed: tuple[str, ...] = ()
  missing: tuple[str, ...] = ()
  note: str = ""
  infra_error: str | None = None
  error_types: Mapping[str, str] = dataclasses.field(default_factory=dict)


def read_guard(output: str, nonce: str) -> tuple[str, GuardRecord | None, bool]:
  """(log before the guard's end line, its record if complete, whether it started)."""
  started = f"{START_LINE} {nonce}\n" in output
  at = output.find(f"\n{END_LINE} {nonce} exit=")
  if not nonce or at < 0:
    return output, None, started
  log, tail = output[:at + 1], output[at + 1:]
  exit_code, statuses, done = None, {}, None
  for line in tail.split("\n"):
    word, _, rest = line.partition(" ")
    tag, _, body = rest.partition(" ")
    if tag != nonce:
      continue
    if word == END_LINE and exit_code is None and re.fullmatch(r"exit=-?\d+", body):
      exit_code = int(body[5:])
    elif word == TEST_LINE and done is None:
      status, _, test_id = body.partition(" ")
      if status in _SEVERITY and test_id:
        statuses[test_id] = status
    elif word == DONE_LINE and done is None:
      done = re.fullmatch(r"tests=(\d+) failed=(\d+)", body)
  if exit_code is None or done is None or int(done.group(1)) != len(statuses):
    return log, None, started
  return log, GuardRecord(exit_code, statuses, int(done.group(2))), started


def test_output(log: str) -> str:
  """The part of `log` between the harness' markers (all of it without them)."""
  if START_TEST_OUTPUT in log:
    log = log.split(START_TEST_OUTPUT, 1)[1]
  return log.split(END_TEST_OUTPUT, 1)[0]


def is_pytest(task: Task) -> bool:
  """Is the task's log a pytest log (so its run carries the guard plugin)?"""
  return logparse.get_parser(task.log_parser) in _PYTEST_PARSERS


def consistent(exit_code: int, statuses: Mapping[str, str], *, pytest_runner: bool = True,
               guard_failures: int = 0, fail_only: bool = False) -> bool:
  """Does the exit status agree with the failures recorded?

  Non-zero iff a failure is recorded. For pytest, only 0, 1 (tests failed) and 2
  (interrupted, e.g. by a collection error, which the log records) are results;
  3 (internal error, or the guard saw tampering), 4 (usage) and 5 (nothing
  collected) never are.
  """
  failures = guard_failures > 0 or any(
      s in (logparse.FAILED, logparse.ERROR) for s in statuses.values())
  if exit_code == 0:
    return (bool(statuses) or fail_only) and not failures
  if pytest_runner and exit_code not in (1, 2):
    return False
  return failures


def f2p_pass_statuses(task: Task) -> frozenset[str]:
  """Statuses that count as a pass for FAIL_TO_PASS tests (meta.f2p_pass_statuses)."""
  chosen = (task.meta or {}).get("f2p_pass_statuses")
  if isinstance(chosen, (list, tuple)) and chosen:
    return frozenset(str(s).upper() for s in chosen) & set(logparse.STATUSES)
  return frozenset({logparse.PASSED})


def _lookup(statuses: Mapping[str, str], test_id: str) -> str | None:
  """`test_id`'s status; for an id cut inside its parameters (more `[` than `]`,
  as some published ids are) the worst status of the ids it begins."""
  if test_id in statuses:
    return statuses[test_id]
  if test_id.count("[") > test_id.count("]"):
    found = [s for k, s in statuses.items() if k.startswith(test_id)]
    if found:
      return max(found, key=_SEVERITY.__getitem__)
  return None


def error_types(log: str, test_ids: tuple[str, ...]) -> dict[str, str]:
  """Exception names in pytest summary lines (`FAILED id - AttributeError: ...`)."""
  wanted, found = set(test_ids), {}
  for line in logparse.common.clean_lines(log):
    for status in ("FAILED ", "ERROR "):
      if not line.startswith(status) or " - " not in line:
        continue
      test_id, _, message = line[len(status):].partition(" - ")
      match = _ERROR_TYPE.match(message.strip())
      if test_id in wanted and match:
        found[test_id] = match.group(1).rsplit(".", 1)[-1]
  return found


def judge(task: Task, output: str, exit_code: int, nonce: str) -> Verdict:
  """The verdict of one run: `output` after the test command started, `exit_code`
  as the sandbox observed it, `nonce` the guard's one-time tag."""
  parser = logparse.get_parser(task.log_parser)
  pytest_runner = parser in _PYTEST_PARSERS
  fail_only = getattr(task, "eval_type", "pass_and_fail") == "fail_only"
  log, guard, started = read_guard(output, nonce)
  log = test_output(log)
  statuses = parser(log)
  expected = tuple(t for t in task.FAIL_TO_PASS + task.PASS_TO_PASS if not _NOT_A_TEST.match(t))
  if guard is None and (started or pytest_runner):
    missing = tuple(t for t in expected if _lookup(statuses, t) is None)
    if started:
      return Verdict("unverified_log", statuses, expected, missing,
                     note="the guard plugin's record is missing or incomplete: pytest did "
                     "not end normally (killed, or exited from the code under test) or its "
                     "output descriptors were taken over")
    clue = _LOAD_CLUE.search(output)
    if clue:
      return Verdict("infra_error", statuses, expected, missing, infra_error=(
          "the guard plugin could not be loaded; the test command must keep PYTEST_ADDOPTS "
          "and run python without -I/-s (or keep PYTHONPATH): " + clue.group().strip()[:300]))
    return Verdict("unverified_log", statuses, expected, missing,
                   note="pytest ran without the guard plugin (or never started)")
  printed = [int(m) for m in _EXIT_LINE.findall(output)]
  if (guard is not None and guard.exit_code != exit_code) or any(
      p != exit_code for p in printed):
    return Verdict("exit_status_mismatch", statuses, expected,
                   note=f"the sandbox saw exit {exit_code}; the run reported "
                   f"{[guard.exit_code] if guard else printed}")
  if guard is not None and guard.exit_code == TAMPERED_EXIT:
    return Verdict("tampering", statuses, expected, note="the guard plugin found pytest's "
                   "functions replaced or test files changed while the tests ran (exit 3)")
  merged: dict[str, str | None] = {}
  for test_id in expected:
    worst = _lookup(statuses, test_id)
    if guard is not None:
      recorded = _lookup(guard.statuses, test_id)
      if recorded is not None or parser in _NODE_ID_PARSERS:
        worst = max(worst, recorded, key=_SEVERITY.__getitem__)
    merged[test_id] = worst
  f2p_ok = f2p_pass_statuses(task)
  failed = tuple(
      t for t in expected
      if (fail_only and merged[t] in (logparse.FAILED, logparse.ERROR))
      or (not fail_only and merged[t] not in (f2p_ok if t in task.FAIL_TO_PASS
                                              else logparse.PASSING)))
  missing = tuple(t for t in failed if merged[t] is None)
  shown = {**statuses, **{t: s for t, s in merged.items() if s is not None}}
  types = error_types(log, task.FAIL_TO_PASS)
  if not consistent(exit_code, statuses, pytest_runner=pytest_runner, fail_only=fail_only,
                    guard_failures=guard.failures if guard else 0):
    return Verdict("exit_status_mismatch", shown, failed, missing, error_types=types,
                   note=f"exit {exit_code} does not agree with the failures recorded")
  if guard is not None and guard.failures and not any(
      s in (logparse.FAILED, logparse.ERROR) for s in statuses.values()):
    return Verdict("exit_status_mismatch", shown, failed, missing, error_types=types,
                   note=f"the guard recorded {guard.failures} failures the log does not show")
  if failed:
    return Verdict("tests_failed", shown, failed, missing, error_types=types)
  return Verdict("resolved", shown, error_types=types)
