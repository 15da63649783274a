"""In-place weight update of a running vLLM server, run inside its worker processes.

vLLM's own `reload_weights` rebuilds every layer on the meta device, materializes fresh
tensors, loads them through the model's weight loaders and re-runs the post-load
processing (on CPU: repacking each linear layer for oneDNN). Most of that is set-up a
weight *update* does not need: shapes, names and kernels stay the same. This module
copies each tensor of a staged safetensors checkpoint (memory-mapped, no read into a
buffer) straight into the live parameter rows it belongs to and refreshes the packed copy
a CPU linear layer keeps, swapping the new pack in behind the same handle tensor so that
compiled graphs that captured it see the new weights. A layer whose unpacked weight vLLM
freed is assembled in one reused scratch buffer and packed from it right away.

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
  """Where checkpoint tensors land: the rows of one live tensor, or, for a CPU linear layer
  whose own weight vLLM freed after packing, rows assembled in a scratch buffer of
  `shape` (`tensor` None) and packed from there."""

  def __init__(self, module: torch.nn.Module, tensor: torch.Tensor | None,
               shape: tuple[int, ...]):
    self.module, self.tensor, self.shape = module, tensor, tuple(shape)
    self.rows = self.shape[0] if self.shape else 0

  @property
  def storage(self) -> int:
    """Identifies what the target writes: tied parameters share their storage."""
    return self.tensor.data_ptr() if self.tensor is not None else id(self)


class _Plan:
  """What an update needs to know of the served model, worked out once per model:
  checkpoint sub-module name -> (packed module name, shard index), the target of each
  parameter, and one scratch buffer (as large as the largest freed weight) that every
  packed layer is assembled in, in turn: it stays in the cache for the pack that reads it
  and its pages stay mapped between updates."""

  def __init__(self, model: torch.nn.Module):
    self.packed: dict[str, tuple[str, int]] = {}
    for merged, parts in getattr(model, "packed_modules_mapping", {}).items():
      for i, part in enumerate(parts):
        self.packed[part] = (merged, i)
    self.targets: dict[str, _Target] = {}
    size, dtype = 0, None
    for mname, module in model.named_modules():
      params = dict(module.named_parameters(recurse=False))
      if not params:
        continue
      _check_supported(mname, module)
      handler = _onednn_handler(module)
      for pname, p in params.items():
        key = f"{mname}.{pname}" if mname else pname
        if pname == "weight" and handler is not None and p.numel() == 0:
          self.targets[key] = _Target(module, None, (handler.n, handler.k))
          size, dtype = max(size, handler.n * handler.k), p.dtype
        else:
          self.targets[key] = _Target(module, p.data, p.shape)
    self.scratch = torch.empty(size, dtype=dtype) if size else None


def _resolve(name: str, plan: _Plan, model) -> tuple[_Target, int]:
  """Checkpoint name -> (target, first row)."""
  targets = plan.targets
  if name in targets:
    return targets[name], 0
  mname, _, pname = name.rpartition(".")
  parent, _, leaf = mname.rpartition(".")
  if leaf in plan.packed:
    merged, shard = plan.packed[leaf]
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
                          plan: _Plan | None = None) -> dict[str, float]:
  """Copies the checkpoint at `weights_path` into `model`'s live parameters and repacks
  the CPU linear layers it touched. Every parameter must be covered in full (a tied
  lm_head may be given or not); nothing is changed when a check fails.

  A linear layer whose weight vLLM freed after packing is assembled in the plan's scratch
  buffer and repacked from it at once, layer by layer: the pack reads from the cache
  what the copy just wrote, and no full-size copy of the weights is kept."""
  t0 = time.perf_counter()
  plan = plan if plan is not None else _Plan(model)
  files = sorted(f for f in os.listdir(weights_path) if f.endswith(".safetensors"))
  if not files:
    raise FileNotFoundError(f"no .safetensors file in {weights_path}")
  tensors: dict[str, torch.Tensor] = {}
  for f in files:
    tensors.update(read_safetensors(os.path.join(weights_path, f)))
  # Check everything before the first copy: a rejected update leaves the model as it was.
  writes: dict[int, list] = {}  # storage -> [(target, row, src)], in checkpoint order
  covered: dict[int, int] = {}
  for name, src in tensors.items():
    target, row = _resolve(name, plan, model)
    shape = target.shape
    if src.ndim == 0 or src.ndim != len(shape) or tuple(src.shape[1:]) != shape[1:] or \
        row + src.shape[0] > shape[0]:
      raise ValueError(f"{weights_path}: tensor {name} has shape {tuple(src.shape)}, which "
                       f"does not fit rows {row}.. of a parameter of shape {shape}")
    group = writes.setdefault(target.storage, [])
    if any(r == row for _, r, _ in group):  # a tied head names the embedding's storage again
      continue
    group.append((target, row, src))
    covered[id(target)] = covered.get(id(target), 0) + src.shape[0]
  by_storage: dict[int, list] = {}
  for key, target in plan.targets.items():
    by_storage.setdefault(target.storage, []).append((key, target))
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
  copy_s = pack_s = 0.0
  nbytes = repacked = 0
  for storage, group in writes.items():
    t = time.perf_counter()
    target = group[0][0]
    dst = target.tensor
    if dst is None:
      dst = plan.scratch[:target.rows * target.shape[1]].view(target.shape)
    for _, row, src in group:
      dst[row:row + src.shape[0]].copy_(src)
      nbytes += src.numel() * src.element_size()
    t2 = time.perf_counter()
    # Every layer packed from this storage (a tied head shares the embedding's).
    for key, other in by_storage[storage]:
      handler = _onednn_handler(other.module) if key.endswith(".weight") else None
      if handler is not None:
        _swap_pack(handler, dst)
        repacked += 1
    copy_s, pack_s = copy_s + t2 - t, pack_s + time.perf_counter() - t2
  return {"bytes": float(nbytes), "tensors": float(sum(map(len, writes.values()))),
          "repacked": float(repacked), "check_seconds": t1 - t0, "copy_seconds": copy_s,
          "pack_seconds": pack_s}


def create_handle(weight_kn: torch.Tensor) -> int:
  """A new oneDNN GEMM handle packing `weight_kn` ([in, out]), as vLLM's CPU dispatch."""
  return int(torch.ops._C.create_onednn_mm_handler(weight_kn, _ONEDNN_CACHE))


def release_handle(handle: int) -> None:
  torch.ops._C.release_dnnl_matmul_handler(handle)


def _is_embedding(module: torch.nn.Module) -> bool:
  return hasattr(module, "org_vocab_size")


def _swap_pack(handler: Any, weight: torch.Tensor) -> None:
  """Packs `weight` ([out, in]) into a new oneDNN handle and swaps it into the handle
  tensor the layer (and every compiled graph that captured it) reads; frees the old one."""
  new = create_handle(weight.t())
  old = int(handler.handler_tensor.item())
  handler.handler_tensor.fill_(new)
  release_handle(old)


class WeightLoaderExtension:
  """Mixed into vLLM's worker (`--worker-extension-cls`): adds the method
  `swejax_update_weights`, called through the server's /collective_rpc."""

  def swejax_update_weights(self, weights_path: str) -> dict[str, float]:
    model = self.get_model()  # pytype: disable=attribute-error
    plan = getattr(self, "_swejax_plan", None)
    if plan is None or plan[0] is not model:
      plan = (model, _Plan(model))
      self._swejax_plan = plan  # pylint: disable=attribute-defined-outside-init
    return update_model_in_place(model, weights_path, plan[1])
