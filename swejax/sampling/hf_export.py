"""The learner's parameters as a Hugging Face checkpoint for vLLM, one parameter at a time.

`export_hf_weights` writes what a server loads (bfloat16 by default): each parameter is
laid out and cast on its own devices and written straight from host memory at its place
in the file; a learner over several hosts writes one file together, each host its rows.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from swejax.model import hf
from swejax.model import safetensors_io as st
from swejax.model.config import ModelConfig


@functools.lru_cache(maxsize=8)
def _layout(cfg: ModelConfig) -> tuple[dict, dict[str, tuple[tuple[int, ...], np.dtype]]]:
  """(param path -> hf name and layout map, hf specs in bfloat16); traced once per config."""
  return hf._table(cfg), hf.hf_specs(cfg, np.dtype(jnp.bfloat16))  # noqa: SLF001


_STATIC = ("to_hf", "cfg", "dtype", "stacked", "rows")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _param_to_hf(x: jax.Array, *, to_hf, cfg: ModelConfig, dtype, stacked: bool,
                 rows) -> jax.Array:
  # A stacked parameter becomes all its layers' tensors at once, [layers, *hf shape]: one
  # dispatch per parameter, and the layers lie in the file in this order already.
  y = jax.vmap(lambda z: to_hf(z, cfg))(x) if stacked else to_hf(x, cfg)
  y = y.astype(dtype)
  if rows is not None:  # [rows, last dim], split by rows: every shard is a byte range
    y = jax.lax.with_sharding_constraint(y.reshape(-1, y.shape[-1]), rows)
  return y


@functools.partial(jax.jit, static_argnames=_STATIC, donate_argnums=0, keep_unused=True)
def _param_to_hf_into(out: jax.Array, x: jax.Array, **static) -> jax.Array:
  """`_param_to_hf` written over `out` (donated: the result takes its memory)."""
  del out
  return _param_to_hf(x, **static)


def _row_sharding(value: jax.Array, shape: tuple[int, ...]):
  """For a parameter sharded over a mesh: its HF block as [rows, last dim] split by rows
  over every device of the mesh (replicated when the rows do not divide); else None."""
  mesh = getattr(getattr(value, "sharding", None), "mesh", None)
  if mesh is None or mesh.size == 1:
    return None
  rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
  return NamedSharding(mesh, P(tuple(mesh.axis_names)) if rows % mesh.size == 0 else P())


def _host_rows(params: Any, cfg: ModelConfig, dtype: str, *, ahead: int = 2,
               buffers: dict | None = None):
  """Yields (hf names, first row, host rows) for what this process writes of each
  parameter's HF block: the first replica of each of its shards. A stacked parameter is
  laid out and cast for all its layers at once on its own devices (names[i] is layer i);
  a sharded one comes as [rows, last dim] split by rows over its mesh, so that every shard
  is a byte range of the file. One parameter at a time, `ahead` more in flight so that
  the device work and the copy to the host overlap the caller's writes.

  `buffers` (param path -> (what made it, array)), kept by the caller between exports:
  each block is written over the one of the last export (donated) and kept for the next,
  instead of into new memory. The host rows of a block are views of it: use them before
  the next export."""
  table, specs = _layout(cfg)
  dt = jnp.dtype(dtype)

  def blocks():
    for path, value in hf._flat(params):  # noqa: SLF001
      m = table[path]
      value = value if isinstance(value, jax.Array) else jnp.asarray(value)
      stacked = path[0] == "layers"
      names = [m.hf.format(i) for i in range(cfg.num_layers)] if stacked else [m.hf]
      rows = _row_sharding(value, ((len(names),) if stacked else ()) + specs[names[0]][0])
      static = dict(to_hf=m.to_hf, cfg=cfg, dtype=dt, stacked=stacked, rows=rows)
      key = (value.shape, value.dtype, value.sharding, dt)  # what makes the block
      old = buffers.get(path) if buffers is not None else None
      if old is not None and old[0] == key and not old[1].is_deleted():
        x = _param_to_hf_into(old[1], value, **static)
      else:
        x = _param_to_hf(value, **static)
      if buffers is not None:
        buffers[path] = (key, x)
      x.copy_to_host_async()
      yield names, x

  def pieces(names, x):
    for shard in x.addressable_shards:
      if shard.replica_id == 0:
        first = shard.index[0].start if shard.index else None
        yield names, first or 0, np.asarray(shard.data)

  window: collections.deque = collections.deque()
  for block in blocks():
    window.append(block)
    if len(window) > ahead:
      yield from pieces(*window.popleft())
  while window:
    yield from pieces(*window.popleft())


_EMBED, _HEAD = "model.embed_tokens.weight", "lm_head.weight"
_EXPORT_DTYPES = tuple(np.dtype(d) for d in (jnp.bfloat16, np.float16, np.float32))


def export_hf_weights(params: Any, cfg: ModelConfig, path: str, *, dtype: str = "bfloat16",
                      tied_head: bool = True, recycle: str | None = None,
                      buffers: dict | None = None) -> int:
  """Writes `params` as a Hugging Face Qwen2 checkpoint at `path`; returns the weight bytes.

  One parameter (all its layers) at a time is laid out and cast on its own devices, and
  written straight from host memory at its place in `path.partial`, renamed at the end so
  that a reader never sees a half-written directory. A parameter sharded over a mesh is
  split by rows over it first, and every process writes only the rows it holds: a
  multi-host learner writes the file together (`path` on storage every host and server
  reads at the same path), no host ever holding more than its shards of one parameter.
  Every process calls this; process 0 prepares the file and renames it.
  With tied embeddings and `tied_head`, the embedding is also written as lm_head.weight:
  vLLM's own reload keeps a packed copy of a tied head on CPU that it refreshes only when
  the checkpoint names lm_head.weight (swejax's server-side loader needs no copy).

  `recycle`: an earlier export nobody reads any more. Its weights file, if it has the
  size this one needs, is moved here and overwritten in place: on a memory file system
  (/dev/shm) writing into pages that exist costs half as much as allocating new ones, and
  deleting the old export frees nothing.

  `buffers`: a dict the caller keeps between exports (empty at first). Each parameter's
  HF block is then computed over the memory of the last export's (donated to it) and kept
  there, instead of in new memory: on a learner whose devices are the host's CPUs, new
  memory costs a page fault per 4 KiB, which took as long as the computation. It holds a
  copy of the exported weights (in `dtype`) on the parameters' devices between exports.
  """
  dt = np.dtype(jnp.dtype(dtype))
  if dt not in _EXPORT_DTYPES:
    raise ValueError(f"export dtype {dtype!r}: expected one of bfloat16, float16, float32")
  copy_head = cfg.tie_embeddings and tied_head
  specs = {}
  for name, (shape, _) in _layout(cfg)[1].items():
    specs[name] = (shape, dt)
    if name == _EMBED and copy_head:
      specs[_HEAD] = (shape, dt)
  raw, offsets = st.header(specs)
  nbytes = sum(int(np.prod(shape)) * d.itemsize for shape, d in specs.values())
  tmp = path + ".partial"
  target = os.path.join(tmp, "model.safetensors")
  multi, lead = jax.process_count() > 1, jax.process_index() == 0
  if lead:
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    reuse = _recycle(os.path.join(recycle, "model.safetensors") if recycle else None, target,
                     len(raw) + nbytes)
    with open(target, "r+b" if reuse else "wb") as f:
      f.write(raw)
      f.truncate(len(raw) + nbytes)
  if multi:
    multihost_utils.sync_global_devices(f"swejax export {path}: file ready")
  written = 0
  with open(target, "r+b") as f:
    fd = f.fileno()
    for names, first, rows in _host_rows(params, cfg, dtype, buffers=buffers):
      data = memoryview(np.ascontiguousarray(rows).reshape(-1).view(np.uint8))
      skip = first * rows[0].nbytes if first else 0  # rows before this shard's
      for name in [names[0]] + ([_HEAD] if names[0] == _EMBED and copy_head else []):
        _pwrite_all(fd, data, offsets[name] + skip)  # a block's names are consecutive
        written += len(data)
  if multi:  # every host wrote its rows: the file is whole when they add up
    written = int(np.sum(multihost_utils.process_allgather(np.int64(written))))
  if written != nbytes:
    raise AssertionError(f"{path}: wrote {written} of {nbytes} weight bytes")
  if lead:
    with open(os.path.join(tmp, "config.json"), "w") as f:
      json.dump(hf.config_to_hf(cfg, str(jnp.dtype(dtype))), f, indent=2)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
  if multi:
    multihost_utils.sync_global_devices(f"swejax export {path}: done")
  return nbytes


def _recycle(old: str | None, new: str, size: int) -> bool:
  """Moves `old` to `new` if it is a file of `size` bytes (to be overwritten in place)."""
  try:
    if old is None or os.stat(old).st_size != size:
      return False
    os.rename(old, new)
    return True
  except OSError:
    return False


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
  while len(data):
    n = os.pwrite(fd, data, offset)
    data, offset = data[n:], offset + n
