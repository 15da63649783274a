"""The task source: which tasks each iteration draws, resumable exactly after a restart.

A grain pipeline over the task pool: this host's shard of the pool (every `shard_count`-th
task from `shard_index`), shuffled with `seed`, repeated forever with a fresh order every
epoch. It runs in-process (no worker processes) because items are just task indices.

  source = TaskSource(len(tasks), seed=0)             # shard = this JAX process
  it = source.iterator()
  batch = it.next_batch(16)                           # 16 indices into `tasks`
  state = it.get_state()                              # JSON-able; save with the checkpoint
  ...
  it = source.iterator(); it.set_state(state)         # after a restart: same next batches

`TaskSource(pool, ...)` with a list of task ids or records draws those items instead of
indices (e.g. stage 2's filtered pool); the state holds positions only, never the items,
plus a hash of the pool (of the items' JSON or repr) so that it is never applied to another.

The state does not depend on the shard index, so in a multi-host run the state saved by
process 0 restores every host, provided all hosts draw the same number of items per
iteration (a synchronous loop does). Within one epoch the shards partition the pool; shards
differ in size by at most one item when the pool size is not a multiple of `shard_count`.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Generic, Sequence, TypeVar

import grain

T = TypeVar("T")

_STATE_VERSION = 1


def _fingerprint(items: Sequence[Any] | None, num_items: int) -> str:
  """A short hash of the pool, so a state is never applied to a different pool silently."""
  text = str(num_items) if items is None else json.dumps(list(items), sort_keys=True,
                                                          default=repr)
  if " at 0x" in text:
    raise ValueError("TaskSource: pool items must have a stable repr (ids, dicts, dataclasses); "
                     "an object address in the repr would change across restarts")
  return hashlib.sha256(text.encode()).hexdigest()[:16]


class TaskSource(Generic[T]):
  """A shuffled, repeated, host-sharded stream over a task pool."""

  def __init__(self, pool: int | Sequence[T], *, seed: int, shard_index: int | None = None,
               shard_count: int | None = None):
    """`pool`: the number of tasks (yields indices) or the items to yield.

    `shard_index`/`shard_count` default to jax.process_index()/jax.process_count().
    """
    if isinstance(pool, bool) or not isinstance(pool, (int, Sequence)) or isinstance(pool, str):
      raise TypeError(f"TaskSource: pool must be an int or a sequence, got {type(pool).__name__}")
    self._items: list[T] | None = None if isinstance(pool, int) else list(pool)
    self.num_items = pool if isinstance(pool, int) else len(self._items)
    if shard_index is None or shard_count is None:
      if shard_index is not None or shard_count is not None:
        raise ValueError("TaskSource: give both shard_index and shard_count, or neither")
      import jax  # pylint: disable=g-import-not-at-top
      shard_index, shard_count = jax.process_index(), jax.process_count()
    if shard_count < 1 or not 0 <= shard_index < shard_count:
      raise ValueError(f"TaskSource: need 0 <= shard_index < shard_count, got "
                       f"shard_index={shard_index}, shard_count={shard_count}")
    if self.num_items < shard_count:
      raise ValueError(f"TaskSource: the pool has {self.num_items} task(s), fewer than "
                       f"shard_count={shard_count}; every shard needs at least one")
    if not 0 <= int(seed) < 2**32:
      raise ValueError(f"TaskSource: seed must be in [0, 2**32), got {seed}")
    self.seed = int(seed)
    self.shard_index = int(shard_index)
    self.shard_count = int(shard_count)
    self._fingerprint = _fingerprint(self._items, self.num_items)

  def shard_indices(self) -> list[int]:
    """The pool positions this shard draws from (each epoch visits each exactly once)."""
    return list(range(self.shard_index, self.num_items, self.shard_count))

  def _dataset(self) -> grain.MapDataset:
    ds = grain.MapDataset.range(self.num_items)[self.shard_index::self.shard_count]
    # shuffle before repeat: each epoch gets its own permutation (seeded by seed and epoch).
    return ds.shuffle(seed=self.seed).repeat(None)

  def iterator(self) -> TaskIterator[T]:
    """A fresh iterator at the start of epoch 0."""
    read = grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)
    return TaskIterator(self, iter(self._dataset().to_iter_dataset(read)))

  def stream_id(self) -> dict[str, Any]:
    """What identifies this stream in a saved state (independent of the shard index)."""
    return {"version": _STATE_VERSION, "num_items": self.num_items, "seed": self.seed,
            "shard_count": self.shard_count, "fingerprint": self._fingerprint}

  def item(self, index: int) -> T:
    """The item at pool position `index` (the index itself for an int pool)."""
    return index if self._items is None else self._items[index]  # type: ignore[return-value]


class TaskIterator(Generic[T]):
  """Draws batches from a TaskSource; get_state()/set_state() resume it exactly."""

  def __init__(self, source: TaskSource[T], it: grain.DatasetIterator):
    self._source = source
    self._it = it

  def next_batch(self, n: int) -> list[T]:
    """The next `n` items (task indices, or the pool's items); batches may span epochs."""
    if n < 0:
      raise ValueError(f"next_batch: n must be >= 0, got {n}")
    return [self._source.item(int(next(self._it))) for _ in range(n)]

  def get_state(self) -> dict[str, Any]:
    """A JSON-able dict: the position in the stream plus what identifies the stream."""
    return {**self._source.stream_id(), "grain": self._it.get_state()}

  def set_state(self, state: dict[str, Any]) -> None:
    """Continue from `state`; refuses a state from a different pool, seed or shard count."""
    if not isinstance(state, dict) or "grain" not in state:
      raise ValueError(f"TaskIterator.set_state: not a task source state: {state!r:.200}")
    header = self._source.stream_id()
    diff = {k: (state.get(k), v) for k, v in header.items() if state.get(k) != v}
    if diff:
      raise ValueError("TaskIterator.set_state: the saved state belongs to another task stream "
                       f"(field: (saved, current)): {diff}")
    self._it.set_state(state["grain"])
