"""Parser parity on hand-written logs of each Python format the harness grades
(tests/tasks/data/logs/), the harness' repo -> parser map, and `passed` against
the harness' grading. Every status either parser gives is accounted for: swejax's
exactly, the harness' as swejax's except for the documented differences."""
import importlib.util
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swejax.tasks import logparse

HERE = os.path.dirname(__file__)
LOGS = os.path.join(HERE, "data", "logs")
_spec = importlib.util.spec_from_file_location("swebench_harness",
                                               os.path.join(HERE, "swebench_harness.py"))
swebench_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(swebench_harness)

P, F, E, S, X = "PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL"
DJ = "(utils_tests.test_text.TestUtilsText)"
FITS = "astropy/io/fits/tests/test_checksum.py::TestChecksumFunctions::"
QTY = "astropy/units/tests/test_quantity.py::"
PLOT = "tests/_core/test_plot.py::"
REL = "tests/test_relational.py::TestScatterPlotter::"
WID = "lib/matplotlib/tests/test_widgets.py::"
SELF = "tests/test_self.py::TestRunTC::"
READER = "pydicom/tests/test_filereader.py::TestReader::"
SPH = "tests/test_ext_autodoc.py::"
TYP = "tests/test_util_typing.py::"
TERM = "testing/test_terminal.py::"

# (parser, log file, swejax's statuses, {id: (the harness' status or None, why)}).
CASES = [
    ("parse_log_django", "django_runtests.log", {
        "test_no_migrations (migrations.test_commands.MigrateTests)": P,
        f"test_wrap {DJ}": P,
        f"test_truncate_chars {DJ}": F,
        f"test_format_lazy {DJ}": E,
        f"test_slugify_unicode {DJ}": S,
        "Entities are unescaped, and a multi-line docstring shows its first line only.": P,
        "Sequences are compressed the way the gzip middleware expects.": F,
        "Docstring of a test that errors.": E,
        f"test_compress_sequence {DJ}": F,
        f"test_get_valid_filename {DJ}": E,
        f"test_lost_line {DJ}": F,
        "test_noisy_command (admin_scripts.tests.ManageRunserver)": P,
        "test_custom_command (admin_scripts.tests.CommandTypes)": P,
        "--version is equivalent to version": P,
        f"test_printer {DJ}": P,
        f"test_spoofing {DJ}": P,
        f"test_spoofing {DJ} ... test_truncate_chars {DJ}": P,
        f"test_colour {DJ}": P,
        f"test_skip_reason {DJ}": S,
    }, {
        f"test_compress_sequence {DJ}": (None, "django_headers"),
        f"test_get_valid_filename {DJ}": (None, "django_headers"),
        f"test_lost_line {DJ}": (None, "django_headers"),
        "test_truncate_chars": (F, "django_headers"),
        "test_format_lazy": (E, "django_headers"),
        "test_compress_sequence": (F, "django_headers"),
        "test_get_valid_filename": (E, "django_headers"),
        "test_lost_line": (F, "django_headers"),
        f"test_pending_forever {DJ}": (P, "django_lone_ok"),
        f"test_colour {DJ}": (None, "ansi"),
    }),
    ("parse_log_sympy", "sympy_bin_test.log", {
        "test__aresame": P, "test_structure": P, "test_equality": F, "test_matches_basic": E,
        "test_coloured": P, "test_subs": P, "test_printmethod": P, "test_latex_long": E,
        "test_latex_matrices": P, "test_noisy": P,
        "sympy/core/tests/test_basic.py:test_matches_basic": F,
        "sympy/printing/tests/test_latex.py:test_latex_long": F,
        "sympy/core/tests/test_basic.py::test_equality": F,
    }, {
        "test_equality": (P, "worst_wins"),  # a test printed `test_equality ok` after its F
        "test_coloured": (None, "ansi"),
        "test_noisy": (None, "sympy_output"),
        "test_subs": (None, "sympy_file_mark"),
        "test_latex_matrices": (None, "sympy_file_mark"),
        "test_latex_long": (None, "sympy_file_mark"),
        " /testbed/sympy/core/basic.py:12: SymPyDeprecationWarning: use x": (F, "sympy_headers"),
    }),
    ("parse_log_pytest", "pytest_inner_sessions.log", {
        TERM + "TestTerminal::test_pass_skip": P, TERM + "TestTerminal::test_verbose": P,
        TERM + "test_plain": P, TERM + "TestTerminal::test_report_collect": F,
    }, {
        # the output of a pytest session that a test ran: pytest-dev__pytest-5262 and
        # -7521 expect this "[100%]" in PASS_TO_PASS, which swejax never passes
        "[100%]": (P, "last_summary"),
        "test_pass_skip.py::test_ok": (P, "last_summary"),
    }),
    ("parse_log_pytest_v2", "astropy_pytest_classic.log", {
        FITS + "test_sample_file": P, FITS + "test_image_create": F,
        FITS + "test_nonstandard_checksum": E, FITS + "test_scaled_data": S,
        FITS + "test_uint16_data": X, QTY + "test_quantity_repr[1.0 m]": P,
        QTY + "test_quantity_repr[2.5  s]": P, QTY + "test_teardown_fails": E,
        QTY + "test_arrays": P,
    }, {
        # printed in test_arrays' captured output, after the real FAILED line
        FITS + "test_image_create": (P, "progress_region"),
        QTY + "test_quantity_repr[2.5  s]": (None, "whole_ids"),
        QTY + "test_quantity_repr[2.5 s]": (P, "whole_ids"),
    }),
    ("parse_log_sphinx", "sphinx_tox.log", {
        SPH + "test_autodoc": F, SPH + "test_autodoc_attributes": P,
        SPH + "test_autodoc_warnings": P, SPH + "test_format_signature": P,
        TYP + "test_restify": P, TYP + "test_stringify_type_hints_containers[List[int]]": P,
        TYP + "test_stringify_broken_hint": X,
    }, {
        TYP + "test_stringify_broken_hint": (None, "v2_messages"),
        TYP + "test_stringify_broken_hint - annotationlib differs": (X, "v2_messages"),
    }),
    ("parse_log_seaborn", "seaborn_pytest.log", {
        PLOT + "TestInit::test_empty": P, PLOT + "TestInit::test_data_only": F,
        PLOT + "TestInit::test_vector_variables_only": P, PLOT + "TestPlotting::test_teardown": E,
        REL + "test_color[a b]": P, REL + "test_size": P, REL + "test_setup": E,
    }, {
        PLOT + "TestPlotting::test_teardown": (P, "seaborn_error"),
        REL + "test_setup": (None, "seaborn_error"),
        REL + "test_color[a b]": (None, "whole_ids"),
        REL + "test_color[a": (P, "whole_ids"),
    }),
    ("parse_log_matplotlib", "matplotlib_pytest.log", {
        WID + "test_rectangle_selector": P, WID + "test_span_selector_drag[1-True]": P,
        WID + "test_lasso_selector[1]": P, WID + "test_check_buttons_rectangles[png]": P,
        WID + "test_polygon_selector_box": X, WID + "test_span_selector_drag[3-True]": F,
    }, {}),
    ("parse_log_pytest_options", "pylint_pytest_options.log", {
        SELF + "test_all": P, SELF + "test_relative_imports[False]": P,
        SELF + "test_regression_parallel_mode_without_filepath": P,
        "tests/test_functional.py::test_functional[recursion_error_3152]": P,
        "tests/test_functional.py::test_functional[//server/share/regr.py]": P,
        READER + "test_explicit_vr[/CT_small.dcm]": P,
        READER + "test_deferred[/opt/data/*.dcm]": E,
        SELF + "test_output_file_valid[/a.py]": F,
    }, {}),
]


@pytest.fixture(scope="module")
def harness():
  with swebench_harness.loaded() as loaded:
    yield loaded


def _read(name):
  with open(os.path.join(LOGS, name), encoding="utf-8") as f:
    return f.read()


@pytest.mark.parametrize("parser,log,mine,differs", CASES, ids=[c[1] for c in CASES])
def test_hand_written_logs(parser, log, mine, differs, harness):
  text = _read(log)
  assert logparse.get_parser(parser)(text) == mine
  theirs = dict(mine)
  for test_id, (status, why) in differs.items():
    assert why in logparse.DIFFERENCES, why
    if status is None:
      theirs.pop(test_id, None)
    else:
      theirs[test_id] = status
  assert harness.registry[parser](text, None) == theirs


def test_missing_tests_have_failed():
  for name, parser in logparse.PARSERS.items():
    assert parser("") == {}, name
    assert not logparse.passed(parser(""), "t.py::test_a"), name


FRAGMENTS = ["PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS", " ", "  ", "\n", " ... ",
             "...", "ok", "OK", "F", "E", "T", "test_", "t.py::t", "[", "]", "[1]", " - ",
             "FAIL: ", "ERROR: ", "=== ", " ===", "short test summary info",
             "test session starts", "___ ", ".py:", "[OK]", "[ 50%]", "\x1b[32m", "\r",
             "Applying a.0001...", "--version is equivalent to version", "\t", "\u00e9"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60))
def test_any_text_parses_to_statuses(fragments):
  text = "".join(fragments)
  for name, parser in logparse.PARSERS.items():
    got = parser(text)
    assert all(k and v in logparse.STATUSES for k, v in got.items()), (name, text)


def test_every_python_parser_of_the_harness(harness):
  assert set(logparse.PARSERS) == set(harness.python_names) | {"pytest"}
  names = harness.python_names
  for a in names:
    for b in names:  # the harness' aliases are swejax's aliases
      same = harness.registry[a] is harness.registry[b]
      assert (logparse.PARSERS[a] is logparse.PARSERS[b]) == same, (a, b)
  assert logparse.PARSERS["pytest"] is logparse.PARSERS["parse_log_pytest"]
  # every format has a hand-written log above
  formats = {harness.registry[name] for name in names}
  assert {harness.registry[case[0]] for case in CASES} == formats


def test_parser_for_repo(harness):
  assert harness.repo_parsers
  for repo, function in harness.repo_parsers.items():
    name = logparse.parser_for_repo(repo)
    assert harness.registry[name] is function, repo
    assert name.removeprefix("parse_log_") in repo.replace("-", "").replace("scikitlearn",
                                                                           "scikit"), repo
  with pytest.raises(ValueError, match="pallets/jinja"):
    logparse.parser_for_repo("pallets/jinja")


def _harness_passes(harness, statuses, test_id, fail_only):
  kind = harness.EvalType.FAIL_ONLY if fail_only else harness.EvalType.PASS_AND_FAIL
  report = harness.grading.get_eval_tests_report(
      statuses, {"FAIL_TO_PASS": [test_id], "PASS_TO_PASS": []}, eval_type=kind)
  return report["FAIL_TO_PASS"]["success"] == [test_id]


def test_passed_follows_the_harness_grading(harness):
  exact = "t.py::test_a"
  cut = "t.py::test_fail[log(photon"  # a published id cut inside its parameters
  maps = [{}, {"t.py::test_b": P}]
  maps += [{exact: s} for s in logparse.STATUSES]
  maps += [{cut + ")]": s} for s in logparse.STATUSES]
  maps += [{cut + ")]": P, cut + ")-2]": X}, {cut + ")]": P, cut + ")-2]": F}]
  for statuses in maps:
    for test_id in (exact, cut):
      for fail_only in (False, True):
        mine = logparse.passed(statuses, test_id, fail_only=fail_only)
        theirs = _harness_passes(harness, statuses, test_id, fail_only)
        status = statuses.get(test_id)
        if fail_only and test_id == cut and any(k.startswith(cut) for k in statuses):
          # DIFFERENCES["fail_only"]: the harness looks the cut id up exactly
          assert theirs and mine == (not any(v in (F, E) for v in statuses.values()))
        elif fail_only and status == E:
          assert (mine, theirs) == (False, True)  # DIFFERENCES["fail_only"]
        else:
          assert mine == theirs, (statuses, test_id, fail_only)


def test_recorded_base_image_logs_agree(harness):
  """Logs of the vendored toolz suite (mutated, plus awkward tests) and a unittest
  suite, recorded in the base image (python 3.11.2, pytest 7.2)."""
  text = _read("base_image_pytest_rA.log")
  fake = "toolz/tests/test_zz_awkward.py::test_never_collected"
  mine = logparse.parse_pytest_log(text)
  theirs = harness.registry["parse_log_pytest"](text, None)
  assert len(mine) > 180 and mine["toolz/tests/test_itertoolz.py::test_frequencies"] == F
  assert theirs.pop(fake) == P and fake not in mine  # printed in a PASSES section
  spaced = {k: v for k, v in mine.items() if " " in k}
  assert spaced and all(k.split(" ")[0] in theirs for k in spaced)  # the harness cuts them
  assert {k: v for k, v in mine.items() if k not in spaced} == {
      k: v for k, v in theirs.items() if not any(s.startswith(k + " ") for s in spaced)}
  text = _read("base_image_pytest_classic.log")
  mine = logparse.parse_pytest_v2_log(text)
  theirs = harness.registry["parse_log_pytest_v2"](text, None)
  for test_id, status in mine.items():
    if theirs.get(test_id) != status:
      assert status in (E, S, X) and f"{test_id} - " in "\n".join(theirs), test_id
  text = _read("base_image_unittest.log")
  mine = logparse.parse_django_log(text)
  theirs = harness.registry["parse_log_django"](text, None)
  spoofed = "test_fail (test_cases.Cases.test_fail)"
  assert (mine.pop(spoofed), theirs.pop(spoofed)) == (F, P)  # DIFFERENCES["worst_wins"]
  # DIFFERENCES["django_headers"]: `FAIL: test_documented_fail (...)` heads the report
  # of a test whose result line shows its docstring instead.
  header = "test_documented_fail (test_cases.Cases.test_documented_fail)"
  assert (mine.pop(header), theirs.pop("test_documented_fail")) == (F, F)
  assert mine == {k: v for k, v in theirs.items() if " " in k}
  assert mine["test_subtests (test_cases.Cases.test_subtests) (n=2)"] == F
  assert mine["Fails, with a docstring."] == F
