"""Tasks from a real repository (toolz 1.2.0, vendored sdist): the pieces that need no
Docker, and the whole `swejax tasks synth --repo` run in Docker sandboxes."""
import dataclasses
import io
import json
import os
import queue
import random
import subprocess
import tarfile
import time

import pytest

from swejax.tasks import cli, loader, mutate, patches, repo, runner, synth_repo, synth_source
from swejax.tasks.validate import validate_tasks

TOOLZ_SDIST = os.path.join(os.path.dirname(__file__), "..", "data", "toolz",
                           "toolz-1.2.0.tar.gz")
_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}


@pytest.fixture(scope="module")
def toolz_dir(tmp_path_factory):
  """The sdist extracted, then made a git repository (with an ignored build dir)."""
  root = tmp_path_factory.mktemp("toolz")
  subprocess.run(["tar", "-xzf", os.path.abspath(TOOLZ_SDIST), "-C", str(root),
                  "--no-same-owner"], check=True)
  path = str(root / "toolz-1.2.0")
  env = dict(os.environ, **_GIT_ENV)
  with open(os.path.join(path, ".gitignore"), "w") as handle:
    handle.write("build/\n")
  os.makedirs(os.path.join(path, "build"))
  with open(os.path.join(path, "build", "junk.py"), "w") as handle:
    handle.write("x = 1\n")
  for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "toolz 1.2.0"]):
    subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
  return path


@pytest.fixture(scope="module")
def toolz(toolz_dir):
  return synth_repo.load_source(toolz_dir, "pytoolz/toolz")


def test_reads_a_git_repository(toolz, toolz_dir):
  assert toolz.name == "pytoolz/toolz" and len(toolz.commit) == 40
  assert "toolz/itertoolz.py" in toolz.files and ".gitignore" in toolz.files
  assert not any(p.startswith(("build/", ".git/")) for p in toolz.files)
  plain, head = synth_source.read_tree(os.path.join(toolz_dir, "toolz"))
  assert head == "" and "itertoolz.py" in plain and "tests/test_itertoolz.py" in plain


def test_clones_a_git_url(toolz, toolz_dir):
  cloned = synth_repo.load_source(f"file://{toolz_dir}")
  assert cloned.files == toolz.files and cloned.commit == toolz.commit


@pytest.mark.parametrize("where, name", [
    ("https://github.com/pytoolz/toolz.git", "pytoolz/toolz"),
    ("git@github.com:pytoolz/toolz.git", "pytoolz/toolz"),
    ("/somewhere/toolz-1.2.0", "local/toolz-1.2.0"),
])
def test_repository_names(where, name):
  assert synth_source._name_from(where) == name


def test_bad_sources_name_the_flag(tmp_path):
  with pytest.raises(ValueError, match="--repo: .* neither a directory nor a git URL"):
    synth_repo.load_source(str(tmp_path / "missing"))
  (tmp_path / "README").write_text("no code\n")
  with pytest.raises(ValueError, match="no Python file"):
    synth_repo.load_source(str(tmp_path))


def test_mutable_paths_are_library_code(toolz):
  paths = synth_repo.mutable_paths(toolz.files)
  assert {"toolz/itertoolz.py", "toolz/functoolz.py", "toolz/dicttoolz.py"} <= set(paths)
  assert not any(patches.is_test_infrastructure(p) for p in paths)
  files = {"setup.py": b"x = 1\n", "docs/conf.py": b"x = 1\n", "src/pkg/core.py": b"x = 1\n",
           "src/pkg/tests/test_core.py": b"x = 1\n", "conftest.py": b"x = 1\n"}
  assert synth_repo.mutable_paths(files) == ["src/pkg/core.py"]
  assert synth_repo.package_name("src/pkg/core.py") == "pkg"
  assert synth_repo.package_name("toolz/curried/operator.py") == "toolz"
  assert synth_repo.package_name("single.py") == "single"


def _run(statuses, code=1):
  return runner.SuiteRun(statuses, {}, code, "")


def test_baseline_drops_flaky_and_non_passing():
  first = _run({"t.py::a": "PASSED", "t.py::b": "PASSED", "t.py::c": "SKIPPED",
                "t.py::d": "FAILED", "t.py::e": "XFAIL"})
  second = _run({"t.py::a": "PASSED", "t.py::b": "FAILED", "t.py::c": "SKIPPED",
                 "t.py::d": "FAILED", "t.py::e": "XFAIL"})
  assert synth_repo.baseline_tests(first, second) == (["t.py::a"], ["t.py::b"])


@pytest.mark.parametrize("run, expected", [
    (_run({"t.py::a": "PASSED", "t.py::b": "FAILED"}), (["t.py::b"], "ok")),
    (_run({"t.py::a": "PASSED", "t.py::b": "PASSED"}, 0), ([], "survived")),
    (_run({"t.py::a": "FAILED", "t.py::b": "FAILED"}), ([], "too_many_failures")),
    (_run({"t.py::a": "PASSED", "t.py": "ERROR"}), ([], "breaks_collection")),
    (_run({"t.py::a": "PASSED"}, 2), ([], "breaks_collection")),
    (_run({"t.py::a": "PASSED"}, 124), ([], "timeout")),
    (_run({"t.py::a": "PASSED"}), ([], "tests_vanished")),
    (_run({"t.py::a": "PASSED", "t.py::b": "XFAIL"}), (["t.py::b"], "ok")),
])
def test_judge_run(run, expected):
  assert synth_repo.judge_run(run, ["t.py::a", "t.py::b"], max_failing=1) == expected


def test_hidden_tests(toolz):
  test_id = "toolz/tests/test_itertoolz.py::test_merge_sorted"
  hidden = synth_repo.hidden_tests(toolz.files, [test_id])
  assert list(hidden) == ["toolz/tests/test_itertoolz.py"]
  assert b"def test_merge_sorted(" not in hidden["toolz/tests/test_itertoolz.py"]
  assert b"def test_groupby(" in hidden["toolz/tests/test_itertoolz.py"]
  assert synth_repo.hidden_tests(toolz.files, ["toolz/itertoolz.py::toolz.groupby"]) is None
  assert synth_repo.hidden_tests(toolz.files, ["toolz/tests/test_itertoolz.py::nope"]) is None


def test_fix_leaks():
  gold = "--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-    mid = len(seqs) / 2\n+    mid = len(seqs) // 2\n"
  assert synth_repo.fix_leaks("the code says mid = len(seqs) // 2", gold)
  assert not synth_repo.fix_leaks("merge_sorted raises TypeError", gold)


def test_failure_statement_names_the_symptom():
  failures = {"t.py::TestX::test_a": {"when": "call", "type": "AssertionError",
                                      "message": "assert -2 == 2", "line": 9},
              "t.py::test_b": {"when": "setup", "type": "KeyError", "message": "k"}}
  text = synth_repo.failure_statement(["t.py::TestX::test_a", "t.py::test_b"], failures,
                                      "pkg", random.Random(0))
  assert "test_a: AssertionError: assert -2 == 2" in text and "KeyError" not in text
  assert "`pkg`" in text and text.endswith("They are expected to pass.\n")
  assert synth_repo.failure_statement(["t.py::test_b"], failures, "pkg", random.Random(0)) is None


def test_test_cmd_with_placeholder_is_refused(toolz):
  config = synth_repo.RepoConfig(test_cmd="pytest -rA {test_files}")
  with pytest.raises(ValueError, match="--test-cmd"):
    synth_repo.synthesize_repo(toolz, config)


class HostSandbox:
  """Stands in for RepoSandbox in this test only: the same calls, run on the host."""

  def __init__(self, files):
    self.files = files

  def suite(self, changes, timeout):
    return runner.run_suite({**self.files, **changes}, tests="toolz", timeout=timeout)

  def scripts(self, changes, scripts, timeout=20.0):
    return [runner.run_script({**self.files, **changes}, s, timeout) for s in scripts]


def test_a_task_from_one_mutant(toolz, tmp_path):
  """The merge_sorted `//` -> `/` bug: hidden test, gold revert, issue text, snapshot."""
  source = toolz.files["toolz/itertoolz.py"].decode()
  mutation = next(m for m in mutate.find_mutations("toolz/itertoolz.py", source)
                  if m.function == "_merge_sorted_binary" and m.replacement == "/")
  host = HostSandbox(toolz.files)
  clean = host.suite({}, 120)
  baseline, _ = synth_repo.baseline_tests(clean, clean)
  sandboxes = queue.Queue()
  sandboxes.put(host)
  maker = synth_repo._Maker(toolz, synth_repo.RepoConfig(), baseline, 120, sandboxes)
  task, reason = maker((mutation, "salt"))
  assert reason == "ok", reason
  assert task.FAIL_TO_PASS == ("toolz/tests/test_itertoolz.py::test_merge_sorted",)
  assert len(task.PASS_TO_PASS) == len(baseline) - 1
  assert patches.touched_paths(task.patch) == ("toolz/itertoolz.py",)
  assert patches.touched_paths(task.test_patch) == ("toolz/tests/test_itertoolz.py",)
  assert "merge_sorted" in task.problem_statement and "//" not in task.problem_statement
  assert repo.snapshot_commit(task.snapshot_bytes(), task.created_at) == task.base_commit
  assert task.meta["mutation"]["path"] == "toolz/itertoolz.py"
  assert task.meta["source_commit"] == toolz.commit
  assert task.meta["issue_from"] == "reproduction"
  out = str(tmp_path / "one.jsonl")
  task = dataclasses.replace(task, instance_id="pytoolz__toolz-synth-0000")
  loader.save_tasks([task], out)
  assert loader.load_tasks(out)[0].to_row() == task.to_row()


def test_cli_flags_need_repo(tmp_path, capsys):
  assert cli.main(["synth", "--out", str(tmp_path / "x.jsonl"), "--image", "img"]) == 2
  assert "need --repo" in capsys.readouterr().err
  assert cli.main(["synth", "--out", str(tmp_path / "x.jsonl"), "--repo",
                   str(tmp_path / "missing")]) == 2
  assert "--repo:" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.docker
def test_synth_repo_on_toolz_in_docker(docker_ready, toolz_dir, tmp_path, capsys):
  """`swejax tasks synth --repo` on toolz: >= 20 tasks, measured and validated in Docker;
  an independent validation agrees (gold resolves each, empty does not)."""
  out = str(tmp_path / "toolz.jsonl")
  start = time.monotonic()
  code = cli.main(["synth", "--repo", toolz_dir, "--out", out, "--n", "20", "--jobs", "2"])
  summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert code == 0 and summary["tasks"] == 20, summary
  assert time.monotonic() - start < 600, summary
  tasks = loader.load_tasks(out)
  assert len({t.instance_id for t in tasks}) == 20
  assert len({(t.meta["mutation"]["path"], t.meta["mutation"]["line"],
               t.meta["mutation"]["kind"]) for t in tasks}) == 20
  for task in tasks:
    assert task.image == synth_repo.BASE_IMAGE and task.test_cmd == synth_repo.DEFAULT_TEST_CMD
    assert 1 <= len(task.FAIL_TO_PASS) <= 8 and len(task.PASS_TO_PASS) >= 150
    assert not synth_repo.fix_leaks(task.problem_statement, task.patch)
    assert "diff --git" not in task.problem_statement
  result = validate_tasks(tasks, jobs=2, backend="docker")
  assert result["valid"] == result["tasks"] == 20, result
  assert result["gold_resolved"] == 20 and result["empty_resolved"] == 0


MINI_REPO = {
    "calc/__init__.py": "",
    "calc/core.py": ("from synth_dep import VALUE\n\n\ndef add(a, b):\n    return a + b\n\n\n"
                     "def scale(x):\n    return x * VALUE\n\n\ndef clamp(x, low, high):\n"
                     "    if x < low:\n        return low\n    if x > high:\n"
                     "        return high\n    return x\n"),
    "tests/test_core.py": ("from calc.core import add, clamp, scale\n\n\ndef test_add():\n"
                           "    assert add(2, 3) == 5\n\n\ndef test_scale():\n"
                           "    assert scale(2) == 84\n\n\ndef test_clamp_low():\n"
                           "    assert clamp(-1, 0, 10) == 0\n\n\ndef test_clamp_high():\n"
                           "    assert clamp(11, 0, 10) == 10\n\n\ndef test_clamp_mid():\n"
                           "    assert clamp(5, 0, 10) == 5\n"),
}
# What the repository needs beyond the base image: a module its code imports.
INSTALL = ("mkdir -p /usr/local/lib/python3.11/dist-packages && printf 'VALUE = 42\\n' "
           "> /usr/local/lib/python3.11/dist-packages/synth_dep.py")


@pytest.mark.slow
@pytest.mark.docker
def test_synth_repo_with_install_builds_the_image(docker_ready, tmp_path, capsys):
  """--install: the tasks' image is built from the base with the install step, its
  workdir left empty; the tasks measured and validated in that image."""
  root = tmp_path / "calc"
  for path, text in MINI_REPO.items():
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)
  out = str(tmp_path / "calc.jsonl")
  code = cli.main(["synth", "--repo", str(root), "--install", INSTALL, "--out", out,
                   "--n", "2", "--repo-name", "me/calc"])
  summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert code == 0 and summary["tasks"] == 2, summary
  assert summary["image"].startswith("swejax-synth/me-calc:")
  tasks = loader.load_tasks(out)
  assert [t.instance_id for t in tasks] == ["me__calc-synth-0000", "me__calc-synth-0001"]
  assert all(t.image == summary["image"] and t.repo == "me/calc" for t in tasks)
  assert all(t.install_config == {"install": INSTALL} for t in tasks)  # `images --build`
  result = validate_tasks(tasks, jobs=2, backend="docker")
  assert result["valid"] == 2, result


CLASS_REPO = {
    "shapes/__init__.py": "",
    "shapes/geo.py": ("def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n"
                      "    return 2 * (w + h)\n"),
    "tests/test_geo.py": ("import unittest\n\nfrom shapes.geo import area, perimeter\n\n\n"
                          "class TestGeo(unittest.TestCase):\n    def test_area(self):\n"
                          "        self.assertEqual(area(2, 3), 6)\n\n"
                          "    def test_perimeter(self):\n"
                          "        self.assertEqual(perimeter(2, 3), 10)\n"),
}


@pytest.mark.slow
@pytest.mark.docker
def test_unittest_classes_get_an_issue_from_the_errors(docker_ready, tmp_path):
  """No reproduction can be cut from a test method: the issue names the error instead,
  and the hidden method comes back through test_patch."""
  root = tmp_path / "shapes"
  for path, text in CLASS_REPO.items():
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)
  source = synth_repo.load_source(str(root))
  tasks, report = synth_repo.synthesize_repo(source, synth_repo.RepoConfig(n=2))
  assert len(tasks) == 2, report
  for task in tasks:
    assert task.meta["issue_from"] == "test_errors"
    assert "AssertionError: " in task.problem_statement
    assert task.FAIL_TO_PASS[0].startswith("tests/test_geo.py::TestGeo::test_")
    assert "    def test_" in task.test_patch


@pytest.mark.slow
@pytest.mark.docker
def test_keep_tests_writes_an_empty_test_patch(docker_ready, tmp_path, capsys):
  """--keep-tests (SWE-smith's form): the failing tests stay in the snapshot, test_patch
  is empty, and the tasks still validate."""
  root = tmp_path / "shapes"
  for path, text in CLASS_REPO.items():
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)
  out = str(tmp_path / "kept.jsonl")
  assert cli.main(["synth", "--repo", str(root), "--keep-tests", "--out", out, "--n", "1"]) == 0
  task, = loader.load_tasks(out)
  assert task.test_patch == ""
  with tarfile.open(fileobj=io.BytesIO(task.snapshot_bytes())) as tar:
    tests = tar.extractfile("tests/test_geo.py").read().decode()
  assert task.FAIL_TO_PASS[0].split("::")[-1] in tests
  assert validate_tasks([task], backend="docker")["valid"] == 1
