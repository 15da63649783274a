"""The repository at base_commit reaches the sandbox without any later history."""
import pytest

from swejax.sandbox import open_sandbox
from swejax.tasks import repo
from swejax.tasks.schema import Task

from tasks.conftest import FIX_MARKER

pytestmark = pytest.mark.filterwarnings("ignore:the local sandbox:RuntimeWarning")

# Every object in the store, reachable or not, packed or loose, as text.
ALL_OBJECTS = "git cat-file --batch-all-objects --batch --unordered"


def test_snapshot_is_deterministic(mini_snapshot):
  files = {"b.txt": b"2", "a/x.py": b"1"}
  assert repo.make_snapshot(files) == repo.make_snapshot(dict(reversed(files.items())))
  assert repo.snapshot_commit(mini_snapshot) == repo.snapshot_commit(mini_snapshot)
  with pytest.raises(ValueError):
    repo.make_snapshot({".git/config": b""})


def test_snapshot_task_has_no_history(mini_task, backend):
  with open_sandbox(backend, mini_task.image) as sandbox:
    repo.prepare_repo(sandbox, mini_task)
    log = sandbox.run("cd /testbed && git log --all --format=%H && git stash list && git tag",
                      timeout=60)
    assert log.output.split() == [mini_task.base_commit]
    objects = sandbox.run(f"cd /testbed && {ALL_OBJECTS}", timeout=60)
    assert objects.exit_code == 0 and "def add(a, b)" in objects.output
    assert FIX_MARKER not in objects.output and "test_add()" not in objects.output
    assert "return a - b" in sandbox.read_file("/testbed/mini/core.py").decode()


SETUP_HISTORY = f"""set -e
export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b
mkdir -p /testbed && cd /testbed && git init -q .
printf 'def add(a, b):\\n    return a - b\\n' > core.py && git add . && git commit -qm base
base=$(git rev-parse HEAD)
git checkout -qb fix
printf 'def add(a, b):\\n    {FIX_MARKER}  # fixed\\n' > core.py && git commit -qam fix
git tag v2 && git tag -a v2-annotated -m 'release {FIX_MARKER}'
git update-ref refs/remotes/origin/main HEAD && git notes add -m 'note {FIX_MARKER}' HEAD
git update-ref refs/original/refs/heads/fix HEAD && fix=$(git rev-parse HEAD)
git pack-refs --all && git rev-parse HEAD > .git/FETCH_HEAD
git checkout -q --detach "$base"
printf 'def add(a, b):\\n    {FIX_MARKER}  # stashed\\n' > core.py && git stash -q
git branch -D fix -q && git replace "$base" "$fix"
printf 'def add(a, b):\\n    {FIX_MARKER}  # staged\\n' > core.py && git add core.py
printf 'def add(a, b):\\n    return a - b\\n' > core.py
echo "$base"
"""


def test_prebuilt_repository_is_sanitized(backend):
  with open_sandbox(backend) as sandbox:
    made = sandbox.run(SETUP_HISTORY, timeout=120)
    assert made.exit_code == 0, made.output
    base = made.output.split()[-1]
    before = sandbox.run(f"cd /testbed && {ALL_OBJECTS}", timeout=60)
    assert FIX_MARKER in before.output  # the fix is really there to be hidden
    task = Task(instance_id="hist", repo="o/r", base_commit=base, patch="", test_patch="",
                problem_statement="p", FAIL_TO_PASS=("t",), PASS_TO_PASS=(), image="",
                test_cmd="true")
    repo.prepare_repo(sandbox, task)
    log = sandbox.run("cd /testbed && git log --all --format=%H", timeout=60)
    assert log.output.split() == [base]
    extra = sandbox.run("cd /testbed && git stash list; git tag; git notes list; "
                        "git replace -l; git remote; git reflog --all", timeout=60)
    assert extra.output.strip() == "", extra.output
    objects = sandbox.run(f"cd /testbed && {ALL_OBJECTS}", timeout=60)
    assert objects.exit_code == 0 and "return a - b" in objects.output
    assert FIX_MARKER not in objects.output
    files = sandbox.run("cd /testbed && cat .git/packed-refs .git/FETCH_HEAD .git/ORIG_HEAD; "
                        "grep -r . .git/refs .git/logs", timeout=60)
    assert FIX_MARKER not in files.output and files.output.count("refs/") <= 2, files.output
    assert sandbox.run("cd /testbed && git rev-parse HEAD", timeout=30).output.strip() == base


def test_wrong_base_commit_is_an_infra_error(mini_task, backend):
  from swejax.sandbox import SandboxError
  wrong = Task(**{**mini_task.__dict__, "base_commit": "0" * 40})
  with open_sandbox(backend, wrong.image) as sandbox:
    with pytest.raises(SandboxError, match="expected base_commit"):
      repo.prepare_repo(sandbox, wrong)
