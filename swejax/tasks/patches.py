"""Pure helpers over unified diffs: which paths a patch touches, its size, and
which of those paths are test infrastructure the grader must reset.
"""
from __future__ import annotations

import dataclasses
import posixpath
import re
import sys

_DIFF_GIT = re.compile(r'^diff --git (?:"?a/(.+?)"?) (?:"?b/(.+?)"?)$')
_OLD_NEW = re.compile(r"^(?:---|\+\+\+) (?:[ab]/)?(.+?)(?:\t.*)?$")
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_RENAME = re.compile(r"^(?:rename|copy) (?:from|to) (.+)$")

# Files whose change alters how pytest runs: reset to base_commit before grading.
_CONFIG_NAMES = frozenset({
    "conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml",
    "tox.ini", "setup.cfg", "pyproject.toml", "sitecustomize.py",
    "usercustomize.py",
})
_TEST_DIRS = frozenset({"tests", "test", "testing"})
# Modules pytest itself imports: a file of that name where Python looks first
# (the repository root, src/) would run inside the test runner.
_RUNNER_MODULES = frozenset({
    "pytest", "_pytest", "pluggy", "py", "iniconfig", "packaging", "exceptiongroup",
    "tomli", "colorama", "pygments", "attr", "attrs", "more_itertools",
    "sitecustomize", "usercustomize",
})


@dataclasses.dataclass(frozen=True)
class PatchStats:
  files: tuple[str, ...]
  added: int
  removed: int

  @property
  def changed_lines(self) -> int:
    return self.added + self.removed


def _clean(path: str) -> str:
  path = path.strip()
  if path.startswith('"') and path.endswith('"'):
    path = path[1:-1]
  return posixpath.normpath(path)


def _scan(patch: str) -> tuple[set[str], int, int]:
  """(paths, added, removed) of a unified diff.

  Hunk bodies are consumed by their header counts, so a changed line that itself
  looks like `--- a/x` or `diff --git ...` is never taken for a file header.
  """
  paths: set[str] = set()
  added = removed = 0
  old_left = new_left = 0
  for line in patch.splitlines():
    if old_left > 0 or new_left > 0:
      if line.startswith("+"):
        added, new_left = added + 1, new_left - 1
      elif line.startswith("-"):
        removed, old_left = removed + 1, old_left - 1
      elif not line.startswith("\\"):
        old_left, new_left = old_left - 1, new_left - 1
      continue
    match = _HUNK.match(line)
    if match:
      old_left = int(match.group(1) if match.group(1) is not None else 1)
      new_left = int(match.group(2) if match.group(2) is not None else 1)
      continue
    match = _DIFF_GIT.match(line) or _RENAME.match(line)
    if match:
      paths.update(_clean(p) for p in match.groups())
    elif line.startswith(("--- ", "+++ ")):
      match = _OLD_NEW.match(line)
      if match and match.group(1) != "/dev/null":
        paths.add(_clean(match.group(1)))
  paths = {p for p in paths if p and p not in (".", "/dev/null")}
  return paths, added, removed


def touched_paths(patch: str) -> tuple[str, ...]:
  """Every path a unified diff creates, modifies, deletes or renames (sorted)."""
  return tuple(sorted(_scan(patch)[0]))


def patch_stats(patch: str) -> PatchStats:
  """Files touched and lines added/removed (the paper's size filters)."""
  paths, added, removed = _scan(patch)
  return PatchStats(files=tuple(sorted(paths)), added=added, removed=removed)


def is_test_infrastructure(path: str) -> bool:
  """True for paths that define or steer the tests rather than the code under test.

  Test files and folders, conftest.py, pytest configuration, interpreter start-up
  hooks (sitecustomize, .pth), byte code and installed-package metadata. These
  are reset whether or not they exist at base_commit.
  """
  path = posixpath.normpath(path)
  parts = path.split("/")
  name = parts[-1]
  if name in _CONFIG_NAMES or name.endswith((".pth", ".pyc", ".egg-link")):
    return True
  if any(p in _TEST_DIRS or p == "__pycache__" or p.endswith((".egg-info", ".dist-info"))
         for p in parts):
    return True
  if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")
                               or name == "tests.py"):
    return True
  return False


def shadows_runner(path: str) -> bool:
  """A Python file at the import root (or src/) named like a stdlib/pytest module.

  Python looks there before the standard library, so such a file would run
  inside the test runner. Only NEW files count (the grader checks base_commit):
  a repository may legitimately own such a name (pytest's own src/_pytest).
  """
  parts = posixpath.normpath(path).split("/")
  if parts[0] == "src":
    parts = parts[1:]
  if not parts or not parts[-1].endswith((".py", ".pyi", ".so", ".pyd")):
    return False
  top = parts[0].split(".", 1)[0] if len(parts) == 1 else parts[0]
  return top in _RUNNER_MODULES or top in sys.stdlib_module_names


def test_files(test_patch: str) -> tuple[str, ...]:
  """Python test files a test_patch touches: what SWE-bench passes to pytest."""
  return tuple(p for p in touched_paths(test_patch)
               if p.endswith(".py") and posixpath.basename(p) != "conftest.py"
               and not posixpath.basename(p) == "__init__.py")
