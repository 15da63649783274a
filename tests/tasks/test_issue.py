"""Issue texts: reproduction snippets built from failing tests."""
import random

from swejax.tasks import issue

TESTS = '''import datetime

import pytest

from pkg.core import Thing, parse, total

D = datetime.date


def helper(n):
    return [Thing(i) for i in range(n)]


@pytest.fixture
def things():
    items = helper(3)
    return items


@pytest.mark.parametrize("text, expected", [("1h", 3600), ("a b", 0), ("x", None)])
def test_parse(text, expected):
    assert parse(text) == expected


def test_total(things):
    things.append(Thing(7))
    assert total(things) == pytest.approx(10.0)


def test_raises():
    with pytest.raises(ValueError, match="bad"):
        parse("???")


def test_truthy():
    assert not parse("")


def test_dates():
    assert total([D(2024, 1, 1)]) == D(2024, 1, 2)


class TestNope:
    def test_method(self):
        assert parse("x") == 1
'''


def line_of(text):
  return next(i for i, l in enumerate(TESTS.splitlines(), 1) if text in l)


def test_parametrized_values_are_inlined():
  snippet = issue.build_snippet(TESTS, "tests/t.py::test_parse[a b-0]",
                                line_of("assert parse(text)"))
  assert snippet.expr == 'parse("a b")'
  assert snippet.expected == "0"
  assert snippet.setup == "from pkg.core import parse"
  assert snippet.display().endswith('print(parse("a b"))')
  assert snippet.subject == "parse()"


def test_fixture_and_helpers_are_inlined():
  snippet = issue.build_snippet(TESTS, "tests/t.py::test_total", line_of("assert total"))
  assert "def helper(n):" in snippet.setup
  assert "things = items" in snippet.setup and "things.append(Thing(7))" in snippet.setup
  assert "@pytest.fixture" not in snippet.setup
  assert snippet.expected == "10.0"
  compile(snippet.script(), "s.py", "exec")


def test_raises_and_truthy_and_constants():
  raises = issue.build_snippet(TESTS, "tests/t.py::test_raises", line_of("with pytest.raises"))
  assert (raises.mode, raises.expected, raises.expr) == ("raises", "ValueError", 'parse("???")')
  truthy = issue.build_snippet(TESTS, "tests/t.py::test_truthy", line_of("assert not parse"))
  assert (truthy.expected, truthy.truthy) == ("False", True)
  dates = issue.build_snippet(TESTS, "tests/t.py::test_dates", line_of("assert total([D"))
  assert "D = datetime.date" in dates.setup and "import datetime" in dates.setup


def test_unsupported_tests_give_none():
  assert issue.build_snippet(TESTS, "tests/t.py::TestNope::test_method", line_of('"x") == 1')) \
      is None
  assert issue.build_snippet(TESTS, "tests/t.py::test_parse[nope]", line_of("assert parse(text)")) \
      is None


def outcome(line, expected="VAL 0", equal=False):
  return issue.Outcome(line=line, expected=expected, equal=equal)


def test_describe_requires_the_bug_to_show():
  snippet = issue.build_snippet(TESTS, "tests/t.py::test_parse[a b-0]",
                                line_of("assert parse(text)"))
  rng = random.Random(0)
  text = issue.describe(snippet, outcome("VAL 7"), outcome("VAL 0", equal=True), rng, "pkg")
  assert "`7`" in text and "`0`" in text and 'print(parse("a b"))' in text
  # the correct code must meet the expectation, the buggy code must not
  assert issue.describe(snippet, outcome("VAL 7"), outcome("VAL 7"), rng, "pkg") is None
  assert issue.describe(snippet, outcome("VAL 0", equal=True), outcome("VAL 0", equal=True),
                        rng, "pkg") is None
  crash = issue.describe(snippet, outcome("EXC KeyError: 'x'"), outcome("VAL 0", equal=True),
                         rng, "pkg")
  assert "KeyError" in crash


def test_outcome_parse():
  parsed = issue.Outcome.parse("noise\nVAL [1, 2]\nEXP [1, 3]\nEQ False\n")
  assert parsed == issue.Outcome("VAL [1, 2]", "VAL [1, 3]", False)
  assert issue.Outcome.parse("Traceback ...") is None
