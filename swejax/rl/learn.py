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


def sample_length(s: Any) -> int:
  return s.episode.num_tokens if isinstance(s, Sample) else len(s.tokens)


def minibatches(samples: Sequence[Any], per_step: int, seed: int, *,
                seq_len: int | None = None) -> list[list[Any]]:
  """Shuffled minibatches of `per_step` trajectories (the last one may be smaller).

  With `seq_len`, trajectories are then swapped between minibatches (sizes unchanged)
  while that saves packed rows of `seq_len` tokens: each step's tail row is otherwise
  mostly padding (see fewer_rows)."""
  order = np.random.default_rng(seed).permutation(len(samples))
  steps = [list(order[k:k + per_step]) for k in range(0, len(order), per_step)]
  if seq_len and len(steps) > 1:
    steps = fewer_rows(steps, [sample_length(s) for s in samples], seq_len)
  return [[samples[i] for i in step] for step in steps]


def fewer_rows(steps: list[list[int]], lengths: Sequence[int], seq_len: int, *,
               tries: int = 16, max_swaps: int = 8) -> list[list[int]]:
  """`steps` (lists of item indices) with items swapped between pairs of steps whenever
  that packs the pair into fewer rows of `seq_len`. Deterministic; each step keeps its
  size. Within a pair, a chain of at most `max_swaps` swaps moves tokens from one step to
  the other: the largest moves that fit first, then the smallest move that frees a row."""
  steps = [list(s) for s in steps]
  n = np.asarray(lengths, np.int64)

  def rows_of(step):
    return len(packing.pack_bins(n[step].tolist(), seq_len))

  rows = [rows_of(s) for s in steps]

  def chain(a, b, final_rank):
    """(new a, new b) after moving tokens from a to b, or None."""
    sa, sb = list(steps[a]), list(steps[b])
    need = int(n[sa].sum()) - (rows[a] - 1) * seq_len  # tokens to move out of a
    room = rows[b] * seq_len - int(n[sb].sum())  # tokens b can take in
    for _ in range(max_swaps):
      delta = n[sa][:, None] - n[sb][None, :]  # [i in a, j in b]: tokens moved by a swap
      ok = (delta > 0) & (delta <= room)
      if not ok.any():
        return None
      final = ok & (delta >= need)
      if final.any():
        ii, jj = np.nonzero(final)
        order = np.argsort(delta[ii, jj], kind="stable")
        if final_rank >= len(order):
          return None
        i, j = int(ii[order[final_rank]]), int(jj[order[final_rank]])
      else:
        i, j = np.unravel_index(int(np.argmax(np.where(ok, delta, -1))), delta.shape)
      d = int(delta[i, j])
      sa[i], sb[j] = sb[j], sa[i]
      need, room = need - d, room - d
      if need <= 0:
        return sa, sb
    return None

  for _ in range(4 * len(steps)):
    improved = False
    for a in range(len(steps)):
      for b in range(len(steps)):
        if b == a:
          continue
        for rank in range(tries):
          moved = chain(a, b, rank)
          if moved is None:
            break
          ra, rb = rows_of(moved[0]), rows_of(moved[1])
          if ra + rb < rows[a] + rows[b]:
            steps[a], steps[b] = moved
            rows[a], rows[b] = ra, rb
            improved = True
            break
        if improved:
          break
      if improved:
        break
    if not improved:
      break
  return steps


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
