"""A pytest plugin the grader loads first (`-p <module>`), before any code of the
repository under test is imported. Standalone: copied into the sandbox under a
one-time module name, next to a one-time config file it reads and deletes at once.

What the code under test can do (print, fork, start threads and processes,
dup2() a pipe over fd 1, register atexit handlers) must not change the verdict:
- At import it takes a private duplicate of fd 1 (close-on-exec, a high
  number). Everything the grader trusts is written there, tagged with the
  one-time nonce: a start line; then, after pytest's own summary, an end line
  with pytest's exit status and one line per expected test with the outcome its
  hooks saw. A process that rewrites fd 1 or sys.stdout cannot reach it.
- It ends the process with pytest's exit status right after the summary
  (`os._exit`, taken before the repository's code can replace it), so atexit
  handlers, lingering threads or finalizers cannot print after it or change it.
- A skip or xfail whose exception was raised with library code on its way
  (a traceback frame whose code or module file is in the repository, outside
  pytest and outside the test files and conftest files as the grader reset
  them) is reported as FAILED: only the tests may skip or expect a failure.
- It pins the pytest functions that create and report outcomes, and hashes the
  run's test files and their conftest.py files (as the grader reset them); it
  exits with status 3 (an internal error, never graded as resolved) if a pinned
  function was replaced or a hashed file changed while the tests ran (library
  code writing markers into a test module that is imported later).
"""
import fcntl
import hashlib
import json
import os
import posixpath
import random
import sys
import time
import unittest
from os import _exit as _real_exit

import _pytest.outcomes
import _pytest.reports
import _pytest.runner
import _pytest.terminal
import pluggy
import pytest

TAMPERED_EXIT = 3
END_LINE = "swejax-guard-end"
START_LINE = "swejax-guard-start"
TEST_LINE = "swejax-guard-test"
DONE_LINE = "swejax-guard-done"
_CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json")
try:
  with open(_CONFIG_FILE) as _handle:
    _CONFIG = json.load(_handle)
  os.unlink(_CONFIG_FILE)
except (OSError, ValueError):
  _CONFIG = {}  # an xdist worker (the controller took it) or run outside the grader
_NONCE = _CONFIG.get("nonce", "")
_ROOT = os.path.realpath(_CONFIG.get("root") or os.getcwd())
# Outcomes are recorded for every parametrization of an expected test's function,
# so that ids cut inside their parameters (some published ids) still find theirs.
_EXPECTED = frozenset(t.split("[", 1)[0] for t in _CONFIG.get("expected", ()))
_STREAMS = (sys.stdout, sys.stderr)  # as they were before the code under test ran


def _digest(path):
  try:
    with open(os.path.join(_ROOT, path), "rb") as handle:
      return hashlib.sha256(handle.read()).hexdigest()
  except OSError:
    return None


_PROTECTED = {p: _digest(p) for p in _CONFIG.get("protect", ())}
_STARTED = time.time()  # test files changed from now on are not the grader's
_FD = -1
if _NONCE:
  try:
    _FD = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, random.randrange(300, 900))
    os.write(_FD, f"\n{START_LINE} {_NONCE}\n".encode())
  except OSError:
    _FD = -1
_RUNNER_DIRS = tuple(os.path.dirname(os.path.realpath(m.__file__)) + os.sep
                     for m in (_pytest, pytest, pluggy))
_OUTCOMES = (_pytest.outcomes.Skipped, _pytest.outcomes.XFailed, unittest.SkipTest)
_PINNED = []
for _owner, _names in (
    (_pytest.reports.TestReport, ("from_item_and_call", "__init__")),
    (_pytest.runner, ("call_and_report", "call_runtest_hook", "runtestprotocol",
                      "check_interactive_exception")),
    (_pytest.runner.CallInfo, ("from_call",)),
    (_pytest.terminal.TerminalReporter, ("short_test_summary", "summary_stats",
                                         "pytest_runtest_logreport", "build_summary_stats_line")),
    (_pytest.terminal, ("build_summary_stats_line", "_get_line_with_reprcrash_message")),
    (pytest, ("main",)),
):
  for _name in _names:
    if _name in vars(_owner):
      _PINNED.append((_owner, _name, vars(_owner)[_name]))

# As swejax.tasks.patches.is_test_infrastructure (a test keeps the two equal).
_CONFIG_NAMES = frozenset({
    "conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini",
    "setup.cfg", "pyproject.toml", "sitecustomize.py", "usercustomize.py"})
_TEST_DIRS = frozenset({"tests", "test", "testing"})
_SEVERITY = {"PASSED": 0, "XFAIL": 1, "SKIPPED": 2, "FAILED": 3, "ERROR": 4}
_STATUS = {}
_OUTCOME_OF = {}  # expected test id -> worst outcome seen
_COUNTS = {"failed": 0}


def is_test_infrastructure(path):
  parts = posixpath.normpath(path).split("/")
  name = parts[-1]
  if name in _CONFIG_NAMES or name.endswith((".pth", ".pyc", ".egg-link")):
    return True
  if any(p in _TEST_DIRS or p == "__pycache__" or p.endswith((".egg-info", ".dist-info"))
         for p in parts):
    return True
  return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")
                                   or name == "tests.py")


def _library_file(path):
  """True for a file of the repository that is not pytest and not a test file as
  the grader left it (a test file created or changed during the run is not)."""
  path = os.path.realpath(os.path.join(_ROOT, path))
  if path.startswith(_RUNNER_DIRS) or not path.startswith(_ROOT + os.sep):
    return False
  rel = path[len(_ROOT) + 1:]
  if "site-packages" in rel.split(os.sep) or "dist-packages" in rel.split(os.sep):
    return False
  if not is_test_infrastructure(rel.replace(os.sep, "/")):
    return True
  try:
    return os.stat(path).st_ctime >= _STARTED
  except OSError:
    return True  # a test file that is gone (or never was): not one the grader reset


def _library_frame(frame):
  """Library code runs in this frame: by its code's file or its module's file."""
  return any(_library_file(path) for path in (frame.f_code.co_filename,
                                              frame.f_globals.get("__file__") or "")
             if path)


def _library_raise(error):
  """`file:line` of library code on the way to a skip/xfail exception, else None.

  Follows the chain of skip/xfail exceptions (unittest's SkipTest becomes
  pytest's Skipped inside unittest's machinery), not other exceptions: a test
  file that skips on an ImportError of the library is the test's own choice.
  """
  seen = set()
  while isinstance(error, _OUTCOMES) and id(error) not in seen:
    seen.add(id(error))
    tb = error.__traceback__
    while tb is not None:
      if _library_frame(tb.tb_frame):
        return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
      tb = tb.tb_next
    error = error.__cause__ or error.__context__
  return None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
  # pytest's unittest plugin replaces a SkipTest with a Skipped of its own: keep both.
  raised = [call.excinfo]
  outcome = yield
  report = outcome.get_result()
  raised.append(call.excinfo)
  if report.skipped:
    where = next(filter(None, (_library_raise(e.value) for e in raised if e is not None)), None)
    if where is not None:
      kind = "xfail" if hasattr(report, "wasxfail") else "skip"
      report.outcome = "failed"
      report.longrepr = f"swejax-guard: {kind} reached from library code at {where}"
      if hasattr(report, "wasxfail"):
        del report.wasxfail


def _outcome(report):
  if report.failed:
    return "FAILED" if report.when == "call" else "ERROR"
  if report.skipped:
    return "XFAIL" if hasattr(report, "wasxfail") else "SKIPPED"
  return "PASSED" if report.when == "call" else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
  status = _outcome(report)
  if status is None:
    return
  if status in ("FAILED", "ERROR"):
    _COUNTS["failed"] += 1
  if report.nodeid.split("[", 1)[0] in _EXPECTED:
    old = _OUTCOME_OF.get(report.nodeid)
    if old is None or _SEVERITY[status] > _SEVERITY[old]:
      _OUTCOME_OF[report.nodeid] = status


def _tampered():
  changed = [f"{getattr(o, '__name__', o)}.{n}" for o, n, v in _PINNED
             if vars(o).get(n) is not v]
  return changed + [f"file {p}" for p, h in _PROTECTED.items() if _digest(p) != h]


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report):
  if "::" in report.nodeid:
    return  # checked once per module or folder, before its tests run
  changed = [p for p, h in _PROTECTED.items() if _digest(p) != h]
  if changed:
    sys.stderr.write(f"swejax-guard: test files changed during the run: {changed}\n")
    _STATUS["files"] = changed


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
  _STATUS.setdefault("config", config)  # the outer run's (an in-process inner run is not)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
  if session.config is _STATUS.get("config"):
    _STATUS["exit"] = int(exitstatus)


def _write_record(code):
  lines = [f"{END_LINE} {_NONCE} exit={code}"]
  lines += [f"{TEST_LINE} {_NONCE} {s} {t}" for t, s in sorted(_OUTCOME_OF.items())]
  lines.append(f"{DONE_LINE} {_NONCE} tests={len(_OUTCOME_OF)} failed={_COUNTS['failed']}")
  data = ("\n" + "\n".join(lines) + "\n").encode()
  while data:
    data = data[os.write(_FD, data):]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
  if (hasattr(config, "workerinput") or "exit" not in _STATUS
      or config is not _STATUS.get("config")):
    return  # an xdist worker, an inner run, or no session ran (usage error): pytest's own
  changed = _tampered() + [f"file {p} (during collection)" for p in _STATUS.get("files", ())]
  code = _STATUS["exit"]
  if changed:
    sys.stderr.write(f"swejax-guard: pytest internals replaced: {', '.join(changed)}\n")
    code = TAMPERED_EXIT
  # Only streams of our own: a replaced one could block the exit forever.
  for stream in (getattr(config.pluginmanager.get_plugin("terminalreporter"), "_tw", None),
                 *_STREAMS):
    try:
      stream.flush()
    except Exception:  # a closed or replaced stream must not keep us from exiting
      pass
  if _FD >= 0:
    try:
      _write_record(code)
    except OSError:
      pass
  _real_exit(code)
