"""Rewards and group advantages (pure)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


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
