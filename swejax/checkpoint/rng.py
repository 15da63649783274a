"""numpy Generator state as JSON, so the loop's randomness resumes exactly from a checkpoint."""
from __future__ import annotations

import copy
from typing import Any

import numpy as np


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
  """The generator's full state as a JSON-able dict (big integers stay exact in JSON)."""
  return copy.deepcopy(rng.bit_generator.state)


def rng_from_state(state: dict[str, Any]) -> np.random.Generator:
  """A Generator that continues exactly where the one `state` was taken from stopped."""
  name = state.get("bit_generator") if isinstance(state, dict) else None
  bit_generator = getattr(np.random, str(name), None)
  if not isinstance(name, str) or not isinstance(bit_generator, type) or not issubclass(
      bit_generator, np.random.BitGenerator):
    raise ValueError(f"rng_from_state: not a numpy bit generator state: {state!r:.200}")
  bg = bit_generator()
  bg.state = state
  return np.random.Generator(bg)
