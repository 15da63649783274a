"""In-place weight update of a running vLLM server, run inside its worker processes.

vLLM's own `reload_weights` rebuilds every layer on the meta device, materializes fresh
tensors, loads them through the model's weight loaders and re-runs the post-load
processing (on CPU: repacking each linear layer for oneDNN). Most of that is set-up a
weight *update* does not need: shapes, names and kernels stay the same. This module
copies each tensor of a staged safetensors checkpoint (memory-mapped, no read into a
buffer) straight into the live parameter rows it belongs to, then refreshes only the
packed copies a CPU linear layer keeps, swapping the new pack in behind the same handle
tensor so that compiled graphs that captured it see the new weights.

The server imports this file as a top-level module (launch/vllm_fleet.sh puts its
directory on PYTHONPATH and passes `--worker-extension-cls
swejax_weight_loader.WeightLoaderExtension`): it may import only what the server's
environment has (torch, vllm), never swejax.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import time
from typing import Any

import torch

_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}
_ONEDNN_CACHE = 32  # the primitive cache size vLLM's CPU linear dispatch uses


def read_safetensors(path: str) -> dict[str, torch.Tensor]:
  """name -> tensor viewing a private memory map of `path` (nothing is read up front)."""
  with open(path, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # writable view, copy on write
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    if info["dtype"] not in _DTYPES:
      raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}; expected one of "
                       f"{sorted(_DTYPES)}")
    dtype = _DTYPES[info["dtype"]]
    begin, end = info["data_offsets"]
    count = (end - begin) // dtype.itemsize
    flat = torch.frombuffer(mm, dtype=dtype, count=count, offset=8 + n + begin)
    out[name] = flat.view(info["shape"])
  return out


def _onednn_handler(module: torch.nn.Module) -> Any:
  """The oneDNN GEMM handler a vLLM CPU linear layer packed its weight into, or None."""
  fn = getattr(module, "cpu_linear", None)
  for cell in getattr(fn, "__closure__", None) or ():
    obj = cell.cell_contents
    if hasattr(obj, "handler_tensor") and hasattr(obj, "n") and hasattr(obj, "k"):
      return obj
  return None


def _check_supported(name: str, module: torch.nn.Module) -> None:
  method = type(getattr(module, "quant_method", None)).__name__
  if method not in ("NoneType", "UnquantizedLinearMethod", "UnquantizedEmbeddingMethod"):
    raise NotImplementedError(f"{name}: in-place update of {method} layers is not supported")
  fn = getattr(module, "cpu_linear", None)
  if fn is not None and _onednn_handler(module) is None and fn.__closure__:
    raise NotImplementedError(f"{name}: unknown CPU GEMM kernel; cannot update in place")


class _Target:
  """Where checkpoint tensors land: the rows of one live tensor (or of the full-weight
  buffer kept for a CPU linear layer whose own weight vLLM freed after packing)."""

  def __init__(self, module: torch.nn.Module, tensor: torch.Tensor, rows: int):
    self.module, self.tensor, self.rows = module, tensor, rows


def _plan(model: torch.nn.Module) -> tuple[dict[str, tuple[str, int]], dict[str, _Target]]:
  """(checkpoint sub-module name -> (packed module name, shard index), target by param)."""
  packed: dict[str, tuple[str, int]] = {}
  for merged, parts in getattr(model, "packed_modules_mapping", {}).items():
    for i, part in enumerate(parts):
      packed[part] = (merged, i)
  targets: dict[str, _Target] = {}
  for mname, module in model.named_modules():
    params = dict(module.named_parameters(recurse=False))
    if not params:
      continue
    _check_supported(mname, module)
    handler = _onednn_handler(module)
    for pname, p in params.items():
      key = f"{mname}.{pname}" if mname else pname
      if pname == "weight" and handler is not None and p.numel() == 0:
        full = torch.empty((handler.n, handler.k), dtype=p.dtype, device=p.device)
        targets[key] = _Target(module, full, handler.n)
      else:
        targets[key] = _Target(module, p.data, p.shape[0] if p.ndim else 0)
  return packed, targets


def _resolve(name: str, packed, targets, model) -> tuple[_Target, int]:
  """Checkpoint name -> (target, first row)."""
  if name in targets:
    return targets[name], 0
  mname, _, pname = name.rpartition(".")
  parent, _, leaf = mname.rpartition(".")
  if leaf in packed:
    merged, shard = packed[leaf]
    key = f"{parent}.{merged}.{pname}"
    if key in targets:
      module = targets[key].module
      sizes = getattr(module, "output_sizes", None)
      if sizes is None or getattr(module, "tp_size", 1) != 1:
        raise NotImplementedError(f"{name}: in-place update needs an unsharded {merged}")
      return targets[key], sum(sizes[:shard])
  raise KeyError(f"checkpoint tensor {name} has no parameter in the served "
                 f"{type(model).__name__}")


@torch.no_grad()
def update_model_in_place(model: torch.nn.Module, weights_path: str,
                          plan: tuple | None = None,
                          threads: int = 1) -> dict[str, float]:
  """Copies the checkpoint at `weights_path` into `model`'s live parameters and repacks
  the CPU linear layers it touched. Every parameter must be covered in full (a tied
  lm_head may be given or not); nothing is changed when a check fails.

  `threads`: OpenMP threads for the copy and the repack (0: the server's own setting).
  These passes are memory-bound, and a team of threads on cores shared with other
  processes waits at every barrier (10x slower than one thread on a loaded 2-core
  machine)."""
  t0 = time.perf_counter()
  packed, targets = plan if plan is not None else _plan(model)
  files = sorted(f for f in os.listdir(weights_path) if f.endswith(".safetensors"))
  if not files:
    raise FileNotFoundError(f"no .safetensors file in {weights_path}")
  tensors: dict[str, torch.Tensor] = {}
  for f in files:
    tensors.update(read_safetensors(os.path.join(weights_path, f)))
  # Check everything before the first copy: a rejected update leaves the model as it was.
  writes, covered, seen = [], {}, set()
  for name, src in tensors.items():
    target, row = _resolve(name, packed, targets, model)
    dst = target.tensor
    if src.ndim == 0 or src.ndim != dst.ndim or src.shape[1:] != dst.shape[1:] or \
        row + src.shape[0] > dst.shape[0]:
      raise ValueError(f"{weights_path}: tensor {name} has shape {tuple(src.shape)}, which "
                       f"does not fit rows {row}.. of a parameter of shape {tuple(dst.shape)}")
    ptr = (dst.data_ptr(), row)
    if ptr in seen:  # a tied head names the embedding's storage again
      continue
    seen.add(ptr)
    writes.append((target, row, src))
    covered[id(target)] = covered.get(id(target), 0) + src.shape[0]
  by_storage: dict[int, list] = {}
  for key, target in targets.items():
    by_storage.setdefault(target.tensor.data_ptr(), []).append((key, target))
  missing = []
  for group in by_storage.values():
    got = max(covered.get(id(t), 0) for _, t in group)
    need = min(t.rows if not _is_embedding(t.module) else
               getattr(t.module, "org_vocab_size", t.rows) for _, t in group)
    if got < need:
      missing.append(group[0][0])
  if missing:
    raise ValueError(f"{weights_path}: the checkpoint leaves parameters without (all) "
                     f"their values: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
  t1 = time.perf_counter()
  dirty = set()
  nbytes = 0
  before = torch.get_num_threads()
  if threads > 0:
    torch.set_num_threads(threads)
  try:
    for target, row, src in writes:
      target.tensor[row:row + src.shape[0]].copy_(src)
      dirty.add(target.tensor.data_ptr())
      nbytes += src.numel() * src.element_size()
    t2 = time.perf_counter()
    repacked = _repack(targets, dirty)
  finally:
    torch.set_num_threads(before)
  t3 = time.perf_counter()
  return {"bytes": float(nbytes), "tensors": float(len(writes)), "repacked": float(repacked),
          "check_seconds": t1 - t0, "copy_seconds": t2 - t1, "pack_seconds": t3 - t2}


def create_handle(weight_kn: torch.Tensor) -> int:
  """A new oneDNN GEMM handle packing `weight_kn` ([in, out]), as vLLM's CPU dispatch."""
  return int(torch.ops._C.create_onednn_mm_handler(weight_kn, _ONEDNN_CACHE))


def release_handle(handle: int) -> None:
  torch.ops._C.release_dnnl_matmul_handler(handle)


def _is_embedding(module: torch.nn.Module) -> bool:
  return hasattr(module, "org_vocab_size")


def _repack(targets: dict[str, _Target], dirty: set[int]) -> int:
  """Re-creates the oneDNN packed weight of every CPU linear layer whose weight changed,
  swapping the new handle into the existing handle tensor (compiled graphs read it)."""
  count = 0
  for key, target in targets.items():
    if not key.endswith("weight") or target.tensor.data_ptr() not in dirty:
      continue
    handler = _onednn_handler(target.module)
    if handler is None:
      continue
    new = create_handle(target.tensor.t())
    old = int(handler.handler_tensor.item())
    handler.handler_tensor.fill_(new)
    release_handle(old)
    count += 1
  return count


class WeightLoaderExtension:
  """Mixed into vLLM's worker (`--worker-extension-cls`): adds the method
  `swejax_update_weights`, called through the server's /collective_rpc."""

  def swejax_update_weights(self, weights_path: str, threads: int = 1) -> dict[str, float]:
    model = self.get_model()  # pytype: disable=attribute-error
    plan = getattr(self, "_swejax_plan", None)
    if plan is None or plan[0] is not model:
      plan = (model, _plan(model))
      self._swejax_plan = plan  # pylint: disable=attribute-defined-outside-init
    return update_model_in_place(model, weights_path, plan[1], threads=int(threads))
