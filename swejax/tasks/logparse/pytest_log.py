"""pytest logs, in the variants the SWE-bench harness grades.

Statuses come from the LAST `short test summary info` section that `pytest -rA`
prints at the very end, so `PASSED ...` lines printed by the code under test
(captured-output sections, the output of pytest sessions run by the tests) never
count. Ids keep their spaces (the harness cuts most of them at the first space).
The v2 and seaborn variants also read the per-test progress lines, but only
from the progress region: between the session header and the first section
header, where the code under test cannot print (pytest captures it).
"""
from __future__ import annotations

import re

from swejax.tasks.logparse.common import (ERROR, FAILED, PASSED, SKIPPED, clean_lines,
                                          record)

_SUMMARY_HEADER = re.compile(r"^=+ short test summary info =+$")
_SECTION_HEADER = re.compile(r"^=+ .+ =+$")
_SESSION_START = re.compile(r"^=+ test session starts =+$")
_SKIP_COUNT = re.compile(r"^\[\d+\]$")
_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL) (.+)$")
# `path::test STATUS` (classic console style) or `path::test STATUS [ 42%]`.
_PROGRESS = re.compile(
    r"^(\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?P<progress>\s+\[\s*\d+%\])?$")
_OPTION = re.compile(r"(.*?)\[(.*)\]")


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


def _summary(lines: list[str]) -> dict[str, str]:
  """{id: status} of the last short-test-summary section ({} if there is none)."""
  start = None
  for index, line in enumerate(lines):
    if _SUMMARY_HEADER.match(line.strip()):
      start = index + 1
  statuses: dict[str, str] = {}
  if start is None:
    return statuses
  for line in lines[start:]:
    if line.startswith("="):
      break  # the final `=== N passed in Xs ===` line ends the section
    match = _LINE.match(line)
    if not match:
      continue  # continuation of a multi-line message
    status, rest = match.groups()
    words = rest.split()
    if not words or (status == SKIPPED and _SKIP_COUNT.match(words[0])):
      continue  # `SKIPPED [N] file:line: reason` names no test
    record(statuses, _split_id(status, rest), status)
  return statuses


def _progress(lines: list[str], *, with_percent: bool) -> list[tuple[str, str]]:
  """(id, status) of the per-test lines before the first section header."""
  found = []
  for line in lines:
    stripped = line.strip()
    if _SECTION_HEADER.match(stripped) and not _SESSION_START.match(stripped):
      break
    match = _PROGRESS.match(line.rstrip())
    if match and bool(match.group("progress")) == with_percent and match.group(2) != "XPASS":
      found.append((match.group(1).rstrip(), match.group(2)))
  return found


def parse_pytest_log(text: str) -> dict[str, str]:
  """Parses a `pytest -rA` log into {test id: status}.

  Statuses are PASSED, FAILED, ERROR, SKIPPED, XFAIL (SWE-bench's set; XPASS
  lines and `SKIPPED [N] file:line` lines name no test id and are left out).
  A log without a summary section yields {}: every expected test is missing.
  """
  return _summary(clean_lines(text))


def _option_id(test_id: str) -> str:
  """The harness' pytest_options id: a parameter that is an absolute path keeps
  only its last component, as the expected ids were recorded on another machine."""
  match = _OPTION.search(test_id)
  if not match:
    return test_id
  main, option = match.groups()
  if option.startswith("/") and not option.startswith("//") and "*" not in option:
    option = "/" + option.split("/")[-1]
  return f"{main}[{option}]"


def parse_pytest_options_log(text: str) -> dict[str, str]:
  """pydicom, requests, pylint: the pytest log with path parameters shortened."""
  statuses: dict[str, str] = {}
  for test_id, status in _summary(clean_lines(text)).items():
    record(statuses, _option_id(test_id), status)
  return statuses


def parse_matplotlib_log(text: str) -> dict[str, str]:
  """matplotlib: the pytest log with MouseButton members written as numbers,
  the way the expected ids were recorded."""
  statuses: dict[str, str] = {}
  for test_id, status in _summary(clean_lines(text)).items():
    test_id = test_id.replace("MouseButton.LEFT", "1").replace("MouseButton.RIGHT", "3")
    record(statuses, test_id, status)
  return statuses


def parse_pytest_v2_log(text: str) -> dict[str, str]:
  """astropy, scikit-learn, sphinx: the summary plus classic-style verbose lines
  (`path::test PASSED`, as `-o console_output_style=classic -v` and old pytest
  versions print them; old versions list no PASSED lines in the summary)."""
  lines = clean_lines(text)
  statuses = _summary(lines)
  for test_id, status in _progress(lines, with_percent=False):
    record(statuses, test_id, status)
  return statuses


def parse_seaborn_log(text: str) -> dict[str, str]:
  """seaborn: PASSED, FAILED and ERROR only, from the summary and `-v` progress
  lines. The harness records no SKIPPED or XFAIL for seaborn, so such tests
  count as missing (failed) here as well."""
  lines = clean_lines(text)
  kept = (PASSED, FAILED, ERROR)
  statuses = {t: s for t, s in _summary(lines).items() if s in kept}
  for test_id, status in _progress(lines, with_percent=True):
    if status == PASSED:
      record(statuses, test_id, status)
  return statuses
