"""Test-log parsers: the test command's output -> {test id: status}.

One parser per Python log format that the SWE-bench harness grades, under the
harness' names (`parse_log_pytest`, `parse_log_django`, `parse_log_sympy`, ...;
`pytest` is an alias), and the harness' repository -> parser map. They agree
with the harness on honest logs and are stricter where a line can be forged;
every difference is listed in `DIFFERENCES`.
"""
from __future__ import annotations

from typing import Callable

from swejax.tasks.logparse.common import (ERROR, FAILED, PASSED, PASSING, SKIPPED, STATUSES,
                                          XFAIL)
from swejax.tasks.logparse.django_log import parse_django_log
from swejax.tasks.logparse.pytest_log import (parse_matplotlib_log, parse_pytest_log,
                                              parse_pytest_options_log, parse_pytest_v2_log,
                                              parse_seaborn_log)
from swejax.tasks.logparse.sympy_log import parse_sympy_log

__all__ = [
    "DIFFERENCES", "ERROR", "FAILED", "PARSERS", "PASSED", "PASSING", "SKIPPED", "STATUSES",
    "XFAIL", "get_parser", "parse_django_log", "parse_matplotlib_log", "parse_pytest_log",
    "parse_pytest_options_log", "parse_pytest_v2_log", "parse_seaborn_log", "parse_sympy_log",
    "parser_for_repo", "passed",
]

Parser = Callable[[str], dict[str, str]]

# log_parser names accepted in task files: the harness' registry names for Python.
PARSERS: dict[str, Parser] = {
    "pytest": parse_pytest_log,
    "parse_log_pytest": parse_pytest_log,
    "parse_log_pytest_options": parse_pytest_options_log,
    "parse_log_pytest_v2": parse_pytest_v2_log,
    "parse_log_django": parse_django_log,
    "parse_log_seaborn": parse_seaborn_log,
    "parse_log_sympy": parse_sympy_log,
    "parse_log_matplotlib": parse_matplotlib_log,
    # The harness' per-repository names for the formats above.
    "parse_log_astroid": parse_pytest_log,
    "parse_log_flask": parse_pytest_log,
    "parse_log_marshmallow": parse_pytest_log,
    "parse_log_pvlib": parse_pytest_log,
    "parse_log_pyvista": parse_pytest_log,
    "parse_log_sqlfluff": parse_pytest_log,
    "parse_log_xarray": parse_pytest_log,
    "parse_log_pydicom": parse_pytest_options_log,
    "parse_log_requests": parse_pytest_options_log,
    "parse_log_pylint": parse_pytest_options_log,
    "parse_log_astropy": parse_pytest_v2_log,
    "parse_log_scikit": parse_pytest_v2_log,
    "parse_log_sphinx": parse_pytest_v2_log,
}

# The harness' MAP_REPO_TO_PARSER_PY, by parser name.
_REPO_PARSERS = {
    "astropy/astropy": "parse_log_astropy",
    "django/django": "parse_log_django",
    "marshmallow-code/marshmallow": "parse_log_marshmallow",
    "matplotlib/matplotlib": "parse_log_matplotlib",
    "mwaskom/seaborn": "parse_log_seaborn",
    "pallets/flask": "parse_log_flask",
    "psf/requests": "parse_log_requests",
    "pvlib/pvlib-python": "parse_log_pvlib",
    "pydata/xarray": "parse_log_xarray",
    "pydicom/pydicom": "parse_log_pydicom",
    "pylint-dev/astroid": "parse_log_astroid",
    "pylint-dev/pylint": "parse_log_pylint",
    "pytest-dev/pytest": "parse_log_pytest",
    "pyvista/pyvista": "parse_log_pyvista",
    "scikit-learn/scikit-learn": "parse_log_scikit",
    "sqlfluff/sqlfluff": "parse_log_sqlfluff",
    "sphinx-doc/sphinx": "parse_log_sphinx",
    "sympy/sympy": "parse_log_sympy",
}

# Where these parsers deliberately differ from the harness' (tests assert each one).
DIFFERENCES = {
    "last_summary": "pytest formats: only the last `short test summary info` section "
                    "counts; status lines elsewhere (captured output, inner pytest runs) "
                    "do not, so the `[100%]` that pytest-dev__pytest-5262 and -7521 expect "
                    "in PASS_TO_PASS (a wrapped line of an inner run) never passes",
    "whole_ids": "pytest formats: an id with spaces stays whole (the harness cuts it at "
                 "the first space, v2 squeezes runs of whitespace)",
    "worst_wins": "an id seen twice keeps its worst status (the harness keeps the last)",
    "v2_messages": "v2: ERROR, SKIPPED and XFAIL summary lines lose their ` - message` "
                   "(the harness keeps it in the id, so it misses those tests)",
    "ansi": "colour codes are removed before parsing (only v2 strips them in the harness)",
    "progress_region": "v2 and seaborn: per-test progress lines count only before the first "
                       "section header",
    "seaborn_error": "seaborn: ERROR summary lines are kept (the harness drops them, so a "
                     "test whose teardown failed stays PASSED there)",
    "django_headers": "django: a `FAIL:`/`ERROR:` report header records the whole "
                      "description (the harness records its first word)",
    "django_lone_ok": "django: a result on its own line must be `ok`, and belongs to the "
                      "last test still waiting for one (the harness takes any line starting "
                      "with `ok`, for the last line with ` ... `)",
    "sympy_file_mark": "sympy: the last test of a file, whose line ends with `[OK]`/`[FAIL]`, "
                       "is recorded (the harness misses it); `T` (timeout) is ERROR",
    "sympy_output": "sympy: a test's result is the last word before the next test starts, "
                    "after any lines it printed (the harness reads the first line only: "
                    "`test_x ok` printed by a test that then fails is a pass there)",
    "fail_only": "passed(fail_only=True): ERROR fails too, and a truncated id matches as in "
                 "pass_and_fail (the harness fails only an exact id recorded FAILED)",
    "sympy_headers": "sympy: only `___ file.py:test ___` lines are failure headers (the "
                     "harness matches any ` x.py:y ` text)",
}


def get_parser(name: str) -> Parser:
  """Returns the parser called `name`, or raises ValueError naming the choices."""
  try:
    return PARSERS[name]
  except KeyError:
    raise ValueError(f"unknown log_parser {name!r}; known: {sorted(PARSERS)}") from None


def parser_for_repo(repo: str) -> str:
  """The harness' log parser name for a Python repository (`owner/name`)."""
  try:
    return _REPO_PARSERS[repo]
  except KeyError:
    raise ValueError(f"no harness log parser for repo {repo!r}; known: "
                     f"{sorted(_REPO_PARSERS)}; give the row a log_parser") from None


def _keys(statuses: dict[str, str], test_id: str) -> list[str]:
  """The keys in `statuses` that may be `test_id`: itself, or for an id cut
  inside its parameters (more `[` than `]`, as some published ids are, e.g.
  `test_fail[log(photon`) the recorded ids it begins."""
  if test_id in statuses:
    return [test_id]
  if test_id.count("[") > test_id.count("]"):
    return [k for k in statuses if k.startswith(test_id)]
  return []


def passed(statuses: dict[str, str], test_id: str, fail_only: bool = False) -> bool:
  """Did `test_id` pass, by the log's `statuses`?

  By default (the harness' pass_and_fail) it must be in the log with a passing
  status: a test missing from the log has failed. A cut id passes if the ids it
  begins all pass (the harness takes them if they agree). With `fail_only` (the
  harness' fail_only evaluation, for runners that report only failures) a test
  passes unless the log records it, or an id it begins, as FAILED or ERROR.
  """
  keys = _keys(statuses, test_id)
  if fail_only:
    return not any(statuses[k] in (FAILED, ERROR) for k in keys)
  return bool(keys) and all(statuses[k] in PASSING for k in keys)
