"""Weight sync from the learner to a vLLM fleet, behind one callable.

`WeightSync` is the seam: `sync(params, version, urls)` leaves every server in `urls`
serving `params` labelled `version`, or raises. The default, `DiskWeightSync`, streams the
parameters in the Hugging Face layout (bfloat16, tensor by tensor, never the whole model on
one host) to a directory the servers can read, then has each server reload it in place. A
GPU cluster swaps in an NCCL broadcast with the same signature. The fleet holds its requests
while a sync runs and verifies every server's version afterwards.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import json
import os
import shutil
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import requests

from swejax.model import hf
from swejax.model import safetensors_io as st
from swejax.model.config import ModelConfig
from swejax.sampling.base import SamplerError

WeightSync = Callable[[Any, int, Sequence[str]], None]


class WeightSyncError(SamplerError):
  """Some servers did not take the new weights; `failed` maps url -> reason."""

  def __init__(self, message: str, failed: dict[str, str]):
    super().__init__(message)
    self.failed = failed


@functools.lru_cache(maxsize=8)
def _layout(cfg: ModelConfig) -> tuple[dict, dict[str, tuple[tuple[int, ...], np.dtype]]]:
  """(param path -> hf name and layout map, hf specs in bfloat16); traced once per config."""
  return hf._table(cfg), hf.hf_specs(cfg, np.dtype(jnp.bfloat16))  # noqa: SLF001


@functools.partial(jax.jit, static_argnames=("to_hf", "cfg", "dtype"))
def _layer_to_hf(x: jax.Array, i: jax.Array, *, to_hf, cfg: ModelConfig, dtype) -> jax.Array:
  # i is traced: one compilation per parameter, not per layer.
  return to_hf(x[i], cfg).astype(dtype)


@functools.partial(jax.jit, static_argnames=("to_hf", "cfg", "dtype"))
def _to_hf(x: jax.Array, *, to_hf, cfg: ModelConfig, dtype) -> jax.Array:
  return to_hf(x, cfg).astype(dtype)


def _flat(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _flat(v, prefix + (k,))
    else:
      yield prefix + (k,), v


def _device_tensors(params: Any, cfg: ModelConfig, dt):
  table, _ = _layout(cfg)
  for path, value in _flat(params):
    m = table[path]
    value = jnp.asarray(value)
    if not value.is_fully_addressable:
      raise NotImplementedError(
          f"parameter {'/'.join(path)} spans several hosts; the disk weight sync gathers "
          f"on one host (use an NCCL weight sync across hosts)")
    if path[0] == "layers":
      for i in range(cfg.num_layers):
        yield m.hf.format(i), _layer_to_hf(value, jnp.int32(i), to_hf=m.to_hf, cfg=cfg, dtype=dt)
    else:
      yield m.hf, _to_hf(value, to_hf=m.to_hf, cfg=cfg, dtype=dt)


def iter_hf_arrays(params: Any, cfg: ModelConfig, dtype: str = "bfloat16", *,
                   ahead: int = 2):
  """Yields (hf name, host array) one tensor at a time: one layer of a stacked parameter
  is cut, laid out and cast on the parameters' own devices, then brought to the host.
  `ahead` tensors are in flight, so the device work and the copy overlap the caller's."""
  window: collections.deque = collections.deque()
  for name, x in _device_tensors(params, cfg, jnp.dtype(dtype)):
    x.copy_to_host_async()
    window.append((name, x))
    if len(window) > ahead:
      name, x = window.popleft()
      yield name, np.asarray(x)
  while window:
    name, x = window.popleft()
    yield name, np.asarray(x)


_EMBED, _HEAD = "model.embed_tokens.weight", "lm_head.weight"


def export_hf_weights(params: Any, cfg: ModelConfig, path: str, *, dtype: str = "bfloat16",
                      tied_head: bool = True) -> int:
  """Writes `params` as a Hugging Face Qwen2 checkpoint at `path`; returns the weight bytes.

  Streams `iter_hf_arrays` into `path.partial`, renamed at the end so that a reader never
  sees a half-written directory. With tied embeddings and `tied_head`, the embedding is
  also written as lm_head.weight: vLLM's CPU backend keeps a packed copy of a tied head
  that an in-place reload refreshes only when the checkpoint names lm_head.weight.
  """
  dt = np.dtype(jnp.dtype(dtype))
  copy_head = cfg.tie_embeddings and tied_head
  specs = {}
  for name, (shape, _) in _layout(cfg)[1].items():
    specs[name] = (shape, dt)
    if name == _EMBED and copy_head:
      specs[_HEAD] = (shape, dt)  # right after the embedding: nothing waits for it
  tmp = path + ".partial"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  writer = st.Writer(os.path.join(tmp, "model.safetensors"), specs)
  order, pending, cursor = list(specs), {}, 0
  for name, array in iter_hf_arrays(params, cfg, dtype):
    pending[name] = array  # our order matches the declared one; this only guards it
    if name == _EMBED and copy_head:
      pending[_HEAD] = array
    while cursor < len(order) and order[cursor] in pending:
      writer.write(order[cursor], pending.pop(order[cursor]))
      cursor += 1
  writer.close()
  with open(os.path.join(tmp, "config.json"), "w") as f:
    json.dump(hf.config_to_hf(cfg, str(jnp.dtype(dtype))), f, indent=2)
  shutil.rmtree(path, ignore_errors=True)
  os.replace(tmp, path)
  return sum(int(np.prod(shape)) * d.itemsize for shape, d in specs.values())


def _post(session: requests.Session, url: str, path: str, timeout: float, **kw) -> Any:
  r = session.post(url + path, timeout=timeout, **kw)
  if r.status_code != 200:
    raise SamplerError(f"{url}{path} returned {r.status_code}: {r.text[:500]}")
  return r.json() if r.content else None


def reload_server(url: str, weights_dir: str, version: int, *, timeout: float = 600.0,
                  session: requests.Session | None = None,
                  reset_tries: int = 20) -> dict[str, float]:
  """One server: pause (letting running requests finish), reload the weights in place from
  `weights_dir`, reset the prefix cache (cached KV of the old weights gives wrong outputs),
  set the weight version, resume. Needs VLLM_SERVER_DEV_MODE=1 on the server. Returns the
  seconds of the pause and of the reload itself."""
  if session is None:
    with requests.Session() as s:
      return reload_server(url, weights_dir, version, timeout=timeout, session=s,
                           reset_tries=reset_tries)
  s = session
  t0 = time.perf_counter()
  _post(s, url, "/pause", timeout, params={"mode": "wait"})
  t1 = time.perf_counter()
  _post(s, url, "/collective_rpc", timeout,
        json={"method": "reload_weights", "kwargs": {"weights_path": weights_dir}})
  t2 = time.perf_counter()
  for _ in range(reset_tries):
    if (_post(s, url, "/reset_prefix_cache", timeout) or {}).get("success"):
      break
    time.sleep(0.05)
  else:
    # Stay paused: serving from a stale prefix cache would be silently wrong.
    raise SamplerError(f"{url}: /reset_prefix_cache did not succeed after a weight reload; "
                       f"the server stays paused")
  _post(s, url, "/update_weight_version", timeout, json={"new_version": str(version)})
  _post(s, url, "/resume", timeout)
  return {"pause_seconds": t1 - t0, "rpc_seconds": t2 - t1}


def server_version(url: str, *, timeout: float = 10.0,
                   session: requests.Session | None = None) -> str:
  """The weight version label a server reports ("default" before any is set)."""
  r = (session or requests).get(url + "/weight_info", timeout=timeout)
  if r.status_code != 200:
    raise SamplerError(f"{url}/weight_info returned {r.status_code}: {r.text[:300]} "
                       f"(is VLLM_SERVER_DEV_MODE=1 set on the server?)")
  return str(r.json()["weight_version"])


@dataclasses.dataclass
class DiskWeightSync:
  """Export to `staging_dir/v<version>` (visible to every server at the same path), then
  reload every server from it in parallel. Keeps only the newest export."""
  cfg: ModelConfig
  staging_dir: str
  dtype: str = "bfloat16"
  timeout: float = 600.0
  last_stats: dict[str, float] = dataclasses.field(default_factory=dict)

  def __call__(self, params: Any, version: int, urls: Sequence[str]) -> None:
    os.makedirs(self.staging_dir, exist_ok=True)
    path = os.path.join(os.path.abspath(self.staging_dir), f"v{int(version):08d}")
    t0 = time.perf_counter()
    nbytes = export_hf_weights(params, self.cfg, path, dtype=self.dtype)
    t1 = time.perf_counter()
    failed: dict[str, str] = {}
    rpc = [0.0]
    with concurrent.futures.ThreadPoolExecutor(max(1, len(urls))) as pool:
      futures = {pool.submit(reload_server, u, path, version, timeout=self.timeout): u
                 for u in urls}
      for f in concurrent.futures.as_completed(futures):
        if f.exception() is not None:
          failed[futures[f]] = str(f.exception())
        else:
          rpc.append(f.result()["rpc_seconds"])
    t2 = time.perf_counter()
    self.last_stats = {"export_seconds": t1 - t0, "reload_seconds": t2 - t1,
                       "rpc_seconds": max(rpc), "bytes": float(nbytes)}
    for name in os.listdir(self.staging_dir):
      old = os.path.join(self.staging_dir, name)
      if name.startswith("v") and name != os.path.basename(path) and os.path.isdir(old):
        shutil.rmtree(old, ignore_errors=True)
    if failed:
      raise WeightSyncError(f"weight sync to version {version} failed on "
                            f"{len(failed)}/{len(urls)} servers: {failed}", failed)
