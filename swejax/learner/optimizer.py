"""AdamW with global-norm clipping and a warmup + cosine/constant schedule, from config.

The `optim` config section (every field optional; defaults are the paper's):
  learning_rate (1e-6), b1 (0.9), b2 (0.999), eps (1e-8), weight_decay (0.1),
  grad_clip (1.0; 0 turns clipping off), schedule ("constant" | "cosine"),
  warmup_steps (0), total_steps (needed by "cosine": the learning rate reaches 0 there).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-6,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "schedule": "constant",
    "warmup_steps": 0,
    "total_steps": 0,
}


def _read(section: Mapping[str, Any] | None) -> dict[str, Any]:
  section = dict(section or {})
  unknown = sorted(set(section) - set(DEFAULTS))
  if unknown:
    raise ValueError(f"optim: unknown field(s) {unknown}; known: {sorted(DEFAULTS)}")
  out = {**DEFAULTS, **section}
  if out["schedule"] not in ("constant", "cosine"):
    raise ValueError(f"optim.schedule must be 'constant' or 'cosine', got {out['schedule']!r}")
  if out["learning_rate"] < 0 or out["warmup_steps"] < 0 or out["grad_clip"] < 0:
    raise ValueError("optim.learning_rate, optim.warmup_steps and optim.grad_clip must be >= 0")
  if out["schedule"] == "cosine" and out["total_steps"] <= out["warmup_steps"]:
    raise ValueError(f"optim.total_steps ({out['total_steps']}) must be > optim.warmup_steps "
                     f"({out['warmup_steps']}) for schedule='cosine'")
  return out


def make_schedule(section: Mapping[str, Any] | None) -> optax.Schedule:
  """Linear warmup (step 0 already trains at lr / warmup), then cosine to 0 or constant."""
  c = _read(section)
  lr, warm, total = float(c["learning_rate"]), int(c["warmup_steps"]), int(c["total_steps"])
  cosine = c["schedule"] == "cosine"

  def schedule(step):
    step = jnp.asarray(step, jnp.float32)
    value = lr * jnp.minimum(step + 1.0, max(warm, 1)) / max(warm, 1) if warm else lr
    if cosine:
      frac = jnp.clip((step - warm) / (total - warm), 0.0, 1.0)
      value = jnp.where(step < warm, value, lr * 0.5 * (1.0 + jnp.cos(math.pi * frac)))
    return jnp.asarray(value, jnp.float32)

  return schedule


def decay_mask(param_axes: Any) -> Any:
  """Weight decay on matrices only: not on norms and biases (arrays without an "embed" axis
  or with no other non-layer axis)."""
  def decays(spec) -> bool:
    names = [n for n in tuple(spec) if n not in (None, "layers")]
    return "embed" in names and len(names) >= 2
  return jax.tree.map(decays, param_axes,
                      is_leaf=lambda s: isinstance(s, jax.sharding.PartitionSpec))


def make_optimizer(section: Mapping[str, Any] | None,
                   mask: Any = None) -> optax.GradientTransformation:
  """optax chain: clip by global norm, then AdamW; `mask` selects what weight decay touches."""
  c = _read(section)
  adamw = optax.adamw(make_schedule(section), b1=c["b1"], b2=c["b2"], eps=c["eps"],
                      weight_decay=c["weight_decay"], mask=mask)
  if c["grad_clip"] > 0:
    return optax.chain(optax.clip_by_global_norm(c["grad_clip"]), adamw)
  return adamw
