"""A pytest plugin the grader loads first (`-p swejax_guard`), before any code of
the repository under test is imported. Standalone: copied into the sandbox.

- It ends the process with pytest's own exit status right after the terminal
  summary (`os._exit`, taken before the repository's code can replace it), so
  atexit handlers, lingering threads or finalizers of the code under test can
  neither print a fake summary after the real one nor change the exit status.
- It pins the pytest functions that create and report test outcomes and exits
  with status 3 (an internal error, which never grades as resolved) if the code
  under test replaced any of them.
- Right after the real summary it prints an end line with a one-time nonce
  (read from a file next to it, deleted at once, before the code under test
  runs) and pytest's exit status. The grader reads the log only up to that line:
  text that other processes print later cannot count.
"""
import os
import sys
from os import _exit as _real_exit

import _pytest.reports
import _pytest.runner
import _pytest.terminal
import pytest

TAMPERED_EXIT = 3
END_LINE = "swejax-guard-end"
_NONCE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nonce")
try:
  with open(_NONCE_FILE) as _handle:
    _NONCE = _handle.read().strip()
  os.unlink(_NONCE_FILE)
except OSError:
  _NONCE = ""  # an xdist worker (the controller took it) or run outside the grader
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

_STATUS = {}


def _tampered():
  return [f"{getattr(o, '__name__', o)}.{n}" for o, n, v in _PINNED if vars(o).get(n) is not v]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
  _STATUS["exit"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
  if hasattr(config, "workerinput") or "exit" not in _STATUS:
    return  # an xdist worker, or no session ran (usage error): leave it to pytest
  changed = _tampered()
  code = _STATUS["exit"]
  if changed:
    sys.stderr.write(f"swejax-guard: pytest internals replaced: {', '.join(changed)}\n")
    code = TAMPERED_EXIT
  if _NONCE:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = f"{END_LINE} {_NONCE} exit={code}"
    try:
      reporter._tw.line(line)  # the stream the summary went to, in order
      reporter._tw.flush()
    except Exception:
      sys.stdout.write(f"\n{line}\n")
  for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
    try:
      stream.flush()
    except Exception:  # a closed or replaced stream must not keep us from exiting
      pass
  _real_exit(code)

