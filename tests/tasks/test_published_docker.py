"""Published-form rows of a real package (toolz, vendored) graded end to end in Docker.

The image is built offline the way published images look: the repository as a
git clone at /testbed and the `testbed` activation the harness's scripts start
with (swejax.tasks.image_build). A `swebench` 5.x row (with its eval_script) and
a classic row (the harness's script written at load) must both grade the gold
patch resolved and the empty patch not.
"""
import json
import os
import subprocess
import tarfile

import pytest

from swejax.sandbox import engine
from swejax.tasks import harness, loader, specs
from swejax.tasks.grading import grade
from swejax.tasks.image_build import build_task_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TOOLZ = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "toolz",
                     "toolz-1.2.0.tar.gz")
TAG = "swejax-test/published-toolz:1"
BUG = "    seq = iter(seq)\n    next(seq)\n    return next(seq)\n"
TEST = """from toolz import first, second


def test_second_of_abc():
    assert second('ABC') == 'B'


def test_first_of_abc():
    assert first('ABC') == 'A'
"""
_ENV = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _git(root, *args):
  return subprocess.run(["git", *args], cwd=root, env=_ENV, check=True, capture_output=True,
                        text=True).stdout


@pytest.fixture(scope="module")
def toolz_rows(tmp_path_factory, docker_ready):
  base = tmp_path_factory.mktemp("toolz")
  with tarfile.open(TOOLZ) as archive:
    archive.extractall(base, filter="data")  # files owned by us: git refuses others'
  root = str(base / "toolz-1.2.0")
  _git(root, "init", "-q", "-b", "main")
  _git(root, "add", "-A")
  _git(root, "commit", "-qm", "release")
  source = os.path.join(root, "toolz", "itertoolz.py")
  with open(source, encoding="utf-8") as handle:
    fixed = handle.read()
  assert BUG in fixed
  with open(source, "w", encoding="utf-8") as handle:
    handle.write(fixed.replace(BUG, "    seq = iter(seq)\n    return next(seq)\n"))
  _git(root, "commit", "-qam", "second() returns the first element")
  commit = _git(root, "rev-parse", "HEAD").strip()
  with open(source, "w", encoding="utf-8") as handle:
    handle.write(fixed)
  patch = _git(root, "diff")
  _git(root, "checkout", "-q", "--", ".")
  with open(os.path.join(root, "toolz", "tests", "test_row.py"), "w") as handle:
    handle.write(TEST)
  _git(root, "add", "-N", "toolz/tests/test_row.py")
  test_patch = _git(root, "diff")
  _git(root, "reset", "-q")
  os.remove(os.path.join(root, "toolz", "tests", "test_row.py"))
  build_task_image(TAG, repo=root, commit=commit)
  classic = {
      "repo": "pytoolz/toolz", "instance_id": "pytoolz__toolz-1", "base_commit": commit,
      "patch": patch, "test_patch": test_patch,
      "problem_statement": "second('ABC') returns 'A'\n", "hints_text": "",
      "created_at": "2024-01-01T00:00:00Z", "version": "1.2",
      "FAIL_TO_PASS": json.dumps(["toolz/tests/test_row.py::test_second_of_abc"]),
      "PASS_TO_PASS": json.dumps(["toolz/tests/test_row.py::test_first_of_abc"]),
      "environment_setup_commit": commit}
  five = dict(classic, instance_id="pytoolz__toolz-2", image=TAG,
              eval_script=specs.eval_script_for(specs.FALLBACK, classic["repo"], commit,
                                                test_patch),
              log_parser="parse_log_pytest", eval_type="pass_and_fail")
  path = base / "rows.jsonl"
  path.write_text(json.dumps(classic) + "\n" + json.dumps(five) + "\n")
  yield loader.load_tasks(str(path), image=TAG)
  engine.make_client().images.remove(TAG, force=True)


def test_gold_resolves_and_empty_does_not(toolz_rows):
  for task in toolz_rows:
    assert task.image == TAG and task.eval_script
    assert "pytest -rA toolz/tests/test_row.py" in harness.test_command(task)
    gold = grade(task, task.patch, backend="docker")
    assert gold.resolved, (task.instance_id, gold.reason, gold.infra_error, gold.log_tail)
    empty = grade(task, "", backend="docker")
    assert not empty.resolved and empty.infra_error is None, (task.instance_id, empty.reason)
    assert "toolz/tests/test_row.py::test_second_of_abc" in empty.failed
