"""Parser parity on logs recorded here: the vendored toolz package's pytest suite
(with a mutation that breaks some tests, and a file of awkward tests added) and a
unittest suite in verbose mode (the format of django's runner), run on the host
and in the base image. Each swejax parser must give the harness parser's status
for every test id both can name; the differences in logparse.DIFFERENCES are
asserted on their own."""
import importlib.util
import os
import subprocess
import sys
import tarfile

import pytest

from swejax.sandbox import open_sandbox
from swejax.tasks import logparse

pytestmark = pytest.mark.slow  # runs the suites: ~20 s on one core

HERE = os.path.dirname(__file__)
TOOLZ = os.path.join(HERE, "..", "data", "toolz", "toolz-1.2.0.tar.gz")
LOGS = os.path.join(HERE, "data", "logs")
_spec = importlib.util.spec_from_file_location("swebench_harness",
                                               os.path.join(HERE, "swebench_harness.py"))
swebench_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(swebench_harness)

# frequencies() counts every item twice: test_frequencies and its curried uses fail.
MUTATION = ("toolz/itertoolz.py", "d[item] += 1", "d[item] += 2")
AWKWARD = '''
import sys

import pytest


def test_prints_status_lines():
    print("PASSED toolz/tests/test_zz_awkward.py::test_never_collected")
    print("toolz/tests/test_itertoolz.py::test_frequencies PASSED")
    sys.stderr.write("PASSED toolz/tests/test_zz_awkward.py::test_fails\\n")


def test_fails():
    assert 1 == 2, "PASSED toolz/tests/test_zz_awkward.py::test_injected"


@pytest.fixture
def broken():
    raise RuntimeError("setup failed")


def test_setup_error(broken):
    pass


@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown failed")


def test_teardown_error(bad_teardown):
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfails():
    assert False


@pytest.mark.parametrize("path", ["/srv/data/input.csv", "//server/share", "rel/x"])
def test_path_option(path):
    assert path != "rel/x"


@pytest.mark.parametrize("button", ["MouseButton.LEFT", "MouseButton.RIGHT"])
def test_button(button):
    assert button.endswith("LEFT")


@pytest.mark.parametrize("value", ["a b", "x - y", "plain"])
def test_spaced(value):
    assert value != "x - y"
'''
UNITTEST_SUITE = '''
import unittest


class Cases(unittest.TestCase):
    def test_ok(self):
        print("test_fail (test_cases.Cases.test_fail) ... ok")

    def test_fail(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise KeyError("boom")

    @unittest.skip("needs a database")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.fail()

    @unittest.expectedFailure
    def test_unexpected_success(self):
        pass

    def test_documented(self):
        """The first docstring line becomes the description.

        The rest of it does not.
        """

    def test_documented_fail(self):
        """Fails, with a docstring."""
        self.fail("no")

    def test_subtests(self):
        for n in range(3):
            with self.subTest(n=n):
                self.assertLess(n, 2)
'''
PYTEST_VARIANTS = {
    "rA": ("-rA", "--tb=no"),
    "tb_short": ("-rA", "--tb=short"),
    "classic": ("-rA", "-vv", "-o", "console_output_style=classic", "--tb=no"),
    "verbose": ("-rA", "-v", "--tb=no"),
    "colour": ("-rA", "--tb=short", "--color=yes"),
}
# Which recorded variant each harness format is compared on (its harness commands' flags).
FORMAT_VARIANTS = {
    "parse_log_pytest": ("rA", "tb_short", "verbose"),
    "parse_log_pytest_options": ("rA", "tb_short"),
    "parse_log_matplotlib": ("rA", "tb_short"),
    "parse_log_pytest_v2": ("rA", "classic", "colour"),
    "parse_log_seaborn": ("rA", "verbose"),
}


def _toolz_tree(root):
  with tarfile.open(TOOLZ) as tar:
    if sys.version_info >= (3, 11, 4):
      tar.extractall(root, filter="data")
    else:  # a vendored archive of known content
      tar.extractall(root)
  tree = os.path.join(root, "toolz-1.2.0")
  path, old, new = MUTATION
  with open(os.path.join(tree, path)) as f:
    text = f.read()
  assert old in text
  with open(os.path.join(tree, path), "w") as f:
    f.write(text.replace(old, new))
  with open(os.path.join(tree, "toolz", "tests", "test_zz_awkward.py"), "w") as f:
    f.write(AWKWARD)
  with open(os.path.join(tree, "test_cases.py"), "w") as f:
    f.write(UNITTEST_SUITE)
  return tree


def _host_run(tree, argv):
  env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
  done = subprocess.run([sys.executable, *argv], cwd=tree, capture_output=True, text=True,
                        env=env, timeout=300)
  return done.stdout + done.stderr


def _collected(tree):
  out = _host_run(tree, ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                         "toolz/tests"])
  return {line.strip() for line in out.splitlines() if "::" in line}


@pytest.fixture(scope="module")
def harness():
  with swebench_harness.loaded() as loaded:
    yield loaded


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
  tree = _toolz_tree(str(tmp_path_factory.mktemp("toolz")))
  logs = {name: _host_run(tree, ["-m", "pytest", "-p", "no:cacheprovider", *flags, "toolz/tests"])
          for name, flags in PYTEST_VARIANTS.items()}
  logs["unittest"] = _host_run(tree, ["-m", "unittest", "-v", "test_cases"])
  return logs, _collected(tree)


def _comparable(test_id):
  return not any(c.isspace() for c in test_id)


def _v2_keeps_message(name, test_id, mine, theirs):
  """DIFFERENCES["v2_messages"]: the harness' v2 id of an ERROR, SKIPPED or XFAIL
  line runs on into its ` - message`, so the real id has no entry, or only the
  PASSED of a test whose teardown then failed."""
  return (name == "parse_log_pytest_v2" and mine.get(test_id) in ("ERROR", "SKIPPED", "XFAIL")
          and theirs.get(test_id) in (None, "PASSED")
          and any(k.startswith(test_id + " - ") and v == mine[test_id]
                  for k, v in theirs.items()))


def _seaborn_keeps_error(name, test_id, mine, theirs):
  """DIFFERENCES["seaborn_error"]: the harness drops ERROR lines, so a test whose
  teardown failed keeps its PASSED there."""
  return (name == "parse_log_seaborn" and mine.get(test_id) == "ERROR"
          and theirs.get(test_id) in (None, "PASSED"))


def _assert_parity(name, mine, theirs, ids, label):
  """Same status for every id without whitespace, but for documented differences."""
  compared = 0
  for test_id in ids:
    documented = (_v2_keeps_message(name, test_id, mine, theirs)
                  or _seaborn_keeps_error(name, test_id, mine, theirs))
    if _comparable(test_id) and not documented:
      assert mine.get(test_id) == theirs.get(test_id), (label, name, test_id)
      compared += test_id in mine
  return compared


def _expected_ids(name, ids):
  """The ids as the format writes them (options and matplotlib rewrite some)."""
  rewrite = {"parse_log_pytest_options": lambda t: t.replace("[/srv/data/input.csv]",
                                                             "[/input.csv]"),
             "parse_log_matplotlib": lambda t: t.replace("MouseButton.LEFT", "1")
                                                .replace("MouseButton.RIGHT", "3")}
  return {rewrite.get(name, lambda t: t)(t) for t in ids}


def test_recorded_pytest_logs_agree(recorded, harness):
  logs, ids = recorded
  assert len(ids) > 180
  for name, variants in FORMAT_VARIANTS.items():
    for variant in variants:
      mine = logparse.get_parser(name)(logs[variant])
      theirs = harness.registry[name](logs[variant], None)
      assert _assert_parity(name, mine, theirs, _expected_ids(name, ids), variant) > 180


def test_recorded_statuses(recorded):
  logs, _ = recorded
  got = logparse.parse_pytest_log(logs["tb_short"])
  assert got["toolz/tests/test_itertoolz.py::test_frequencies"] == "FAILED"
  assert got["toolz/tests/test_itertoolz.py::test_groupby"] == "PASSED"
  awkward = "toolz/tests/test_zz_awkward.py::"
  assert got[awkward + "test_fails"] == "FAILED"
  assert got[awkward + "test_setup_error"] == "ERROR"
  assert got[awkward + "test_teardown_error"] == "ERROR"
  assert got[awkward + "test_xfails"] == "XFAIL"
  assert got[awkward + "test_spaced[x - y]"] == "FAILED"
  assert got[awkward + "test_spaced[a b]"] == "PASSED"
  options = logparse.get_parser("parse_log_pytest_options")(logs["rA"])
  assert options[awkward + "test_path_option[/input.csv]"] == "PASSED"
  assert options[awkward + "test_path_option[//server/share]"] == "PASSED"
  matplotlib = logparse.get_parser("parse_log_matplotlib")(logs["rA"])
  assert matplotlib[awkward + "test_button[1]"] == "PASSED"
  assert matplotlib[awkward + "test_button[3]"] == "FAILED"
  seaborn = logparse.get_parser("parse_log_seaborn")(logs["verbose"])
  assert awkward + "test_xfails" not in seaborn and awkward + "test_skipped" not in seaborn
  v2 = logparse.get_parser("parse_log_pytest_v2")(logs["classic"])
  assert v2[awkward + "test_spaced[a b]"] == "PASSED"


def test_printed_lines_do_not_count(recorded, harness):
  """A test printed `PASSED <id>` for a test that does not exist (it shows in the
  -rA PASSES section): the harness records it, swejax does not."""
  logs, _ = recorded
  fake = "toolz/tests/test_zz_awkward.py::test_never_collected"
  for name, variants in FORMAT_VARIANTS.items():
    for variant in variants:
      assert fake not in logparse.get_parser(name)(logs[variant]), (name, variant)
  assert harness.registry["parse_log_pytest"](logs["tb_short"], None)[fake] == "PASSED"


def test_ids_with_spaces_stay_whole(recorded, harness):
  logs, _ = recorded
  spaced = "toolz/tests/test_zz_awkward.py::test_spaced[a b]"
  assert logparse.parse_pytest_log(logs["rA"])[spaced] == "PASSED"
  assert spaced not in harness.registry["parse_log_pytest"](logs["rA"], None)


def test_colour_codes_are_ignored(recorded, harness):
  """DIFFERENCES["ansi"]: `--color=yes` logs parse as plain ones; of the harness'
  pytest parsers only v2 reads them."""
  logs, _ = recorded
  for name in FORMAT_VARIANTS:
    parser = logparse.get_parser(name)
    assert parser(logs["colour"]) == parser(logs["tb_short"]), name
  assert len(harness.registry["parse_log_pytest"](logs["colour"], None)) < 10


def _unittest_ids(text):
  return {line.split(" ... ")[0].strip() for line in text.splitlines() if " ... " in line}


def test_recorded_unittest_log_agrees_with_django_parser(recorded, harness):
  logs, _ = recorded
  text = logs["unittest"]
  mine = logparse.parse_django_log(text)
  theirs = harness.registry["parse_log_django"](text, None)
  ids = _unittest_ids(text) - {"test_fail (test_cases.Cases.test_fail)"}
  for test_id in ids:
    assert mine.get(test_id) == theirs.get(test_id), test_id
  assert mine["test_ok (test_cases.Cases.test_ok)"] == "PASSED"
  assert mine["The first docstring line becomes the description."] == "PASSED"
  assert mine["Fails, with a docstring."] == "FAILED"
  assert mine["test_error (test_cases.Cases.test_error)"] == "ERROR"
  assert mine["test_skip (test_cases.Cases.test_skip)"] == "SKIPPED"
  assert "test_expected_failure (test_cases.Cases.test_expected_failure)" not in mine
  # test_ok printed a fake `... ok` line for test_fail before test_fail ran: the
  # harness lets the later, real FAIL win too.
  assert mine["test_fail (test_cases.Cases.test_fail)"] == "FAILED"
  assert theirs["test_fail (test_cases.Cases.test_fail)"] == "FAILED"


@pytest.mark.docker
@pytest.mark.slow
def test_logs_recorded_in_the_base_image_agree(docker_ready, harness, tmp_path):
  """pytest 7.2 and python 3.11.2 of the base image, with the harness' own flags."""
  tree = _toolz_tree(str(tmp_path))
  ids = _collected(tree)
  with open_sandbox("docker", head_chars=400_000, tail_chars=400_000) as sandbox:
    sandbox.copy_in(tree, "/testbed")
    prefix = "cd /testbed && "
    rA = sandbox.run(prefix + "python3 -m pytest --no-header -rA --tb=no -p no:cacheprovider "
                     "toolz/tests", timeout=600).output
    classic = sandbox.run(prefix + "python3 -m pytest -rA -vv -o console_output_style=classic "
                          "--tb=no -p no:cacheprovider toolz/tests", timeout=600).output
    unit = sandbox.run(prefix + "python3 -m unittest -v test_cases", timeout=300).output
  for name in ("parse_log_pytest", "parse_log_pytest_options", "parse_log_matplotlib",
               "parse_log_seaborn", "parse_log_pytest_v2"):
    mine = logparse.get_parser(name)(rA)
    theirs = harness.registry[name](rA, None)
    assert _assert_parity(name, mine, theirs, _expected_ids(name, ids), "docker") > 180
  mine = logparse.parse_pytest_v2_log(classic)
  assert _assert_parity("parse_log_pytest_v2", mine, harness.registry["parse_log_pytest_v2"](classic, None),
                        ids, "docker classic") > 180
  mine = logparse.parse_django_log(unit)
  theirs = harness.registry["parse_log_django"](unit, None)
  assert mine["Fails, with a docstring."] == theirs["Fails, with a docstring."] == "FAILED"
  spoofed = "test_fail (test_cases.Cases.test_fail)"
  for test_id in _unittest_ids(unit) - {spoofed}:
    assert mine.get(test_id) == theirs.get(test_id), test_id
  # Here stdout (block-buffered into a pipe) reaches the log after stderr, so the
  # fake `... ok` that test_ok printed comes after the real FAIL: the harness keeps
  # the last line, swejax the worst (DIFFERENCES["worst_wins"]).
  assert unit.index(spoofed + " ... ok") > unit.index(spoofed + " ... FAIL")
  assert (mine[spoofed], theirs[spoofed]) == ("FAILED", "PASSED")
