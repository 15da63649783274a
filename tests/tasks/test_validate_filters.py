"""`validate --repeat/--drop-flaky/--out` (with a scripted grader) and the paper's
filters on published SWE-rebench rows."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from swejax.tasks import cli, filters, loader, validate
from swejax.tasks.grading import GradeResult

PUBLISHED = os.path.join(os.path.dirname(__file__), "data", "published", "swe-rebench.jsonl")


@pytest.fixture
def rebench():
  return loader.load_tasks(PUBLISHED)


def _result(task, patch, statuses, types=None):
  expected = task.FAIL_TO_PASS + task.PASS_TO_PASS
  passing = {"PASSED"}
  failed = tuple(t for t in expected if statuses.get(t) not in passing)
  reason = "resolved" if not failed else "tests_failed"
  return GradeResult(instance_id=task.instance_id, resolved=not failed, reason=reason,
                     statuses=statuses, failed=failed, error_types=types or {})


class ScriptedGrader:
  """Grades by script: the n-th gold (or empty) call gets the n-th status map."""

  def __init__(self, gold, empty):
    self.calls = {"gold": 0, "empty": 0}
    self.script = {"gold": gold, "empty": empty}

  def __call__(self, task, patch, **options):
    kind = "empty" if not patch else "gold"
    statuses = self.script[kind][self.calls[kind] % len(self.script[kind])](task)
    self.calls[kind] += 1
    types = {t: "AttributeError" for t in task.FAIL_TO_PASS} if kind == "empty" else None
    return _result(task, patch, statuses, types)


def _all(status, flip=None):
  def make(task):
    found = {t: status for t in task.PASS_TO_PASS}
    found.update({t: ("PASSED" if status == "PASSED" else "FAILED") for t in task.FAIL_TO_PASS})
    if flip:
      found.update(flip(task))
    return found
  return make


def test_repeat_reports_flaky_tests_and_drop_flaky_removes_them(rebench, monkeypatch):
  task = next(t for t in rebench if t.PASS_TO_PASS)
  wobbly = task.PASS_TO_PASS[0]
  gold = [_all("PASSED"), _all("PASSED", lambda t: {wobbly: "FAILED"}), _all("PASSED")]
  monkeypatch.setattr(validate, "grade", ScriptedGrader(gold, [_all("FAILED")]))
  kept = validate.validate_task(task, repeat=3)
  assert kept.flaky == (wobbly,) and not kept.valid and "flaky" in kept.problem
  monkeypatch.setattr(validate, "grade", ScriptedGrader(gold, [_all("FAILED")]))
  dropped = validate.validate_task(task, repeat=3, drop_flaky=True)
  assert dropped.valid and dropped.runs == 3
  assert wobbly not in dropped.task.PASS_TO_PASS
  assert dropped.task.meta["dropped_flaky_tests"] == [wobbly]
  assert dropped.task.meta["f2p_error_types"] == ["AttributeError"]


def test_a_task_whose_every_fail_to_pass_test_is_flaky_is_invalid(rebench, monkeypatch):
  task = rebench[0]
  empty = [_all("FAILED"), _all("FAILED", lambda t: {f: "PASSED" for f in t.FAIL_TO_PASS})]
  monkeypatch.setattr(validate, "grade", ScriptedGrader([_all("PASSED")], empty))
  result = validate.validate_task(task, repeat=2, drop_flaky=True)
  assert not result.valid and set(result.flaky) == set(task.FAIL_TO_PASS)


def test_cli_validate_writes_the_tasks_that_validate(rebench, monkeypatch, tmp_path, capsys):
  task = next(t for t in rebench if t.PASS_TO_PASS)
  wobbly = task.PASS_TO_PASS[0]
  gold = [_all("PASSED"), _all("PASSED", lambda t: {wobbly: "FAILED"} if t is task or
                                t.instance_id == task.instance_id else {})]
  monkeypatch.setattr(validate, "grade", ScriptedGrader(gold, [_all("FAILED")]))
  out = tmp_path / "valid.jsonl"
  code = cli.main(["validate", "--tasks", PUBLISHED, "--repeat", "2", "--drop-flaky",
                   "--out", str(out), "--jobs", "1"])
  lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
  summary = lines[-1]
  assert code == 0 and summary["written"] == len(rebench) == summary["valid"]
  assert summary["flaky"] == {task.instance_id: [wobbly]}
  assert {"flaky": {"instance_id": task.instance_id, "tests": [wobbly], "dropped": True}} in lines
  written = {t.instance_id: t for t in loader.load_tasks(out)}
  assert wobbly not in written[task.instance_id].PASS_TO_PASS
  assert all(t.meta["f2p_error_types"] == ["AttributeError"] for t in written.values())
  assert cli.main(["validate", "--tasks", PUBLISHED, "--repeat", "0"]) == 2


def test_paper_filters_on_published_rebench_rows(rebench):
  config = filters.FilterConfig(max_difficulty_score=2, max_issue_text_score=1, max_test_score=1)
  kept, dropped = filters.filter_tasks(rebench, config)
  assert len(kept) == len(rebench) and dropped == {}  # as published: all pass

  def with_meta(task, **meta):
    return dataclasses.replace(task, meta={**task.meta, **meta})

  task = rebench[0]
  scores = dict(task.meta["llm_score"])
  cases = {
      "modified_files": with_meta(task, num_modified_files=np.int64(8)),
      "difficulty_score": with_meta(task, llm_score={**scores, "difficulty_score": np.int64(3)}),
      "issue_text_score": with_meta(task, llm_score=json.dumps({**scores, "issue_text_score": 2})),
      "test_score": with_meta(task, llm_score={**scores, "test_score": "2"}),
      "f2p_error_types": with_meta(task, f2p_error_types={"t::a": "builtins.AttributeError"}),
      "changed_lines": dataclasses.replace(task, patch=task.patch + "".join(
          f"diff --git a/f{i}.py b/f{i}.py\n--- a/f{i}.py\n+++ b/f{i}.py\n@@ -1 +1,100 @@\n"
          + " x\n" + "+y\n" * 99 for i in range(6))),
  }
  for reason, changed in cases.items():
    assert filters.drop_reason(changed, config) == reason, reason
  assert filters.drop_reason(with_meta(task, num_modified_files=7), config) is None
  assert filters.drop_reason(with_meta(task, llm_score=None), config) is None
  keep_types = dataclasses.replace(config, drop_error_types=())
  assert filters.drop_reason(cases["f2p_error_types"], keep_types) is None
