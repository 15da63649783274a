"""Task schema validation and loading (JSONL / parquet), with every error reported."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from swejax.tasks import filters, loader
from swejax.tasks.schema import TEST_FILES, Task, row_to_task

PATCH = """diff --git a/pkg/core.py b/pkg/core.py
--- a/pkg/core.py
+++ b/pkg/core.py
@@ -1,2 +1,2 @@
 def f():
-    return 1
+    return 2
"""
TEST_PATCH = """diff --git a/tests/test_core.py b/tests/test_core.py
--- a/tests/test_core.py
+++ b/tests/test_core.py
@@ -1,0 +1,2 @@
+def test_f():
+    assert f() == 2
"""


def row(**overrides):
  base = {
      "instance_id": "owner__repo-1", "repo": "owner/repo", "base_commit": "a" * 40,
      "patch": PATCH, "test_patch": TEST_PATCH, "problem_statement": "f returns 1",
      "hints_text": "", "created_at": "2024-01-01T00:00:00Z", "version": "1.0",
      "environment_setup_commit": "b" * 40,
      "FAIL_TO_PASS": json.dumps(["tests/test_core.py::test_f"]), "PASS_TO_PASS": "[]",
      "image": "img:1", "test_cmd": "pytest -rA",
  }
  base.update(overrides)
  return {k: v for k, v in base.items() if v is not ...}


def write_jsonl(path, rows):
  path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
  return str(path)


def test_json_string_and_list_test_ids(tmp_path):
  path = write_jsonl(tmp_path / "t.jsonl", [
      row(), row(instance_id="owner__repo-2", FAIL_TO_PASS=["a::b"], PASS_TO_PASS=["c::d"])])
  tasks = loader.load_tasks(path)
  assert tasks[0].FAIL_TO_PASS == ("tests/test_core.py::test_f",)
  assert tasks[1].PASS_TO_PASS == ("c::d",)
  assert isinstance(tasks[0], Task)


def test_every_error_is_reported_with_row_and_field(tmp_path):
  path = write_jsonl(tmp_path / "bad.jsonl", [
      row(),
      row(instance_id="x-2", base_commit="zzz", FAIL_TO_PASS="[1, 2"),
      "{not json",
      row(instance_id="x-4", patch=..., PASS_TO_PASS=5),
      row(),  # duplicate of line 1
      row(instance_id="x-6", FAIL_TO_PASS=[], log_parser="jest"),
  ])
  with pytest.raises(loader.TaskLoadError) as info:
    loader.load_tasks(path)
  errors = info.value.errors
  text = "\n".join(errors)
  assert f"{path}:line 2 (x-2): field base_commit" in text
  assert f"{path}:line 2 (x-2): field FAIL_TO_PASS: not a JSON list" in text
  assert f"{path}:line 3: not valid JSON" in text
  assert f"{path}:line 4 (x-4): field patch: missing" in text
  assert f"{path}:line 4 (x-4): field PASS_TO_PASS: expected a list" in text
  assert f"{path}:line 5 (owner__repo-1): field instance_id: duplicate of line 1" in text
  assert f"{path}:line 6 (x-6): field FAIL_TO_PASS: empty" in text
  assert f"{path}:line 6 (x-6): field log_parser: unknown 'jest'" in text
  assert len(errors) == 8
  assert str(info.value).startswith(f"{path}: 8 error(s)")


def test_parquet(tmp_path):
  rows = [row(), row(instance_id="owner__repo-2", FAIL_TO_PASS=...)]
  rows[0]["FAIL_TO_PASS"] = ["t::a"]
  rows[1]["FAIL_TO_PASS"] = ["t::b"]
  path = str(tmp_path / "t.parquet")
  pq.write_table(pa.Table.from_pylist(rows), path)
  assert [t.FAIL_TO_PASS for t in loader.load_tasks(path)] == [("t::a",), ("t::b",)]


def test_parquet_errors_name_rows(tmp_path):
  path = str(tmp_path / "t.parquet")
  pq.write_table(pa.Table.from_pylist([row(), row(instance_id="x-2", repo="")]), path)
  with pytest.raises(loader.TaskLoadError, match=r"row 2 \(x-2\): field repo: empty"):
    loader.load_tasks(path)


def test_swe_rebench_row_defaults(tmp_path):
  rebench = row(image=..., test_cmd=..., docker_image="swerebench/x:1",
                install_config={"test_cmd": "pytest --no-header -rA", "log_parser":
                                "parse_log_pytest"},
                meta=json.dumps({"llm_score": {"difficulty_score": 2}}), version=3)
  task, errors = row_to_task(rebench)
  assert errors == []
  assert task.image == "swerebench/x:1"
  # The harness's eval script with SWE-rebench's own command, activation and directives.
  assert task.test_cmd == ("source /opt/miniconda3/bin/activate && conda activate testbed && "
                           "pytest --no-header -rA tests/test_core.py")
  assert "pytest --no-header -rA tests/test_core.py\n" in task.eval_script
  assert task.log_parser == "parse_log_pytest"
  assert task.meta == {"llm_score": {"difficulty_score": 2}}
  assert task.version == "3"


def test_missing_image_and_command_use_defaults(tmp_path):
  path = write_jsonl(tmp_path / "t.jsonl", [row(image=..., test_cmd=...)])
  # A plain row loads: the harness's image name and plain pytest for an unknown repo.
  task, = loader.load_tasks(path)
  assert task.image == "swebench/sweb.eval.x86_64.owner_1776_repo-1:latest"
  assert task.test_cmd.endswith("&& pytest -rA tests/test_core.py")
  task, = loader.load_tasks(path, image="base", test_cmd="pytest")
  assert (task.image, task.test_cmd, task.eval_script) == ("base", f"pytest {TEST_FILES}", "")


def test_round_trip(tmp_path):
  task, _ = row_to_task(row(meta={"a": 1}, repo_snapshot="base64:aGVsbG8="))
  path = tmp_path / "out.jsonl"
  assert loader.save_tasks([task], path) == 1
  again, = loader.load_tasks(str(path))
  assert again == task
  assert again.snapshot_bytes() == b"hello"


def test_bad_snapshot():
  _, errors = row_to_task(row(repo_snapshot="base64:###"))
  assert any("field repo_snapshot: bad base64" in e for e in errors)


def test_missing_file():
  with pytest.raises(FileNotFoundError, match="task file not found"):
    loader.load_tasks("/nonexistent/tasks.jsonl")


def _task(**overrides):
  task, errors = row_to_task(row(**overrides))
  assert errors == []
  return task


def test_paper_filters():
  big_patch = PATCH + "".join(
      f"diff --git a/f{i}.py b/f{i}.py\n--- a/f{i}.py\n+++ b/f{i}.py\n@@ -1 +1 @@\n-a\n+b\n"
      for i in range(7))
  long_patch = PATCH.replace("@@ -1,2 +1,2 @@", "@@ -1,2 +1,500 @@").replace(
      "+    return 2\n", "".join(f"+    x{i} = {i}\n" for i in range(499)))  # 500 changed
  tasks = [
      _task(instance_id="ok"),
      _task(instance_id="files", patch=big_patch),
      _task(instance_id="lines", patch=long_patch),
      _task(instance_id="score", meta={"llm_score": {"issue_text_score": 3}}),
      _task(instance_id="error", meta={"f2p_error_types": ["ImportError"]}),
      _task(instance_id="meta_files", meta={"num_modified_files": 9}),
  ]
  config = filters.FilterConfig(max_issue_text_score=2)
  kept, dropped = filters.filter_tasks(tasks, config)
  assert [t.instance_id for t in kept] == ["ok"]
  assert dropped == {"modified_files": 2, "changed_lines": 1, "issue_text_score": 1,
                     "f2p_error_types": 1}
  kept, _ = filters.filter_tasks(tasks, filters.FilterConfig(
      max_modified_files=None, max_changed_lines=None, drop_error_types=()))
  assert len(kept) == len(tasks)


def test_stats():
  stats = filters.task_stats([_task(), _task(instance_id="b", repo="o/other")])
  assert stats["tasks"] == 2
  assert stats["repos"] == {"o/other": 1, "owner/repo": 1}
  assert stats["median_patch_changed_lines"] == 2.0
