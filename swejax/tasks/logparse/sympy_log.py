"""sympy's `bin/test --verbose` logs.

Each test function starts a line with `test_name ` and ends with its result:
`ok`, `F` (failed), `E` (exception), `T` (timed out), `f` (expected failure),
`X` (unexpected pass) or `s`/`w`/`K` (skipped, after a reason). Output the test
prints goes in between, over as many lines as it likes, so the result is the
last word before the next test starts. The last test of a file also carries the
file's `[OK]`/`[FAIL]` mark. Expected ids are bare function names, as the
harness records them.
"""
from __future__ import annotations

import re

from swejax.tasks.logparse.common import ERROR, FAILED, PASSED, clean_lines, record

_RESULTS = {"ok": PASSED, "F": FAILED, "E": ERROR, "T": ERROR}
_TEST_START = re.compile(r"^(test_\w*)(?: (.*))?$")
_FILE_MARK = re.compile(r"\s*\[(?:OK|FAIL)\]$")
# A file's line (`sympy/core/tests/test_basic.py[22] `), a section rule or the
# final count ends the test before it.
_BOUNDARY = re.compile(r"^(\S*\[(\d+|\?)\]|_{3,}| tests finished:)")
# `_____ sympy/core/tests/test_basic.py:test_equality _____` (`::` in newer
# versions) heads the traceback of a failed test.
_FAILURE_HEADER = re.compile(r"^_+ (\S+\.py:\S*) _+$")


def _close(statuses: dict[str, str], name: str | None, words: list[str]) -> None:
  if name is not None and words and words[-1] in _RESULTS:
    record(statuses, name, _RESULTS[words[-1]])


def parse_sympy_log(text: str) -> dict[str, str]:
  """Parses a sympy test log into {test function or file.py:function: status}.

  Expected failures, unexpected passes and skips are not recorded (as in the
  harness), so such tests count as missing.
  """
  statuses: dict[str, str] = {}
  name, words = None, []  # the test whose result is still to come
  for raw in clean_lines(text):
    line = _FILE_MARK.sub("", raw.rstrip())
    header = _FAILURE_HEADER.match(line.strip())
    if header:
      record(statuses, header.group(1), FAILED)
    start = _TEST_START.match(line)
    if start or header or _BOUNDARY.match(line):
      _close(statuses, name, words)
      name, words = (start.group(1), (start.group(2) or "").split()) if start else (None, [])
    elif name is not None:
      words += line.split()
  _close(statuses, name, words)
  return statuses
