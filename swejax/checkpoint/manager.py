"""Orbax checkpoints of the training run: TrainState, data iterator state and loop state.

Layout: WORKDIR/checkpoints/<step>/{state, data, loop}, where `state` is the TrainState
(sharded arrays, written by every host in parallel), and `data` and `loop` are JSON.

  ckpt = Checkpointer(workdir, keep=3)
  step = ckpt.latest_step()                 # None on a fresh workdir
  if step is not None:
    state, data_state, loop_state = ckpt.restore(step, learner.abstract_state(cfg, tx, mesh))
  ...
  ckpt.save(step, state, data_state=it.get_state(), loop_state={...})   # returns at once
  ...
  ckpt.close()                              # waits for the last save

Saves are asynchronous: `save` returns once the arrays are copied off the devices and the
files are written by a background thread; the next `save`, `wait` or `close` waits for it.
A checkpoint is written into `<step>.orbax-checkpoint-tmp` and renamed to `<step>` only when
complete, so a crash (even kill -9) mid-save leaves at worst a tmp directory, which
`latest_step` never reports and the next Checkpointer deletes.

`data_state` and `loop_state` must survive a JSON round trip unchanged (string keys, lists
not tuples, plain Python numbers); `save` checks this before writing anything and names the
offending field. Every JAX process must create the Checkpointer and call save/restore.
"""
from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

_ITEMS = ("state", "data", "loop")


def _check_json(value: Any, where: str) -> None:
  """Raise if `value` would not come back identical from JSON."""
  if value is None or type(value) in (bool, str, int):  # exact types: no numpy scalars
    return
  if type(value) is float:  # pylint: disable=unidiomatic-typecheck
    if not math.isfinite(value):
      raise ValueError(f"{where}: {value} is not valid JSON; store None or a string instead")
    return
  if type(value) is list:  # pylint: disable=unidiomatic-typecheck
    for i, v in enumerate(value):
      _check_json(v, f"{where}[{i}]")
    return
  if type(value) is dict:  # pylint: disable=unidiomatic-typecheck
    for k, v in value.items():
      if not isinstance(k, str):
        raise ValueError(f"{where}: key {k!r} is a {type(k).__name__}; JSON keys come back as "
                         "strings, so use string keys")
      _check_json(v, f"{where}[{k!r}]")
    return
  hint = " (use a list)" if isinstance(value, tuple) else (
      " (convert with .item() or .tolist())" if isinstance(value, (np.generic, np.ndarray))
      or hasattr(value, "dtype") else "")
  raise ValueError(f"{where}: a {type(value).__name__} does not survive a JSON round trip{hint}")


def _check_target(abstract_state: Any) -> None:
  """Restoring needs a sharding per leaf: that is where each array is placed."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(abstract_state)[0]:
    if getattr(leaf, "sharding", None) is None:
      raise ValueError(f"restore: abstract_state leaf {jax.tree_util.keystr(path)} has no "
                       "sharding; pass ShapeDtypeStructs with shardings, e.g. "
                       "swejax.learner.abstract_state(cfg, tx, mesh)")


class Checkpointer:
  """Keeps the last `keep` checkpoints of a run under WORKDIR/checkpoints/."""

  def __init__(self, workdir: str | os.PathLike[str], *, keep: int = 3, async_save: bool = True):
    if keep < 1:
      raise ValueError(f"Checkpointer: keep must be >= 1, got {keep}")
    self.directory = os.path.join(os.path.abspath(os.fspath(workdir)), "checkpoints")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, enable_async_checkpointing=async_save, cleanup_tmp_directories=True,
        create=True)
    self._manager = ocp.CheckpointManager(self.directory, item_names=_ITEMS, options=options)

  def save(self, step: int, state: Any, data_state: dict[str, Any],
           loop_state: dict[str, Any]) -> None:
    """Starts saving checkpoint `step` (must exceed every saved step) in the background."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
      raise ValueError(f"Checkpointer.save: step must be an int >= 0, got {step!r}")
    step = int(step)
    if not isinstance(data_state, dict) or not isinstance(loop_state, dict):
      raise ValueError("Checkpointer.save: data_state and loop_state must be dicts")
    _check_json(data_state, "data_state")
    _check_json(loop_state, "loop_state")
    latest = self._manager.latest_step()
    if latest is not None and step <= latest:
      raise ValueError(f"Checkpointer.save: step {step} is not after the latest checkpoint "
                       f"{latest} in {self.directory}")
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state),
        loop=ocp.args.JsonSave(loop_state)), force=True)

  def latest_step(self) -> int | None:
    """The newest checkpoint: committed ones on disk, plus this process's save in flight."""
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """Every kept checkpoint, oldest first."""
    return sorted(self._manager.all_steps())

  def restore(self, step: int | None,
              abstract_state: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(state, data_state, loop_state) of checkpoint `step` (None: the latest).

    `abstract_state` is the TrainState structure as ShapeDtypeStructs with shardings; the
    arrays are restored bit-exactly onto those shardings.
    """
    if step is None:
      step = self.latest_step()
      if step is None:
        raise FileNotFoundError(f"no checkpoint in {self.directory}")
    if step not in self._manager.all_steps():
      raise FileNotFoundError(f"no checkpoint {step} in {self.directory}; "
                              f"have {self.all_steps()}")
    _check_target(abstract_state)
    out = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore(),
        loop=ocp.args.JsonRestore()))
    return out.state, dict(out.data), dict(out.loop)

  def restore_loop_state(self, step: int) -> dict[str, Any]:
    """Only the loop's JSON state of checkpoint `step` (to decide what to restore next)."""
    out = self._manager.restore(step, args=ocp.args.Composite(loop=ocp.args.JsonRestore()))
    return dict(out.loop)

  def wait(self) -> None:
    """Blocks until the save in flight (if any) is committed."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for the save in flight, then releases orbax's threads."""
    self._manager.wait_until_finished()
    self._manager.close()

  def __enter__(self) -> Checkpointer:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()
