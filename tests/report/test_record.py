"""The readable part of an episode line: capped texts, log-prob summaries, grading."""
import math

import pytest

from swejax.agent.env import StepResult
from swejax.report import record
from swejax.tasks.grading import GradeResult


def test_cap_keeps_head_and_tail_and_says_how_much_it_cut():
  text = "".join(f"{i:05d}" for i in range(2000))  # 10,000 characters
  out = record.cap(text, 1000)
  assert out.startswith(text[:600]) and out.endswith(text[-334:])
  assert "[... 9000 characters left out of this record ...]" in out
  assert record.cap("short", 1000) == "short"
  with pytest.raises(ValueError, match="limit"):
    record.cap(text, 10)


def test_logprob_summary():
  lp = [math.log(0.9), math.log(0.05), math.log(0.5)]
  s = record.logprob_summary(lp)
  assert s["n"] == 3 and s["low"] == 1 and s["min"] == pytest.approx(math.log(0.05), abs=1e-4)
  assert s["ppl"] == pytest.approx(math.exp(-sum(lp) / 3), rel=1e-3)
  assert record.logprob_summary([]) == {"n": 0}


def test_turn_view_records_what_the_agent_saw():
  step = StepResult(observation="x" * 5000, done=False, format_error=True, submitted=False,
                    command=None, exit_code=None, timed_out=False)
  t = record.turn_view("no command here", [1, 2, 3], [-0.1, -0.2, -3.0], step,
                       observation_tokens=1200, sample_seconds=1.23456, env_seconds=0.5)
  assert t["format_error"] and t["action"] == "no command here" and t["action_tokens"] == 3
  assert len(t["observation"]) < 2100 and t["observation_chars"] == 5000
  assert t["seconds"] == {"sample": 1.235, "env": 0.5} and t["logprobs"]["low"] == 1


def test_grade_summary_lists_failing_tests():
  failed = tuple(f"tests/test_a.py::test_{i}" for i in range(40))
  result = GradeResult(instance_id="t", resolved=False, reason="tests_failed", failed=failed,
                       missing=failed[:2], note="log cut", error_types={failed[0]: "KeyError"})
  g = record.grade_summary(result)
  assert g["failed"] == list(failed[:record.FAILED_TESTS]) and g["failed_count"] == 40
  assert g["missing_count"] == 2 and g["error_types"] == {failed[0]: "KeyError"}
  assert g["note"] == "log cut"
