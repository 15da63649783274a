"""Attention kernels by platform, and the choice among them.

- TPU: splash attention (Pallas) with a causal mask and segment ids.
- NVIDIA GPU: cuDNN flash attention through `jax.nn.dot_product_attention`.
- Anywhere: the XLA reference and the blockwise (flash in plain JAX) kernel of
  `swejax.model.attention`, and ring attention when T is split over the `context` axis.

Shapes as in `swejax.model.attention`: q [B, T, N, H], k and v [B, T, K, H], segment_ids
[B, T]. On a mesh the per-device kernels run inside shard_map, each device on its rows and
its heads (the axes that the rules table gives "batch" and "act_heads"/"act_kv_heads"),
over the whole of T.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

IMPLEMENTATIONS = ("xla", "blockwise", "ring", "splash", "cudnn", "auto")
# "auto" on CPU: the reference (it builds [T, T] scores) up to this length, then blockwise.
XLA_MAX_T = 2048
# "auto" on GPU: cuDNN up to this length. Segment masking through jax.nn.dot_product_attention
# takes a dense [B, 1, T, T] mask (turned into a bias by cuDNN): 3 bytes per entry, 3 GiB per
# row at 32k; longer rows go blockwise (or ring, with a context axis).
CUDNN_MAX_T = 32768
_SPLASH_LANES = 128


def _axes_of(rules: Sequence[tuple[str, Any]], name: str, mesh_axes, exclude: str | None):
  axes = dict(rules).get(name)
  axes = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
  axes = tuple(a for a in axes if a in mesh_axes and a != exclude)
  return None if not axes else axes[0] if len(axes) == 1 else axes


def shard_specs(q_shape, k_shape, rules: Sequence[tuple[str, Any]], mesh,
                seq_axis: str | None, who: str) -> tuple[P, P, P]:
  """shard_map specs (q, k/v, segment_ids) from the rules table, with T over `seq_axis`
  (None: whole rows per device). Raises if a dimension does not split evenly."""
  names = mesh.axis_names
  batch = _axes_of(rules, "batch", names, seq_axis)
  heads = _axes_of(rules, "act_heads", names, seq_axis)
  kv_heads = _axes_of(rules, "act_kv_heads", names, seq_axis)
  if heads != kv_heads:
    # Each device must hold whole groups: its query heads and the kv heads they read.
    raise ValueError(f"{who}: rules split heads over {heads} but kv heads over {kv_heads}; "
                     "they must be split alike")
  for what, dim, axes in (("rows", q_shape[0], batch), ("heads", q_shape[2], heads),
                          ("kv heads", k_shape[2], kv_heads)):
    axes_t = (axes,) if isinstance(axes, str) else tuple(axes or ())
    split = int(np.prod([mesh.shape[a] for a in axes_t]))
    if dim % split:
      raise ValueError(f"{who}: {dim} {what} cannot be split over mesh axes {axes_t} "
                       f"({split} ways); change the mesh or the model.rules table")
  return P(batch, seq_axis, heads, None), P(batch, seq_axis, kv_heads, None), P(batch, seq_axis)


def unique_padding(segment_ids):
  """Segment ids where every padding token (id <= 0) has its own id, -1 - its index: with
  plain same-segment causal masking a padding token then sees only itself, as in
  `xla_attention`."""
  t = segment_ids.shape[1]
  own = -1 - jnp.arange(t, dtype=jnp.int32)[None, :]
  seg = segment_ids.astype(jnp.int32)
  return jnp.where(seg > 0, seg, own)


def _per_device(fn, q, k, v, segment_ids, rules, who: str):
  """Runs fn(q, k, v, seg) on each device's rows and heads (shard_map) under a mesh."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return fn(q, k, v, segment_ids)
  q_spec, kv_spec, seg_spec = shard_specs(q.shape, k.shape, rules, mesh, None, who)
  return jax.shard_map(fn, mesh=mesh, in_specs=(q_spec, kv_spec, kv_spec, seg_spec),
                       out_specs=q_spec, check_vma=False)(q, k, v, segment_ids)


# ----------------------------------------------------------------------------- TPU


def splash_attention(q, k, v, segment_ids, *, rules: Sequence[tuple[str, Any]],
                     block_q: int = 512, block_k: int = 512, interpret: bool = False):
  """Pallas splash attention (TPU): causal, segment ids, GQA; equal to `xla_attention`.

  T must be a multiple of 128; blocks are the largest multiples of 128 (<= the requested
  sizes) that divide T. `interpret` runs the kernel in the Pallas interpreter (any
  platform; for tests).
  """
  # Imported here: only this path needs the Pallas TPU ops.
  from jax.experimental.pallas.ops.tpu import splash_attention as splash
  t, h = q.shape[1], q.shape[3]
  if t % _SPLASH_LANES:
    raise ValueError(f"splash attention: T={t} must be a multiple of {_SPLASH_LANES}")
  bq, bk = _lane_block(t, block_q), _lane_block(t, block_k)
  sizes = splash.BlockSizes(block_q=bq, block_kv=bk, block_kv_compute=bk, block_q_dkv=bq,
                            block_kv_dkv=bk, block_kv_dkv_compute=bk, block_q_dq=bq,
                            block_kv_dq=bk)

  def one_device(q, k, v, seg):
    n = q.shape[2]
    mask = splash.MultiHeadMask([splash.CausalMask((t, t)) for _ in range(n)])
    kernel = splash.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1,
                                    interpret=interpret)
    qs = q * jnp.asarray(1.0 / np.sqrt(h), q.dtype)
    # The kernel takes [heads, T, H] per row.
    to_nth = lambda x: jnp.swapaxes(x, 1, 2)  # noqa: E731
    o = jax.vmap(kernel)(to_nth(qs), to_nth(k), to_nth(v),
                         segment_ids=splash.SegmentIds(q=seg, kv=seg))
    return jnp.swapaxes(o, 1, 2).astype(q.dtype)

  return _per_device(one_device, q, k, v, unique_padding(segment_ids), rules,
                     "splash attention")


def _lane_block(t: int, want: int) -> int:
  b = max(_SPLASH_LANES, (min(want, t) // _SPLASH_LANES) * _SPLASH_LANES)
  while t % b:
    b -= _SPLASH_LANES
  return b


# ----------------------------------------------------------------------------- GPU


def cudnn_attention(q, k, v, segment_ids, *, rules: Sequence[tuple[str, Any]]):
  """cuDNN flash attention (NVIDIA GPU, bfloat16/float16) with causal + segment masking."""
  if q.dtype not in (jnp.bfloat16, jnp.float16):
    raise ValueError(f"cudnn attention needs bfloat16 or float16 inputs, got {q.dtype} "
                     "(set model compute_dtype='bfloat16' or attention='blockwise')")

  def one_device(q, k, v, seg):
    same = seg[:, None, :, None] == seg[:, None, None, :]  # [B, 1, T, T]
    return jax.nn.dot_product_attention(q, k, v, mask=same, is_causal=True,
                                        implementation="cudnn")

  return _per_device(one_device, q, k, v, unique_padding(segment_ids), rules,
                     "cudnn attention")


# ----------------------------------------------------------------------------- choice


def platform_of(mesh=None) -> tuple[str, str]:
  """(platform, device kind) that the current mesh (else the default backend) compiles for;
  an AOT mesh of TPU topology devices says "tpu" even on a CPU host."""
  mesh = jax.sharding.get_abstract_mesh() if mesh is None else mesh
  abstract = getattr(mesh, "abstract_mesh", mesh)
  device = None if abstract.empty else getattr(abstract, "abstract_device", None)
  if device is not None:
    return str(device.platform).lower(), str(device.device_kind).lower()
  d = jax.devices()[0]
  return d.platform.lower(), d.device_kind.lower()


def pick(*, seq_len: int, head_dim: int, dtype: Any, context: int, platform: str,
         device_kind: str) -> str:
  """What "auto" means: ring when T is split (context > 1); else splash on TPU, cuDNN on
  NVIDIA GPUs (16-bit, T <= CUDNN_MAX_T and a multiple of 64, head dim <= 128 and a
  multiple of 8), else the reference for short rows and blockwise for long ones."""
  if context > 1:
    return "ring"
  if platform == "tpu" and seq_len % _SPLASH_LANES == 0:
    return "splash"
  if (platform in ("gpu", "cuda") and "nvidia" in device_kind.lower()
      and seq_len <= CUDNN_MAX_T and seq_len % 64 == 0 and head_dim <= 128
      and head_dim % 8 == 0 and jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16)):
    return "cudnn"
  return "xla" if seq_len <= XLA_MAX_T else "blockwise"


def choose(impl: str, *, seq_len: int, dtype: Any, head_dim: int = 128, mesh=None,
           context_axis: str = "context"):
  """The implementation `impl` stands for: itself, or `pick(...)` for "auto" on the mesh
  being compiled for (jax.set_mesh, else the default backend)."""
  if impl not in IMPLEMENTATIONS:
    raise ValueError(f"unknown attention implementation {impl!r} ({' | '.join(IMPLEMENTATIONS)})")
  if impl != "auto":
    return impl
  mesh = jax.sharding.get_abstract_mesh() if mesh is None else mesh
  context = 1 if mesh.empty else dict(mesh.shape).get(context_axis, 1)
  platform, kind = platform_of(mesh)
  return pick(seq_len=seq_len, head_dim=head_dim, dtype=dtype, context=context,
              platform=platform, device_kind=kind)
