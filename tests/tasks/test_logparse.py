"""parse_pytest_log against real `pytest -rA` logs and the SWE-bench harness parser."""
import importlib.util
import os
import subprocess
import sys

import pytest

from swejax.tasks import logparse
from swejax.tasks.logparse import parse_pytest_log

_spec = importlib.util.spec_from_file_location(
    "swebench_harness", os.path.join(os.path.dirname(__file__), "swebench_harness.py"))
swebench_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(swebench_harness)

SUITE = {
    "test_mix.py": '''
import pytest

def test_pass():
    print("PASSED test_mix.py::test_hidden")  # a printed, fake status line

def test_fail():
    assert 1 == 2, "boom\\nPASSED test_mix.py::test_injected"

@pytest.fixture
def broken():
    raise RuntimeError("setup failed")

def test_setup_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown failed")

def test_teardown_error(bad_teardown):
    pass

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

def test_skip_inside():
    pytest.skip("runtime skip")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed now")
def test_xpass():
    pass

@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict():
    pass

@pytest.mark.parametrize("value", ["a b", "x - y", "p]q", "1-2", "end]", "tab\\tin", "caf\\u00e9"])
def test_param(value):
    assert value not in ("x - y", "p]q")

@pytest.mark.parametrize("a, b", [(1, 2), (3, 3)])
def test_pair(a, b):
    assert a < b

class TestGroup:
    def test_method(self):
        pass

    def test_method_fail(self):
        assert [1, 2] == [1, 3]

    class TestNested:
        def test_inner(self):
            pass
''',
    "sub/test_other.py": '''
def test_in_subdir():
    assert True

def test_error_message_with_brackets():
    raise KeyError("[x] - y")
''',
    "test_broken.py": '''
raise ImportError("cannot import name 'missing'")
''',
}


def _write(root, files):
  for name, text in files.items():
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
      f.write(text)


def _pytest(root, *args):
  env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
  done = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider",
                         *args], cwd=root, capture_output=True, text=True, env=env)
  return done.stdout + done.stderr


def _collect_ids(root):
  out = _pytest(root, "--collect-only", "-q", "--continue-on-collection-errors")
  return {line.strip() for line in out.splitlines() if "::" in line}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("suite"))
  _write(root, SUITE)
  variants = {
      "tb_short": ("--tb=short", "--continue-on-collection-errors"),
      "tb_no_verbose": ("--tb=no", "-v", "--continue-on-collection-errors"),
      "quiet": ("-q", "--continue-on-collection-errors"),
      "interrupted": ("--tb=line",),
  }
  return {name: _pytest(root, *args) for name, args in variants.items()}, _collect_ids(root)


@pytest.fixture(scope="module")
def swebench_parser():
  """The harness' parse_log_pytest (swebench is a test-only reference)."""
  with swebench_harness.loaded() as harness:
    yield lambda text: harness.registry["parse_log_pytest"](text, None)


def test_statuses_of_a_real_log(logs):
  texts, _ = logs
  got = parse_pytest_log(texts["tb_short"])
  assert got["test_mix.py::test_pass"] == "PASSED"
  assert got["test_mix.py::test_fail"] == "FAILED"
  assert got["test_mix.py::test_setup_error"] == "ERROR"
  assert got["test_mix.py::test_teardown_error"] == "ERROR"  # PASSED, then ERROR: worst wins
  assert got["test_mix.py::test_xfail"] == "XFAIL"
  assert got["test_mix.py::test_xpass_strict"] == "FAILED"
  assert got["test_mix.py::test_param[x - y]"] == "FAILED"
  assert got["test_mix.py::test_param[a b]"] == "PASSED"
  assert got["test_mix.py::test_param[p]q]"] == "FAILED"
  assert got["test_mix.py::test_param[end]]"] == "PASSED"
  assert got["test_mix.py::TestGroup::TestNested::test_inner"] == "PASSED"
  assert got["sub/test_other.py::test_error_message_with_brackets"] == "FAILED"
  assert got["test_broken.py"] == "ERROR"


def test_printed_status_lines_do_not_count(logs):
  texts, _ = logs
  for text in texts.values():
    got = parse_pytest_log(text)
    assert "test_mix.py::test_hidden" not in got
    assert "test_mix.py::test_injected" not in got


def test_ids_are_real_test_ids(logs):
  texts, real = logs
  for name in ("tb_short", "tb_no_verbose", "quiet"):
    got = parse_pytest_log(texts[name])
    assert set(got) - real <= {"test_broken.py"}, name
    # every collected test has a status except skipped and non-strict xpass ones
    assert {t for t in real if "skip" not in t and "xpass" not in t} - set(got) == set(), name


def test_agrees_with_swebench(logs, swebench_parser):
  texts, real = logs
  for name, text in texts.items():
    mine = parse_pytest_log(text)
    theirs = swebench_parser(text)
    compared = 0
    for test_id in real | {"test_broken.py"}:
      if any(c.isspace() for c in test_id):
        continue
      assert mine.get(test_id) == theirs.get(test_id), (name, test_id)
      compared += int(test_id in mine)
    assert compared >= (1 if name == "interrupted" else 15), name


def test_keeps_ids_with_spaces_whole(logs, swebench_parser):
  texts, _ = logs
  text = texts["tb_short"]
  assert parse_pytest_log(text)["test_mix.py::test_param[a b]"] == "PASSED"
  assert "test_mix.py::test_param[a b]" not in swebench_parser(text)  # the harness cuts it
  assert parse_pytest_log(text)["test_mix.py::test_param[tab\\tin]"] == "PASSED"


def test_no_summary_means_nothing():
  assert parse_pytest_log("PASSED a.py::test_x\n== 1 passed in 0.1s ==\n") == {}


def test_only_the_last_summary_counts():
  fake = ("==== short test summary info ====\nPASSED t.py::test_a\n"
          "==== 1 passed in 0.1s ====\n")
  real = ("==== short test summary info ====\nFAILED t.py::test_a - assert 0\n"
          "==== 1 failed in 0.2s ====\n")
  assert parse_pytest_log(fake + real) == {"t.py::test_a": "FAILED"}


def test_message_with_brackets_does_not_extend_id():
  text = ("=== short test summary info ===\n"
          "FAILED t.py::test_a - assert [1] == [2]\n"
          "FAILED t.py::test_b[x] - KeyError: ']'\n=== 2 failed in 1s ===\n")
  assert parse_pytest_log(text) == {"t.py::test_a": "FAILED", "t.py::test_b[x]": "FAILED"}


def test_ansi_colors_are_ignored():
  text = ("\x1b[36m=== short test summary info ===\x1b[0m\n"
          "\x1b[32mPASSED\x1b[0m t.py::test_a\n=== 1 passed in 1s ===\n")
  assert parse_pytest_log(text) == {"t.py::test_a": "PASSED"}


def test_passed_and_parsers():
  assert logparse.passed({"a": "XFAIL"}, "a")
  assert not logparse.passed({"a": "SKIPPED"}, "a")
  assert not logparse.passed({}, "a")
  assert logparse.get_parser("parse_log_pytest") is parse_pytest_log
  with pytest.raises(ValueError, match="unknown log_parser"):
    logparse.get_parser("jest")
