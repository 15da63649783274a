"""The device mesh: axes data, fsdp, tensor, context; sizes from the `mesh` config section.

`mesh` section: data, fsdp, tensor, context (ints; exactly one may be -1 = "the rest of the
devices"; default fsdp=-1, the others 1), distributed (bool: call jax.distributed.initialize()
first, for runs launched on several hosts).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

AXES = ("data", "fsdp", "tensor", "context")
_DEFAULT_SIZES = {"data": 1, "fsdp": -1, "tensor": 1, "context": 1}


def mesh_shape(section: Mapping[str, Any] | None, num_devices: int) -> tuple[int, ...]:
  """Axis sizes in AXES order, with a -1 filled so that the product is `num_devices`."""
  section = dict(section or {})
  sizes = {a: int(section.get(a, _DEFAULT_SIZES[a])) for a in AXES}
  fill = [a for a, s in sizes.items() if s == -1]
  bad = [a for a, s in sizes.items() if s == 0 or s < -1]
  if bad or len(fill) > 1:
    raise ValueError(f"mesh: sizes must be positive with at most one -1, got {sizes}")
  known = math.prod(s for s in sizes.values() if s != -1)
  if fill:
    if num_devices % known:
      raise ValueError(f"mesh: {num_devices} devices are not divisible by the fixed axes "
                       f"{ {a: s for a, s in sizes.items() if s != -1} }")
    sizes[fill[0]] = num_devices // known
  if math.prod(sizes.values()) != num_devices:
    raise ValueError(f"mesh: axis sizes {sizes} multiply to {math.prod(sizes.values())}, "
                     f"but there are {num_devices} devices")
  return tuple(sizes[a] for a in AXES)


def _device_grid(shape: tuple[int, ...], devices: Sequence[Any]) -> np.ndarray:
  """Topology-aware order on TPUs (neighbouring chips share the inner axes), else as given."""
  try:
    from jax.experimental import mesh_utils  # pylint: disable=g-import-not-at-top
    return mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
  except (ValueError, NotImplementedError, AssertionError, AttributeError):
    return np.asarray(devices, dtype=object).reshape(shape)


def make_mesh(section: Mapping[str, Any] | None = None,
              devices: Sequence[Any] | None = None) -> Mesh:
  """A Mesh with Auto axis types (Explicit rejects ordinary sharded matmuls)."""
  devices = list(jax.devices() if devices is None else devices)
  shape = mesh_shape(section, len(devices))
  return Mesh(_device_grid(shape, devices), AXES, axis_types=(AxisType.Auto,) * len(AXES))


def maybe_initialize_distributed(section: Mapping[str, Any] | None) -> bool:
  """jax.distributed.initialize() when the config says the run spans several hosts.

  Must run before anything touches a JAX backend. Cluster details (coordinator, process
  count and id) are auto-detected by JAX on TPU pods, SLURM and similar launchers.
  """
  if not dict(section or {}).get("distributed", False):
    return False
  jax.distributed.initialize()
  return True
