"""Test-log parsers: the test command's output -> {test id: status}.

The pytest parser reads only the LAST `short test summary info` section that
`pytest -rA` prints at the very end, so `PASSED ...` lines printed by the code
under test (captured-output sections, collection output) never count. On real
logs it agrees with the SWE-bench harness' `parse_log_pytest` for every id
without whitespace, and it keeps ids that contain spaces whole (the harness cuts
them at the first space).
"""
from __future__ import annotations

import re
from typing import Callable

PASSED = "PASSED"
FAILED = "FAILED"
ERROR = "ERROR"
SKIPPED = "SKIPPED"
XFAIL = "XFAIL"

# Statuses a test id can get, and which of them count as a pass (as in SWE-bench).
STATUSES = (PASSED, FAILED, ERROR, SKIPPED, XFAIL)
PASSING = frozenset({PASSED, XFAIL})
# When an id appears twice (e.g. PASSED, then ERROR at teardown) the worst wins.
_SEVERITY = {PASSED: 0, XFAIL: 1, SKIPPED: 2, FAILED: 3, ERROR: 4}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SUMMARY_HEADER = re.compile(r"^=+ short test summary info =+$")
_SKIP_COUNT = re.compile(r"^\[\d+\]$")
_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL) (.+)$")


def _split_id(status: str, rest: str) -> str:
  """Returns the test id of a summary line's remainder (after `STATUS `).

  PASSED lines carry only the id. The others may append ` - message`; an id with
  parameters ends at the first `]` that is followed by the end or ` - `, so a
  parameter like `[a - b]` stays whole.
  """
  rest = rest.rstrip()
  if status == PASSED:
    return rest
  head = rest.split(" - ", 1)[0]
  start = rest.find("[")
  if start == -1 or start > len(head):
    return head.rstrip()  # no parameters in the id: it ends at the first ` - `
  end = rest.find("]", start)
  while end != -1:
    if end + 1 == len(rest) or rest.startswith(" - ", end + 1):
      return rest[:end + 1]
    end = rest.find("]", end + 1)
  return head.rstrip()


def parse_pytest_log(text: str) -> dict[str, str]:
  """Parses a `pytest -rA` log into {test id: status}.

  Statuses are PASSED, FAILED, ERROR, SKIPPED, XFAIL (SWE-bench's set; XPASS
  lines and `SKIPPED [N] file:line` lines name no test id and are left out).
  A log without a summary section yields {}: every expected test is missing.
  """
  lines = [_ANSI.sub("", line).rstrip("\r") for line in text.split("\n")]
  start = None
  for index, line in enumerate(lines):
    if _SUMMARY_HEADER.match(line.strip()):
      start = index + 1
  if start is None:
    return {}
  statuses: dict[str, str] = {}
  for line in lines[start:]:
    if line.startswith("="):
      break  # the final `=== N passed in Xs ===` line ends the section
    match = _LINE.match(line)
    if not match:
      continue  # continuation of a multi-line message
    status, rest = match.groups()
    if status == SKIPPED and _SKIP_COUNT.match(rest.split()[0]):
      continue
    test_id = _split_id(status, rest)
    if not test_id:
      continue
    old = statuses.get(test_id)
    if old is None or _SEVERITY[status] > _SEVERITY[old]:
      statuses[test_id] = status
  return statuses


# log_parser names accepted in task files (SWE-rebench spells them parse_log_*).
PARSERS: dict[str, Callable[[str], dict[str, str]]] = {
    "pytest": parse_pytest_log,
    "parse_log_pytest": parse_pytest_log,
    "parse_log_pytest_v2": parse_pytest_log,
}


def get_parser(name: str) -> Callable[[str], dict[str, str]]:
  """Returns the parser called `name`, or raises ValueError naming the choices."""
  try:
    return PARSERS[name]
  except KeyError:
    raise ValueError(f"unknown log_parser {name!r}; known: {sorted(PARSERS)}") from None


def passed(statuses: dict[str, str], test_id: str) -> bool:
  """True iff `test_id` is in the log with a passing status (missing = failed)."""
  return statuses.get(test_id) in PASSING
