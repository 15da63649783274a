"""What a person reads of an episode: pure functions from a finished turn to a small record.

Every episode line (WORKDIR/trajectories/<stage>_<iteration>.jsonl) keeps, beside its token
ids, a `view`: turn by turn the action text, the observation the agent saw, whether the
action was a format error, token counts, a summary of the sampler's log-probabilities and
timings; per episode the issue text. Long texts are capped so that a line stays bounded:
a cut text keeps its head and tail and says how many characters were cut in between.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

ACTION_CHARS = 3000  # what the agent wrote in one turn
OBSERVATION_CHARS = 2000  # what it saw after (already truncated for the agent)
ISSUE_CHARS = 3000  # the first user message
PATCH_CHARS = 20_000  # the episode's patch
FAILED_TESTS = 30  # failing tests listed by name
_LOW_PROB = math.log(0.1)  # a sampled token the policy gave less than 10 % is "unlikely"


def cap(text: str, limit: int) -> str:
  """`text` if it is at most `limit` characters, else its head and tail around a marker
  that says how many characters the record left out."""
  if limit < 100:
    raise ValueError(f"cap: limit must be >= 100 characters, got {limit}")
  if len(text) <= limit:
    return text
  cut = len(text) - limit
  marker = f"\n[... {cut} characters left out of this record ...]\n"
  head = (limit * 2) // 3
  return text[:head] + marker + text[len(text) - (limit - head):]


def logprob_summary(logprobs: Sequence[float]) -> dict[str, float | int]:
  """The sampler's log-probabilities of one action: mean, minimum, how many tokens it gave
  less than 10 %, and the action's perplexity."""
  n = len(logprobs)
  if n == 0:
    return {"n": 0}
  total = float(sum(logprobs))
  return {"n": n, "mean": round(total / n, 4), "min": round(float(min(logprobs)), 4),
          "low": sum(1 for x in logprobs if x < _LOW_PROB),
          "ppl": round(math.exp(min(-total / n, 50.0)), 3)}


def turn_view(action: str, action_ids: Sequence[int], logprobs: Sequence[float], step: Any,
              *, observation_tokens: int | None, sample_seconds: float,
              env_seconds: float) -> dict[str, Any]:
  """One turn as a reader wants it. `step` is the environment's StepResult."""
  return {
      "action": cap(action, ACTION_CHARS),
      "observation": cap(step.observation, OBSERVATION_CHARS),
      "format_error": bool(step.format_error),
      "command": None if step.command is None else cap(step.command, 500),
      "exit_code": step.exit_code,
      "timed_out": bool(step.timed_out),
      "action_tokens": len(action_ids),
      "observation_tokens": observation_tokens,
      "observation_chars": len(step.observation),
      "logprobs": logprob_summary(logprobs),
      "seconds": {"sample": round(sample_seconds, 3), "env": round(env_seconds, 3)},
  }


def episode_view(issue: str, turns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """The per-episode part of the view (the patch and grading live in the episode itself)."""
  return {"issue": cap(issue, ISSUE_CHARS), "turns": list(turns),
          "caps": {"action": ACTION_CHARS, "observation": OBSERVATION_CHARS,
                   "issue": ISSUE_CHARS, "patch": PATCH_CHARS}}


def grade_summary(result: Any) -> dict[str, Any]:
  """What an episode keeps of a swejax.tasks.GradeResult: the reason, the failing tests
  (at most FAILED_TESTS by name, and how many), the ones missing from the log, the
  exception types, and the note on why a log could not be trusted."""
  failed = list(getattr(result, "failed", ()) or ())
  missing = list(getattr(result, "missing", ()) or ())
  errors = dict(getattr(result, "error_types", {}) or {})
  return {"failed": failed[:FAILED_TESTS], "failed_count": len(failed),
          "missing": missing[:FAILED_TESTS], "missing_count": len(missing),
          "error_types": {k: errors[k] for k in list(errors)[:FAILED_TESTS]},
          "note": cap(getattr(result, "note", "") or "", 1000)}
