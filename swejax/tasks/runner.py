"""Running a seed package's pytest suite on the host (for the synthesizer).

The suite runs in a throw-away copy with `python -P -m pytest -rA`; statuses
come from the same log parser the grader uses, and a small probe plugin records,
for each failing test, the exception and the line of the test file it failed at.
"""
from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
from typing import Mapping

from swejax.tasks import logparse

PYTEST_ARGS = ("--no-header", "-rA", "--tb=short", "-p", "no:cacheprovider")

PROBE_PLUGIN = '''
import json

import pytest

_FAILURES = {}


def pytest_addoption(parser):
    parser.addoption("--swejax-probe", default=None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or report.passed or report.skipped or item.nodeid in _FAILURES:
        return
    line = None
    for entry in call.excinfo.traceback:
        if str(entry.path) == str(item.path):
            line = entry.lineno + 1
    message = str(call.excinfo.value).splitlines()
    _FAILURES[item.nodeid] = {
        "when": call.when,
        "type": call.excinfo.typename,
        "message": message[0][:300] if message else "",
        "line": line,
    }


def pytest_sessionfinish(session):
    path = session.config.getoption("--swejax-probe")
    if path:
        with open(path, "w") as handle:
            json.dump(_FAILURES, handle)
'''


# A mutant may loop, allocate or write without end: cap it, not the host. CPU time
# (unlike wall time) does not depend on how busy the machine is; a seed suite
# needs well under a second of it.
MEMORY_LIMIT = 1 << 30
FILE_LIMIT = 64 << 20
CPU_SECONDS = 8
MAX_LOG_BYTES = 1 << 20


def _limit_child() -> None:
  """Runs in the child before exec: address space, file size and CPU time caps."""
  resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
  resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
  resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))


def _run(cmd: list[str], cwd: str, env: dict[str, str], timeout: float,
         log_path: str) -> tuple[int, str]:
  """(exit code or 124 on timeout, the last MAX_LOG_BYTES of stdout+stderr)."""
  with open(log_path, "wb") as log:
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, preexec_fn=_limit_child,
                            start_new_session=True)
    try:
      code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, 9)
      proc.wait()
      code = 124
  with open(log_path, "rb") as log:
    log.seek(max(0, os.path.getsize(log_path) - MAX_LOG_BYTES))
    return code, log.read().decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class SuiteRun:
  statuses: dict[str, str]  # test id -> status, from the -rA log
  failures: dict[str, dict]  # test id -> {when, type, message, line}
  exit_code: int
  log: str


def write_tree(root: str, files: Mapping[str, bytes | str]) -> None:
  for path, data in files.items():
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as handle:
      handle.write(data.encode() if isinstance(data, str) else data)


def run_suite(files: Mapping[str, bytes | str], tests: str = "tests",
              timeout: float = 60.0) -> SuiteRun:
  """Writes `files` to a temporary directory and runs pytest there."""
  with tempfile.TemporaryDirectory(prefix="swejax-suite-") as tmp:
    repo = os.path.join(tmp, "repo")
    probe_dir = os.path.join(tmp, "probe")
    write_tree(repo, files)
    write_tree(probe_dir, {"swejax_probe.py": PROBE_PLUGIN})
    report = os.path.join(tmp, "probe.json")
    # Third-party plugins of the host (hypothesis, benchmark ...) only cost start-up time.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": probe_dir,
           "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "HOME": tmp,
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    cmd = [sys.executable, "-P", "-m", "pytest", *PYTEST_ARGS, "-p", "swejax_probe",
           f"--swejax-probe={report}", tests]
    code, log = _run(cmd, repo, env, timeout, os.path.join(tmp, "log"))
    failures = {}
    if code != 124 and os.path.exists(report):
      with open(report) as handle:
        failures = json.load(handle)
    return SuiteRun(logparse.parse_pytest_log(log), failures, code, log)


def run_script(files: Mapping[str, bytes | str], script: str, timeout: float = 20.0) -> str:
  """Runs a Python script at the root of a copy of `files`; returns its stdout."""
  with tempfile.TemporaryDirectory(prefix="swejax-snippet-") as tmp:
    write_tree(tmp, files)
    path = os.path.join(tmp, "__swejax_snippet__.py")
    with open(path, "w") as handle:
      handle.write(script)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
           "LANG": "C.UTF-8", "HOME": tmp}
    code, output = _run([sys.executable, path], tmp, env, timeout,
                        os.path.join(tmp, "__swejax_snippet__.log"))
    return "EXC Timeout" if code == 124 else output
