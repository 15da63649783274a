"""django's `tests/runtests.py --verbosity 2` logs (unittest's verbose runner).

Each test prints its description, ` ... `, then its result: `ok`, `FAIL`,
`ERROR`, `skipped 'why'`, `expected failure` or `unexpected success`. The
description is `test_x (module.Class)` or, for a test with a docstring, that
docstring's first line on a line of its own; the harness' expected ids use the
text on the result line, and so does this parser. Output the test prints can
come between ` ... ` and the result, which then stands on a line of its own.
"""
from __future__ import annotations

import re

from swejax.tasks.logparse.common import ERROR, FAILED, PASSED, SKIPPED, clean_lines, record

_PASS_SUFFIXES = (" ... ok", " ... OK", " ...  OK")
# A migration's progress line that a test's own line was glued to
# (`Applying sites.0002_alter_domain_unique...test_no_migrations (...) ... ok`).
_GLUED_MIGRATION = re.compile(r"^Applying \S+?\.\.\.(?=\S)")
_LONE_OK = re.compile(r"^ok(\s|$)")
# The docstring of admin_scripts' test_version_alternative, whose result the
# command it runs pushes away from its line; the harness expects this id.
_VERSION_ALTERNATIVE = "--version is equivalent to version"


def _results(line: str) -> list[tuple[str, str]]:
  """(description, status) for each result the line ends with (a skip reason can
  itself end like a result; the worst then wins, as the harness' last match)."""
  found = []
  for suffix in _PASS_SUFFIXES:
    if line.endswith(suffix):
      found.append((line[:-len(suffix)], PASSED))
      break
  if " ... skipped" in line:
    found.append((line.split(" ... skipped", 1)[0], SKIPPED))
  if line.endswith(" ... FAIL"):
    found.append((line[:-len(" ... FAIL")], FAILED))
  if line.endswith(" ... ERROR"):
    found.append((line[:-len(" ... ERROR")], ERROR))
  return found


def parse_django_log(text: str) -> dict[str, str]:
  """Parses a django test-runner log into {description: status}.

  `expected failure` and `unexpected success` are not recorded (as in the
  harness), so such tests count as missing.
  """
  statuses: dict[str, str] = {}
  pending = None  # a test whose ` ... ` line had no result yet
  for raw in clean_lines(text):
    line = _GLUED_MIGRATION.sub("", raw.strip())
    if _VERSION_ALTERNATIVE in line:
      record(statuses, _VERSION_ALTERNATIVE, PASSED)
    results = _results(line)
    if results:
      for description, status in results:
        record(statuses, description, status)
      # `A ... <output that A printed> ... ok`: the text is recorded as the
      # harness does, and A still waits for its own result.
      pending = line.split(" ... ", 1)[0] if line.count(" ... ") > 1 else None
      continue
    if line.startswith(("FAIL: ", "ERROR: ")):
      # The report's header names the whole test, with its subtest parameters.
      status, name = line.split(": ", 1)
      record(statuses, name.strip(), FAILED if status == "FAIL" else ERROR)
      continue
    if " ... " in line:
      pending = line.split(" ... ", 1)[0]
    elif pending is not None and _LONE_OK.match(line):
      record(statuses, pending, PASSED)
      pending = None
  return statuses
