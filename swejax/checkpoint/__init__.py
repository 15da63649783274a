"""Checkpoints: TrainState, data iterator and loop state with orbax (async, keep last N)."""
from swejax.checkpoint.manager import Checkpointer
from swejax.checkpoint.rng import rng_from_state, rng_state

__all__ = ["Checkpointer", "rng_from_state", "rng_state"]
