"""A SWE-bench-style task on a real repository nobody here wrote: toolz 1.2.0.

The history is built as a published task's would be: a past commit with a bug in
`toolz.itertoolz.second` (it returns the first element), the base commit, and a
later commit with the fix and a new test. The task image
(swejax.tasks.images.build_task_image, future=True) carries that later commit, every branch and tag;
a second layer adds what real images and careless tooling leave behind: a stash,
notes, a replace ref, ORIG_HEAD and FETCH_HEAD, packed refs, an alternate object
store with one more later commit, a kept pack, a commit-graph, rerere records,
a dangling commit, and a working tree holding the fixed code.
FAIL_TO_PASS and PASS_TO_PASS are measured by running the tests in that image.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile

import docker

from swejax.sandbox import open_sandbox
from swejax.tasks import logparse
from swejax.tasks.images import build_task_image
from swejax.tasks.schema import Task

SDIST = os.path.join(os.path.dirname(__file__), "..", "data", "toolz", "toolz-1.2.0.tar.gz")
SOURCE = "toolz/itertoolz.py"
TESTS = "toolz/tests/test_itertoolz.py"
GOOD = "    seq = iter(seq)\n    next(seq)\n    return next(seq)\n"
BUGGY = "    seq = iter(seq)\n    return next(seq)\n"
FIXED = "    seq = iter(seq)\n    next(seq)  # skip the first element (fixed upstream)\n" \
        "    return next(seq)\n"
FIX_MARK = "skip the first element (fixed upstream)"
NEW_TEST = "\n\ndef test_second_of_an_iterator():\n    assert second(iter([7, 8, 9])) == 8\n"
TEST_CMD = ("source /opt/miniconda3/bin/activate && conda activate testbed && "
            "pytest --no-header -rA --tb=no -p no:cacheprovider {test_files}")
WORKDIR = "/testbed"
_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "toolz", "GIT_AUTHOR_EMAIL": "toolz@localhost",
        "GIT_COMMITTER_NAME": "toolz", "GIT_COMMITTER_EMAIL": "toolz@localhost"}


def git(root: str, *args: str, date: str = "2024-01-01T00:00:00+00:00") -> str:
  """git's stdout (whole for `diff`, stripped otherwise)."""
  env = {**os.environ, **_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
  done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
  if done.returncode != 0:
    raise RuntimeError(f"git {args}: {done.stderr}")
  return done.stdout if args[0] == "diff" else done.stdout.strip()


def _write(root: str, path: str, text: str) -> None:
  with open(os.path.join(root, path), "w") as handle:
    handle.write(text)


def _read(root: str, path: str) -> str:
  with open(os.path.join(root, path)) as handle:
    return handle.read()


def make_history(root: str) -> dict[str, str]:
  """The host repository; returns base/fix commits, the gold patch and the test_patch."""
  with tarfile.open(SDIST) as tar:
    for member in tar.getmembers():
      name = member.name.split("/", 1)[1] if "/" in member.name else ""
      if not name or not member.isfile() or name == "PKG-INFO" or ".egg-info" in name:
        continue
      target = os.path.join(root, name)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      with open(target, "wb") as handle:
        handle.write(tar.extractfile(member).read())
  source = _read(root, SOURCE)
  assert source.count(GOOD) == 1
  _write(root, SOURCE, source.replace(GOOD, BUGGY))
  _write(root, ".gitignore", "*.egg-info/\n__pycache__/\n*.pyc\nbuild/\n")
  git(root, "init", "-q", "-b", "main")
  git(root, "add", "-A")
  git(root, "commit", "-q", "-m", "toolz 1.2.0")
  _write(root, "README.rst", _read(root, "README.rst") + "\nNotes for maintainers.\n")
  git(root, "commit", "-q", "-am", "README: a note", date="2024-02-01T00:00:00+00:00")
  base = git(root, "rev-parse", "HEAD")
  _write(root, SOURCE, _read(root, SOURCE).replace(BUGGY, FIXED))
  gold = git(root, "diff")
  _write(root, TESTS, _read(root, TESTS) + NEW_TEST)
  test_patch = git(root, "diff", "--", TESTS)
  git(root, "commit", "-q", "-am", "second() skips the first element", date="2024-03-01T00:00:00+00:00")
  fix = git(root, "rev-parse", "HEAD")
  git(root, "tag", "v1.2.1", fix)
  git(root, "branch", "release", fix)
  return {"base": base, "fix": fix, "gold": gold, "test_patch": test_patch}


# Run in the image's /testbed at build time: what real images and tools leave behind.
LEAKS = f"""set -e
cd {WORKDIR}
export GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x
fix=$(git rev-parse release)
base=$(git rev-parse HEAD)
git notes add -m "$(git show $fix:{SOURCE} | grep -n 'fixed upstream')" "$base"
git update-ref ORIG_HEAD "$fix"
printf '%s\\t\\tbranch release of upstream\\n' "$fix" > .git/FETCH_HEAD
git show $fix:{SOURCE} > {SOURCE}
git stash -q
test -n "$(git stash list)"
dangling=$(git commit-tree -p "$fix" -m "a dangling fix" "$fix^{{tree}}")
git pack-refs --all
git commit-graph write --reachable
git repack -a -d -q
for pack in .git/objects/pack/*.pack; do touch "${{pack%.pack}}.keep"; done
git init -q --bare /opt/alt.git
git --git-dir=/opt/alt.git fetch -q {WORKDIR} release:refs/heads/release
git -C /tmp init -q later && cd /tmp/later && git fetch -q /opt/alt.git release && \\
  git checkout -q FETCH_HEAD && echo '# later still: {FIX_MARK}' >> {SOURCE} && \\
  git commit -q -am later && git push -q /opt/alt.git HEAD:refs/heads/later && cd {WORKDIR}
later=$(git --git-dir=/opt/alt.git rev-parse later)
echo /opt/alt.git/objects > .git/objects/info/alternates
git update-ref refs/heads/only-in-alternate "$later"
mkdir -p .git/rr-cache/0123 && git show $fix:{SOURCE} > .git/rr-cache/0123/postimage
echo "second() skips the first element: {FIX_MARK}" > .git/COMMIT_EDITMSG
git show $fix:{SOURCE} > {SOURCE}
echo 'x = 1  # {FIX_MARK}' > toolz/_untracked_fix.py
mkdir -p toolz.egg-info && echo 'Name: toolz' > toolz.egg-info/PKG-INFO
git replace "$base" "$fix"
echo "$fix $dangling $later" > /opt/future-commits
"""


def _layer(client: docker.DockerClient, base_tag: str, tag: str) -> None:
  dockerfile = f"FROM {base_tag}\nRUN [\"bash\", \"-c\", {json.dumps(LEAKS)}]\n"
  archive = io.BytesIO()
  with tarfile.open(fileobj=archive, mode="w") as tar:
    data = dockerfile.encode()
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
  archive.seek(0)
  for event in client.api.build(fileobj=archive, custom_context=True, tag=tag, rm=True,
                                forcerm=True, pull=False, decode=True):
    if "error" in event:
      raise RuntimeError(f"building {tag}: {event['error']}")


def build(root: str, client: docker.DockerClient | None = None) -> tuple[dict[str, str], str]:
  """(history of the host repository made in `root`, the leaky image's tag); the
  image is built once per content."""
  key = hashlib.sha256((LEAKS + GOOD + FIXED + NEW_TEST).encode()
                       + open(SDIST, "rb").read()).hexdigest()[:12]
  tag = f"swejax-test/toolz-future:{key}"
  own = client is None
  client = client or docker.from_env()
  history = make_history(root)
  try:
    client.api.inspect_image(tag)
  except docker.errors.ImageNotFound:
    build_task_image(f"{tag}-clone", repo=root, commit=history["base"], future=True,
                     client=client)
    _layer(client, f"{tag}-clone", tag)
  if own:
    client.close()
  return history, tag


def measure(tag: str, history: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """FAIL_TO_PASS and PASS_TO_PASS, from running the tests in the image."""
  parse = logparse.get_parser("parse_log_pytest")
  cmd = TEST_CMD.replace("{test_files}", TESTS)
  statuses = []
  with open_sandbox("docker", tag, workdir=WORKDIR) as sandbox:
    sandbox.write_file("/tmp/test.patch", history["test_patch"])
    for commit in (history["base"], history["fix"]):
      run = sandbox.run(f"export GIT_NO_REPLACE_OBJECTS=1; git checkout -q -f {commit} && git clean -q -fd && "
                        f"git checkout -q {history['base']} -- {TESTS} && "
                        f"git apply /tmp/test.patch && {cmd}", timeout=300)
      statuses.append(parse(run.output))
  before, after = statuses
  ran = sorted(t for t, s in after.items() if s == "PASSED")
  f2p = tuple(t for t in ran if before.get(t) != "PASSED")
  p2p = tuple(t for t in ran if before.get(t) == "PASSED")
  return f2p, p2p


def make_task(tag: str, history: dict[str, str], f2p, p2p, **changes) -> Task:
  fields = dict(
      instance_id="pytoolz__toolz-second", repo="pytoolz/toolz", base_commit=history["base"],
      patch=history["gold"], test_patch=history["test_patch"],
      problem_statement="second(iter([7, 8, 9])) returns 7, expected 8",
      FAIL_TO_PASS=tuple(f2p), PASS_TO_PASS=tuple(p2p), image=tag, test_cmd=TEST_CMD,
      log_parser="parse_log_pytest", workdir=WORKDIR, created_at="2024-02-01T00:00:00Z")
  fields.update(changes)
  return Task(**fields)


def patch_against(history_root: str, base: str, changes: dict) -> str:
  """changes: {path: text | None} against `base` of the host history -> a git diff."""
  git(history_root, "checkout", "-q", "-f", base)
  git(history_root, "clean", "-q", "-fdx")
  for path, text in changes.items():
    full = os.path.join(history_root, path)
    if text is None:
      if os.path.isdir(full):
        subprocess.run(["rm", "-rf", full], check=True)
      elif os.path.lexists(full):
        os.remove(full)
      continue
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
      handle.write(text)
  git(history_root, "add", "-A", "-f", ".")
  out = subprocess.run(["git", "diff", "--cached", "--binary"], cwd=history_root,
                       env={**os.environ, **_ENV}, capture_output=True, text=True, check=True)
  git(history_root, "reset", "-q", "--hard")
  return out.stdout


def symlink_aware_patch(history_root: str, base: str, changes: dict) -> str:
  """As patch_against; a value ("symlink", target) makes `path` a symlink."""
  links = {p: v[1] for p, v in changes.items() if isinstance(v, tuple)}
  plain = {p: (None if isinstance(v, tuple) else v) for p, v in changes.items()}
  if not links:
    return patch_against(history_root, base, plain)
  git(history_root, "checkout", "-q", "-f", base)
  for path, text in plain.items():
    full = os.path.join(history_root, path)
    if text is None:
      subprocess.run(["rm", "-rf", full], check=True)
    else:
      with open(full, "w") as handle:
        handle.write(text)
  for path, target in links.items():
    os.symlink(target, os.path.join(history_root, path))
  git(history_root, "add", "-A", "-f", ".")
  out = subprocess.run(["git", "diff", "--cached", "--binary"], cwd=history_root,
                       env={**os.environ, **_ENV}, capture_output=True, text=True, check=True)
  git(history_root, "reset", "-q", "--hard")
  git(history_root, "clean", "-q", "-fdx")
  return out.stdout
