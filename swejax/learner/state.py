"""TrainState (step, params, optimizer state), created already sharded on a mesh."""
from __future__ import annotations

from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from swejax import model as model_lib
from swejax.learner import optimizer as optimizer_lib
from swejax.model import sharding as sharding_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def make_tx(cfg: model_lib.ModelConfig,
            optim: Mapping[str, Any] | None) -> optax.GradientTransformation:
  """The optimizer for this model: weight decay on matrices only (see decay_mask)."""
  mask = optimizer_lib.decay_mask(model_lib.param_axes(cfg))
  return optimizer_lib.make_optimizer(optim, mask=mask)


def param_shardings(cfg: model_lib.ModelConfig, mesh: Mesh) -> Any:
  """NamedSharding per parameter from its logical axes and the config's rules table."""
  abstract = model_lib.abstract_params(cfg)
  axes = model_lib.param_axes(cfg)
  shardings = sharding_lib.named_shardings(axes, mesh, cfg.rules)

  def check(path, leaf, sh):
    for dim, entry in zip(leaf.shape, sh.spec):
      names = () if entry is None else (entry,) if isinstance(entry, str) else entry
      size = int(np.prod([mesh.shape[n] for n in names])) if names else 1
      if dim % size:
        raise ValueError(f"parameter {jax.tree_util.keystr(path)} of shape {leaf.shape} cannot "
                         f"be split as {sh.spec} on mesh {dict(mesh.shape)}: {dim} % {size} != 0; "
                         "change the mesh or the model.rules table")
    return sh

  return jax.tree_util.tree_map_with_path(check, abstract, shardings)


def _match_param_sharding(opt_abstract: Any, params_abstract: Any, params_sh: Any,
                          mesh: Mesh) -> Any:
  """Shardings for an optimizer state: a leaf whose path ends with a parameter's path (and
  has its shape) is sharded like that parameter; everything else (counters) is replicated."""
  flat_sh = jax.tree_util.tree_flatten_with_path(params_sh)[0]
  flat_abs = jax.tree_util.tree_leaves(params_abstract)
  by_path = {tuple(p): (s, a.shape) for (p, s), a in zip(flat_sh, flat_abs)}
  depth = max((len(p) for p in by_path), default=0)
  replicated = NamedSharding(mesh, P())

  def pick(path, leaf):
    path = tuple(path)
    for k in range(min(depth, len(path)), 0, -1):
      hit = by_path.get(path[-k:])
      if hit is not None and hit[1] == leaf.shape:
        return hit[0]
    return replicated

  return jax.tree_util.tree_map_with_path(pick, opt_abstract)


def state_shardings(cfg: model_lib.ModelConfig, tx: optax.GradientTransformation,
                    mesh: Mesh) -> TrainState:
  """A TrainState of NamedShardings (the jit in/out shardings of the train step)."""
  params_sh = param_shardings(cfg, mesh)
  params_abstract = model_lib.abstract_params(cfg)
  opt_abstract = jax.eval_shape(tx.init, params_abstract)
  return TrainState(step=NamedSharding(mesh, P()), params=params_sh,
                    opt_state=_match_param_sharding(opt_abstract, params_abstract, params_sh,
                                                    mesh))


def abstract_state(cfg: model_lib.ModelConfig, tx: optax.GradientTransformation,
                   mesh: Mesh) -> TrainState:
  """ShapeDtypeStructs with shardings: what ahead-of-time compilation needs."""
  shapes = jax.eval_shape(lambda: _init(cfg, tx, jax.random.key(0)))
  return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                      shapes, state_shardings(cfg, tx, mesh))


def _init(cfg: model_lib.ModelConfig, tx: optax.GradientTransformation,
          rng: jax.Array) -> TrainState:
  params = model_lib.init_params(cfg, rng)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def init_state(cfg: model_lib.ModelConfig, tx: optax.GradientTransformation, mesh: Mesh,
               rng: jax.Array, params: Any = None) -> TrainState:
  """A fresh TrainState whose arrays are born sharded (never whole on one device).

  With `params` (e.g. loaded weights), those are placed on the mesh and the optimizer state
  is created around them.
  """
  shardings = state_shardings(cfg, tx, mesh)
  with jax.set_mesh(mesh):
    if params is None:
      return jax.jit(_init, static_argnums=(0, 1), out_shardings=shardings)(cfg, tx, rng)
    params = jax.device_put(params, shardings.params)

    def from_params(p):
      return TrainState(step=jnp.zeros((), jnp.int32), params=p, opt_state=tx.init(p))

    return jax.jit(from_params, out_shardings=shardings)(params)
