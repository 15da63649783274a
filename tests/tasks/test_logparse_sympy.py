"""Parser parity on a sympy log recorded here: sympy's own test runner (the one
`bin/test` calls) in verbose mode over a small test file with every outcome,
against the harness' parse_log_sympy."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from swejax.tasks import logparse

HERE = os.path.dirname(__file__)
_spec = importlib.util.spec_from_file_location("swebench_harness",
                                               os.path.join(HERE, "swebench_harness.py"))
swebench_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(swebench_harness)

SYMPY_TESTS = {
    "pkg/tests/test_demo.py": '''
from sympy import Symbol
from sympy.testing.pytest import XFAIL, skip


def test_passes():
    assert Symbol("x") == Symbol("x")


def test_fails():
    assert Symbol("x") == Symbol("y")


def test_raises():
    raise ValueError("boom")


@XFAIL
def test_known_bug():
    assert False


@XFAIL
def test_fixed_bug():
    pass


def test_skips():
    skip("needs numpy")


def test_prints():
    print("test_fails ok")


def test_prints_then_fails():
    print("ok")
    assert False


def test_last():
    pass
''',
    "pkg/tests/test_other.py": "def test_alone():\n    pass\n",
}
# sympy's own runner (what bin/test calls) over files outside the sympy tree.
SYMPY_RUN = """
import os, sys
from sympy.testing import runtests
reporter = runtests.PyTestReporter(verbose=True, tb="short", colors=False)
tests = runtests.SymPyTests(reporter, None, False, 12345)
reporter._root_dir = os.getcwd()
tests._testfiles = [os.path.abspath(p) for p in sys.argv[1:]]
tests.test()
"""


@pytest.fixture(scope="module")
def harness():
  with swebench_harness.loaded() as loaded:
    yield loaded


def _host_run(cwd, argv):
  done = subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True,
                        timeout=300)
  return done.stdout + done.stderr


def test_recorded_sympy_log_agrees(tmp_path, harness):
  """sympy's test runner in verbose mode, as `bin/test -C --verbose` prints."""
  pytest.importorskip("sympy")
  for name, text in SYMPY_TESTS.items():
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
  log = _host_run(str(tmp_path), ["-c", SYMPY_RUN, *SYMPY_TESTS])
  assert "test process starts" in log and "tests finished" in log, log[-2000:]
  mine = logparse.parse_sympy_log(log)
  theirs = harness.registry["parse_log_sympy"](log, None)
  assert mine == {"test_passes": "PASSED", "test_fails": "FAILED", "test_raises": "ERROR",
                  "test_prints": "PASSED", "test_prints_then_fails": "FAILED",
                  "test_last": "PASSED", "test_alone": "PASSED",
                  "pkg/tests/test_demo.py:test_raises": "FAILED",
                  "pkg/tests/test_demo.py::test_fails": "FAILED",
                  "pkg/tests/test_demo.py::test_prints_then_fails": "FAILED"}
  # DIFFERENCES["sympy_output"]: `ok` printed, then the test failed on the next line
  assert theirs.pop("test_prints_then_fails") == "PASSED"
  mine.pop("test_prints_then_fails")
  # DIFFERENCES["sympy_file_mark"]: the harness misses a file's last test
  for test_id in ("test_alone", "test_last"):
    if test_id not in theirs:
      assert re.search(rf"^{test_id} .*\[(OK|FAIL)\]$", log, re.M), test_id
      mine.pop(test_id)
  assert mine == theirs
