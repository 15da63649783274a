"""The JAX sampler's slot table: what each slot's KV cache holds, and which slot a request
goes to. Pure bookkeeping, no JAX."""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np


@dataclasses.dataclass
class Slot:
  cached: list[int] = dataclasses.field(default_factory=list)  # K/V at positions 0..len-1
  session: str | None = None
  last_used: int = -1
  job: Any = None  # the request decoding here, None when idle


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
  n = min(len(a), len(b))
  if not n:
    return 0
  diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
  return int(diff[0]) if diff.size else n


def choose(slots: Sequence[Slot], prompt: Sequence[int], session: str | None) -> int | None:
  """An idle slot for a request, None if all are busy.

  The session's own idle slot; without a session, the idle slot sharing the longest
  prefix with the prompt; otherwise an empty slot, else the least recently used idle one
  (its cache is evicted, except for whatever prefix it happens to share).
  """
  idle = [i for i, s in enumerate(slots) if s.job is None]
  if not idle:
    return None
  if session is not None:
    own = [i for i in idle if slots[i].session == session]
    if own:
      return own[0]
  else:
    shared = {i: common_prefix(slots[i].cached, prompt) for i in idle}
    best = max(idle, key=shared.__getitem__)
    if shared[best]:
      return best
  empty = [i for i in idle if not slots[i].cached]
  return empty[0] if empty else min(idle, key=lambda i: slots[i].last_used)
