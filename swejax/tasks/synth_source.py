"""Reading the repository `swejax tasks synth --repo` mutates, and choosing its files.

A local directory (a git repository gives its tracked and unignored files) or a
git URL, cloned with depth 1 into a temporary directory. Only git runs on the
host; nothing of the repository is executed here.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
from typing import Mapping

from swejax.tasks import patches

# Directories whose code is not the library under test.
_SKIP_DIRS = frozenset({"docs", "doc", "examples", "example", "benchmarks", "benchmark",
                        "scripts", "tools", "build", "dist", "site-packages", "node_modules",
                        "__pycache__", ".git", ".tox", ".nox", ".venv", "venv", ".eggs"})
_SKIP_NAMES = frozenset({"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "_version.py",
                         "version.py", "__main__.py"})
_URL = re.compile(r"^(?:https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:")


@dataclasses.dataclass(frozen=True)
class Source:
  name: str  # owner/name
  files: Mapping[str, bytes]
  commit: str  # the given repository's HEAD ("" when not a git repository)


def _git(args: list[str], cwd: str) -> str:
  env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
         "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": cwd, "GIT_TERMINAL_PROMPT": "0"}
  done = subprocess.run(["git", "-c", f"safe.directory={cwd}", *args], cwd=cwd, env=env,
                        capture_output=True)
  if done.returncode != 0:
    raise ValueError(f"--repo: git {' '.join(args[:2])} failed in {cwd}: "
                     f"{done.stderr.decode(errors='replace').strip()[-500:]}")
  return done.stdout.decode("utf-8", "surrogateescape")


def _name_from(url_or_path: str) -> str:
  parts = [p for p in re.split(r"[/:]", url_or_path.rstrip("/")) if p]
  name = parts[-1].removesuffix(".git") if parts else "repo"
  owner = parts[-2] if len(parts) > 1 and _URL.match(url_or_path) else "local"
  return f"{owner}/{name}"


def read_tree(root: str) -> tuple[dict[str, bytes], str]:
  """(relative path -> bytes, HEAD or "") of a directory; a git repository gives
  its tracked and unignored files, a plain directory every regular file."""
  if os.path.isdir(os.path.join(root, ".git")):
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root)
    paths = sorted({p for p in listed.split("\0") if p})
    head = _git(["rev-parse", "HEAD"], root).strip()
  else:
    paths, head = [], ""
    for directory, dirs, names in os.walk(root):
      dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__", ".pytest_cache"))
      paths += [os.path.relpath(os.path.join(directory, n), root).replace(os.sep, "/")
                for n in sorted(names) if not n.endswith(".pyc")]
  files = {}
  for path in paths:
    full = os.path.join(root, path)
    if os.path.isfile(full) and not os.path.islink(full):
      with open(full, "rb") as handle:
        files[path] = handle.read()
  return files, head


def load_source(where: str, name: str = "") -> Source:
  """Reads a local directory, or clones a git URL (depth 1) into a temporary one."""
  if _URL.match(where):
    with tempfile.TemporaryDirectory(prefix="swejax-clone-") as tmp:
      _git(["clone", "-q", "--depth", "1", where, "repo"], tmp)
      files, head = read_tree(os.path.join(tmp, "repo"))
  elif os.path.isdir(where):
    files, head = read_tree(where)
  else:
    raise ValueError(f"--repo: {where!r} is neither a directory nor a git URL")
  if not any(p.endswith(".py") for p in files):
    raise ValueError(f"--repo: {where!r} holds no Python file")
  return Source(name=name or _name_from(os.path.abspath(where) if not _URL.match(where)
                                        else where), files=files, commit=head)


def mutable_paths(files: Mapping[str, bytes]) -> list[str]:
  """Library source files: .py outside tests, docs, examples and build scripts."""
  paths = []
  for path in sorted(files):
    parts = path.split("/")
    if not path.endswith(".py") or parts[-1] in _SKIP_NAMES or patches.is_test_infrastructure(
        path) or any(p in _SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
      continue
    try:
      files[path].decode("utf-8")
    except UnicodeDecodeError:
      continue
    paths.append(path)
  return paths


def package_name(path: str) -> str:
  """The importable top-level name a source file belongs to (`src/` skipped)."""
  parts = path.split("/")
  if parts[0] in ("src", "lib") and len(parts) > 2:
    parts = parts[1:]
  return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")
