"""Rows exactly as SWE-bench (classic and 5.x), SWE-Gym and SWE-rebench publish them,
and how each runs (swejax.tasks.harness), as the SWE-bench harness decides it."""
import dataclasses
import importlib.util
import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from swejax.rl.task_sets import TaskSets
from swejax.tasks import cli, harness, loader
from swejax.tasks.schema import RowDefaults, row_to_task
from tests.tasks import swebench_harness  # the 5.x harness's own grading module

DATA = os.path.join(os.path.dirname(__file__), "data", "published")
ACTIVATE = "source /opt/miniconda3/bin/activate && conda activate testbed"
CLASSIC_COLUMNS = ["repo", "instance_id", "base_commit", "patch", "test_patch",
                   "problem_statement", "hints_text", "created_at", "version", "FAIL_TO_PASS",
                   "PASS_TO_PASS", "environment_setup_commit"]
GYM_COLUMNS = ["instance_id", "hints_text", "patch", "test_patch", "created_at",
               "problem_statement", "repo", "base_commit", "version", "PASS_TO_PASS",
               "FAIL_TO_PASS"]


def rows(name):
  with open(os.path.join(DATA, name), encoding="utf-8") as handle:
    return [json.loads(line) for line in handle]


def by_id(name, **options):
  return {t.instance_id: t for t in loader.load_tasks(os.path.join(DATA, name), **options)}


def test_fixtures_have_the_published_columns():
  assert all(list(r) == CLASSIC_COLUMNS for r in rows("swe-bench.jsonl"))
  assert all(list(r) == CLASSIC_COLUMNS + ["difficulty"] for r in rows("swe-bench-verified.jsonl"))
  assert all(list(r) == CLASSIC_COLUMNS + ["image", "eval_script", "log_parser", "eval_type"]
             for r in rows("swe-bench-5x.jsonl"))
  assert all(list(r) == GYM_COLUMNS for r in rows("swe-gym.jsonl"))
  for row in rows("swe-bench.jsonl"):
    assert isinstance(row["FAIL_TO_PASS"], str) and isinstance(row["version"], str)
  for row in rows("swe-gym.jsonl") + rows("swe-rebench.jsonl"):
    assert isinstance(row["FAIL_TO_PASS"], list)
  rebench = rows("swe-rebench.jsonl")
  assert {"install_config", "meta", "docker_image", "license_name", "requirements",
          "environment"} <= set(rebench[0])
  assert any("image_name" in r for r in rebench) and any("image_name" not in r for r in rebench)
  assert any(isinstance(r["install_config"]["test_cmd"], list) for r in rebench)


# instance -> (image, test command line with directives, parser)
CLASSIC = {
    "django__django-11099": (
        "swebench/sweb.eval.x86_64.django_1776_django-11099:latest",
        "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 "
        "auth_tests.test_validators", "parse_log_django"),
    "django__django-5470": (
        "swebench/sweb.eval.x86_64.django_1776_django-5470:latest",
        "./tests/runtests.py --verbosity 2 user_commands.tests "
        "user_commands.management.commands.reverse_url", "parse_log_django"),
    "sympy__sympy-20590": (
        "swebench/sweb.eval.x86_64.sympy_1776_sympy-20590:latest",
        "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose "
        "sympy/core/tests/test_basic.py", "parse_log_sympy"),
    "astropy__astropy-7166": (
        "swebench/sweb.eval.x86_64.astropy_1776_astropy-7166:latest",
        "pytest -rA -vv -o console_output_style=classic --tb=no "
        "astropy/utils/tests/test_misc.py", "parse_log_astropy"),
    "psf__requests-2317": (
        "swebench/sweb.eval.x86_64.psf_1776_requests-2317:latest",
        "pytest -rA test_requests.py", "parse_log_requests"),
    "pytest-dev__pytest-5227": (
        "swebench/sweb.eval.x86_64.pytest-dev_1776_pytest-5227:latest",
        "pytest -rA testing/logging/test_reporting.py", "parse_log_pytest"),
    "sphinx-doc__sphinx-8721": (
        "swebench/sweb.eval.x86_64.sphinx-doc_1776_sphinx-8721:latest",
        "tox --current-env -epy39 -v -- tests/test_ext_viewcode.py", "parse_log_sphinx"),
    # the baseline .png of the test_patch is not a test directive
    "matplotlib__matplotlib-23314": (
        "swebench/sweb.eval.x86_64.matplotlib_1776_matplotlib-23314:latest",
        "pytest -rA lib/mpl_toolkits/tests/test_mplot3d.py", "parse_log_matplotlib"),
    "scikit-learn__scikit-learn-13142": (
        "swebench/sweb.eval.x86_64.scikit-learn_1776_scikit-learn-13142:latest",
        "pytest -rA sklearn/mixture/tests/test_bayesian_mixture.py "
        "sklearn/mixture/tests/test_gaussian_mixture.py doc/whats_new/v0.21.rst",
        "parse_log_scikit"),
}


@pytest.mark.parametrize("name", ["swe-bench.jsonl", "swe-bench-verified.jsonl",
                                  "swe-bench-5x.jsonl"])
def test_swe_bench_rows_resolve_as_the_harness(name):
  tasks = by_id(name)
  assert len(tasks) == 10
  for instance_id, (image, line, parser) in CLASSIC.items():
    task = tasks[instance_id]
    assert task.image == image
    assert task.test_cmd == f"{ACTIVATE} && {line}"
    assert task.log_parser == parser
    assert (task.workdir, task.eval_type) == ("/testbed", "pass_and_fail")
    command = harness.test_command(task)
    assert f"\n{line}\n" in command
    assert "source /opt/miniconda3/bin/activate\nconda activate testbed\n" in command
    assert "git apply" not in command and task.base_commit not in command.split(
        harness.specs.START_TEST_OUTPUT)[1]


def test_classic_rows_get_the_published_5x_eval_script():
  """The harness's eval script, written at load, is the one the 5.x dataset publishes."""
  classic, five = by_id("swe-bench.jsonl"), by_id("swe-bench-5x.jsonl")
  for instance_id, task in five.items():
    assert classic[instance_id].eval_script == task.eval_script
    assert harness.test_command(classic[instance_id]) == harness.test_command(task)
  assert "python -m pip install -e .\n" in five["django__django-11099"].eval_script
  assert "export LANG=en_US.UTF-8" in harness.test_command(five["django__django-11099"])


def test_swe_gym_rows_use_the_plain_pytest_command():
  tasks = by_id("swe-gym.jsonl")
  assert len(tasks) == 6
  moto = tasks["getmoto__moto-5752"]
  assert moto.image == "swebench/sweb.eval.x86_64.getmoto_1776_moto-5752:latest"
  assert moto.test_cmd == f"{ACTIVATE} && pytest -rA tests/test_ssm/test_ssm_boto3.py"
  assert moto.log_parser == "parse_log_pytest"
  assert moto.FAIL_TO_PASS == ("tests/test_ssm/test_ssm_boto3.py::"
                               "test_describe_parameters__multiple_tags",)
  assert moto.environment_setup_commit == ""
  gym = by_id("swe-gym.jsonl", image_namespace="xingyaoww")
  assert gym["pandas-dev__pandas-53672"].image == (
      "xingyaoww/sweb.eval.x86_64.pandas-dev_1776_pandas-53672:latest")


def test_swe_rebench_rows_use_their_install_config():
  tasks = by_id("swe-rebench.jsonl")
  httpx = tasks["encode__httpx-2701"]
  assert httpx.image == "swerebench/sweb.eval.x86_64.encode_1776_httpx-2701"
  assert httpx.test_cmd == (f"{ACTIVATE} && pytest --no-header -rA --tb=no -p no:cacheprovider "
                            "tests/test_urlparse.py")
  assert httpx.log_parser == "parse_log_pytest"
  assert "\npip install -e .\n" in httpx.eval_script
  assert httpx.meta["llm_score"] == {"difficulty_score": 1, "issue_text_score": 0,
                                     "test_score": 0}
  attrs = tasks["python-attrs__attrs-1267"]  # docker_image only
  assert attrs.image == "swerebench/sweb.eval.x86_64.python-attrs_1776_attrs-1267"
  assert "-W ignore::DeprecationWarning tests/test_make.py" in attrs.test_cmd
  # install_config beats the harness's spec for a repo it knows
  assert "pytest --no-header -rA --tb=no" in tasks["marshmallow-code__marshmallow-2123"].test_cmd


def _parquet(tmp_path, name, table_rows):
  path = str(tmp_path / name)
  pq.write_table(pa.Table.from_pylist(table_rows), path)
  return path


def test_published_parquet_types(tmp_path):
  """Parquet as the hub publishes it: lists, structs, a timestamp, nulls in structs."""
  for name in ("swe-bench.jsonl", "swe-bench-5x.jsonl", "swe-gym.jsonl"):
    path = _parquet(tmp_path, name.replace(".jsonl", ".parquet"), rows(name))
    assert [t.to_row() for t in loader.load_tasks(path)] == [
        t.to_row() for t in loader.load_tasks(os.path.join(DATA, name))]
  rebench = rows("swe-rebench.jsonl")
  for row in rebench:
    row.setdefault("image_name", None)
    test_cmd = row["install_config"]["test_cmd"]  # parquet: one type per column
    row["install_config"]["test_cmd"] = test_cmd if isinstance(test_cmd, str) else test_cmd[0]
  table = pa.Table.from_pylist(rebench)
  table = table.set_column(table.schema.get_field_index("created_at"), "created_at",
                           table.column("created_at").cast(pa.string()).cast(pa.timestamp("s")))
  path = str(tmp_path / "rebench.parquet")
  pq.write_table(table, path)
  tasks = {t.instance_id: t for t in loader.load_tasks(path)}
  assert tasks["encode__httpx-2701"].created_at == "2023-05-26T08:11:26"
  assert tasks["jd__tenacity-390"].image == "swerebench/sweb.eval.x86_64.jd_1776_tenacity-390"
  assert tasks["jd__tenacity-390"].install_config["env_vars"] is None


def test_every_bad_published_row_is_reported(tmp_path):
  good = rows("swe-bench.jsonl")[0]
  bad = [
      dict(good, instance_id="django__django-1", version="0.1"),  # no harness spec
      dict(rows("swe-bench-5x.jsonl")[2], instance_id="sympy__sympy-1",
           eval_script="#!/bin/bash\npytest\n", eval_type="both"),
      dict(rows("swe-rebench.jsonl")[0], instance_id="x__y-1",
           install_config={"test_cmd": 5}, FAIL_TO_PASS="not json"),
  ]
  path = tmp_path / "bad.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in [good] + bad))
  with pytest.raises(loader.TaskLoadError) as info:
    loader.load_tasks(str(path))
  text = "\n".join(info.value.errors)
  assert (f"{path}:line 2 (django__django-1): field version: the harness has no spec for "
          "django/django version '0.1'") in text
  assert (f"{path}:line 3 (sympy__sympy-1): field eval_script: no '>>>>> Start Test Output' "
          "marker") in text
  assert f"{path}:line 3 (sympy__sympy-1): field eval_type: expected one of" in text
  assert f"{path}:line 4 (x__y-1): field FAIL_TO_PASS: not a JSON list" in text
  assert f"{path}:line 4 (x__y-1): field install_config.test_cmd: expected a string" in text
  assert len(info.value.errors) == 5
  # a default test command covers a version the harness does not know
  task, errors = row_to_task(bad[0], RowDefaults(test_cmd="pytest"))
  assert errors == [] and (task.test_cmd, task.eval_script) == ("pytest {test_files}", "")


def test_empty_test_patch_runs_the_tests_as_they_are():
  row = dict(rows("swe-bench.jsonl")[4], test_patch="")
  task, errors = row_to_task(row)
  assert errors == []
  assert task.test_cmd == (f"{ACTIVATE} && pytest -rA -vv -o console_output_style=classic "
                           "--tb=no")


def test_mirror_overrides():
  five = by_id("swe-bench-5x.jsonl", image_namespace="registry.example:5000/swebench")
  assert five["django__django-11099"].image == (
      "registry.example:5000/swebench/sweb.eval.x86_64.django_1776_django-11099:latest")
  rebench = by_id("swe-rebench.jsonl", image_template="mirror.example/{repo}:{key}")
  assert rebench["jd__tenacity-390"].image == (
      "mirror.example/jd/tenacity:sweb.eval.x86_64.jd_1776_tenacity-390:latest")
  plain = by_id("swe-bench.jsonl", image="my/django:dev", test_cmd="python -m pytest -x")
  task = plain["django__django-11099"]
  assert (task.image, task.test_cmd, task.eval_script) == (
      "my/django:dev", "python -m pytest -x {test_files}", "")
  assert "python -m pytest -x tests/auth_tests/test_validators.py" in harness.test_command(task)
  with pytest.raises(ValueError, match="image template '{nope}': bad placeholder 'nope'"):
    by_id("swe-gym.jsonl", image_template="{nope}")


def test_resolve_cli(tmp_path, capsys):
  path = os.path.join(DATA, "swe-bench-verified.jsonl")
  assert cli.main(["resolve", "--tasks", path, "--image-namespace", "mirror"]) == 0
  out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert len(out) == 10
  first = out[0]
  assert set(first) >= {"instance_id", "image", "test_cmd", "log_parser", "workdir"}
  assert first["image"] == "mirror/sweb.eval.x86_64.django_1776_django-11099:latest"
  assert first["test_cmd"] == harness.test_command(by_id("swe-bench-verified.jsonl")[
      "django__django-11099"])
  assert (first["log_parser"], first["workdir"]) == ("parse_log_django", "/testbed")
  assert cli.main(["resolve", "--tasks", str(tmp_path / "none.jsonl")]) == 2


def _run(command, cwd):
  return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                        timeout=60)


@pytest.mark.parametrize("status", [0, 1, 4])
def test_test_command_records_the_test_exit_status(tmp_path, status):
  """The script runs as the harness runs it: set-up apart, the test between markers."""
  marker = tmp_path / "setup-ran"
  script = (f"#!/bin/bash\nset -uxo pipefail\ncd {tmp_path}\nexport SWEJAX_X=1\n"
            f"touch {marker}\necho set-up noise\n"
            f"git checkout {'a' * 40} tests/test_x.py\n"
            "git apply -v - <<'EOF_114329324912'\ndiff --git a/x b/x\nEOF_114329324912\n"
            ": '>>>>> Start Test Output'\n"
            f"echo \"PASSED t::a $SWEJAX_X\"; exit_with() {{ return $1; }}; exit_with {status}\n"
            ": '>>>>> End Test Output'\n"
            f"git checkout {'a' * 40} tests/test_x.py\n")
  task, errors = row_to_task(dict(rows("swe-bench-5x.jsonl")[5], eval_script=script))
  assert errors == []
  run = _run(harness.test_command(task), "/")
  assert run.returncode == status
  assert marker.exists()
  assert "set-up noise" not in run.stdout
  log, code = harness.split_test_output(run.stdout)
  assert (log.strip(), code) == ("PASSED t::a 1", status)


def test_split_test_output_trusts_the_last_exit_line():
  output = (">>>>> Start Test Output\n>>>>> Test Exit Code: 0\n>>>>> End Test Output\nok\n"
            ">>>>> End Test Output\n>>>>> Test Exit Code: 1\n")
  log, code = harness.split_test_output(output)
  assert code == 1
  assert log == "\n>>>>> Test Exit Code: 0\n>>>>> End Test Output\nok\n"
  assert harness.split_test_output("no markers") == ("no markers", None)


def test_exit_code_line_reads_as_the_5x_harness_reads_it(tmp_path):
  task = by_id("swe-bench.jsonl")["psf__requests-2317"]
  script = harness.test_command(dataclasses.replace(
      task, eval_script="", test_cmd="echo 'PASSED test_requests.py::t'; (exit 3)"))
  run = _run(script, str(tmp_path))
  with swebench_harness.loaded() as reference:
    assert reference.grading.parse_test_exit_code(run.stdout) == 3
  assert harness.split_test_output(run.stdout) == ("\nPASSED test_requests.py::t\n", 3)
  assert run.returncode == 3


def test_config_tasks_section_reaches_the_loader():
  """configs/demo.py's tasks.image/test_cmd/image_namespace/image_template, read by TaskSets."""
  spec = importlib.util.spec_from_file_location(
      "demo_config", os.path.join(os.path.dirname(__file__), "..", "..", "configs", "demo.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("smoke")
  assert (config.tasks.image, config.tasks.test_cmd, config.tasks.image_namespace,
          config.tasks.image_template) == ("", "", "", "")
  config.tasks.path = os.path.join(DATA, "swe-rebench.jsonl")
  config.tasks.eval_path = os.path.join(DATA, "swe-bench-verified.jsonl")
  config.tasks.hints, config.tasks.eval_n = False, 2
  config.tasks.image_namespace = "mirror.example/sb"
  data = TaskSets(config, "unused")
  assert len(data.pool) == 4 and len(data.held_out) == 2
  assert all(t.image.startswith("mirror.example/sb/sweb.eval.x86_64.")
             for t in data.pool + data.held_out)


def test_a_mirror_test_command_keeps_the_repo_parser():
  tasks = by_id("swe-bench.jsonl", test_cmd="./run-tests.sh")
  assert tasks["django__django-11099"].log_parser == "parse_log_django"
  assert tasks["sympy__sympy-20590"].test_cmd == "./run-tests.sh {test_files}"


@pytest.mark.parametrize("command", ["validate", "grade", "filter", "stats", "images",
                                     "resolve"])
def test_every_loading_subcommand_takes_the_row_flags(command):
  extra = {"grade": ["--instance", "i", "--patch", "p"], "filter": ["--out", "o"]}
  args = cli._parser().parse_args(
      [command, "--tasks", "t.jsonl", *extra.get(command, []), "--image", "img",
       "--test-cmd", "pytest", "--image-namespace", "ns", "--image-template", "{name}"])
  assert (args.image, args.test_cmd, args.image_namespace, args.image_template) == (
      "img", "pytest", "ns", "{name}")
