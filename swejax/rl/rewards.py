"""Rewards and group advantages (pure)."""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from swejax.rl.episode import Episode


def length_penalty(turns: int, *, threshold: int, max_turns: int) -> float:
  """R_len = 0 if |tau| < L_thr else (L_thr - |tau|) / (T_max - L_thr); |tau| in turns."""
  if turns < threshold or max_turns <= threshold:
    return 0.0
  return (threshold - turns) / (max_turns - threshold)


def group_advantages(rewards: Sequence[float], eps: float = 1e-6, ddof: int = 1) -> np.ndarray:
  """A = (R - mean) / (std + eps) within one group. ddof=1 (the unbiased std) as the
  common GRPO/DAPO implementations; a group whose rewards are all equal gets A = 0."""
  r = np.asarray(rewards, np.float64)
  if r.size < 2 or np.all(r == r[0]):
    return np.zeros_like(r)
  return (r - r.mean()) / (r.std(ddof=ddof) + eps)


@dataclasses.dataclass(frozen=True)
class Sample:
  """A trajectory kept for the DAPO update, with its group advantage."""
  episode: Episode
  advantage: float


def dapo_samples(groups: dict[str, list[Episode]], eps: float) -> tuple[list[Sample], int]:
  """Group advantages; samples with A == 0 dropped. Returns (kept, dropped count)."""
  kept, dropped = [], 0
  for _, group in sorted(groups.items()):
    for e, a in zip(group, group_advantages([e.reward for e in group], eps=eps)):
      if a == 0.0:
        dropped += 1
      else:
        kept.append(Sample(e, float(a)))
  return kept, dropped
