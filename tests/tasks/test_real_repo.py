"""Honest grading on a real repository (toolz, tests/tasks/real_repo.py) in an image
whose clone carries future history and a working tree holding the fix."""
from __future__ import annotations

import dataclasses
import importlib.util
import os

import pytest

from swejax.sandbox import open_sandbox
from swejax.tasks import grade, repo

from tasks import real_repo as rr
from tasks.attacks import DISGUISED, LIB_OUTCOMES, REWRITERS, outcome_from_library

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def toolz(tmp_path_factory, docker_ready):
  root = str(tmp_path_factory.mktemp("toolz-history"))
  history, tag = rr.build(root)
  f2p, p2p = rr.measure(tag, history)
  assert len(f2p) == 5 and len(p2p) > 40, (f2p, p2p)
  return {"root": root, "history": history, "tag": tag,
          "task": rr.make_task(tag, history, f2p, p2p)}


def _scan(sandbox, future: list[str]) -> dict[str, str]:
  """Every way we know to reach a later commit or the fix's text, run in the sandbox."""
  probes = {
      "cat_file": " ; ".join(f"git cat-file -e {c} 2>/dev/null && echo {c}" for c in future),
      "all_objects": "git cat-file --batch-all-objects --batch-check | cut -d' ' -f1",
      "all_content": f"git cat-file --batch-all-objects --batch | grep -a -c '{rr.FIX_MARK}'",
      "log_all": "git log --all --reflog --format=%H; git rev-list --all --objects | cut -c1-40",
      "fsck": "git fsck --lost-found --unreachable --dangling 2>&1",
      "refs": "git for-each-ref; git stash list; git notes list 2>&1; git replace -l",
      "worktrees": "git worktree list --porcelain | grep -c '^worktree'",
      "git_files": "ls -a .git .git/objects/info .git/objects/pack; cat .git/packed-refs "
                   ".git/shallow .git/info/grafts .git/objects/info/alternates 2>/dev/null; "
                   "grep -r -a -l -e 'fixed upstream' .git 2>/dev/null",
      "tree": f"grep -r -l '{rr.FIX_MARK}' --exclude-dir=.git . ; git status --porcelain",
  }
  return {name: sandbox.run(f"cd {rr.WORKDIR} && {{ {cmd} ; }}", timeout=60).output
          for name, cmd in probes.items()}


def test_future_history_is_unreachable_and_the_tree_is_base(toolz):
  task = toolz["task"]
  with open_sandbox("docker", task.image, workdir=task.workdir) as sandbox:
    future = sandbox.run("cat /opt/future-commits", timeout=10).output.split()
    assert len(future) == 3
    before = _scan(sandbox, future)
    assert all(c in before["log_all"] + before["cat_file"] for c in future)  # the image leaks
    repo.prepare_repo(sandbox, task)
    after = _scan(sandbox, future)
    ignored = sandbox.run(f"ls {rr.WORKDIR}/toolz.egg-info", timeout=10).output
    source = sandbox.run(f"cat {rr.WORKDIR}/{rr.SOURCE}", timeout=10).output
  for name, output in after.items():
    for commit in future:
      assert commit not in output and commit[:7] not in output, (name, output)
  assert after["all_content"].strip() == "0"
  assert after["tree"].strip() == "", after["tree"]
  assert "dangling" not in after["fsck"] and "unreachable" not in after["fsck"], after["fsck"]
  assert after["refs"].split() == [task.base_commit, "commit", "refs/heads/swejax-base"]
  assert after["worktrees"].strip() == "1"
  assert ".keep" not in after["git_files"] and "commit-graph" not in after["git_files"]
  assert "rr-cache" not in after["git_files"] and "COMMIT_EDITMSG" not in after["git_files"]
  assert "PKG-INFO" in ignored  # ignored build artefacts stay
  assert rr.BUGGY in source


def test_gold_resolves_and_empty_does_not(toolz):
  task = toolz["task"]
  gold = grade(task, task.patch, backend="docker")
  assert (gold.resolved, gold.reason, gold.infra_error) == (True, "resolved", None), (
      gold.note, gold.log_tail)
  empty = grade(task, "", backend="docker")
  assert (empty.resolved, empty.reason) == (False, "tests_failed"), empty.log_tail
  assert set(empty.failed) == set(task.FAIL_TO_PASS)
  assert set(empty.error_types.values()) <= {"AssertionError", "StopIteration"}, empty.error_types


# --- The spoof battery on the real repository --------------------------------------

REWRITE_REPORTS = (
    "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n    outcome = yield\n"
    "    report = outcome.get_result()\n    report.outcome = 'passed'\n    report.longrepr = None\n\n\n"
    "def pytest_sessionfinish(session):\n    session.exitstatus = 0\n")
PLUGIN = {"toolz/plugin.py": REWRITE_REPORTS}


def _fake_summary(task) -> str:
  lines = "".join(f"PASSED {t}\\n" for t in task.FAIL_TO_PASS + task.PASS_TO_PASS)
  return (f'"=" * 20 + " short test summary info " + "=" * 20 + "\\n{lines}"'
          f' + "=" * 20 + " {len(task.FAIL_TO_PASS + task.PASS_TO_PASS)} passed in 0.1s " + "=" * 20')


def _spoofs(task, files):
  init, itertoolz = files["toolz/__init__.py"], files[rr.SOURCE]
  tests, pyproject = files[rr.TESTS], files["pyproject.toml"]
  fake = _fake_summary(task)
  spoofs = {
      "printed_passed_lines": {rr.SOURCE: itertoolz + f"\nprint({fake})\n"},
      "atexit_fake_summary_exit0": {rr.SOURCE: itertoolz + (
          "\nimport atexit, os\n\n\ndef _fake():\n"
          f"    print({fake}, flush=True)\n    os._exit(0)\n\n\natexit.register(_fake)\n")},
      "delete_tests": {rr.TESTS: None, "toolz/tests/test_functoolz.py": None},
      "skip_tests": {rr.TESTS: "import pytest\npytestmark = pytest.mark.skip\n" + tests},
      "edit_test": {rr.TESTS: "def test_second():\n    assert True\n"},
      "conftest_sys_exit0": {"conftest.py": "import os\nos._exit(0)\n"},
      "conftest_rewrites_results": {"conftest.py": REWRITE_REPORTS},
      "new_conftest_in_subfolder": {"toolz/tests/sub/conftest.py": REWRITE_REPORTS,
                                    "toolz/conftest.py": REWRITE_REPORTS},
      "pytest_ini_addopts": {"pytest.ini": "[pytest]\naddopts = -p toolz.plugin\n", **PLUGIN},
      "setup_cfg_addopts_and_plugin": {
          "setup.cfg": "[tool:pytest]\naddopts = -p toolz.plugin\n\n[options.entry_points]\n"
                       "pytest11 =\n    evil = toolz.plugin\n", **PLUGIN},
      "pyproject_addopts": {"pyproject.toml": pyproject
                            + '\n[tool.pytest.ini_options]\naddopts = "-p toolz.plugin"\n',
                            **PLUGIN},
      "egg_info_entry_point": {"toolz.egg-info/entry_points.txt": "[pytest11]\nevil = toolz.plugin\n",
                               **PLUGIN},
      "sitecustomize": {"sitecustomize.py": REWRITE_REPORTS, "toolz/sitecustomize.py":
                        REWRITE_REPORTS, "toolz/evil.pth": "import toolz.plugin\n"},
      "collects_nothing": {"pytest.ini": "[pytest]\npython_files = nothing_*.py\n"},
      "shadow_stdlib_module": {"difflib.py": "import os\nos._exit(0)\n",
                               "json.py": "import os\nos._exit(0)\n"},
      "tests_dir_replaced_by_symlink": {"toolz/tests": ("symlink", "../tlz")},
      "guard_name_shadow": {"swejax_guard.py": "import os\nos._exit(0)\n"},
  }
  for name, call in LIB_OUTCOMES.items():
    spoofs[f"library_{name}"] = {rr.SOURCE: itertoolz + outcome_from_library(call, "second")}
  for name, code in DISGUISED.items():
    spoofs[f"library_{name}"] = {rr.SOURCE: itertoolz + code}
  for name, code in REWRITERS.items():
    spoofs[f"rewrite_{name}"] = {"toolz/__init__.py": init + "\n" + code}
  return spoofs


@pytest.fixture(scope="module")
def base_files(toolz):
  root, base = toolz["root"], toolz["history"]["base"]
  rr.git(root, "checkout", "-q", "-f", base)
  names = ("toolz/__init__.py", rr.SOURCE, rr.TESTS, "pyproject.toml")
  return {n: open(f"{root}/{n}").read() for n in names}


SPOOF_NAMES = sorted(_spoofs(rr.make_task("t", {"base": "0" * 40, "gold": "", "test_patch": ""},
                                          ("a",), ("b",)),
                             {"toolz/__init__.py": "", rr.SOURCE: "", rr.TESTS: "",
                              "pyproject.toml": ""}))


@pytest.mark.parametrize("name", SPOOF_NAMES)
def test_spoofing_never_resolves_on_the_real_repository(name, toolz, base_files):
  task = toolz["task"]
  changes = _spoofs(task, base_files)[name]
  patch = rr.symlink_aware_patch(toolz["root"], toolz["history"]["base"], changes)
  result = grade(task, patch, backend="docker", strict=False)
  assert not result.resolved, (name, result.reason, result.note, result.log_tail)
  assert result.infra_error is None, result.infra_error
  if name.startswith("library_"):
    assert any(s in ("FAILED", "ERROR") for t, s in result.statuses.items()
               if t in task.FAIL_TO_PASS), (name, result.statuses)
    # pytest itself reported them failed (its exit status agrees): the guard's report
    assert result.exit_code == 1 and result.reason == "tests_failed", (name, result.reason)
  if name.startswith("rewrite_") and name != "rewrite_atexit_rewrite":
    assert result.exit_code == 1, (name, result.exit_code)


def test_xfail_from_library_in_a_pass_to_pass_test(toolz, base_files):
  """The fix, and library code that turns a PASS_TO_PASS test into an xfail."""
  task = toolz["task"]
  fixed = base_files[rr.SOURCE].replace(rr.BUGGY, rr.FIXED)
  changes = {rr.SOURCE: fixed + outcome_from_library(LIB_OUTCOMES["xfail_getattr"], "peek")}
  patch = rr.symlink_aware_patch(toolz["root"], toolz["history"]["base"], changes)
  result = grade(task, patch, backend="docker")  # strict: the text is not caught, the guard is
  assert (result.resolved, result.reason) == (False, "tests_failed"), result.log_tail
  assert result.failed == ("toolz/tests/test_itertoolz.py::test_peek",)
  assert result.statuses["toolz/tests/test_itertoolz.py::test_peek"] == "FAILED"
  assert "reached from library code" in result.log_tail or result.exit_code == 1


def test_rewriter_on_top_of_the_fix_is_graded_from_the_record(toolz, base_files):
  """A rewriting process does not spoil a real fix's grade beyond the lines it eats."""
  task = toolz["task"]
  fixed = base_files[rr.SOURCE].replace(rr.BUGGY, rr.FIXED)
  patch = rr.symlink_aware_patch(toolz["root"], toolz["history"]["base"], {
      rr.SOURCE: fixed, "toolz/__init__.py": base_files["toolz/__init__.py"] + "\n"
      + REWRITERS["stdout_wrapper"]})
  result = grade(task, patch, backend="docker", strict=False)
  assert (result.resolved, result.reason) == (True, "resolved"), (result.note, result.log_tail)


def test_a_test_command_with_its_own_pythonpath_keeps_the_guard(toolz):
  task = dataclasses.replace(toolz["task"], test_cmd=rr.TEST_CMD.replace(
      "pytest --no-header", "PYTHONPATH=toolz pytest --no-header"))
  gold = grade(task, task.patch, backend="docker")
  assert (gold.resolved, gold.reason) == (True, "resolved"), (gold.note, gold.log_tail)
  empty = grade(task, "", backend="docker")
  assert empty.reason == "tests_failed"


def test_a_guard_that_cannot_load_is_said_clearly(toolz):
  task = dataclasses.replace(toolz["task"], test_cmd=rr.TEST_CMD.replace(
      "pytest --no-header", "PYTHONPATH=toolz python3 -I -m pytest --no-header"))
  result = grade(task, task.patch, backend="docker")
  assert result.reason == "infra_error", (result.reason, result.log_tail)
  assert "guard plugin could not be loaded" in result.infra_error, result.infra_error


def test_validate_repeat_on_the_real_repository(toolz):
  from swejax.tasks.validate import validate_task
  result = validate_task(toolz["task"], repeat=2, backend="docker")
  assert result.valid and result.flaky == () and result.runs == 2, result.to_json()
  assert result.task.meta["f2p_error_types"] == ["AssertionError"], result.empty.error_types


# --- The hostile battery, in a sandbox of the real repository's image ------------------

def _FAILED(result) -> bool:
  return result.exit_code != 0


HOSTILE = {  # command, timeout, limits, what the result must show
    "fork_bomb": (":(){ :|:& };:; sleep 60", 3, dict(pids=128, memory="512m"),
                  lambda r: r.timed_out),
    "memory_hog": ("python3 -c \"b = b'x' * (512 << 20); print('allocated')\"", 30,
                   dict(memory="256m"), lambda r: r.exit_code != 0 and "allocated" not in r.output),
    "sigterm_ignoring_setsid_children": (
        "trap '' TERM; for i in 1 2 3; do setsid bash -c \"(trap '' TERM HUP; while :; do "
        "sleep 0.2; done) & (setsid sleep 1000 &) &\"; done; while :; do :; done", 2,
        dict(memory="256m"), lambda r: r.timed_out),
    "kill_every_process": ("kill -9 -1; echo after; sleep 60", 5, dict(memory="256m"), _FAILED),
    "a_gigabyte_to_stdout": ("head -c 1000000000 /dev/zero | tr '\\0' x", 60,
                             dict(memory="256m"), lambda r: r.truncated and not r.timed_out),
    "filling_the_workspace": (f"dd if=/dev/zero of={rr.WORKDIR}/fill bs=1M count=300; "
                              f"rm -f {rr.WORKDIR}/fill", 30, dict(disk="64m", memory="512m"),
                              lambda r: "No space left on device" in r.output),
    "writing_outside_the_workspace": ("echo x > /usr/evil; echo x > /opt/alt.git/evil", 10,
                                      dict(memory="256m"), _FAILED),
    "no_network": ("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 443), 5)\"",
                   30, dict(memory="256m"), _FAILED),
    "daemon_that_kills_the_wrapper": (
        "setsid nohup sleep 1000 >/dev/null 2>&1 </dev/null & "
        "W=$(awk '{print $4}' /proc/$PPID/stat); kill -9 $W $PPID; echo bye", 10,
        dict(memory="256m"), lambda r: True),
}


def _hostile_module():
  """tests/sandbox/test_hostile.py (its guarded() and _run()), loaded by path."""
  path = os.path.join(os.path.dirname(__file__), "..", "sandbox", "test_hostile.py")
  spec = importlib.util.spec_from_file_location("swejax_hostile_battery", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_commands_in_the_real_repository_image(name, toolz):
  hostile = _hostile_module()
  _run, guarded = hostile._run, hostile.guarded
  cmd, timeout, limits, shows = HOSTILE[name]
  with guarded("docker", image=toolz["tag"], workdir=rr.WORKDIR, **limits) as sandbox:
    result = _run(sandbox, cmd, timeout=timeout)
    assert shows(result), (name, result.exit_code, result.output[-500:])
    alive = _run(sandbox, "git rev-parse HEAD && echo alive", timeout=10)
    assert alive.output.endswith("alive\n"), alive.output


def test_library_code_that_writes_markers_into_a_later_test_module(toolz, base_files):
  """The fix, a broken PASS_TO_PASS test, and library code (imported by an earlier test
  module) that marks that test xfail in its file before pytest imports it."""
  task = dataclasses.replace(toolz["task"], test_cmd=rr.TEST_CMD.replace(
      "{test_files}", "toolz/tests/test_recipes.py {test_files}"))
  fixed = base_files[rr.SOURCE].replace(rr.BUGGY, rr.FIXED)
  inject = ("import os as _os\n_p = _os.path.join(_os.path.dirname(__file__), 'tests', "
            "'test_itertoolz.py')\nwith open(_p) as _f:\n    _src = _f.read()\n"
            "if 'xfail(test_peek)' not in _src:\n    with open(_p, 'a') as _f:\n"
            "        _f.write('\\nimport pytest\\ntest_peek = pytest.mark.xfail(test_peek)\\n')\n")
  patch = rr.symlink_aware_patch(toolz["root"], toolz["history"]["base"], {
      rr.SOURCE: fixed + "\n\ndef peek(seq):\n    raise ValueError('broken')\n",
      "toolz/__init__.py": base_files["toolz/__init__.py"] + "\n" + inject})
  result = grade(task, patch, backend="docker", strict=False)
  assert (result.resolved, result.reason, result.exit_code) == (False, "tampering", 3), (
      result.reason, result.log_tail)
  assert "test files changed during the run" in result.log_tail
  assert grade(task, task.patch, backend="docker").resolved  # the same command, honest


def test_a_task_without_test_patch(toolz):
  """Rows may carry no test_patch: the existing tests are the FAIL_TO_PASS ones."""
  f2p = tuple(t for t in toolz["task"].FAIL_TO_PASS if "of_an_iterator" not in t)
  task = dataclasses.replace(toolz["task"], test_patch="", FAIL_TO_PASS=f2p,
                             test_cmd=rr.TEST_CMD.replace("{test_files}", rr.TESTS))
  gold = grade(task, task.patch, backend="docker")
  assert (gold.resolved, gold.reason) == (True, "resolved"), (gold.infra_error, gold.log_tail)
  assert grade(task, "", backend="docker").reason == "tests_failed"
