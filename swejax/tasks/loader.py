"""Loading task files (JSONL or parquet) with every error reported at once."""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Iterable, Iterator

from swejax.tasks import harness, schema

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
               log_parser: str = "", workdir: str = schema.DEFAULT_WORKDIR,
               image_namespace: str = "", image_template: str = "") -> list[schema.Task]:
  """Loads and validates every row of a JSONL or parquet task file.

  Rows load as the datasets publish them (SWE-bench classic and `swebench` 5.x
  forms, SWE-Gym, SWE-rebench); FAIL_TO_PASS / PASS_TO_PASS may be lists or
  JSON-encoded strings. How each row runs is decided as the SWE-bench harness
  decides it (swejax.tasks.harness); `image`, `test_cmd`, `log_parser` and
  `workdir` are used for rows that do not carry their own, and
  `image_namespace` / `image_template` rename every image for a private
  mirror. Raises FileNotFoundError, ValueError for a bad image_template, or
  TaskLoadError listing ALL bad rows, each with its line/row number, instance_id
  and field.
  """
  if image_template:
    harness.check_template(image_template)
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"task file not found: {path}")
  defaults = schema.RowDefaults(image=image, test_cmd=test_cmd, log_parser=log_parser,
                                workdir=workdir, image_namespace=image_namespace,
                                image_template=image_template)
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


def add_row_flags(parser: argparse.ArgumentParser) -> None:
  """The flags of every subcommand that loads tasks: what load_tasks accepts."""
  parser.add_argument("--image", default="", help="image for rows that name none (default: "
                      "the harness's image name for the instance)")
  parser.add_argument("--test-cmd", default="", help="test command for rows that carry none "
                      "({test_files} = the test_patch's files; default: the harness's)")
  parser.add_argument("--image-namespace", default="", help="rename every image into this "
                      "namespace (a private mirror), e.g. registry.example:5000/swebench")
  parser.add_argument("--image-template", default="", help="name every image from this "
                      "template: {name} {key} {instance_id} {repo}")


def load_from_args(path: str, args: argparse.Namespace) -> list[schema.Task]:
  """load_tasks with the options add_row_flags defined."""
  return load_tasks(path, image=args.image, test_cmd=args.test_cmd,
                    image_namespace=args.image_namespace, image_template=args.image_template)
