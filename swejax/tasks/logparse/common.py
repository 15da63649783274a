"""Statuses shared by every log parser, and the rule for an id seen twice."""
from __future__ import annotations

import re

PASSED = "PASSED"
FAILED = "FAILED"
ERROR = "ERROR"
SKIPPED = "SKIPPED"
XFAIL = "XFAIL"

# Statuses a test id can get, and which of them count as a pass (as in SWE-bench).
STATUSES = (PASSED, FAILED, ERROR, SKIPPED, XFAIL)
PASSING = frozenset({PASSED, XFAIL})
# When an id appears twice (e.g. PASSED, then ERROR at teardown) the worst wins:
# a line the code under test prints can add a failure, never hide one.
_SEVERITY = {PASSED: 0, XFAIL: 1, SKIPPED: 2, FAILED: 3, ERROR: 4}

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clean_lines(text: str) -> list[str]:
  """The log's lines without colour codes and carriage returns."""
  return [ANSI.sub("", line).rstrip("\r") for line in text.split("\n")]


def record(statuses: dict[str, str], test_id: str, status: str) -> None:
  """Sets `test_id`'s status unless it already has a worse one."""
  if not test_id:
    return
  old = statuses.get(test_id)
  if old is None or _SEVERITY[status] > _SEVERITY[old]:
    statuses[test_id] = status
