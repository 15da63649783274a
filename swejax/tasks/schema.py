"""The Task record (SWE-bench / SWE-rebench fields plus how to run it) and the
row validation that turns one raw JSON/parquet row into a Task or a list of
errors naming the fields.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from typing import Any, Mapping

from swejax.tasks import harness, logparse, specs

DEFAULT_WORKDIR = "/testbed"
SNAPSHOT_PREFIX = "base64:"
# Placeholder in test_cmd replaced by the test files the test_patch touches.
TEST_FILES = "{test_files}"

_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclasses.dataclass(frozen=True)
class Task:
  """One task. Immutable; loaded and validated once.

  `repo_snapshot` is empty when `image` already holds the repository at
  base_commit in `workdir`; otherwise it is `base64:` + a gzipped tar of the
  repository's files at base_commit (no .git), which the sandbox commits once so
  that no history exists (see swejax.tasks.repo).
  """
  instance_id: str
  repo: str
  base_commit: str
  patch: str
  test_patch: str
  problem_statement: str
  FAIL_TO_PASS: tuple[str, ...]
  PASS_TO_PASS: tuple[str, ...]
  image: str
  test_cmd: str
  hints_text: str = ""
  created_at: str = ""
  version: str = ""
  environment_setup_commit: str = ""
  install_config: Mapping[str, Any] | None = dataclasses.field(default=None, hash=False)
  docker_image: str = ""
  meta: Mapping[str, Any] | None = dataclasses.field(default=None, hash=False)
  log_parser: str = "pytest"
  workdir: str = DEFAULT_WORKDIR
  repo_snapshot: str = ""
  # The harness's eval script (published with `swebench` 5.x rows; written at load
  # for classic and SWE-rebench rows): swejax.tasks.harness.test_command runs it.
  eval_script: str = ""
  eval_type: str = "pass_and_fail"  # or "fail_only"

  def snapshot_bytes(self) -> bytes:
    """The gzipped tar of the repository at base_commit (empty if none)."""
    if not self.repo_snapshot:
      return b""
    return base64.b64decode(self.repo_snapshot[len(SNAPSHOT_PREFIX):])

  def to_row(self) -> dict[str, Any]:
    """A JSON-ready dict; F2P/P2P as lists. `row_to_task(to_row())` round-trips."""
    row = dataclasses.asdict(self)
    row["FAIL_TO_PASS"] = list(self.FAIL_TO_PASS)
    row["PASS_TO_PASS"] = list(self.PASS_TO_PASS)
    return row


@dataclasses.dataclass(frozen=True)
class RowDefaults:
  """What a row may leave out, and a private mirror's names (swejax.tasks.harness).

  Empty fields mean "as the harness decides": plain SWE-bench rows get the
  harness's image name, command and log parser. `image_namespace` and
  `image_template` rewrite the image of every image task.
  """
  image: str = ""
  test_cmd: str = ""
  log_parser: str = ""
  workdir: str = DEFAULT_WORKDIR
  image_namespace: str = ""
  image_template: str = ""


_REQUIRED_TEXT = ("instance_id", "repo", "patch", "problem_statement")
_OPTIONAL_TEXT = ("test_patch", "hints_text", "created_at", "version",
                  "environment_setup_commit", "docker_image")


def _text(row: Mapping[str, Any], name: str, errors: list[str], required: bool) -> str:
  value = row.get(name)
  if value is None:
    if required:
      errors.append(f"field {name}: missing")
    return ""
  if not required and isinstance(value, (int, float)) and not isinstance(value, bool):
    return str(value)  # SWE-bench-extra stores version as a number
  if not required and hasattr(value, "isoformat"):
    return value.isoformat()  # parquet timestamps
  if not isinstance(value, str):
    errors.append(f"field {name}: expected a string, got {type(value).__name__}")
    return ""
  if required and not value.strip():
    errors.append(f"field {name}: empty")
  return value


def _test_ids(row: Mapping[str, Any], name: str, errors: list[str],
              non_empty: bool) -> tuple[str, ...]:
  value = row.get(name)
  if value is None:
    errors.append(f"field {name}: missing")
    return ()
  if isinstance(value, str):
    try:
      value = json.loads(value)
    except json.JSONDecodeError as e:
      errors.append(f"field {name}: not a JSON list ({e.msg} at char {e.pos})")
      return ()
  if hasattr(value, "tolist"):
    value = value.tolist()  # numpy arrays from parquet readers
  if not isinstance(value, (list, tuple)):
    errors.append(f"field {name}: expected a list of test ids, got {type(value).__name__}")
    return ()
  bad = [i for i, v in enumerate(value) if not isinstance(v, str) or not v.strip()]
  if bad:
    errors.append(f"field {name}: item {bad[0]} is not a non-empty string")
    return ()
  if non_empty and not value:
    errors.append(f"field {name}: empty (a task needs at least one failing test)")
  return tuple(value)


def _mapping(row: Mapping[str, Any], name: str, errors: list[str]) -> dict[str, Any] | None:
  value = row.get(name)
  if value is None or value == "":
    return None
  if isinstance(value, str):
    try:
      value = json.loads(value)
    except json.JSONDecodeError as e:
      errors.append(f"field {name}: not a JSON object ({e.msg} at char {e.pos})")
      return None
  if not isinstance(value, Mapping):
    errors.append(f"field {name}: expected an object, got {type(value).__name__}")
    return None
  return dict(value)


def _looks_like_diff(text: str) -> bool:
  return "\n+++ " in f"\n{text}" and "\n@@ " in f"\n{text}" or "diff --git " in text


def row_to_task(row: Mapping[str, Any],
                defaults: RowDefaults = RowDefaults()) -> tuple[Task | None, list[str]]:
  """Validates one row. Returns (task, []) or (None, errors naming the fields)."""
  errors: list[str] = []
  if not isinstance(row, Mapping):
    return None, [f"expected a JSON object, got {type(row).__name__}"]
  text = {n: _text(row, n, errors, True) for n in _REQUIRED_TEXT}
  text.update({n: _text(row, n, errors, False) for n in _OPTIONAL_TEXT})
  for name in ("patch", "test_patch"):  # an empty test_patch runs the tests as they are
    if text[name] and not _looks_like_diff(text[name]):
      errors.append(f"field {name}: not a unified diff")
  base_commit = _text(row, "base_commit", errors, True)
  if base_commit and not _SHA.match(base_commit):
    errors.append("field base_commit: expected 40 lowercase hex digits")
  f2p = _test_ids(row, "FAIL_TO_PASS", errors, non_empty=True)
  p2p = _test_ids(row, "PASS_TO_PASS", errors, non_empty=False)
  install_config = _mapping(row, "install_config", errors)
  meta = _mapping(row, "meta", errors)
  resolved = harness.resolve_row(row, defaults, install_config)
  errors.extend(resolved.errors)
  log_parser = resolved.log_parser
  if not isinstance(log_parser, str):
    errors.append(f"field log_parser: expected a string, got {type(log_parser).__name__}")
  elif log_parser not in logparse.PARSERS and log_parser not in specs.HARNESS_PARSERS:
    known = sorted(set(logparse.PARSERS) | specs.HARNESS_PARSERS)
    errors.append(f"field log_parser: unknown {log_parser!r}; known: {known}")

  snapshot = row.get("repo_snapshot") or ""
  if not isinstance(snapshot, str):
    errors.append("field repo_snapshot: expected a string")
    snapshot = ""
  elif snapshot:
    if not snapshot.startswith(SNAPSHOT_PREFIX):
      errors.append(f"field repo_snapshot: must start with {SNAPSHOT_PREFIX!r}")
    else:
      try:
        base64.b64decode(snapshot[len(SNAPSHOT_PREFIX):], validate=True)
      except (binascii.Error, ValueError) as e:
        errors.append(f"field repo_snapshot: bad base64 ({e})")

  workdir = row.get("workdir") or defaults.workdir
  if not isinstance(workdir, str) or not workdir.startswith("/"):
    errors.append(f"field workdir: expected an absolute path, got {workdir!r}")
    workdir = DEFAULT_WORKDIR
  if errors:
    return None, errors
  task = Task(
      instance_id=text["instance_id"], repo=text["repo"], base_commit=base_commit,
      patch=text["patch"], test_patch=text["test_patch"],
      problem_statement=text["problem_statement"], FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p,
      image=resolved.image, test_cmd=resolved.test_cmd, hints_text=text["hints_text"],
      created_at=text["created_at"], version=text["version"],
      environment_setup_commit=text["environment_setup_commit"],
      install_config=install_config, docker_image=text["docker_image"], meta=meta,
      log_parser=log_parser, workdir=workdir, repo_snapshot=snapshot,
      eval_script=resolved.eval_script, eval_type=resolved.eval_type)
  return task, []
