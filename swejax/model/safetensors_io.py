"""A small safetensors reader (memory-mapped, lazy) and a streaming writer.

Our own because numpy has no bfloat16 in the reference library's numpy API, and because
both directions must work tensor by tensor: reading one shard's slice of one tensor, and
writing tensors as they are gathered, never the whole model in host memory.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Iterable, Mapping

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype(np.int64), "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16), "I8": np.dtype(np.int8), "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


class SafetensorsError(ValueError):
  pass


def read_header(path: str) -> tuple[dict, int]:
  """(header without metadata, byte offset where data starts)."""
  with open(path, "rb") as f:
    raw = f.read(8)
    if len(raw) != 8:
      raise SafetensorsError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw)
    if n > 100 * 2**20:
      raise SafetensorsError(f"{path}: header of {n} bytes is implausible; not a safetensors file?")
    try:
      header = json.loads(f.read(n))
    except json.JSONDecodeError as e:
      raise SafetensorsError(f"{path}: unreadable safetensors header: {e}") from None
  header.pop("__metadata__", None)
  return header, 8 + n


class LazyTensors(Mapping[str, np.ndarray]):
  """name -> read-only memory-mapped array, over one file or many (an index's shards)."""

  def __init__(self, paths: Iterable[str]):
    self._where: dict[str, tuple[str, dict, int]] = {}
    for path in paths:
      header, start = read_header(path)
      for name, info in header.items():
        self._where[name] = (path, info, start)

  def __getitem__(self, name: str) -> np.ndarray:
    if name not in self._where:
      raise KeyError(name)
    path, info, start = self._where[name]
    if info["dtype"] not in _DTYPES:
      raise SafetensorsError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
    dtype = _DTYPES[info["dtype"]]
    begin, end = info["data_offsets"]
    shape = tuple(info["shape"])
    if int(np.prod(shape)) * dtype.itemsize != end - begin:
      raise SafetensorsError(f"{path}: tensor {name} size does not match its shape {shape}")
    if not shape or end == begin:
      return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=start + begin, shape=shape)

  def __iter__(self):
    return iter(self._where)

  def __len__(self):
    return len(self._where)


def header(specs: Mapping[str, tuple[tuple[int, ...], np.dtype]],
           metadata: Mapping[str, str] | None = None) -> tuple[bytes, dict[str, int]]:
  """The encoded header of a file holding `specs` in their order (length prefix included)
  and each tensor's absolute byte offset in that file."""
  head: dict = {"__metadata__": dict(metadata or {"format": "pt"})}
  offsets, offset = {}, 0
  for name, (shape, dtype) in specs.items():
    dtype = np.dtype(dtype)
    if dtype not in _NAMES:
      raise SafetensorsError(f"tensor {name}: dtype {dtype} cannot be written")
    size = int(np.prod(shape)) * dtype.itemsize
    head[name] = {"dtype": _NAMES[dtype], "shape": list(shape),
                  "data_offsets": [offset, offset + size]}
    offsets[name] = offset
    offset += size
  raw = json.dumps(head, separators=(",", ":")).encode()
  raw += b" " * ((-len(raw)) % 8)
  raw = struct.pack("<Q", len(raw)) + raw
  return raw, {k: v + len(raw) for k, v in offsets.items()}


class Writer:
  """Writes tensors one at a time; all names, shapes and dtypes are declared up front."""

  def __init__(self, path: str, specs: Mapping[str, tuple[tuple[int, ...], np.dtype]],
               metadata: Mapping[str, str] | None = None):
    raw, _ = header(specs, metadata)
    self._order = list(specs)
    self._specs = {k: (tuple(s), np.dtype(d)) for k, (s, d) in specs.items()}
    self._next = 0
    self._path = path
    self._tmp = path + ".partial"
    self._f = open(self._tmp, "wb")
    self._f.write(raw)

  def write(self, name: str, array: np.ndarray) -> None:
    if self._next >= len(self._order) or self._order[self._next] != name:
      raise SafetensorsError(f"tensor {name} written out of the declared order")
    shape, dtype = self._specs[name]
    array = np.ascontiguousarray(np.asarray(array).astype(dtype, copy=False))
    if array.shape != shape:
      raise SafetensorsError(f"tensor {name}: shape {array.shape} != declared {shape}")
    self._f.write(array.tobytes())
    self._next += 1

  def close(self) -> None:
    self._f.close()
    if self._next != len(self._order):
      missing = self._order[self._next:]
      raise SafetensorsError(f"{self._path}: {len(missing)} declared tensors never written")
    os.replace(self._tmp, self._path)
