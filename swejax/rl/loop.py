"""The training loop: the paper's pipeline as a list of stages, resumable at any point.

Stages (config `stages`, comma-separated):
  warm_start  SFT on scripted demonstrations (the demo's stand-in for an instruct model)
  eval:NAME   Pass@1 +- s.e. and Pass@k on the held-out tasks, recorded under NAME
  rft         n samples per task, keep the resolved ones, one epoch of SFT (format errors masked)
  dapo        synchronous DAPO iterations (with periodic evaluation)
Every finished episode is on disk at once (WORKDIR/trajectories/<stage>_<iteration>.jsonl)
and is reused on resume; a checkpoint follows every training unit (a stage, an iteration).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

import numpy as np

from swejax import learner
from swejax.agent import prompts
from swejax.learner import build as learner_build
from swejax.rl import evaluation, learn, samplers
from swejax.rl.episode import Episode, EpisodeLog, read_episodes
from swejax.rl.rollout import RolloutConfig, SamplerPolicy, Sandboxes, run_groups
from swejax.rl.scripted_policy import ScriptedPolicy
from swejax.sampling.base import SamplingParams


def _grading(eps) -> float:
  """Seconds spent grading, summed over episodes (they run concurrently, inside the
  rollouts' wall time): recorded as time/grading_summed."""
  return float(sum(e.grade.get("seconds", 0.0) for e in eps))


def rollout_config(config, **overrides) -> RolloutConfig:
  a = config.agent
  fields = {f.name for f in dataclasses.fields(RolloutConfig)}
  kw = {k: v for k, v in a.items() if k in fields}
  kw.update(overrides)
  return RolloutConfig(**kw)


EMBEDDED_PREFIX = "embedded:"
_ARCHITECTURE = ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                 "num_kv_heads", "head_dim", "tie_embeddings")


def resolve_init(init: str) -> str:
  """`model.init`: a Hugging Face directory, or "embedded:NAME" for swejax/assets/NAME."""
  if init.startswith(EMBEDDED_PREFIX):
    import importlib.resources  # pylint: disable=import-outside-toplevel
    return str(importlib.resources.files("swejax") / "assets" / init[len(EMBEDDED_PREFIX):])
  return os.path.expanduser(init)


def check_init(init: str) -> str:
  """The resolved `model.init` directory; ValueError naming the flag if it is not one."""
  path = resolve_init(init)
  if not os.path.isfile(os.path.join(path, "config.json")):
    raise ValueError(f"config model.init={init!r}: {path} is not a Hugging Face checkpoint "
                     "directory (no config.json)")
  return path


def initial_params(init: str, model_cfg, mesh):
  """The run's starting weights: random (init empty) or a Hugging Face checkpoint whose
  architecture must be the configured one (the paper starts from an instruct model)."""
  if not init:
    return None
  from swejax.model import hf  # pylint: disable=import-outside-toplevel
  path = check_init(init)
  cfg, params = hf.load_hf(path, model_cfg.param_dtype, mesh=mesh)
  wrong = [f"{k} {getattr(cfg, k)} != {getattr(model_cfg, k)}" for k in _ARCHITECTURE
           if getattr(cfg, k) != getattr(model_cfg, k)]
  if wrong:
    raise ValueError(f"config model.init={init!r}: the checkpoint's architecture differs from "
                     f"model.preset's: {'; '.join(wrong)}")
  return params


def first_training_stage(stages: list[str]) -> str:
  """The stage whose optimizer a run's first learner gets: a run may start with an
  evaluation (of the model.init checkpoint) before any training."""
  for stage in stages:
    if stage.split(":")[0] in ("warm_start", "rft", "dapo"):
      return stage.split(":")[0]
  return "dapo"


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


class Run:
  """One training run in a workdir. `Run(config, workdir).run()` resumes when it can."""

  def __init__(self, config, workdir: str, data):
    from swejax.checkpoint import Checkpointer  # pylint: disable=import-outside-toplevel
    from swejax.metrics import MetricsWriter  # pylint: disable=import-outside-toplevel
    self.config, self.workdir, self.data = config, workdir, data
    self.tok = data.tokenizer
    self.stages = [s.strip() for s in config.stages.split(",") if s.strip()]
    self.model_cfg = learner_build.model_config(config.model)
    self.mesh = learner.make_mesh(config.mesh)
    self.metrics = MetricsWriter(workdir, console=sys.stdout)
    self.ckpt = Checkpointer(workdir, keep=config.checkpoint.keep)
    self.ls = LoopState()
    self.learner: learn.Learner | None = None
    self.sampler = None
    self.source = data.dapo_source().iterator()
    sb = config.sandbox
    self.sandboxes = Sandboxes(sb.backend, [h for h in sb.hosts.split(",") if h],
                               per_host=sb.per_host,
                               limits=tuple(sorted(dict(sb.limits).items())))

  # -- state -------------------------------------------------------------------

  def _step_cfg(self, loss: str) -> learner.StepConfig:
    l = self.config.learner
    return learner.StepConfig(model=self.model_cfg, loss=loss, eps_low=l.eps_low,
                              eps_high=l.eps_high, kl_coef=l.kl_coef,
                              logprob_chunk=l.logprob_chunk)

  def _stage_optim(self, stage: str):
    kind = stage.split(":")[0]
    return {"warm_start": self.config.warm_start.optim, "rft": self.config.rft.optim,
            "dapo": self.config.optim}[kind].to_dict()

  def _new_learner(self, stage: str, params=None, state=None) -> learn.Learner:
    loss = "dapo" if stage == "dapo" else "sft"
    return learn.Learner(self._step_cfg(loss), self._stage_optim(stage), self.mesh,
                         params=params, state=state, seed=self.config.seed)

  def restore(self) -> bool:
    step = self.ckpt.latest_step()
    if step is None:
      return False
    self.ls = LoopState(**self.ckpt.restore_loop_state(step))
    shell = self._new_learner(self.ls.optim_stage or "warm_start")
    state, data_state, _ = self.ckpt.restore(step, shell.abstract_state())
    shell.state = state
    self.learner = shell
    if data_state:
      self.source.set_state(data_state)
    print(f"resumed from {self.workdir}/checkpoints/{step} (stage "
          f"{self.stages[min(self.ls.stage_index, len(self.stages) - 1)]}, "
          f"iteration {self.ls.iteration})", flush=True)
    return True

  def save(self) -> None:
    # Checkpoints are numbered by the loop's units of work (a stage, an iteration):
    # optimizer steps restart in every training stage, and an iteration may have none.
    self.ls.saves += 1
    self.ckpt.save(self.ls.saves, self.learner.state, self.source.get_state(),
                   dataclasses.asdict(self.ls))

  def params(self):
    if self.learner is None:
      self.learner = self._new_learner(first_training_stage(self.stages), params=initial_params(
          self.config.model.get("init", ""), self.model_cfg, self.mesh))
    return self.learner.params

  def get_sampler(self):
    if self.sampler is None:
      self.sampler = samplers.make_sampler(self.config, self.model_cfg, self.params(),
                                           version=self.ls.version, workdir=self.workdir,
                                           stop_token_id=self.tok.im_end_id)
    return self.sampler

  def push_weights(self) -> float:
    t = time.monotonic()
    self.ls.version += 1
    self.get_sampler().update_weights(self.learner.params, self.ls.version)
    return time.monotonic() - t

  # -- the run -----------------------------------------------------------------

  def run(self) -> dict:
    self.restore()
    while self.ls.stage_index < len(self.stages):
      stage = self.stages[self.ls.stage_index]
      kind = stage.split(":")[0]
      print(f"== stage {self.ls.stage_index + 1}/{len(self.stages)}: {stage}", flush=True)
      if kind == "warm_start":
        self.warm_start()
      elif kind == "eval":
        self.evaluate(stage.split(":", 1)[1] if ":" in stage else "eval")
      elif kind == "rft":
        self.rft()
      elif kind == "dapo":
        self.dapo()
        continue  # dapo advances stage_index itself when its iterations are done
      else:
        raise ValueError(f"config stages: unknown stage {stage!r} "
                         "(warm_start, eval:NAME, rft, dapo)")
      self.ls.stage_index += 1
      if kind != "eval":
        self.save()
    self.ckpt.wait()
    return self.ls.results

  def _rollouts(self, tasks, group_size, policy, rcfg, stage: str, iteration: int):
    from swejax.metrics import Progress  # pylint: disable=import-outside-toplevel
    path = os.path.join(self.workdir, "trajectories", f"{stage}_{iteration}.jsonl")
    finished = list(read_episodes(path))
    progress = Progress(len(tasks) * group_size)
    out = run_groups(tasks, group_size, policy, self.tok, rcfg, self.sandboxes,
                     seed=self.config.seed,
                     stage=stage, iteration=iteration, log=EpisodeLog(path), finished=finished,
                     progress=progress, problem_statement=self.data.problem_statement)
    progress.close()
    return out

  def _policy(self, params: SamplingParams = SamplingParams()):
    return SamplerPolicy(self.get_sampler(), (self.tok.im_end_id,), params)

  def _sft(self, stage: str, episodes, epochs: int, *, fresh: bool = True,
           per_step: int | None = None) -> dict:
    """SFT over episodes (or packing.Sequence_s) for `epochs` epochs; `fresh` starts the
    stage's optimizer anew, else the current learner goes on."""
    if fresh or self.learner is None:
      self.learner = self._new_learner(stage, params=self.params())
    samples = [learn.Sample(e, 0.0) if isinstance(e, Episode) else e for e in episodes]
    d = self.config.data
    records = []
    per_step = per_step or self.config.learner.sft_trajectories_per_step
    total = epochs * -(-len(samples) // per_step)
    t0 = time.monotonic()
    for epoch in range(epochs):
      # Row-saving swaps between the steps of an epoch, when it has few (RFT; not the
      # warm start's hundreds of steps, whose tail rows are a small share).
      few = len(samples) <= 16 * per_step
      for mb in learn.minibatches(samples, per_step, seed=self.config.seed + epoch,
                                  seq_len=d.seq_len if few else None):
        batch, eff = learn.packed_step_batch(mb, d.seq_len, d.microbatch_rows)
        records.append(dict(self.learner.step(batch), packing_efficiency=eff))
        if len(records) % 25 == 0 or len(records) == total:
          rate = (time.monotonic() - t0) / len(records)
          print(f"   sft {len(records)}/{total}: loss {records[-1]['loss']:.3f} "
                f"({rate:.2f} s/step)", flush=True)
    self.ls.optim_stage = stage
    return learn.mean_metrics(records) if records else {}

  def warm_start(self) -> None:
    w = self.config.warm_start
    tasks = self.data.warm_start_tasks()
    policy = ScriptedPolicy(self.tok, {t.instance_id: t for t in tasks},
                            mistake_rate=w.mistake_rate, seed=self.config.seed,
                            **self.data.scripted_kwargs())
    rcfg = rollout_config(self.config, max_turns=max(self.config.agent.max_turns, 64),
                          grade=bool(w.get("grade", True)))
    t0 = time.monotonic()
    out = self._rollouts(tasks, w.demos_per_task, policy, rcfg, "warm_start", 0)
    eps = [e for v in out.groups.values() for e in v]
    t1 = time.monotonic()
    copying = {}
    if w.get("copy_examples", 0):  # see swejax.rl.demo: copying before imitation
      from swejax.rl import demo  # pylint: disable=import-outside-toplevel
      lines, paths = demo.code_lines(self.data.pool)
      a = self.config.agent
      system = prompts.system_prompt(window=a.window, command_timeout=a.command_timeout,
                                     style=a.system_prompt)
      corpus = demo.copy_corpus(self.tok, lines, paths, w.copy_examples, self.config.seed,
                                shape=w.get("copy_shape", "episode"), window=a.window,
                                system=system)
      copying = self._sft("warm_start", corpus, 1, per_step=w.copy_per_step)
    metrics = self._sft("warm_start", eps, w.epochs, fresh=not copying)
    self.push_weights()
    graded = {"demo_solve_rate": float(np.mean([e.resolved for e in eps]))} if (
        eps and rcfg.grade) else {}
    self.metrics.write(dict(stage="warm_start", iteration=0, demos=len(eps), **graded,
                            learner=metrics, **({"copying": copying} if copying else {}),
                            time={"total": time.monotonic() - t0, "rollouts": t1 - t0,
                                  "learner": time.monotonic() - t1,
                                  "grading_summed": _grading(eps)}))

  def evaluate(self, name: str) -> dict:
    e = self.config.eval
    tasks = self.data.eval_tasks()
    t0 = time.monotonic()
    runs = (e.get("runs_by_name") or {}).get(name, e.runs)  # e.g. fewer for the base model
    out = self._rollouts(tasks, runs, self._policy(), rollout_config(self.config),
                         f"eval_{name}", 0)
    eps = [x for v in out.groups.values() for x in v]
    summary = evaluation.summarize(evaluation.per_task_successes(eps), e.k)
    summary.update(name=name, dropped_groups=len(out.dropped))
    self.ls.results[name] = summary
    wall = time.monotonic() - t0
    self.metrics.write(dict(stage=f"eval_{name}", iteration=self.ls.iteration,
                            eval={"pass@1": summary["pass@1"], "stderr": summary["stderr"],
                                  "pass@k": summary["pass@k"], "k": summary["k"]},
                            time={"total": wall, "rollouts": wall,
                                  "grading_summed": _grading(eps)},
                            **self._episode_stats(eps)))
    print(f"   {name}: Pass@1 {summary['pass@1']:.3f} +- {summary['stderr']:.3f}, "
          f"Pass@{summary['k']} {summary['pass@k']:.3f}", flush=True)
    return summary

  def rft(self) -> None:
    r = self.config.rft
    tasks = self.data.rft_tasks()
    rcfg = rollout_config(self.config, format_errors_trainable=False)
    t0 = time.monotonic()
    out = self._rollouts(tasks, r.samples_per_task, self._policy(), rcfg, "rft", 0)
    eps = [e for v in out.groups.values() for e in v]
    kept = [e for e in eps if e.resolved]
    t1 = time.monotonic()
    metrics = self._sft("rft", kept, r.epochs, per_step=r.get("trajectories_per_step"))
    t2 = time.monotonic()
    sync = self.push_weights()
    self.metrics.write(dict(stage="rft", iteration=0, sampled=len(eps), kept=len(kept),
                            dropped_groups=len(out.dropped), learner=metrics,
                            time={"total": time.monotonic() - t0, "rollouts": t1 - t0,
                                  "learner": t2 - t1, "weight_sync": sync,
                                  "grading_summed": _grading(eps)},
                            **self._episode_stats(eps)))

  def _episode_stats(self, eps) -> dict:
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

  def _draw_tasks(self, n: int, stage2: bool) -> list:
    """n tasks from the grain source over the pool; in stage 2 only those the pool filter
    keeps (drawn in order, so a resumed run draws the same)."""
    keep = {x.instance_id for x in self.data.dapo_pool(self.ls.history, stage2=stage2)}
    tasks, draws = [], 0
    while len(tasks) < n and draws < 50 * n:
      for i in self.source.next_batch(n - len(tasks)):
        draws += 1
        if self.data.pool[i].instance_id in keep:
          tasks.append(self.data.pool[i])
    return tasks

  def dapo(self) -> None:
    c = self.config.rl
    if self.learner is None or self.ls.optim_stage != "dapo":
      self.learner = self._new_learner("dapo", params=self.params())
      self.ls.optim_stage = "dapo"
    if self.ls.iteration >= c.iterations:
      self.ls.stage_index += 1
      return
    it = self.ls.iteration + 1
    tasks = self._draw_tasks(c.problems_per_iteration, stage2=c.pool_filter)
    t0 = time.monotonic()
    out = self._rollouts(tasks, c.group_size, self._policy(), rollout_config(self.config),
                         "dapo", it)
    t1 = time.monotonic()
    for tid, eps in out.groups.items():
      self.ls.history.setdefault(tid, []).extend(int(e.resolved) for e in eps)
    samples, zero = learn.dapo_samples(out.groups, eps=c.advantage_eps)
    d = self.config.data
    records, mismatch = [], {}
    for mb in learn.minibatches(samples, c.trajectories_per_step,
                                seed=self.config.seed * 7919 + it, seq_len=d.seq_len):
      batch, eff = learn.packed_step_batch(mb, d.seq_len, d.microbatch_rows)
      records.append(dict(self.learner.step(batch), packing_efficiency=eff))
    if records:  # the first step's gap is before any update: the sampler/learner mismatch
      mismatch = {"mismatch_before_update_mean": records[0].get("logprob_diff_mean", 0.0),
                  "mismatch_before_update_max": records[0].get("logprob_diff_max", 0.0)}
    t2 = time.monotonic()
    sync = self.push_weights() if records else 0.0
    eps = [e for v in out.groups.values() for e in v]
    self.metrics.write(dict(
        stage="dapo", iteration=it, tasks=len(tasks), kept_samples=len(samples),
        zero_advantage=zero, dropped_groups=len(out.dropped), optimizer_steps=len(records),
        time={"total": time.monotonic() - t0, "rollouts": t1 - t0, "learner": t2 - t1,
              "weight_sync": sync, "grading_summed": _grading(eps)},
        learner=dict(learn.mean_metrics(records), **mismatch), **self._episode_stats(eps)))
    self.ls.iteration = it
    self.save()
    if c.eval_every and it % c.eval_every == 0 and it < c.iterations:
      self.evaluate(f"dapo_{it}")
