"""Infrastructure failures are retried, or their group dropped and counted; never a 0."""
import importlib.resources

import pytest

from swejax.rl import demo
from swejax.rl.episode import EpisodeLog
from swejax.rl.rollout import RolloutConfig, run_groups
from swejax.tasks.env import TaskEnv
from swejax.rl.scripted_policy import ScriptedPolicy
from swejax.sampling.base import SamplerError
from swejax.sandbox.base import SandboxError
from swejax.tasks import load_tasks
from swejax.tokenizer import default_tokenizer

pytestmark = [pytest.mark.docker]


def _rollout_config(**changes):
  return RolloutConfig(**{**dict(
      max_turns=6, max_context_tokens=4096, max_turn_tokens=2048, min_turn_tokens=16,
      window=12, max_output_chars=10_000, command_timeout=120.0, episode_timeout_s=3600.0,
      length_threshold=10, infra_retries=2, concurrency=8, grade_timeout=600.0,
      system_prompt="full"), **changes})


class FlakySandboxes(TaskEnv):
  """The real Docker sandboxes; opening fails always for one task, once for another."""

  def __init__(self, always: str, once: str):
    super().__init__("docker", (), 32, {"memory": "512m"})
    self.always, self.once, self.failed_once = always, once, False

  def open_prepared(self, task):
    if task.instance_id == self.always:
      raise SandboxError("engine went away (injected)")
    if task.instance_id == self.once and not self.failed_once:
      self.failed_once = True
      raise SandboxError("engine hiccup (injected)")
    return super().open_prepared(task)


class FlakyPolicy(ScriptedPolicy):
  def __init__(self, *a, fail_session: str, **kw):
    super().__init__(*a, **kw)
    self.fail_session, self.failed = fail_session, False

  def act(self, prompt, *, session, seed, max_new_tokens):
    if session.endswith(self.fail_session) and not self.failed:
      self.failed = True
      raise SamplerError("server died mid-request (injected)")
    return super().act(prompt, session=session, seed=seed, max_new_tokens=max_new_tokens)


def test_engine_and_sampler_failures(tmp_path, docker_engine):
  path = str(importlib.resources.files("swejax") / "assets" / "synthetic_tasks.jsonl")
  tasks = [t for t in load_tasks(path) if demo.is_demo_task(t)][:3]
  tok = default_tokenizer()
  ids = [t.instance_id for t in tasks]
  policy = FlakyPolicy(tok, {t.instance_id: t for t in tasks}, mistake_rate=0.0, seed=0,
                       plan=demo.demo_plan, fail_session=f"{ids[2]}/1")
  sandboxes = FlakySandboxes(always=ids[0], once=ids[1])
  cfg = _rollout_config(concurrency=3)
  out = run_groups(tasks, 2, policy, tok, cfg, sandboxes, seed=0, stage="dapo", iteration=1,
                   log=EpisodeLog(str(tmp_path / "t.jsonl")),
                   problem_statement=demo.hinted_statement)
  assert set(out.dropped) == {ids[0]} and "injected" in out.dropped[ids[0]]
  assert sorted(out.groups) == sorted(ids[1:])  # retried and completed
  assert out.retries >= 2
  assert all(e.resolved for g in out.groups.values() for e in g)  # the failures left no 0


class NoGrading(TaskEnv):
  def grade(self, task, patch, timeout):
    raise AssertionError("grading must not run")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_ungraded_demonstrations_with_the_brief_prompt(tmp_path, bubblewrap):
  path = str(importlib.resources.files("swejax") / "assets" / "synthetic_tasks.jsonl")
  tasks = [t for t in load_tasks(path) if demo.is_demo_task(t)][:2]
  tok = default_tokenizer()
  policy = ScriptedPolicy(tok, {t.instance_id: t for t in tasks}, mistake_rate=0.0, seed=0,
                          plan=demo.demo_plan)
  cfg = _rollout_config(concurrency=2, grade=False, system_prompt="brief")
  out = run_groups(tasks, 1, policy, tok, cfg, NoGrading("local", (), 32, {}), seed=0, stage="warm_start",
                   iteration=0, log=EpisodeLog(str(tmp_path / "t.jsonl")),
                   problem_statement=demo.hinted_statement)
  eps = [e for v in out.groups.values() for e in v]
  assert len(eps) == 2 and not out.dropped
  for e in eps:
    assert e.patch and not e.resolved and e.grade["graded"] is False  # fixed, not graded
    text = tok.decode(e.tokens)
    assert "Tools besides shell commands" in text and "USEFUL ADVICE" not in text
    assert e.num_tokens < 1000
