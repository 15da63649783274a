"""From finished episodes to optimizer steps: advantages, packing, the jitted step."""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from swejax import learner
from swejax.data import packing
from swejax.rl.episode import Episode
from swejax.rl.rewards import group_advantages


@dataclasses.dataclass(frozen=True)
class Sample:
  episode: Episode
  advantage: float


def dapo_samples(groups: dict[str, list[Episode]], eps: float = 1e-6) -> tuple[list[Sample], int]:
  """Group advantages; samples with A == 0 dropped. Returns (kept, dropped count)."""
  kept, dropped = [], 0
  for _, eps_ in sorted(groups.items()):
    adv = group_advantages([e.reward for e in eps_], eps=eps)
    for e, a in zip(eps_, adv):
      if a == 0.0:
        dropped += 1
      else:
        kept.append(Sample(e, float(a)))
  return kept, dropped


def to_sequence(s: Sample) -> packing.Sequence_:
  e = s.episode
  return packing.Sequence_(tokens=np.asarray(e.tokens, np.int32),
                           loss_mask=np.asarray(e.loss_mask, np.float32),
                           logprobs=np.asarray(e.logprobs, np.float32), advantage=s.advantage)


def minibatches(samples: Sequence[Any], per_step: int, seed: int) -> list[list[Any]]:
  """Shuffled minibatches of `per_step` trajectories (the last one may be smaller)."""
  order = np.random.default_rng(seed).permutation(len(samples))
  return [[samples[i] for i in order[k:k + per_step]] for k in range(0, len(order), per_step)]


def packed_step_batch(samples: Sequence[Sample | packing.Sequence_], seq_len: int,
                      rows_per_microbatch: int) -> tuple[dict[str, np.ndarray], float]:
  """[M, b, T] microbatches for one optimizer step, and the packing efficiency.

  M is rounded up to a power of two with empty rows: the train step compiles once per M,
  and a handful of shapes cover every step at most 2x padded (and not at all when M is
  a power of two already)."""
  rows = packing.pack([to_sequence(s) if isinstance(s, Sample) else s for s in samples],
                      seq_len)
  eff = packing.efficiency(rows)
  m = -(-rows["tokens"].shape[0] // rows_per_microbatch)
  bucket = 1 << max(0, m - 1).bit_length()
  return packing.to_microbatches(rows, rows_per_microbatch, bucket), eff


class Learner:
  """Holds the TrainState of one training stage and its jitted step."""

  def __init__(self, step_cfg: learner.StepConfig, optim: Any, mesh, *, params=None,
               state=None, seed: int = 0):
    self.cfg = step_cfg
    self.mesh = mesh
    self.tx = learner.make_tx(step_cfg.model, optim)
    self.schedule = learner.make_schedule(optim)
    if state is None:
      state = learner.init_state(step_cfg.model, self.tx, mesh, jax.random.key(seed), params=params)
    self.state = state
    self._step = learner.make_train_step(step_cfg, self.tx, mesh, schedule=self.schedule)

  def abstract_state(self):
    return learner.abstract_state(self.cfg.model, self.tx, self.mesh)

  @property
  def params(self):
    return self.state.params

  def step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
    self.state, metrics = self._step(self.state, {k: jnp.asarray(v) for k, v in batch.items()})
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


def mean_metrics(records: Sequence[dict[str, float]]) -> dict[str, float]:
  keys = sorted({k for r in records for k in r})
  out = {}
  for k in keys:
    vals = [r[k] for r in records if k in r]
    out[k] = float(np.max(vals)) if k.endswith("_max") else float(np.mean(vals))
  return out
