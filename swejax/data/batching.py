"""Batching: a stage's trajectories as optimizer steps of packed [M, b, T] microbatches.

One entry point, `step_batches`: shuffled minibatches of a fixed number of trajectories
(swapped between steps where that saves packed rows), each packed into rows of seq_len
tokens and split into microbatches, their number rounded up to a bucket (a power of two)
so that the jitted step compiles for a handful of shapes only.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from swejax.data import packing
from swejax.data.packing import Sequence_


def step_batches(samples: Sequence[Sequence_], per_step: int, *, seed: int, seq_len: int,
                 microbatch_rows: int, swaps: bool = True
                 ) -> Iterator[tuple[dict[str, np.ndarray], float]]:
  """(microbatches of one optimizer step, its packing efficiency), step by step.

  `swaps`: trade trajectories between steps while that saves rows (worth it when an epoch
  has few steps, each with a mostly empty tail row)."""
  for step in minibatches(samples, per_step, seed, seq_len=seq_len if swaps else None):
    yield packed_step_batch(step, seq_len, microbatch_rows)


def minibatches(samples: Sequence[Sequence_], per_step: int, seed: int, *,
                seq_len: int | None = None) -> list[list[Sequence_]]:
  """Shuffled minibatches of `per_step` trajectories (the last one may be smaller).

  With `seq_len`, trajectories are then swapped between minibatches (sizes unchanged)
  while that saves packed rows of `seq_len` tokens: each step's tail row is otherwise
  mostly padding (see fewer_rows)."""
  order = np.random.default_rng(seed).permutation(len(samples))
  steps = [list(order[k:k + per_step]) for k in range(0, len(order), per_step)]
  if seq_len and len(steps) > 1:
    steps = fewer_rows(steps, [len(s.tokens) for s in samples], seq_len)
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


def packed_step_batch(samples: Sequence[Sequence_], seq_len: int,
                      rows_per_microbatch: int) -> tuple[dict[str, np.ndarray], float]:
  """[M, b, T] microbatches for one optimizer step, and the packing efficiency.

  M is rounded up to a power of two with empty rows: the train step compiles once per M,
  and a handful of shapes cover every step at most 2x padded (and not at all when M is
  a power of two already)."""
  rows = packing.pack(list(samples), seq_len)
  eff = packing.efficiency(rows)
  m = -(-rows["tokens"].shape[0] // rows_per_microbatch)
  bucket = 1 << max(0, m - 1).bit_length()
  return packing.to_microbatches(rows, rows_per_microbatch, bucket), eff
