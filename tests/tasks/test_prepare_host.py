"""Preparing a repository, run with the host's git and python (no sandbox): the
image-clone script, the snapshot extraction on any Python 3.11 and its errors."""
from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from swejax.sandbox.base import SandboxError
from swejax.tasks import repo
from swejax.tasks.schema import Task

ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
       "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@a", "GIT_COMMITTER_NAME": "a",
       "GIT_COMMITTER_EMAIL": "a@a"}
FIX = "fixed in the future"


def sh(cwd, script: str) -> subprocess.CompletedProcess:
  return subprocess.run(["bash", "-c", script], cwd=cwd, env=ENV, capture_output=True, text=True,
                        errors="replace")


def _history(tmp_path) -> tuple[str, str]:
  work = tmp_path / "testbed"
  work.mkdir()
  made = sh(work, f"""set -e
git init -q -b main .
echo '*.egg-info/' > .gitignore
echo 'x = 1  # buggy' > lib.py && git add -A && git commit -q -m base
base=$(git rev-parse HEAD)
echo 'x = 2  # {FIX}' > lib.py && git commit -q -am fix && fix=$(git rev-parse HEAD)
git tag v2 && git branch release && git notes add -m '{FIX}' $base
git update-ref ORIG_HEAD $fix && echo "$fix" > .git/FETCH_HEAD
git reset -q --hard $base
echo 'x = 3  # {FIX} stashed' > lib.py && git stash -q
git commit-tree -p $fix -m dangling $fix^{{tree}} > /dev/null
git pack-refs --all && git repack -a -d -q && touch .git/objects/pack/$(ls .git/objects/pack | grep pack$ | head -1 | sed 's/.pack$/.keep/')
git commit-graph write --reachable
git init -q --bare {tmp_path}/alt.git && git --git-dir={tmp_path}/alt.git fetch -q . release:refs/heads/r
echo {tmp_path}/alt.git/objects > .git/objects/info/alternates
git replace $base $fix
mkdir -p .git/rr-cache/1 && echo '{FIX}' > .git/rr-cache/1/postimage && echo '{FIX}' > .git/COMMIT_EDITMSG
echo 'x = 2  # {FIX}' > lib.py && echo 'y = 1  # {FIX}' > new.py
mkdir -p pkg.egg-info && echo built > pkg.egg-info/PKG-INFO
echo $base""")
  assert made.returncode == 0, made.stderr
  return str(work), made.stdout.split()[-1]


def test_image_clone_keeps_nothing_after_base_and_a_clean_tree(tmp_path):
  work, base = _history(tmp_path)
  done = sh(work, repo.SANITIZE_SCRIPT.format(base=base))
  assert done.returncode == 0, done.stderr
  assert done.stdout.split()[-1] == base
  everything = sh(work, "git cat-file --batch-all-objects --batch; git log --all --reflog "
                        "--format=%H; git for-each-ref; git stash list; git notes list; "
                        "git replace -l; git fsck --lost-found --unreachable 2>&1; "
                        "cat .git/packed-refs .git/FETCH_HEAD .git/ORIG_HEAD 2>/dev/null; "
                        "grep -r -a . .git --exclude-dir=objects 2>/dev/null; cat *.py")
  assert FIX not in everything.stdout
  assert everything.stdout.count(base) >= 1 and "unreachable" not in everything.stdout
  listing = sh(work, "ls -a .git .git/objects/pack .git/objects/info").stdout
  for leftover in (".keep", "commit-graph", "alternates", "rr-cache", "COMMIT_EDITMSG",
                   "ORIG_HEAD", "FETCH_HEAD", "logs"):
    assert leftover not in listing, leftover
  assert os.path.exists(os.path.join(work, "pkg.egg-info", "PKG-INFO"))  # ignored: kept
  assert not os.path.exists(os.path.join(work, "new.py"))  # untracked: removed
  assert sh(work, "git status --porcelain").stdout == ""


def test_a_tree_that_cannot_be_made_clean_is_an_infra_error(tmp_path):
  """An untracked nested repository (git clean keeps those) leaves the tree unclean."""
  work = tmp_path / "testbed"
  work.mkdir()
  made = sh(work, "set -e; git init -q .; echo a > a.txt; git add -A; git commit -q -m base; "
                  "git init -q vendored; echo 'x = 1' > vendored/x.py; git rev-parse HEAD")
  base = made.stdout.split()[-1]
  done = sh(work, repo.SANITIZE_SCRIPT.format(base=base))
  assert done.returncode == 4, (done.stdout, done.stderr)
  assert "differs from base_commit" in done.stderr and "vendored/" in done.stderr
  task = Task(instance_id="i", repo="o/r", base_commit=base, patch="", test_patch="",
              problem_statement="p", FAIL_TO_PASS=("t",), PASS_TO_PASS=(), image="x",
              test_cmd="true")
  with pytest.raises(SandboxError, match="differs from base_commit"):
    repo.check_head(task, done.stdout + done.stderr, done.returncode)


def test_snapshot_base_commit_mismatch_names_created_at(mini_task):
  moved = Task(**{**mini_task.__dict__, "created_at": "2023-05-17T10:00:00Z"})
  head = repo.snapshot_commit(moved.snapshot_bytes(), moved.created_at)
  with pytest.raises(SandboxError, match="created_at .'2023-05-17T10:00:00Z'. as the commit date"):
    repo.check_head(moved, head + "\n", 0)
  repo.check_head(Task(**{**moved.__dict__, "base_commit": head}), head + "\n", 0)


def test_materialize_without_tarfile_filters(tmp_path, mini_snapshot, monkeypatch):
  """Debian's Python 3.11.2 has no `filter=` argument: extraction must not need it."""
  def no_filter(self, *args, **kwargs):
    if "filter" in kwargs:
      raise TypeError("extractall() got an unexpected keyword argument 'filter'")
    raise AssertionError("extractall is not used")
  monkeypatch.setattr(tarfile.TarFile, "extractall", no_filter)
  assert repo.materialize(str(tmp_path / "m"), mini_snapshot) == repo.snapshot_commit(mini_snapshot)
  evil = io.BytesIO()
  with tarfile.open(fileobj=evil, mode="w:gz") as tar:
    info = tarfile.TarInfo("../escape.txt")
    tar.addfile(info, io.BytesIO(b""))
  with pytest.raises(ValueError, match="not allowed"):
    repo.materialize(str(tmp_path / "e"), evil.getvalue())
