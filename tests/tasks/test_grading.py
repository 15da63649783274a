"""Honest grading: gold resolves, empty does not, and reward spoofing never resolves.

Each case runs in a fresh Docker sandbox and in the local (bubblewrap) one.
"""
import os

import pytest

from swejax.sandbox import cgroups
from swejax.tasks import grade
from swejax.tasks.grading import consistent, tampering_lines

from tasks.attacks import LIB_OUTCOMES, REWRITERS, outcome_from_library
from tasks.conftest import BASE_FILES, FIXED_CORE

pytestmark = pytest.mark.filterwarnings("ignore:the local sandbox:RuntimeWarning")

FAKE_SUMMARY = ('"=" * 20 + " short test summary info " + "=" * 20 + "\\n"'
                '"PASSED tests/test_core.py::test_add\\n"'
                '"PASSED tests/test_core.py::test_add_exists\\n"'
                '"PASSED tests/test_other.py::test_mul\\n"'
                '+ "=" * 20 + " 3 passed in 0.01s " + "=" * 20')
REWRITE_REPORTS = (
    "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n    outcome = yield\n"
    "    report = outcome.get_result()\n    report.outcome = 'passed'\n    report.longrepr = None\n\n\n"
    "def pytest_sessionfinish(session):\n    session.exitstatus = 0\n")
PLUGIN = {"mini/plugin.py": REWRITE_REPORTS}
CORE = BASE_FILES["mini/core.py"]

SPOOFS = {
    "printed_passed_lines": {"mini/core.py": CORE + f"print({FAKE_SUMMARY})\n"},
    "atexit_fake_summary_exit0": {"mini/core.py": CORE + (
        "import atexit, os\n\n\ndef _fake():\n"
        f"    print({FAKE_SUMMARY}, flush=True)\n    os._exit(0)\n\n\natexit.register(_fake)\n")},
    "delete_tests": {"tests/test_core.py": None, "tests/test_other.py": None},
    "skip_tests": {"tests/test_core.py": "import pytest\npytestmark = pytest.mark.skip\n"
                   + BASE_FILES["tests/test_core.py"]},
    "edit_test": {"tests/test_other.py": "def test_mul():\n    assert True\n",
                  "tests/test_core.py": "def test_add():\n    pass\n\n\ndef test_add_exists():\n"
                  "    pass\n"},
    "conftest_sys_exit0": {"conftest.py": "import os\nos._exit(0)\n"},
    "conftest_rewrites_results": {"conftest.py": REWRITE_REPORTS},
    "new_conftest_in_subfolder": {"tests/sub/conftest.py": REWRITE_REPORTS,
                                  "mini/conftest.py": REWRITE_REPORTS},
    "pytest_ini_addopts": {"pytest.ini": "[pytest]\naddopts = -p mini.plugin\n", **PLUGIN},
    "setup_cfg_addopts_and_plugin": {
        "setup.cfg": "[tool:pytest]\naddopts = -p mini.plugin\n\n[options.entry_points]\n"
                     "pytest11 =\n    evil = mini.plugin\n", **PLUGIN},
    "pyproject_addopts": {"pyproject.toml": BASE_FILES["pyproject.toml"]
                          + '\n[tool.pytest.ini_options]\naddopts = "-p mini.plugin"\n', **PLUGIN},
    "egg_info_entry_point": {"mini.egg-info/entry_points.txt": "[pytest11]\nevil = mini.plugin\n",
                             "mini.egg-info/PKG-INFO": "Metadata-Version: 2.1\nName: mini\n"
                             "Version: 0.1\n", **PLUGIN},
    "sitecustomize": {"sitecustomize.py": REWRITE_REPORTS, "mini/sitecustomize.py": REWRITE_REPORTS,
                      "mini/evil.pth": "import mini.plugin\n"},
    "collects_nothing": {"pytest.ini": "[pytest]\npython_files = nothing_*.py\n"},
    "shadow_stdlib_module": {"difflib.py": "import os\nos._exit(0)\n",
                             "json.py": "import os\nos._exit(0)\n"},
    "tests_dir_replaced_by_symlink": {"tests": ("symlink", "mini")},
    # exit statuses that would read as a timeout or an OOM kill (an infrastructure error)
    "exit_124_like_a_timeout": {"mini/core.py": CORE + "import os\nos._exit(124)\n"},
    "exit_137_like_an_oom_kill": {"mini/core.py": CORE + "import os\nos._exit(137)\n"},
    "sigkill_itself": {"mini/core.py": CORE + "import os, signal\nos.kill(os.getpid(), 9)\n"},
    # library code that reaches xfail or skip (a FAIL_TO_PASS test XFAILs or SKIPs)
    **{f"library_{name}": {"mini/core.py": CORE + outcome_from_library(call, "add")}
       for name, call in LIB_OUTCOMES.items()},
    # library code that rewrites the output through a process, a thread, sed
    **{f"rewrite_{name}": {"mini/__init__.py": code} for name, code in REWRITERS.items()},
}


def test_gold_resolves_and_empty_does_not(mini_task, backend):
  gold = grade(mini_task, mini_task.patch, backend=backend)
  assert (gold.resolved, gold.reason, gold.infra_error) == (True, "resolved", None), gold.log_tail
  assert gold.statuses["tests/test_core.py::test_add"] == "PASSED"
  assert gold.isolation in ("docker", "bubblewrap")
  empty = grade(mini_task, "", backend=backend)
  assert (empty.resolved, empty.reason, empty.infra_error) == (False, "tests_failed", None)
  assert empty.failed == ("tests/test_core.py::test_add",)


@pytest.mark.parametrize("name", sorted(SPOOFS))
def test_spoofing_never_resolves(name, mini_task, make_patch, backend):
  patch = make_patch(SPOOFS[name])
  result = grade(mini_task, patch, backend=backend, strict=False)
  assert not result.resolved, (name, result.reason, result.log_tail)
  assert result.infra_error is None, result.infra_error
  # The same cheat on top of the real fix must still resolve when it only touched
  # test infrastructure: resetting, not punishing, is what defeats it.
  if name in ("delete_tests", "skip_tests", "edit_test", "conftest_rewrites_results",
              "tests_dir_replaced_by_symlink", "collects_nothing", "pytest_ini_addopts"):
    fixed = make_patch({**SPOOFS[name], "mini/core.py": FIXED_CORE})
    assert grade(mini_task, fixed, backend=backend, strict=False).resolved, name


def test_report_rewriting_from_source_code(mini_task, make_patch, backend):
  patch = make_patch({"mini/core.py": CORE + (
      "import _pytest.reports\n_orig = _pytest.reports.TestReport.from_item_and_call\n\n\n"
      "def _fake(item, call):\n    report = _orig(item, call)\n    report.outcome = 'passed'\n"
      "    return report\n\n\n_pytest.reports.TestReport.from_item_and_call = staticmethod(_fake)\n")})
  strict = grade(mini_task, patch, backend=backend)
  assert (strict.resolved, strict.reason) == (False, "tampering")
  lenient = grade(mini_task, patch, backend=backend, strict=False)  # the guard plugin's turn
  assert not lenient.resolved and lenient.exit_code == 3, lenient.log_tail


def test_patch_that_does_not_apply(mini_task, backend):
  broken = mini_task.patch.replace("-    return a - b", "-    return a * b")
  result = grade(mini_task, broken, backend=backend)
  assert (result.resolved, result.reason, result.infra_error) == (
      False, "patch_does_not_apply", None)


def test_reset_paths_are_reported(mini_task, make_patch, backend):
  patch = make_patch({"conftest.py": "x = 1\n", "json.py": "x = 1\n", "mini/core.py": FIXED_CORE})
  result = grade(mini_task, patch, backend=backend)
  assert result.resolved
  assert set(result.reset_paths) == {"conftest.py"}  # json.py is removed as a shadow module


def test_infra_error_is_not_a_failure(mini_task, backend):
  slow = mini_task.__class__(**{**mini_task.__dict__, "test_cmd": "sleep 30"})
  result = grade(slow, mini_task.patch, backend=backend, timeout=2)
  assert not result.resolved
  assert result.reason == "infra_error" and result.infra_error.startswith("timeout")


def test_consistency_rule():
  assert consistent(0, {"a": "PASSED"})
  assert not consistent(0, {})
  assert not consistent(0, {"a": "PASSED", "b": "FAILED"})
  assert consistent(1, {"a": "FAILED"})
  assert not consistent(1, {"a": "PASSED"})
  assert not consistent(5, {})
  assert not consistent(3, {"a": "PASSED"})


def test_tampering_lines():
  patch = ("diff --git a/pkg/a.py b/pkg/a.py\n--- a/pkg/a.py\n+++ b/pkg/a.py\n@@ -1 +1,3 @@\n"
           " x = 1\n+import _pytest.runner\n+y = 2  # pytest.skip is fine in a comment\n")
  assert tampering_lines(patch, "o/repo") == ["pkg/a.py: import _pytest.runner"]
  assert tampering_lines(patch, "pytest-dev/pytest") == []
  assert tampering_lines(patch.replace("pkg/a.py", "tests/test_a.py"), "o/repo") == []


def test_guard_line_constants_match():
  import swejax.tasks.verdict as verdict
  from swejax.tasks import grading
  with open(os.path.join(os.path.dirname(grading.__file__), "guard_plugin.py")) as handle:
    source = handle.read()
  for name in ("END_LINE", "START_LINE", "TEST_LINE", "DONE_LINE"):
    assert f'{name} = "{getattr(verdict, name)}"' in source


def test_only_the_log_before_the_guard_end_line_counts():
  from swejax.tasks.verdict import read_guard
  real = "=== short test summary info ===\nFAILED t.py::test_a - x\n=== 1 failed ===\n"
  late = "=== short test summary info ===\nPASSED t.py::test_a\n=== 1 passed ===\n"
  record = ("swejax-guard-end n0nce exit=1\nswejax-guard-test n0nce FAILED t.py::test_a\n"
            "swejax-guard-done n0nce tests=1 failed=1\n")
  log, guard, started = read_guard(f"swejax-guard-start n0nce\n{real}{record}{late}", "n0nce")
  assert log.endswith(real) and started
  assert (guard.exit_code, dict(guard.statuses), guard.failures) == (1, {"t.py::test_a": "FAILED"}, 1)
  assert read_guard(f"{real}{record.replace('n0nce', 'forged')}{late}", "n0nce")[1] is None
  assert read_guard(real + late, "n0nce") == (real + late, None, False)
  cut = record.rsplit("swejax-guard-done", 1)[0]  # no done line: an incomplete record
  assert read_guard(f"{real}{cut}", "n0nce")[1] is None


def test_no_end_line_is_not_resolved(mini_task, make_patch, backend):
  """pytest ended early (os._exit in the code under test): nothing can be trusted."""
  patch = make_patch({"mini/core.py": FIXED_CORE + "import os\nos._exit(0)\n"})
  result = grade(mini_task, patch, backend=backend, strict=False)
  assert (result.resolved, result.reason) == (False, "unverified_log")


def test_an_oom_kill_seen_by_the_sandbox_is_an_infra_error(mini_task, make_patch, backend):
  """Docker reads its memory cgroup inside; the local sandbox's cgroup is read from the host
  (without one, its `prlimit --as` cap fails allocations instead of killing)."""
  if backend == "local" and not cgroups.available():
    pytest.skip("the local sandbox has a memory cgroup only as root on cgroup v1")
  hog = make_patch({"mini/core.py": FIXED_CORE + "_hog = b'x' * (600 << 20)\n"})
  result = grade(mini_task, hog, backend=backend, memory="256m")
  assert result.reason == "infra_error" and result.exit_code == 137, (result.reason,
                                                                       result.log_tail)
  assert "out-of-memory kills: " in result.infra_error and "?" not in result.infra_error
