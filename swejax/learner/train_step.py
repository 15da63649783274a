"""The pure train step, with microbatch accumulation, and the one place it is jitted.

A batch is a dict of [M, b, T] arrays (M microbatches of b packed rows): tokens, positions,
segment_ids, loss_mask, and for DAPO old_logprobs and advantages.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from swejax import model as model_lib
from swejax.learner import losses
from swejax.learner.state import TrainState, state_shardings
from swejax.model.sharding import constrain, logical_to_spec

BATCH_AXES = (None, "batch", "seq")  # [M, b, T]
_BASE_FIELDS = ("tokens", "positions", "segment_ids", "loss_mask")
INT_FIELDS = ("tokens", "positions", "segment_ids")


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Everything static about a train step (hashable: part of the jit cache key)."""
  model: model_lib.ModelConfig
  loss: str = "dapo"  # "dapo" | "sft"
  eps_low: float = 0.2
  eps_high: float = 0.3
  logprob_chunk: int = 1024
  # Cast the (master) parameters to the compute dtype once per step, before the layers
  # gather them: with float32 params and bfloat16 compute, gathers and gradients are bf16.
  cast_params: bool = True

  def __post_init__(self):
    if self.loss not in ("dapo", "sft"):
      raise ValueError(f"loss must be 'dapo' or 'sft', got {self.loss!r}")

  def fields(self) -> tuple[str, ...]:
    """The batch fields this step reads."""
    out = list(_BASE_FIELDS)
    if self.loss == "dapo":
      out += ["old_logprobs", "advantages"]
    return tuple(out)


def _check_batch(batch: Mapping[str, Any], cfg: StepConfig) -> None:
  missing = [f for f in cfg.fields() if f not in batch]
  if missing:
    raise ValueError(f"batch: missing field(s) {missing} for loss={cfg.loss!r} "
                     f"(has {sorted(batch)})")
  shape = tuple(batch["tokens"].shape)
  if len(shape) != 3:
    raise ValueError(f"batch: 'tokens' must be [microbatches, rows, T], got shape {shape}")
  for f in cfg.fields():
    if tuple(batch[f].shape) != shape:
      raise ValueError(f"batch: field {f!r} has shape {tuple(batch[f].shape)}, "
                       f"expected {shape} like 'tokens'")


def _microbatch_loss(params, mb, num_tokens, cfg: StepConfig):
  mask = mb["loss_mask"].astype(jnp.float32) * losses.target_mask(mb["segment_ids"])
  # Every loss and metric reads the log-probabilities under `mask` only.
  lp = losses.token_logprobs(params, cfg.model, mb["tokens"], mb["positions"],
                             mb["segment_ids"], chunk=cfg.logprob_chunk, needed=mask)
  if cfg.loss == "sft":
    return losses.sft_loss(lp, mask, num_tokens=num_tokens)
  return losses.dapo_loss(lp, mb["old_logprobs"], mb["advantages"], mask,
                          eps_low=cfg.eps_low, eps_high=cfg.eps_high, num_tokens=num_tokens)


def _constrain_like_params(tree, cfg: model_lib.ModelConfig):
  axes = model_lib.param_axes(cfg)
  return jax.tree.map(lambda x, a: constrain(x, tuple(a), cfg.rules), tree, axes,
                      is_leaf=lambda a: isinstance(a, P))


def train_step(state: TrainState, batch: Mapping[str, jax.Array], *, cfg: StepConfig,
               tx: optax.GradientTransformation,
               schedule: optax.Schedule | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimizer step over all microbatches of `batch`; pure.

  Gradients are summed over microbatches (lax.scan, so memory is that of one microbatch)
  with every microbatch's loss divided by the loss-token count of the whole step: the
  result is exactly the gradient of the step's loss.
  """
  _check_batch(batch, cfg)
  batch = {f: batch[f] for f in cfg.fields()}
  mask_all = (batch["loss_mask"].astype(jnp.float32)
              * jax.vmap(losses.target_mask)(batch["segment_ids"]))
  num_tokens = jnp.sum(mask_all)

  compute = jnp.dtype(cfg.model.compute_dtype)
  params_c = state.params
  if cfg.cast_params:
    params_c = jax.tree.map(lambda p: p.astype(compute) if p.dtype != compute else p,
                            state.params)
  acc_dtype = lambda p: jnp.promote_types(p.dtype, jnp.float32)  # noqa: E731
  grad_fn = jax.grad(_microbatch_loss, has_aux=True)

  mb0 = jax.tree.map(lambda x: x[0], batch)
  if batch["tokens"].shape[0] == 1:
    # One microbatch: no zero-filled accumulator and no extra pass over the gradients.
    grads, metrics = grad_fn(params_c, mb0, num_tokens, cfg)
    grads = _constrain_like_params(grads, cfg.model)
  else:
    metric_shapes = jax.eval_shape(lambda: _microbatch_loss(params_c, mb0, num_tokens, cfg)[1])
    m0 = {k: jnp.full(v.shape, -jnp.inf if k.endswith("_max") else 0.0, v.dtype)
          for k, v in metric_shapes.items()}
    g0 = _constrain_like_params(
        jax.tree.map(lambda p: jnp.zeros(p.shape, acc_dtype(p)), state.params), cfg.model)

    def accumulate(carry, mb):
      g_acc, m_acc = carry
      g, m = grad_fn(params_c, mb, num_tokens, cfg)
      g_acc = jax.tree.map(lambda a, b: a + b.astype(a.dtype), g_acc, g)
      return g_acc, losses.combine_metrics(m_acc, m)

    def body(carry, mb):
      # Microbatches of padding rows only (shape buckets) cost nothing: they are skipped.
      return jax.lax.cond(jnp.any(mb["segment_ids"] > 0), accumulate,
                          lambda carry, _: carry, carry, mb), None

    (grads, metrics), _ = jax.lax.scan(body, (g0, m0), batch)
  grads = jax.tree.map(lambda g, p: g.astype(p.dtype), grads, state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = dict(metrics, grad_norm=optax.tree.norm(grads),
                 update_norm=optax.tree.norm(updates))
  if schedule is not None:
    metrics["learning_rate"] = schedule(state.step)
  return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics


def batch_sharding(mesh: Mesh, cfg: model_lib.ModelConfig) -> NamedSharding:
  """[M, b, T]: rows over the batch mesh axes, time over the context axis."""
  return NamedSharding(mesh, logical_to_spec(BATCH_AXES, cfg.rules, mesh.axis_names))


def make_train_step(cfg: StepConfig, tx: optax.GradientTransformation, mesh: Mesh,
                    schedule: optax.Schedule | None = None) -> Callable:
  """The train step jitted once: explicit shardings, the input state donated.

  The returned function takes (state, batch) and runs under `mesh`; `.jitted` is the
  underlying jax.jit object (for .lower(...) and cache inspection).
  """
  shardings = state_shardings(cfg.model, tx, mesh)
  jitted = jax.jit(functools.partial(train_step, cfg=cfg, tx=tx, schedule=schedule),
                   in_shardings=(shardings, batch_sharding(mesh, cfg.model)),
                   out_shardings=(shardings, NamedSharding(mesh, P())),
                   donate_argnums=(0,))

  def step(state: TrainState, batch: Mapping[str, Any]):
    with jax.set_mesh(mesh):
      return jitted(state, {f: v for f, v in batch.items() if f in cfg.fields()})

  step.jitted = jitted
  step.shardings = shardings
  return step


def logprobs_step(params, batch: Mapping[str, jax.Array], *, cfg: StepConfig) -> jax.Array:
  """The learner's log-probabilities of a [M, b, T] batch (no gradient), microbatch by
  microbatch: for the sampler-mismatch check."""
  def one(mb):
    return losses.token_logprobs(params, cfg.model, mb["tokens"], mb["positions"],
                                 mb["segment_ids"], chunk=cfg.logprob_chunk)
  return jax.lax.map(one, {f: batch[f] for f in INT_FIELDS})


def split_microbatches(batch: Mapping[str, np.ndarray], num_microbatches: int) -> dict:
  """[B, T] -> [M, B / M, T] for every field (host side, before device_put)."""
  out = {}
  for f, x in batch.items():
    x = np.asarray(x)
    if x.shape[0] % num_microbatches:
      raise ValueError(f"batch: {x.shape[0]} rows of field {f!r} do not split into "
                       f"{num_microbatches} microbatches")
    out[f] = x.reshape(num_microbatches, x.shape[0] // num_microbatches, *x.shape[1:])
  return out
