"""The repository at base_commit with no history after it.

Two ways a task's repository reaches a sandbox:
- `repo_snapshot`: a gzipped tar of the files at base_commit. The sandbox runs
  `COMMIT_SCRIPT` once, which makes a single deterministic commit: the same
  script on the host (`snapshot_commit`) gives the task's base_commit, and the
  sandbox checks HEAD against it. There is no other history to leak.
- an image that already holds a clone (SWE-bench/SWE-rebench images): the
  sandbox runs `SANITIZE_SCRIPT`, which leaves one branch at base_commit and
  deletes every other ref, remote, tag, stash, reflog and unreachable object,
  so `git log --all` and the object store cannot reveal the fix.
"""
from __future__ import annotations

import gzip
import io
import os
import shlex
import subprocess
import tarfile
import tempfile
from typing import Mapping

from swejax.sandbox.base import Sandbox, SandboxError
from swejax.tasks.schema import Task

SNAPSHOT_PATH = "/tmp/swejax-repo.tar.gz"
# Fixed identity and dates: the commit id depends only on the files (and date).
_GIT_ENV = ("GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "
            "GIT_AUTHOR_NAME=swejax GIT_AUTHOR_EMAIL=swejax@localhost "
            "GIT_COMMITTER_NAME=swejax GIT_COMMITTER_EMAIL=swejax@localhost")
_GIT = ("git -c init.defaultBranch=main -c core.autocrlf=false -c core.fileMode=true "
        "-c commit.gpgsign=false -c core.hooksPath=/dev/null")
DEFAULT_DATE = "2024-01-01T00:00:00+00:00"

COMMIT_SCRIPT = """set -e
export {env} GIT_AUTHOR_DATE={date} GIT_COMMITTER_DATE={date}
{git} init -q .
{git} add -A -f .
{git} commit -q --no-verify --allow-empty -m 'Initial commit'
{git} rev-parse HEAD
"""

SANITIZE_SCRIPT = """set -e
export GIT_CONFIG_NOSYSTEM=1 GIT_NO_REPLACE_OBJECTS=1
base=$(git rev-parse --verify -q "{base}^{{commit}}") || {{ echo "base_commit {base} not in repository" >&2; exit 3; }}
git update-ref refs/heads/swejax-base "$base"
git symbolic-ref HEAD refs/heads/swejax-base
git for-each-ref --format='%(refname)' | while read -r ref; do
  [ "$ref" = refs/heads/swejax-base ] || git update-ref -d "$ref"
done
for remote in $(git remote); do git remote remove "$remote"; done
git stash clear 2>/dev/null || true
git worktree prune
git read-tree HEAD
rm -rf .git/logs .git/refs/original .git/info/grafts .git/ORIG_HEAD .git/FETCH_HEAD \
  .git/MERGE_HEAD .git/CHERRY_PICK_HEAD .git/REVERT_HEAD .git/rebase-merge .git/rebase-apply
git reflog expire --expire=now --all
git repack -a -d -q
rm -f .git/objects/info/alternates
git prune --expire=now
git rev-parse HEAD
"""


def _commit_script(date: str) -> str:
  return COMMIT_SCRIPT.format(env=_GIT_ENV, git=_GIT, date=shlex.quote(date or DEFAULT_DATE))


def make_snapshot(files: Mapping[str, bytes | str]) -> bytes:
  """A deterministic gzipped tar of `files` (relative path -> content)."""
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for path in sorted(files):
      if path.startswith("/") or ".." in path.split("/") or ".git" in path.split("/"):
        raise ValueError(f"snapshot path not allowed: {path!r}")
      data = files[path]
      data = data.encode() if isinstance(data, str) else data
      info = tarfile.TarInfo(path)
      info.size, info.mode, info.mtime = len(data), 0o644, 0
      info.uname = info.gname = "root"
      tar.addfile(info, io.BytesIO(data))
  return gzip.compress(buffer.getvalue(), mtime=0)


def snapshot_commit(snapshot: bytes, date: str = DEFAULT_DATE) -> str:
  """The commit id COMMIT_SCRIPT produces for `snapshot` (host git)."""
  with tempfile.TemporaryDirectory(prefix="swejax-snap-") as tmp:
    return materialize(tmp, snapshot, date)


def materialize(directory: str, snapshot: bytes, date: str = DEFAULT_DATE) -> str:
  """Extracts `snapshot` into `directory` and commits it there (host side, for tests
  and the synthesizer); returns the commit id."""
  os.makedirs(directory, exist_ok=True)
  with tarfile.open(fileobj=io.BytesIO(snapshot), mode="r:gz") as tar:
    tar.extractall(directory, filter="data")
  done = subprocess.run(["bash", "-c", _commit_script(date)], cwd=directory,
                        capture_output=True, text=True)
  if done.returncode != 0:
    raise RuntimeError(f"git commit in {directory} failed: {done.stderr.strip()}")
  return done.stdout.strip().splitlines()[-1]


def prepare_script(sandbox: Sandbox, task: Task) -> str:
  """Writes what preparing needs into the sandbox; returns the script to run.

  The script prints HEAD as its last line; callers must check it against
  task.base_commit (`check_head`).
  """
  workdir = shlex.quote(task.workdir)
  if task.repo_snapshot:
    sandbox.write_file(SNAPSHOT_PATH, task.snapshot_bytes())
    return (f"set -e\nmkdir -p {workdir}\ncd {workdir}\n"
            f"tar -xzf {SNAPSHOT_PATH} --no-same-owner --exclude=.git\n"
            f"rm -f {SNAPSHOT_PATH}\n" + _commit_script(task.created_at or DEFAULT_DATE))
  return f"cd {workdir}\n" + SANITIZE_SCRIPT.format(base=task.base_commit)


def check_head(task: Task, output: str, exit_code: int) -> None:
  """Raises SandboxError unless the preparing script ended at task.base_commit."""
  if exit_code != 0:
    raise SandboxError(f"preparing {task.instance_id} at {task.workdir} failed "
                       f"(exit {exit_code}): {output[-1000:]}")
  head = output.strip().splitlines()[-1] if output.strip() else ""
  if head != task.base_commit:
    raise SandboxError(f"{task.instance_id}: HEAD is {head or '?'} after preparing, "
                       f"expected base_commit {task.base_commit}")


def prepare_repo(sandbox: Sandbox, task: Task, timeout: float = 120.0) -> None:
  """Puts the repository at base_commit, without later history, at task.workdir.

  Raises SandboxError (an infrastructure failure) if that cannot be done or the
  resulting HEAD is not task.base_commit.
  """
  result = sandbox.run(prepare_script(sandbox, task), timeout=timeout)
  if result.timed_out:
    raise SandboxError(f"preparing {task.instance_id} timed out after {timeout:.0f}s")
  check_head(task, result.output, result.exit_code)
