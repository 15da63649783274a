"""The SWE-bench harness's per-repo, per-version evaluation specs for Python repos.

Reimplemented from the `swebench` 4.x specifications (MAP_REPO_VERSION_TO_SPECS,
MAP_REPO_TO_PARSER, get_test_directives) so that loading and running published
rows needs no `swebench` install (it pulls in heavy dependencies). Only what an
evaluation run reads is kept: the test command, the `eval_commands` run before
it and the `install` command the eval script re-runs.
tests/tasks/test_specs_parity.py checks every Python repo and version against
the package.
"""
from __future__ import annotations

import dataclasses
import re

ENV_NAME = "testbed"
ACTIVATE = f"source /opt/miniconda3/bin/activate && conda activate {ENV_NAME}"
WORKDIR = "/testbed"
START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
TEST_EXIT_CODE = ">>>>> Test Exit Code"
TEST_EXIT_CODE_VAR = "SWEBENCH_TEST_EXIT_CODE"
HEREDOC = "EOF_114329324912"
# Paths of a test_patch that are never passed to the test runner.
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml",
                 ".yaml", ".toml")
# Every Python log parser name in the harness's registry (swebench 5.x).
HARNESS_PARSERS = frozenset({
    "parse_log_pytest", "parse_log_pytest_options", "parse_log_pytest_v2",
    "parse_log_django", "parse_log_seaborn", "parse_log_sympy", "parse_log_matplotlib",
    "parse_log_astroid", "parse_log_flask", "parse_log_marshmallow", "parse_log_pvlib",
    "parse_log_pyvista", "parse_log_sqlfluff", "parse_log_xarray", "parse_log_pydicom",
    "parse_log_requests", "parse_log_pylint", "parse_log_astropy", "parse_log_scikit",
    "parse_log_sphinx"})

_PYTEST = "pytest -rA"
_ASTROPY_OLD = "pytest -rA -vv -o console_output_style=classic --tb=no"
_DJANGO = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
_DJANGO_NO_PARALLEL = "./tests/runtests.py --verbosity 2"
_SEABORN = "pytest --no-header -rA"
_SPHINX = "tox --current-env -epy39 -v --"
_SYMPY = "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose"
_PIP_E = "python -m pip install -e ."
_UTF8 = ("export LANG=en_US.UTF-8", "export LC_ALL=en_US.UTF-8",
         "export PYTHONIOENCODING=utf8", "export LANGUAGE=en_US:en")
_LOCALE_GEN = ("sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen",
               "export LANG=en_US.UTF-8", "export LANGUAGE=en_US:en",
               "export LC_ALL=en_US.UTF-8")


@dataclasses.dataclass(frozen=True)
class Spec:
  """What the harness's eval script runs for one repo version."""
  test_cmd: str
  install: str = ""
  eval_commands: tuple[str, ...] = ()


def _versions(text: str) -> tuple[str, ...]:
  return tuple(text.split())


def _group(versions: str, spec: Spec) -> dict[str, Spec]:
  return {v: spec for v in _versions(versions)}


SPECS: dict[str, dict[str, Spec]] = {
    "astropy/astropy": {
        **_group("3.0 3.1 3.2 4.1 4.2 4.3 5.0 5.1 5.2 v5.3",
                 Spec(_PYTEST, "python -m pip install -e .[test] --verbose")),
        **_group("0.1 0.2 0.3 0.4 1.1 1.2 1.3",
                 Spec(_ASTROPY_OLD, "python -m pip install -e .[test] --verbose")),
    },
    "django/django": {
        **_group("1.7 1.8 1.10 1.11 2.0 2.1 2.2", Spec(_DJANGO, "python setup.py install", _UTF8)),
        "1.9": Spec(_DJANGO_NO_PARALLEL, "python setup.py install", _UTF8),
        **_group("1.4 1.5 1.6", Spec(_DJANGO, "python setup.py install")),
        **_group("3.0 3.1 3.2", Spec(_DJANGO, _PIP_E, _LOCALE_GEN)),
        **_group("4.0 4.1 4.2 5.0 5.1 5.2", Spec(_DJANGO, _PIP_E)),
    },
    "matplotlib/matplotlib": {
        **_group("3.0 3.1 3.2 3.3 3.4 3.5 3.6 3.7", Spec(_PYTEST, _PIP_E)),
        **_group("3.8 3.9",
                 Spec(_PYTEST, 'python -m pip install --no-build-isolation -e ".[dev]"')),
        **_group("1.0 1.1 1.2 1.3 1.4 1.5 2.0 2.1 2.2",
                 Spec(_PYTEST, "python setup.py build; python setup.py install")),
    },
    "marshmallow-code/marshmallow": _group(
        "2.18 2.19 2.20 3.0 3.1 3.2 3.4 3.8 3.9 3.10 3.11 3.12 3.13 3.15 3.16 3.19",
        Spec(_PYTEST, "python -m pip install -e '.[dev]'")),
    "mwaskom/seaborn": {
        "0.11": Spec(_SEABORN, _PIP_E),
        **_group("0.12 0.13 0.14", Spec(_SEABORN, "python -m pip install -e .[dev]")),
    },
    "pallets/flask": _group("2.0 2.1 2.2 2.3 3.0 3.1", Spec(_PYTEST, _PIP_E)),
    "psf/requests": _group(
        "0.7 0.8 0.9 0.11 0.13 0.14 1.1 1.2 2.0 2.2 2.3 2.4 2.5 2.7 2.8 2.9 2.10 2.11 2.12 "
        "2.17 2.18 2.19 2.22 2.25 2.26 2.27 2.31 3.0",
        Spec(_PYTEST, "python -m pip install .")),
    "pvlib/pvlib-python": _group("0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9",
                                 Spec(_PYTEST, "python -m pip install -e .[all]")),
    "pydata/xarray": _group("0.12 0.18 0.19 0.20 2022.03 2022.06 2022.09 2023.07 2024.05",
                            Spec(_PYTEST, _PIP_E)),
    "pydicom/pydicom": _group("1.0 1.1 1.2 1.3 1.4 2.0 2.1 2.2 2.3 2.4 3.0",
                              Spec(_PYTEST, _PIP_E)),
    "pylint-dev/astroid": _group("2.5 2.6 2.7 2.8 2.9 2.10 2.12 2.13 2.14 2.15 2.16 3.0",
                                 Spec(_PYTEST, _PIP_E)),
    "pylint-dev/pylint": _group(
        "2.8 2.9 2.10 2.11 2.13 2.14 2.15 2.16 2.17 3.0 3.1 3.2 3.3 4.0", Spec(_PYTEST, _PIP_E)),
    "pytest-dev/pytest": _group(
        "4.4 4.5 4.6 5.0 5.1 5.2 5.3 5.4 6.0 6.2 6.3 7.0 7.1 7.2 7.4 8.0 8.1 8.2 8.3 8.4",
        Spec(_PYTEST, _PIP_E)),
    "pyvista/pyvista": _group(" ".join(f"0.{n}" for n in range(20, 44)), Spec(_PYTEST, _PIP_E)),
    "scikit-learn/scikit-learn": _group(
        "0.20 0.21 0.22 1.3 1.4 1.5 1.6",
        Spec(_PYTEST, "python -m pip install -v --no-use-pep517 --no-build-isolation -e .")),
    "sphinx-doc/sphinx": _group(
        "1.5 1.6 1.7 1.8 2.0 2.1 2.2 2.3 2.4 3.0 3.1 3.2 3.3 3.4 3.5 4.0 4.1 4.2 4.3 4.4 4.5 "
        "5.0 5.1 5.2 5.3 6.0 6.2 7.0 7.1 7.2 7.3 7.4 8.0 8.1",
        Spec(_SPHINX, "python -m pip install -e .[test]")),
    "sqlfluff/sqlfluff": _group(
        "0.4 0.5 0.6 0.8 0.9 0.10 0.11 0.12 0.13 1.0 1.1 1.2 1.3 1.4 2.0 2.1 2.2",
        Spec(_PYTEST, _PIP_E)),
    "swe-bench/humaneval": {"1.0": Spec("python")},
    "sympy/sympy": _group("0.7 1.0 1.1 1.2 1.4 1.5 1.6 1.7 1.8 1.9 1.10 1.11 1.12 1.13 1.14",
                          Spec(_SYMPY, _PIP_E)),
}

# Repos outside the table (e.g. SWE-Gym's) run the harness's plain pytest command,
# graded by its plain pytest parser (the repo -> parser map is logparse.parser_for_repo).
FALLBACK = Spec(_PYTEST)
FALLBACK_PARSER = "parse_log_pytest"

_DIFF_GIT = re.compile(r"diff --git a/.* b/(.*)")
_SOURCE = re.compile(r"^--- a/(.+?)\s*$", re.MULTILINE)


class UnknownVersion(KeyError):
  """A repo the table knows, at a version it does not: the harness cannot run it."""

  def __str__(self) -> str:
    return self.args[0]


def spec_for(repo: str, version: str) -> Spec:
  """The harness's spec for (repo, version); FALLBACK for repos outside the table."""
  versions = SPECS.get(repo)
  if versions is None:
    return FALLBACK
  if version not in versions:
    raise UnknownVersion(f"the harness has no spec for {repo} version {version!r}; known: "
                         f"{', '.join(versions)}")
  return versions[version]


def test_directives(repo: str, test_patch: str) -> list[str]:
  """What the harness passes to the test command: get_test_directives, exactly.

  Every `b/` path of the test_patch's `diff --git` lines, minus NON_TEST_EXTS;
  django's become dotted module names relative to tests/.
  """
  if repo == "swe-bench/humaneval":
    return ["test.py"]
  directives = [d for d in _DIFF_GIT.findall(test_patch)
                if not any(d.endswith(ext) for ext in NON_TEST_EXTS)]
  if repo == "django/django":
    directives = [(d[:-len(".py")] if d.endswith(".py") else d) for d in directives]
    directives = [(d[len("tests/"):] if d.startswith("tests/") else d).replace("/", ".")
                  for d in directives]
  return directives


def modified_files(test_patch: str) -> list[str]:
  """Files the test_patch changes that exist before it (the harness resets these)."""
  return _SOURCE.findall(test_patch)


def eval_script(repo: str, version: str, base_commit: str, test_patch: str,
                workdir: str = WORKDIR) -> str:
  """The eval script the harness (4.x make_eval_script_list_py) writes for a classic row."""
  return eval_script_for(spec_for(repo, version), repo, base_commit, test_patch, workdir)


def eval_script_for(spec: Spec, repo: str, base_commit: str, test_patch: str,
                    workdir: str = WORKDIR) -> str:
  """The harness's eval script for `spec` (also SWE-rebench's, from its install_config)."""
  files = " ".join(modified_files(test_patch))
  reset = f"git checkout {base_commit} {files}"
  test = " ".join([spec.test_cmd, *test_directives(repo, test_patch)])
  lines = ["source /opt/miniconda3/bin/activate", f"conda activate {ENV_NAME}", f"cd {workdir}",
           *spec.eval_commands,
           f"git config --global --add safe.directory {workdir}", f"cd {workdir}",
           "git status", "git show", f"git -c core.fileMode=false diff {base_commit}",
           "source /opt/miniconda3/bin/activate", f"conda activate {ENV_NAME}"]
  if spec.install:
    lines.append(spec.install)
  lines += [reset, f"git apply -v - <<'{HEREDOC}'\n{test_patch}\n{HEREDOC}",
            f": '{START_TEST_OUTPUT}'", test, f": '{END_TEST_OUTPUT}'", reset]
  return "\n".join(["#!/bin/bash", "set -uxo pipefail", *lines]) + "\n"
