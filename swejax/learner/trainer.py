"""A training stage's learner: its TrainState and the jitted step, built once.

A learner is born either around given weights (`fresh`) or from a checkpoint (`restored`):
restoring reads straight into the abstract state's shardings, so no random weights are
made first (at 72B they would double the peak memory).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from swejax.learner.optimizer import make_schedule
from swejax.learner.state import TrainState, abstract_state, init_state, make_tx
from swejax.learner.train_step import StepConfig, make_train_step


class Learner:
  """The TrainState of one training stage and its jitted step."""

  def __init__(self, step_cfg: StepConfig, optim: Mapping[str, Any], mesh,
               state: Callable[[Any], TrainState] | None = None, *, params=None,
               seed: int = 0):
    """`state(tx) -> TrainState` builds the state (see `restored`); without it the state is
    fresh: `params` (or random weights when None) and a new optimizer state."""
    self.cfg, self.mesh = step_cfg, mesh
    self.tx = make_tx(step_cfg.model, optim)
    self.schedule = make_schedule(optim)
    self.state = (state(self.tx) if state is not None else
                  init_state(step_cfg.model, self.tx, mesh, jax.random.key(seed), params=params))
    self._step = make_train_step(step_cfg, self.tx, mesh, schedule=self.schedule)

  @classmethod
  def restored(cls, step_cfg: StepConfig, optim: Mapping[str, Any], mesh,
               restore: Callable[[Any], TrainState]) -> "Learner":
    """A learner whose state `restore(abstract_state)` reads (e.g. an orbax checkpoint)."""
    return cls(step_cfg, optim, mesh,
               state=lambda tx: restore(abstract_state(step_cfg.model, tx, mesh)))

  @property
  def params(self):
    return self.state.params

  def step(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
    self.state, metrics = self._step(self.state, {k: jnp.asarray(v) for k, v in batch.items()})
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


def mean_metrics(records: Sequence[Mapping[str, float]]) -> dict[str, float]:
  """Step metrics over a stage: maxima of the `*_max` ones, means of the rest."""
  keys = sorted({k for r in records for k in r})
  out = {}
  for k in keys:
    vals = [r[k] for r in records if k in r]
    out[k] = float(np.max(vals)) if k.endswith("_max") else float(np.mean(vals))
  return out
