"""Packing trajectories into fixed [B, T] rows (best-fit decreasing, then minimum bin slack).

A PackedBatch is the only thing the learner sees: tokens, positions, segment_ids,
loss_mask, old_logprobs, advantages, all [B, T]; segment 0 is padding. A trajectory never
spans two rows (its tokens attend to each other only inside its row).
"""
from __future__ import annotations

import bisect
import dataclasses
from typing import Sequence

import numpy as np

FIELDS = ("tokens", "positions", "segment_ids", "loss_mask", "old_logprobs", "advantages")


@dataclasses.dataclass(frozen=True)
class Sequence_:
  """One trajectory as the packer sees it."""
  tokens: np.ndarray  # int32 [n]
  loss_mask: np.ndarray  # [n] 1 where the policy produced the token and it counts
  logprobs: np.ndarray  # float32 [n] the sampler's log-probs (0 elsewhere)
  advantage: float = 0.0


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
  """Bins of item indices; each bin's total length <= capacity.

  Longest first; each item goes to the fullest bin that still has room (O(n log n) with a
  sorted list of free spaces).
  """
  _check_lengths(lengths, capacity)
  order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
  free: list[tuple[int, int]] = []  # sorted (free space, bin id)
  bins: list[list[int]] = []
  for i in order:
    n = lengths[i]
    k = bisect.bisect_left(free, (n, -1))
    if k < len(free):
      space, b = free.pop(k)
    else:
      space, b = capacity, len(bins)
      bins.append([])
    bins[b].append(i)
    if space - n > 0:
      bisect.insort(free, (space - n, b))
  return bins


def _check_lengths(lengths: Sequence[int], capacity: int) -> None:
  too_long = [i for i, n in enumerate(lengths) if n > capacity]
  if too_long:
    raise ValueError(f"trajectories {too_long[:5]} are longer than the row length {capacity} "
                     f"(longest {max(lengths)}); raise data.seq_len or lower the context budget")


def minimum_bin_slack(lengths: Sequence[int], capacity: int, *,
                      budget: int = 4000) -> list[list[int]]:
  """Bins filled one at a time (Gupta and Ho's minimum bin slack): each bin takes the
  longest item left plus the subset of the others that leaves the least free space,
  searched depth-first in decreasing length with `budget` nodes per bin."""
  _check_lengths(lengths, capacity)
  left = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
  bins = []
  while left:
    first, rest = left[0], left[1:]
    best_space, best = capacity - lengths[first], []
    nodes = budget

    def search(start: int, space: int, chosen: list[int]) -> bool:
      nonlocal best_space, best, nodes
      if space < best_space:
        best_space, best = space, list(chosen)
        if space == 0:
          return True
      for k in range(start, len(rest)):
        nodes -= 1
        if nodes < 0:
          return True
        n = lengths[rest[k]]
        if n <= space and (k == start or lengths[rest[k - 1]] != n or rest[k - 1] in chosen):
          chosen.append(rest[k])
          if search(k + 1, space - n, chosen):
            return True
          chosen.pop()
      return False

    search(0, capacity - lengths[first], [])
    bins.append([first] + best)
    taken = set(best)
    left = [i for i in rest if i not in taken]
  return bins


def pack_bins(lengths: Sequence[int], capacity: int) -> list[list[int]]:
  """The fewer bins of best-fit decreasing and, when that is above the lower bound
  ceil(sum / capacity), minimum bin slack."""
  bins = best_fit_decreasing(lengths, capacity)
  if len(bins) > -(-sum(lengths) // capacity):
    other = minimum_bin_slack(lengths, capacity)
    if len(other) < len(bins):
      bins = other
  return bins


def pack(seqs: Sequence[Sequence_], seq_len: int, *, num_rows: int | None = None
         ) -> dict[str, np.ndarray]:
  """[B, T] arrays; B is the bin count, or `num_rows` (padding rows added; error if fewer)."""
  bins = pack_bins([len(s.tokens) for s in seqs], seq_len)
  rows = len(bins) if num_rows is None else num_rows
  if len(bins) > rows:
    raise ValueError(f"{len(seqs)} trajectories need {len(bins)} rows of {seq_len} tokens; "
                     f"only {rows} allowed")
  out = {
      "tokens": np.zeros((rows, seq_len), np.int32),
      "positions": np.zeros((rows, seq_len), np.int32),
      "segment_ids": np.zeros((rows, seq_len), np.int32),
      "loss_mask": np.zeros((rows, seq_len), np.float32),
      "old_logprobs": np.zeros((rows, seq_len), np.float32),
      "advantages": np.zeros((rows, seq_len), np.float32),
  }
  for r, members in enumerate(bins):
    start = 0
    for seg, i in enumerate(sorted(members), start=1):
      s = seqs[i]
      n = len(s.tokens)
      sl = slice(start, start + n)
      out["tokens"][r, sl] = s.tokens
      out["positions"][r, sl] = np.arange(n)
      out["segment_ids"][r, sl] = seg
      out["loss_mask"][r, sl] = s.loss_mask
      out["old_logprobs"][r, sl] = np.where(np.asarray(s.loss_mask) > 0, s.logprobs, 0.0)
      out["advantages"][r, sl] = s.advantage
      start += n
  return out


def efficiency(batch: dict[str, np.ndarray]) -> float:
  """Fraction of non-padding tokens."""
  return float((batch["segment_ids"] > 0).mean()) if batch["segment_ids"].size else 0.0


def to_microbatches(batch: dict[str, np.ndarray], rows_per_microbatch: int,
                    microbatch_multiple: int = 1) -> dict[str, np.ndarray]:
  """[B, T] -> [M, b, T], padding with empty rows so that M is a multiple of
  `microbatch_multiple` (few distinct shapes: the train step compiles once per M)."""
  b = rows_per_microbatch
  rows = batch["tokens"].shape[0]
  m = -(-rows // b)
  m = -(-m // microbatch_multiple) * microbatch_multiple
  pad = m * b - rows
  out = {}
  for k, v in batch.items():
    if pad:
      v = np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
    out[k] = v.reshape((-1, b) + v.shape[1:])
  return out
