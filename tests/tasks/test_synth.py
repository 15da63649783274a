"""Synthetic tasks: seed packages, determinism, and end-to-end validity."""
import os
import subprocess

import pytest

from swejax.tasks import logparse, patches, repo, runner, synth
from swejax.tasks.validate import validate_tasks

pytestmark = pytest.mark.filterwarnings("ignore:the local sandbox:RuntimeWarning")


@pytest.mark.parametrize("name", synth.list_seeds())
def test_seed_suite_passes(name):
  seed = synth.load_seed(name)
  assert len(seed.source_files) >= 3 and len(seed.test_files) >= 2
  lines = sum(seed.files[p].count(b"\n") for p in seed.source_files)
  assert lines >= 150, lines
  run = runner.run_suite(seed.files)
  assert run.exit_code == 0 and len(run.statuses) >= 30, run.log[-2000:]
  assert all(logparse.passed(run.statuses, t) for t in run.statuses)


@pytest.fixture(scope="module")
def small_set():
  config = synth.SynthConfig(n=2, seed=7, packages=("units",), jobs=2)
  return synth.synthesize(config)


def test_deterministic(small_set):
  again = synth.synthesize(synth.SynthConfig(n=1, seed=7, packages=("units",), jobs=1))
  assert again[0].to_row() == small_set[0].to_row()  # smaller n: a prefix, same content
  other = synth.synthesize(synth.SynthConfig(n=1, seed=8, packages=("units",), jobs=1))
  assert other[0].patch != small_set[0].patch


def test_task_shape(small_set):
  assert [t.instance_id for t in small_set] == ["swejax-synth__units-0000",
                                                "swejax-synth__units-0001"]
  for task in small_set:
    assert task.FAIL_TO_PASS and task.PASS_TO_PASS
    assert not set(task.FAIL_TO_PASS) & set(task.PASS_TO_PASS)
    assert patches.touched_paths(task.patch) == (task.meta["mutation"]["path"],)
    assert all(p.startswith("tests/") for p in patches.touched_paths(task.test_patch))
    assert 50 < len(task.problem_statement) <= 800
    snapshot = task.snapshot_bytes()
    assert repo.snapshot_commit(snapshot, task.created_at) == task.base_commit
    fix_lines = [l[1:].strip() for l in task.patch.splitlines() if l.startswith("+")
               and not l.startswith("+++")]
    assert not any(line in task.problem_statement for line in fix_lines if len(line) > 12)


def test_patches_behave_on_the_host(small_set, tmp_path):
  """base + test_patch fails exactly FAIL_TO_PASS; adding the gold patch passes all."""
  task = small_set[0]
  for name, patch_list in (("bug", [task.test_patch]), ("fix", [task.patch, task.test_patch])):
    root = str(tmp_path / name)
    repo.materialize(root, task.snapshot_bytes(), task.created_at)
    for patch in patch_list:
      subprocess.run(["git", "apply", "-"], input=patch, text=True, cwd=root, check=True)
    files = {}
    for directory, _, names in os.walk(root):
      if ".git" in directory.split(os.sep):
        continue
      for filename in names:
        path = os.path.join(directory, filename)
        with open(path, "rb") as handle:
          files[os.path.relpath(path, root)] = handle.read()
    run = runner.run_suite(files)
    failing = {t for t in task.FAIL_TO_PASS + task.PASS_TO_PASS
               if not logparse.passed(run.statuses, t)}
    assert failing == (set(task.FAIL_TO_PASS) if name == "bug" else set()), name


def test_validates_in_sandboxes(small_set, backend):
  summary = validate_tasks(small_set, jobs=2, backend=backend)
  assert summary["valid"] == summary["tasks"] == 2, summary
  assert summary["infra_errors"] == 0


@pytest.mark.slow
@pytest.mark.docker
def test_sample_from_every_package_validates_with_docker(docker_ready):
  """A deterministic sample: two tasks of every seed package, gold and empty graded."""
  tasks = synth.synthesize(synth.SynthConfig(n=2 * len(synth.list_seeds()), seed=0, jobs=2))
  assert {t.meta["seed_package"] for t in tasks} == set(synth.list_seeds())
  summary = validate_tasks(tasks, jobs=2, backend="docker")
  assert summary["valid"] == summary["tasks"], summary
