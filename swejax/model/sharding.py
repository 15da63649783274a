"""Logical axis names -> mesh axes, through one small rules table (ModelConfig.rules)."""
from __future__ import annotations

from typing import Any, Sequence

import jax
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def logical_to_spec(names: Sequence[str | None], rules: Sequence[tuple[str, Any]],
                    mesh_axes: Sequence[str] | None = None) -> P:
  """PartitionSpec for logical `names`; a mesh axis is used at most once per array.

  With `mesh_axes`, mesh axes the mesh does not have are dropped (a rules table can then
  serve meshes with and without, say, a context axis).
  """
  table = dict(rules)
  used: set[str] = set()
  out = []
  for name in names:
    axes = table.get(name) if name is not None else None
    if axes is None:
      out.append(None)
      continue
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    axes = tuple(a for a in axes if a not in used and (mesh_axes is None or a in mesh_axes))
    used.update(axes)
    out.append(None if not axes else axes[0] if len(axes) == 1 else axes)
  return P(*out)


def constrain(x: jax.Array, names: Sequence[str | None], rules: Sequence[tuple[str, Any]]):
  """Sharding constraint on an activation, a no-op when no mesh is set (jax.set_mesh)."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return x
  spec = logical_to_spec(names, rules, mesh.axis_names)
  return jax.lax.with_sharding_constraint(x, spec)


def param_specs(abstract_boxed_params) -> Any:
  """Logical PartitionSpecs (of axis *names*) from boxed (nn.Partitioned) parameters."""
  return nn.get_partition_spec(abstract_boxed_params)


def named_shardings(logical_specs, mesh: Mesh, rules: Sequence[tuple[str, Any]]):
  """Pytree of NamedSharding for a pytree of logical PartitionSpecs."""
  return jax.tree.map(
      lambda s: NamedSharding(mesh, logical_to_spec(tuple(s), rules, mesh.axis_names)),
      logical_specs, is_leaf=lambda s: isinstance(s, P))
