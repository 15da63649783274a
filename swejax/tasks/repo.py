"""The repository at base_commit with no history after it.

Two ways a task's repository reaches a sandbox:
- `repo_snapshot`: a gzipped tar of the files at base_commit. The sandbox runs
  `COMMIT_SCRIPT` once, which makes a single deterministic commit: the same
  script on the host (`snapshot_commit`) gives the task's base_commit, and the
  sandbox checks HEAD against it. There is no other history to leak.
- an image that already holds a clone (SWE-bench/SWE-rebench images): the
  sandbox runs `SANITIZE_SCRIPT`, which rebuilds the git directory with only
  base_commit and its ancestors (so no git command and no scan of the object
  store can reveal the fix) and makes the working tree equal to base_commit,
  checked: an image whose files hold other code must not grade as base_commit.
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

# The image's clone is replaced by a new repository that holds only base_commit
# and its ancestors, fetched from the old one, which is then deleted: no other
# ref, reflog, stash, note, replace ref, alternate, kept pack, commit-graph,
# rerere record or message file survives to reveal later history, whatever the
# image's git directory held. The old configuration is kept without remotes,
# branches and includes. Then the working tree is made equal to base_commit:
# tracked files reset, untracked files removed (ignored ones, such as the
# egg-info of an editable install, stay), and checked (exit 4 if not clean).
SANITIZE_SCRIPT = """set -e
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_COMMON_DIR \\
  GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_NAMESPACE GIT_CEILING_DIRECTORIES
export GIT_CONFIG_NOSYSTEM=1 GIT_NO_REPLACE_OBJECTS=1 GIT_TERMINAL_PROMPT=0
base=$(git rev-parse --verify -q "{base}^{{commit}}") || {{ echo "base_commit {base} not in repository" >&2; exit 3; }}
old=$(git rev-parse --absolute-git-dir)
if [ -f .git ]; then rm -f .git; else mv .git .swejax-old-git; old=$PWD/.swejax-old-git; fi
git --git-dir="$old" update-ref refs/swejax/base "$base"
git init -q --template= .
git config --file "$old/config" --list >/dev/null 2>&1 && cp "$old/config" .git/config
for section in $(git config --name-only --get-regexp '^(remote|branch|include|includeif|lfs)\\.' \\
    | sed -E 's/\\.[^.]*$//' | sort -u); do
  git config --remove-section "$section" 2>/dev/null || true
done
git config core.bare false
git config --unset-all core.worktree 2>/dev/null || true
mkdir -p .git/info .git/refs/heads .git/refs/tags
[ ! -f "$old/info/exclude" ] || cp "$old/info/exclude" .git/info/exclude
git fetch -q --no-tags "$old" refs/swejax/base:refs/heads/swejax-base
rm -rf "$old" .git/FETCH_HEAD
git symbolic-ref HEAD refs/heads/swejax-base
git read-tree HEAD
git update-index -q --refresh >/dev/null || true
git reset -q --hard HEAD
git clean -q -f -d
git reflog expire --expire=now --all
rm -rf .git/logs .git/ORIG_HEAD
dirty=$(git status --porcelain --untracked-files=normal --ignore-submodules=none)
if [ -n "$dirty" ]; then
  echo "the working tree differs from base_commit after the reset:" >&2
  echo "$dirty" | head -20 >&2
  exit 4
fi
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


def _extract(tar: tarfile.TarFile, directory: str) -> None:
  """Extracts regular files and folders that stay inside `directory`.

  The work of tarfile's `filter="data"`, which Python only has from 3.11.4
  (Debian's 3.11.2 lacks it): snapshots are made by make_snapshot, so anything
  else (links, devices, absolute or `..` paths) is refused.
  """
  root = os.path.realpath(directory)
  for member in tar.getmembers():
    target = os.path.realpath(os.path.join(root, member.name))
    if not (member.isfile() or member.isdir()) or not target.startswith(root + os.sep):
      raise ValueError(f"snapshot member not allowed: {member.name!r}")
    if member.isdir():
      os.makedirs(target, exist_ok=True)
      continue
    os.makedirs(os.path.dirname(target), exist_ok=True)
    source = tar.extractfile(member)
    with open(target, "wb") as handle:
      handle.write(source.read() if source is not None else b"")
    os.chmod(target, 0o755 if member.mode & 0o100 else 0o644)


def materialize(directory: str, snapshot: bytes, date: str = DEFAULT_DATE) -> str:
  """Extracts `snapshot` into `directory` and commits it there (host side, for tests
  and the synthesizer); returns the commit id."""
  os.makedirs(directory, exist_ok=True)
  with tarfile.open(fileobj=io.BytesIO(snapshot), mode="r:gz") as tar:
    _extract(tar, directory)
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
    hint = ""
    if task.repo_snapshot:
      date = task.created_at or DEFAULT_DATE
      hint = (f"; a snapshot task's base_commit is the commit of its files made with "
              f"created_at ({date!r}) as the commit date (empty created_at: {DEFAULT_DATE}): "
              "compute it with swejax.tasks.repo.snapshot_commit(snapshot, created_at), or "
              "set created_at to the date base_commit was made with")
    raise SandboxError(f"{task.instance_id}: HEAD is {head or '?'} after preparing, "
                       f"expected base_commit {task.base_commit}{hint}")


def prepare_repo(sandbox: Sandbox, task: Task, timeout: float = 120.0) -> None:
  """Puts the repository at base_commit, without later history, at task.workdir.

  Raises SandboxError (an infrastructure failure) if that cannot be done or the
  resulting HEAD is not task.base_commit.
  """
  result = sandbox.run(prepare_script(sandbox, task), timeout=timeout)
  if result.timed_out:
    raise SandboxError(f"preparing {task.instance_id} timed out after {timeout:.0f}s")
  check_head(task, result.output, result.exit_code)
