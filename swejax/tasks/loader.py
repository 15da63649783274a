"""Loading task files (JSONL or parquet) with every error reported at once."""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator

from swejax.tasks import schema

MAX_SHOWN_ERRORS = 100


class TaskLoadError(ValueError):
  """A task file has bad rows. `.errors` lists every one as `file:row: ...`."""

  def __init__(self, path: str, errors: list[str]):
    self.path = path
    self.errors = list(errors)
    shown = self.errors[:MAX_SHOWN_ERRORS]
    more = len(self.errors) - len(shown)
    text = "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")
    super().__init__(f"{path}: {len(self.errors)} error(s) in task file:\n  {text}")


def _jsonl_rows(path: str, errors: list[str]) -> Iterator[tuple[str, Any]]:
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        yield f"line {number}", json.loads(line)
      except json.JSONDecodeError as e:
        errors.append(f"{path}:line {number}: not valid JSON ({e.msg} at column {e.colno})")


def _parquet_rows(path: str, errors: list[str]) -> Iterator[tuple[str, Any]]:
  import pyarrow.parquet as pq  # heavy: only when a parquet file is loaded
  try:
    table = pq.read_table(path)
  except Exception as e:  # pyarrow raises several types for bad files
    errors.append(f"{path}: not a readable parquet file ({e})")
    return
  for number, row in enumerate(table.to_pylist(), start=1):
    yield f"row {number}", row


def read_rows(path: str, errors: list[str]) -> Iterator[tuple[str, Any]]:
  """Yields (location, raw row); format from the extension (.parquet or JSONL)."""
  if path.endswith((".parquet", ".pq")):
    yield from _parquet_rows(path, errors)
  else:
    yield from _jsonl_rows(path, errors)


def load_tasks(path: str | os.PathLike[str], *, image: str = "", test_cmd: str = "",
               log_parser: str = "pytest",
               workdir: str = schema.DEFAULT_WORKDIR) -> list[schema.Task]:
  """Loads and validates every row of a JSONL or parquet task file.

  FAIL_TO_PASS / PASS_TO_PASS may be lists or JSON-encoded strings. `image`,
  `test_cmd`, `log_parser` and `workdir` are used for rows that do not carry
  their own (plain SWE-bench rows have no image or command). Raises
  FileNotFoundError, or TaskLoadError listing ALL bad rows, each with its
  line/row number, instance_id and field.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"task file not found: {path}")
  defaults = schema.RowDefaults(image=image, test_cmd=test_cmd, log_parser=log_parser,
                                workdir=workdir)
  errors: list[str] = []
  tasks: list[schema.Task] = []
  seen: dict[str, str] = {}
  for where, row in read_rows(path, errors):
    task, row_errors = schema.row_to_task(row, defaults)
    name = row.get("instance_id") if isinstance(row, dict) else None
    label = f"{path}:{where}" + (f" ({name})" if isinstance(name, str) and name else "")
    errors.extend(f"{label}: {e}" for e in row_errors)
    if task is None:
      continue
    if task.instance_id in seen:
      errors.append(f"{label}: field instance_id: duplicate of {seen[task.instance_id]}")
      continue
    seen[task.instance_id] = where
    tasks.append(task)
  if errors:
    raise TaskLoadError(path, errors)
  return tasks


def save_tasks(tasks: Iterable[schema.Task], path: str | os.PathLike[str]) -> int:
  """Writes tasks as JSONL (one row per line, F2P/P2P as lists); returns the count."""
  count = 0
  tmp = f"{os.fspath(path)}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    for task in tasks:
      f.write(json.dumps(task.to_row(), sort_keys=True) + "\n")
      count += 1
  os.replace(tmp, path)
  return count
