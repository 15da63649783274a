"""Unified (git) diffs as data: files, hunks, and the line-range changes they make.

Used by the scripted agent to turn a gold patch into `edit START:END` commands.
Supports what `git diff` writes for text files: modifications, new files and
deleted files. Renames, copies and binary patches raise ValueError, naming the line.
"""
from __future__ import annotations

import dataclasses
import re

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclasses.dataclass(frozen=True)
class Change:
  """Old lines start..end (1-based, inclusive; end = start - 1 for a pure insertion)
  become `new_lines`."""
  start: int
  end: int
  new_lines: tuple[str, ...]
  old_lines: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Hunk:
  old_start: int
  new_start: int
  section: str  # the text after the second @@ (git puts the enclosing def there)
  lines: tuple[str, ...]  # each with its ' ', '-' or '+' prefix

  def changes(self) -> list[Change]:
    """The hunk's runs of removed/added lines, in old-file line numbers."""
    out: list[Change] = []
    old = self.old_start if any(l[0] in " -" for l in self.lines) else self.old_start + 1
    start, removed, added = None, [], []
    for line in self.lines + (" ",):  # the sentinel flushes the last run
      kind, text = line[0], line[1:]
      if kind == " ":
        if start is not None:
          out.append(Change(start, start + len(removed) - 1, tuple(added), tuple(removed)))
          start, removed, added = None, [], []
        old += 1
        continue
      if start is None:
        start = old
      if kind == "-":
        removed.append(text)
        old += 1
      else:
        added.append(text)
    return out


@dataclasses.dataclass(frozen=True)
class FileDiff:
  old_path: str | None  # None for a new file
  new_path: str | None  # None for a deleted file
  hunks: tuple[Hunk, ...]

  @property
  def path(self) -> str:
    return self.new_path or self.old_path or ""

  @property
  def is_new(self) -> bool:
    return self.old_path is None

  @property
  def is_deleted(self) -> bool:
    return self.new_path is None


def _path(text: str) -> str | None:
  text = text.split("\t", 1)[0].strip()
  if text == "/dev/null":
    return None
  if text.startswith('"'):
    raise ValueError(f"quoted path {text} is not supported")
  return text[2:] if text[:2] in ("a/", "b/") else text


def parse_unified_diff(text: str) -> list[FileDiff]:
  """Parses `git diff` output. Raises ValueError naming the line on anything else."""
  lines = text.split("\n")
  files: list[FileDiff] = []
  i = 0
  while i < len(lines):
    line = lines[i]
    if line.startswith(("rename from", "copy from", "GIT binary patch", "Binary files ")):
      raise ValueError(f"line {i + 1}: renames, copies and binary patches are not supported")
    if not line.startswith("--- "):
      i += 1
      continue
    if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
      raise ValueError(f"line {i + 1}: '---' not followed by '+++'")
    old_path, new_path = _path(line[4:]), _path(lines[i + 1][4:])
    i += 2
    hunks = []
    while i < len(lines) and lines[i].startswith("@@"):
      hunk, i = _parse_hunk(lines, i)
      hunks.append(hunk)
    files.append(FileDiff(old_path, new_path, tuple(hunks)))
  return files


def _parse_hunk(lines: list[str], i: int) -> tuple[Hunk, int]:
  m = _HUNK.match(lines[i])
  if m is None:
    raise ValueError(f"line {i + 1}: malformed hunk header {lines[i]!r}")
  old_len = int(m.group(2)) if m.group(2) is not None else 1
  new_len = int(m.group(4)) if m.group(4) is not None else 1
  body: list[str] = []
  j = i + 1
  old_seen = new_seen = 0
  while old_seen < old_len or new_seen < new_len:
    if j >= len(lines):
      raise ValueError(f"line {i + 1}: hunk ends early (expected {old_len} old and "
                       f"{new_len} new lines)")
    line = lines[j]
    j += 1
    if line.startswith("\\"):  # "\ No newline at end of file"
      continue
    kind = line[:1] or " "  # some tools strip the space of empty context lines
    if kind not in " -+":
      raise ValueError(f"line {j}: unexpected line in hunk: {line[:60]!r}")
    old_seen += kind in " -"
    new_seen += kind in " +"
    body.append(kind + line[1:])
  while j < len(lines) and lines[j].startswith("\\"):
    j += 1
  hunk = Hunk(int(m.group(1)), int(m.group(3)), m.group(5).strip(), tuple(body))
  return hunk, j
