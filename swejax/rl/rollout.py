"""Rollouts: G episodes per task, run concurrently over the sandbox pool and the sampler.

Effects live here (sandboxes, the sampler, disk). An episode: a sandbox from the task's
image with the repository at base_commit, the system prompt and the issue, turns until
submit, T_max or the context budget, the patch, grading in a fresh sandbox, reward R plus
the step penalty. Infrastructure failures are retried; a group that still fails is
dropped and counted, never scored 0.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import threading
import time
import zlib
from typing import Any, Callable, Protocol, Sequence

from swejax.agent.env import AgentEnv
from swejax.report import record
from swejax.rl.episode import Episode, EpisodeLog
from swejax.rl.rewards import length_penalty
from swejax.sampling.base import Request, Result, SamplerError, SamplingParams
from swejax.sandbox.base import SandboxError
from swejax.tasks.env import Graded, InfraError, TaskEnv
from swejax.tokenizer import ChatBuilder, Tokenizer


_FRAMING = 8  # <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
  """How an episode runs: the config's `agent` section, and what the stage sets."""
  max_turns: int  # T_max
  max_context_tokens: int
  max_turn_tokens: int  # new tokens per action
  min_turn_tokens: int  # below this much room the episode ends ("context")
  window: int
  max_output_chars: int
  command_timeout: float
  episode_timeout_s: float  # wall clock per episode; ends it with "timeout"
  length_threshold: int  # L_thr of the step penalty
  infra_retries: int
  concurrency: int
  grade_timeout: float
  system_prompt: str  # "full" or "brief" (swejax.agent.prompts.SYSTEM_PROMPTS)
  # Set by the stage, not the config:
  format_errors_trainable: bool = True  # RFT masks the turns that produced a format error
  grade: bool = True  # False: no tests run (warm-start demonstrations are SFT data either way)
  grade_cache: bool = True  # a (task, patch) pair already graded in this run is not rerun

  @classmethod
  def from_config(cls, agent, **stage) -> "RolloutConfig":
    """Every field of `agent` (the schema lists them), and the stage's own settings."""
    stage_fields = ("format_errors_trainable", "grade", "grade_cache")
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in stage_fields]
    return cls(**{**{k: agent[k] for k in fields}, **stage})


class Policy(Protocol):
  def act(self, prompt: Sequence[int], *, session: str, seed: int,
          max_new_tokens: int) -> Result: ...


class SamplerPolicy:
  """The policy as a sampler serves it: training-mode sampling unless told otherwise."""

  def __init__(self, sampler, stop_token_ids: Sequence[int],
               params: SamplingParams = SamplingParams(), timeout: float = 3600.0):
    self.sampler, self.stop, self.params, self.timeout = sampler, tuple(stop_token_ids), params, timeout

  def act(self, prompt, *, session, seed, max_new_tokens):
    req = Request(prompt=list(prompt), max_new_tokens=max_new_tokens, params=self.params,
                  seed=seed, stop_token_ids=self.stop, session=session)
    return self.sampler.submit(req).result(timeout=self.timeout)


def episode_seed(base: int, stage: str, iteration: int, task_id: str, group: int, turn: int) -> int:
  """A seed that depends only on where the action is, so a resumed run samples the same."""
  key = f"{base}/{stage}/{iteration}/{task_id}/{group}/{turn}".encode()
  return zlib.crc32(key) & 0x7FFFFFFF


def run_episode(task, group: int, policy: Policy, tok: Tokenizer, cfg: RolloutConfig,
                task_env: TaskEnv, *, seed: int, stage: str = "", iteration: int = 0,
                problem_statement: Callable[[Any], str] | None = None) -> Episode:
  """One episode, graded (unless cfg.grade is False). Raises InfraError when the infrastructure (not the agent) failed."""
  start = time.monotonic()
  session = f"{stage}/{iteration}/{task.instance_id}/{group}"
  statement = problem_statement(task) if problem_statement else task.problem_statement
  version = None
  try:
    with task_env.open_prepared(task) as sb:
      env = AgentEnv(sb, statement, max_turns=cfg.max_turns, window=cfg.window,
                     max_output_chars=cfg.max_output_chars, command_timeout=cfg.command_timeout,
                     system_prompt=cfg.system_prompt)
      first = env.reset()
      chat = ChatBuilder(tok)
      chat.system(env.system_prompt())
      chat.user(first)
      views = []  # what a person reads of each turn (swejax.report.record)
      while not env.done:
        if time.monotonic() - start > cfg.episode_timeout_s:
          env.terminate("timeout")
          break
        prompt = chat.generation_prompt()
        room = cfg.max_context_tokens - len(prompt)
        if room < cfg.min_turn_tokens:
          env.terminate("context")
          break
        t_turn = time.monotonic()
        result = policy.act(prompt, session=session, max_new_tokens=min(cfg.max_turn_tokens, room),
                            seed=episode_seed(seed, stage, iteration, task.instance_id, group,
                                              env.turns))
        if version is not None and result.version != version:
          raise InfraError(f"{session}: policy version changed mid-episode "
                           f"({version} -> {result.version})")
        version = result.version
        ids = list(result.tokens)
        text = tok.decode([t for t in ids if t != tok.im_end_id])
        t_sampled = time.monotonic()
        step = env.step(text)
        views.append(record.turn_view(text, ids, result.logprobs, step,
                                      observation_tokens=len(tok.encode(step.observation)),
                                      sample_seconds=t_sampled - t_turn,
                                      env_seconds=time.monotonic() - t_sampled))
        trainable = cfg.format_errors_trainable or not step.format_error
        chat.assistant_sampled(ids, trainable=trainable, logprobs=list(result.logprobs))
        if step.done:
          break
        # The observation, its chat framing and room for one more action must fit.
        if (len(chat.ids) + len(tok.encode(step.observation)) + _FRAMING + cfg.min_turn_tokens
            > cfg.max_context_tokens):
          env.terminate("context")
          break
        chat.user(step.observation)
      patch = env.patch()
      turns, termination, format_errors = env.turns, env.termination, env.format_errors
      rendered = chat.rendered()
  except (SandboxError, SamplerError, cf.TimeoutError, OSError) as e:
    raise InfraError(f"{session}: {type(e).__name__}: {e}") from e
  t_grade = time.monotonic()
  graded = Graded(resolved=False, reason="not_graded")
  if cfg.grade:
    try:
      graded = task_env.verdict(task, patch, cfg.grade_timeout, cache=cfg.grade_cache)
    except InfraError as e:
      raise InfraError(f"{session}: {e}") from e
  resolved = graded.resolved
  t_grade = time.monotonic() - t_grade
  r = 1.0 if resolved else 0.0
  r_len = length_penalty(turns, threshold=cfg.length_threshold, max_turns=cfg.max_turns)
  n = len(rendered.ids)
  return Episode(
      task_id=task.instance_id, group=group, tokens=[int(t) for t in rendered.ids],
      loss_mask=[int(m) for m in rendered.loss_mask],
      logprobs=[float(x) for x in rendered.logprobs[:n]], turns=turns,
      termination=termination or "submit", patch=patch, resolved=resolved,
      reward=r + r_len, reward_parts={"resolved": r, "length": r_len},
      version=int(version or 0), format_errors=format_errors,
      seconds=time.monotonic() - start, stage=stage, iteration=iteration,
      grade={"exit_code": graded.exit_code, "seconds": t_grade, "graded": cfg.grade,
             "reason": graded.reason, "cached": graded.cached, **graded.details},
      view=record.episode_view(first, views))


@dataclasses.dataclass
class RolloutOutcome:
  groups: dict[str, list[Episode]]  # task id -> its G episodes (complete groups only)
  dropped: dict[str, str]  # task id -> why its group was dropped
  reused: int = 0
  seconds: float = 0.0
  retries: int = 0


def run_groups(tasks: Sequence[Any], group_size: int, policy: Policy, tok: Tokenizer,
               cfg: RolloutConfig, task_env: TaskEnv, *, seed: int, stage: str, iteration: int,
               log: EpisodeLog, finished: Sequence[Episode] = (),
               progress=None, problem_statement=None) -> RolloutOutcome:
  """Runs every (task, group index) not already `finished`; each episode is logged at once."""
  start = time.monotonic()
  have = {(e.task_id, e.group): e for e in finished}
  groups: dict[str, list[Episode | None]] = {t.instance_id: [None] * group_size for t in tasks}
  for (tid, g), e in have.items():
    if tid in groups and g < group_size:
      groups[tid][g] = e
  dropped: dict[str, str] = {}
  lock = threading.Lock()
  running: dict[str, float] = {}
  retries = 0

  def work(task, g):
    nonlocal retries
    key = f"{task.instance_id}/{g}"
    last = None
    for attempt in range(cfg.infra_retries + 1):
      with lock:
        running[key] = time.monotonic()
      try:
        return run_episode(task, g, policy, tok, cfg, task_env, seed=seed, stage=stage,
                           iteration=iteration, problem_statement=problem_statement)
      except InfraError as e:
        last = e
        with lock:
          retries += attempt < cfg.infra_retries
      finally:
        with lock:
          running.pop(key, None)
    raise last  # type: ignore[misc]

  todo = [(t, g) for t in tasks for g in range(group_size) if groups[t.instance_id][g] is None]
  done = sum(e is not None for v in groups.values() for e in v)
  solved = sum(bool(e and e.resolved) for v in groups.values() for e in v)
  with cf.ThreadPoolExecutor(max_workers=max(1, cfg.concurrency)) as pool:
    futures = {pool.submit(work, t, g): (t, g) for t, g in todo}
    for fut in cf.as_completed(futures):
      t, g = futures[fut]
      try:
        ep = fut.result()
      except InfraError as e:
        dropped.setdefault(t.instance_id, str(e))
        continue
      log.append(ep)
      groups[t.instance_id][g] = ep
      done += 1
      solved += ep.resolved
      if progress is not None:
        with lock:
          slowest = max((time.monotonic() - s for s in running.values()), default=0.0)
        progress.update(done, solved, slowest)
  complete = {tid: list(v) for tid, v in groups.items()
              if tid not in dropped and all(e is not None for e in v)}
  return RolloutOutcome(groups=complete, dropped=dropped, reused=len(have),
                        seconds=time.monotonic() - start, retries=retries)
