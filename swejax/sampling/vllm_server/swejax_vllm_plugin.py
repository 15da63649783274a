"""swejax's vLLM general plugin: bounds how long vLLM's processes busy-poll when idle.

vLLM's processes pass messages through shared-memory queues, and a reader spins
(sched_yield in a loop) for one second after each message it reads, so that the next
one is taken at once. On a GPU server that costs a spare core. On a CPU server that
shares its few cores with the learner (a workstation, CI), each spinning process takes a
whole core away from the learner and from the server's own OpenMP threads: after every
decode step and every weight-sync request, for a second. With
SWEJAX_VLLM_BUSY_POLL_S=S, a reader spins at most S seconds after a read and then sleeps
until it is notified, as it does after vLLM's second (launch/vllm_fleet.sh sets it on
CPU). Unset: vLLM's behaviour.

vLLM loads every `vllm.general_plugins` entry point in each of its processes; this one
is declared by the swejax_vllm_plugins-0.dist-info next to this file, found when this
directory is on PYTHONPATH. The server imports it as a top-level module: it may import
only what the server's environment has, never swejax.
"""
from __future__ import annotations

import logging
import os

ENV = "SWEJAX_VLLM_BUSY_POLL_S"
log = logging.getLogger(__name__)


def register() -> None:
  """Called by vLLM in each of its processes (possibly more than once)."""
  value = os.environ.get(ENV)
  if not value:
    return
  try:
    limit = float(value)
    if limit < 0:
      raise ValueError
  except ValueError:
    raise ValueError(f"{ENV}={value!r}: expected seconds >= 0") from None
  try:
    from vllm.distributed.device_communicators import shm_broadcast  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  cls = getattr(shm_broadcast, "SpinCondition", None)
  if cls is None or not hasattr(cls, "wait"):
    log.warning("%s is set but this vLLM has no SpinCondition; vLLM's busy polling is "
                "left as it is", ENV)
    return
  if getattr(cls, "_swejax_limit", None) is not None:
    cls._swejax_limit = limit  # pylint: disable=protected-access
    return
  wait = cls.wait

  def bounded_wait(self, timeout_ms=None):
    if getattr(self, "busy_loop_s", 0) > cls._swejax_limit:  # pylint: disable=protected-access
      self.busy_loop_s = cls._swejax_limit  # pylint: disable=protected-access
    return wait(self, timeout_ms)

  cls._swejax_limit = limit  # pylint: disable=protected-access
  cls.wait = bounded_wait
