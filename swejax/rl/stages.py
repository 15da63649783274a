"""The paper's stages, each a function of its collaborators and the loop's state.

  warm_start  SFT on scripted demonstrations (the demo's stand-in for an instruct model)
  eval:NAME   Pass@1 +- s.e. and Pass@k on the held-out tasks, recorded under NAME
  rft         n samples per task, keep the resolved ones, SFT over them (format errors masked)
  dapo        one synchronous DAPO iteration per call

A training stage returns its learner; the driver (swejax.rl.loop) saves a checkpoint after
it. Every finished episode is on disk at once (WORKDIR/trajectories/<stage>_<iteration>.jsonl,
written by EpisodeLog as each ends) and is reused on resume.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from swejax.agent import prompts
from swejax.data import batching
from swejax.data.packing import Sequence_
from swejax.eval import summary as eval_summary
from swejax.learner import build
from swejax.learner.trainer import Learner, mean_metrics
from swejax.metrics import MetricsWriter, Progress
from swejax.report import build as report
from swejax.rl import demo
from swejax.rl.episode import Episode, EpisodeLog, read_episodes
from swejax.rl.rewards import dapo_samples
from swejax.rl.rollout import RolloutConfig, SamplerPolicy, run_groups
from swejax.rl import solve_history
from swejax.rl.scripted_policy import ScriptedPolicy
from swejax.rl.task_sets import TaskSets
from swejax.sampling.from_config import eval_sampling
from swejax.tasks.env import TaskEnv
from swejax.tokenizer import Tokenizer


@dataclasses.dataclass
class LoopState:
  """The loop's own state, saved with every checkpoint (JSON)."""
  stage_index: int = 0
  iteration: int = 0  # DAPO iterations completed
  version: int = 0  # policy version served by the sampler
  history: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # task -> solves
  results: dict[str, dict] = dataclasses.field(default_factory=dict)  # eval name -> summary
  optim_stage: str = ""  # which stage's optimizer state the checkpoint holds
  saves: int = 0  # checkpoints written (the checkpoint directory's number)


# A stage's new learner around the current weights: (stage kind, its optimizer section).
NewLearner = Callable[[str, dict], Learner]


@dataclasses.dataclass
class Collaborators:
  """What every stage works with, built once by the driver before the first stage."""
  config: Any
  workdir: str
  tasks: TaskSets
  env: TaskEnv
  tokenizer: Tokenizer
  sampler: Any  # swejax.sampling.base.Sampler
  metrics: MetricsWriter
  new_learner: NewLearner
  source: Any  # the grain iterator over the DAPO pool (checkpointed)
  # Earlier stages' outcomes per task (config rl.pool_filter.history; swejax.rl.solve_history)
  prior_history: dict[str, list[int]] = dataclasses.field(default_factory=dict)


def push_weights(c: Collaborators, learner: Learner, ls: LoopState) -> float:
  """The learner's weights to the sampler as the next policy version; seconds taken."""
  t = time.monotonic()
  ls.version += 1
  c.sampler.update_weights(learner.params, ls.version)
  return time.monotonic() - t


def _rollouts(c: Collaborators, tasks, group_size: int, policy, rcfg: RolloutConfig,
              stage: str, iteration: int):
  path = os.path.join(c.workdir, "trajectories", f"{stage}_{iteration}.jsonl")
  finished = list(read_episodes(path))
  progress = Progress(len(tasks) * group_size)
  out = run_groups(tasks, group_size, policy, c.tokenizer, rcfg, c.env, seed=c.config.seed,
                   stage=stage, iteration=iteration, log=EpisodeLog(path), finished=finished,
                   progress=progress, problem_statement=c.tasks.problem_statement)
  progress.close()
  return out


def _policy(c: Collaborators, params=None) -> SamplerPolicy:
  """Training-mode sampling (temperature 1, untruncated) unless `params` says otherwise."""
  extra = {"params": params} if params is not None else {}
  return SamplerPolicy(c.sampler, (c.tokenizer.im_end_id,), **extra)


def _grading(eps) -> float:
  """Seconds spent grading, summed over episodes (they run concurrently, inside the
  rollouts' wall time): recorded as time/grading_summed."""
  return float(sum(e.grade.get("seconds", 0.0) for e in eps))


def _episode_stats(eps) -> dict:
  if not eps:
    return {}
  return dict(episodes=len(eps), solve_rate=float(np.mean([e.resolved for e in eps])),
              reward_mean=float(np.mean([e.reward for e in eps])),
              episode_len_mean=float(np.mean([e.turns for e in eps])),
              tokens_mean=float(np.mean([e.num_tokens for e in eps])),
              format_errors_mean=float(np.mean([e.format_errors for e in eps])),
              episode_seconds_max=float(np.max([e.seconds for e in eps])),
              termination={t: sum(e.termination == t for e in eps)
                           for t in sorted({e.termination for e in eps})})


def to_sequence(e: Episode, advantage: float = 0.0) -> Sequence_:
  return Sequence_(tokens=np.asarray(e.tokens, np.int32),
                   loss_mask=np.asarray(e.loss_mask, np.float32),
                   logprobs=np.asarray(e.logprobs, np.float32), advantage=advantage)


def sft(c: Collaborators, learner: Learner, seqs: Sequence[Sequence_], epochs: int,
        per_step: int) -> dict:
  """SFT over `seqs` for `epochs` epochs with `learner`; the steps' mean metrics."""
  d = c.config.data
  records = []
  total = epochs * -(-len(seqs) // per_step)
  t0 = time.monotonic()
  for epoch in range(epochs):
    # Row-saving swaps between the steps of an epoch, when it has few (RFT; not the
    # warm start's hundreds of steps, whose tail rows are a small share).
    for batch, eff in batching.step_batches(
        seqs, per_step, seed=c.config.seed + epoch, seq_len=d.seq_len,
        microbatch_rows=d.microbatch_rows, swaps=len(seqs) <= 16 * per_step):
      records.append(dict(learner.step(batch), packing_efficiency=eff))
      if len(records) % 25 == 0 or len(records) == total:
        rate = (time.monotonic() - t0) / len(records)
        print(f"   sft {len(records)}/{total}: loss {records[-1]['loss']:.3f} "
              f"({rate:.2f} s/step)", flush=True)
  return mean_metrics(records) if records else {}


def warm_start(c: Collaborators, ls: LoopState) -> Learner:
  w, a = c.config.warm_start, c.config.agent
  tasks = c.tasks.warm_start_tasks()
  policy = ScriptedPolicy(c.tokenizer, {t.instance_id: t for t in tasks},
                          mistake_rate=w.mistake_rate, seed=c.config.seed,
                          **c.tasks.scripted_kwargs())
  rcfg = RolloutConfig.from_config(a, max_turns=max(a.max_turns, 64), grade=w.grade)
  t0 = time.monotonic()
  out = _rollouts(c, tasks, w.demos_per_task, policy, rcfg, "warm_start", 0)
  eps = [e for v in out.groups.values() for e in v]
  t1 = time.monotonic()
  learner = c.new_learner("warm_start", w.optim.to_dict())
  copying = {}
  if w.copy_examples:  # see swejax.rl.demo: copying before imitation
    lines, paths = demo.code_lines(c.tasks.pool)
    system = prompts.system_prompt(window=a.window, command_timeout=a.command_timeout,
                                   style=a.system_prompt)
    corpus = demo.copy_corpus(c.tokenizer, lines, paths, w.copy_examples, c.config.seed,
                              shape=w.copy_shape, window=a.window, system=system)
    copying = sft(c, learner, corpus, 1, w.copy_per_step)
  metrics = sft(c, learner, [to_sequence(e) for e in eps], w.epochs, w.trajectories_per_step)
  ls.optim_stage = "warm_start"
  push_weights(c, learner, ls)
  graded = {"demo_solve_rate": float(np.mean([e.resolved for e in eps]))} if (
      eps and rcfg.grade) else {}
  c.metrics.write(dict(stage="warm_start", iteration=0, demos=len(eps), **graded,
                       learner=metrics, **({"copying": copying} if copying else {}),
                       time={"total": time.monotonic() - t0, "rollouts": t1 - t0,
                             "learner": time.monotonic() - t1,
                             "grading_summed": _grading(eps)}))
  return learner


def evaluate(c: Collaborators, ls: LoopState, name: str) -> dict:
  e = c.config.eval
  tasks = c.tasks.eval_tasks()
  t0 = time.monotonic()
  runs = e.runs_by_name[name] if name in e.runs_by_name else e.runs  # fewer for the base
  out = _rollouts(c, tasks, runs, _policy(c, eval_sampling(e)),
                  RolloutConfig.from_config(c.config.agent), f"eval_{name}", 0)
  eps = [x for v in out.groups.values() for x in v]
  summary = eval_summary.summarize(eval_summary.per_task_successes(eps), e.k)
  summary.update(name=name, dropped_groups=len(out.dropped))
  ls.results[name] = summary
  wall = time.monotonic() - t0
  c.metrics.write(dict(stage=f"eval_{name}", iteration=ls.iteration,
                       eval={"pass@1": summary["pass@1"], "stderr": summary["stderr"],
                             "pass@k": summary["pass@k"], "k": summary["k"]},
                       time={"total": wall, "rollouts": wall, "grading_summed": _grading(eps)},
                       **_episode_stats(eps)))
  print(f"   {name}: Pass@1 {summary['pass@1']:.3f} +- {summary['stderr']:.3f}, "
        f"Pass@{summary['k']} {summary['pass@k']:.3f}", flush=True)
  report.refresh(c.workdir)  # WORKDIR/report/index.html: the run so far
  return summary


def rft_optim(optim: dict, kept: int, epochs: int, per_step: int) -> dict:
  """rft.optim with total_steps 0 read as the steps the kept data gives (the paper's cosine
  runs over exactly those), at least one past the warmup."""
  if optim["total_steps"]:
    return optim
  steps = epochs * math.ceil(kept / per_step)
  return dict(optim, total_steps=max(steps, optim["warmup_steps"] + 1))


def rft(c: Collaborators, ls: LoopState) -> Learner:
  r = c.config.rft
  tasks = c.tasks.rft_tasks()
  rcfg = RolloutConfig.from_config(c.config.agent, format_errors_trainable=False)
  t0 = time.monotonic()
  out = _rollouts(c, tasks, r.samples_per_task, _policy(c), rcfg, "rft", 0)
  eps = [e for v in out.groups.values() for e in v]
  kept = [e for e in eps if e.resolved]
  for tid, group in out.groups.items():  # the solve history stage 2's filter reads
    ls.history.setdefault(tid, []).extend(int(e.resolved) for e in group)
  t1 = time.monotonic()
  learner = c.new_learner("rft", rft_optim(r.optim.to_dict(), len(kept), r.epochs,
                                           r.trajectories_per_step))
  metrics = sft(c, learner, [to_sequence(e) for e in kept], r.epochs, r.trajectories_per_step)
  ls.optim_stage = "rft"
  t2 = time.monotonic()
  sync = push_weights(c, learner, ls)
  c.metrics.write(dict(stage="rft", iteration=0, sampled=len(eps), kept=len(kept),
                       dropped_groups=len(out.dropped), learner=metrics,
                       time={"total": time.monotonic() - t0, "rollouts": t1 - t0,
                             "learner": t2 - t1, "weight_sync": sync,
                             "grading_summed": _grading(eps)},
                       **_episode_stats(eps)))
  return learner


def _draw_tasks(c: Collaborators, ls: LoopState, n: int, keep: set[str]) -> list:
  """n tasks from the grain source over the pool, only those in `keep` (drawn in order,
  so a resumed run draws the same)."""
  tasks, draws = [], 0
  while len(tasks) < n and draws < 50 * n:
    for i in c.source.next_batch(n - len(tasks)):
      draws += 1
      if c.tasks.pool[i].instance_id in keep:
        tasks.append(c.tasks.pool[i])
  return tasks


def dapo_iteration(c: Collaborators, learner: Learner, ls: LoopState) -> None:
  """Iteration ls.iteration + 1: rollouts, advantages, one pass of optimizer steps, weights
  to the sampler."""
  r, d = c.config.rl, c.config.data
  it = ls.iteration + 1
  # Stage 2: the pool without tasks solved >= 2/3 of the time so far and never-solved ones
  pool = c.tasks.dapo_pool(solve_history.merge(c.prior_history, ls.history),
                           stage2=r.pool_filter.enabled)
  tasks = _draw_tasks(c, ls, r.problems_per_iteration, {x.instance_id for x in pool})
  t0 = time.monotonic()
  out = _rollouts(c, tasks, r.group_size, _policy(c), RolloutConfig.from_config(c.config.agent),
                  "dapo", it)
  t1 = time.monotonic()
  for tid, eps in out.groups.items():
    ls.history.setdefault(tid, []).extend(int(e.resolved) for e in eps)
  samples, zero = dapo_samples(out.groups, eps=r.advantage_eps)
  seqs = [to_sequence(s.episode, s.advantage) for s in samples]
  records, mismatch = [], {}
  for batch, eff in batching.step_batches(seqs, r.trajectories_per_step,
                                          seed=c.config.seed * 7919 + it, seq_len=d.seq_len,
                                          microbatch_rows=d.microbatch_rows):
    records.append(dict(learner.step(batch), packing_efficiency=eff))
  if records:  # the first step's gap is before any update: the sampler/learner mismatch
    mismatch = {"mismatch_before_update_mean": records[0]["logprob_diff_mean"],
                "mismatch_before_update_max": records[0]["logprob_diff_max"]}
  t2 = time.monotonic()
  sync = push_weights(c, learner, ls) if records else 0.0
  eps = [e for v in out.groups.values() for e in v]
  c.metrics.write(dict(
      stage="dapo", iteration=it, tasks=len(tasks), kept_samples=len(samples),
      pool=len(c.tasks.pool), pool_after_filter=len(pool),
      zero_advantage=zero, dropped_groups=len(out.dropped), optimizer_steps=len(records),
      time={"total": time.monotonic() - t0, "rollouts": t1 - t0, "learner": t2 - t1,
            "weight_sync": sync, "grading_summed": _grading(eps)},
      learner=dict(mean_metrics(records), **mismatch), **_episode_stats(eps)))
  ls.iteration = it


def new_learner_factory(config, mesh, params: Callable[[], Any]) -> NewLearner:
  """A stage's learner: the stage's loss and optimizer around the current weights."""
  def make(stage: str, optim: dict) -> Learner:
    return Learner(build.step_config(config, build.stage_loss(stage)), optim, mesh,
                   params=params(), seed=config.seed)
  return make
