"""swejax's vLLM plugin bounds vLLM's busy polling; here on a stand-in of vLLM's
SpinCondition (the real servers' CPU use is checked in test_vllm_fleet.py)."""
from __future__ import annotations

import sys
import types

import pytest

from swejax.sampling.vllm_server import swejax_vllm_plugin as plugin


class _SpinCondition:  # like vllm.distributed.device_communicators.shm_broadcast's
  def __init__(self, busy_loop_s: float = 1):
    self.busy_loop_s = busy_loop_s
    self.waits = 0

  def wait(self, timeout_ms=None):
    self.waits += 1
    return self.busy_loop_s


@pytest.fixture
def fake_vllm(monkeypatch):
  mod = types.ModuleType("vllm.distributed.device_communicators.shm_broadcast")
  mod.SpinCondition = type("SpinCondition", (_SpinCondition,), {})
  names = ["vllm", "vllm.distributed", "vllm.distributed.device_communicators"]
  for name in names:
    monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
  monkeypatch.setitem(sys.modules, mod.__name__, mod)
  monkeypatch.setattr(sys.modules["vllm.distributed.device_communicators"], "shm_broadcast",
                      mod, raising=False)
  return mod


def test_readers_spin_at_most_the_set_time(fake_vllm, monkeypatch):
  before = fake_vllm.SpinCondition()  # made before the plugin loaded: bounded too
  monkeypatch.setenv(plugin.ENV, "0.002")
  plugin.register()
  plugin.register()  # vLLM may load a plugin more than once per process
  after = fake_vllm.SpinCondition(busy_loop_s=1)
  assert before.wait() == 0.002 and after.wait(timeout_ms=5) == 0.002
  assert before.waits == 1  # the original wait still runs, once
  short = fake_vllm.SpinCondition(busy_loop_s=0.0)
  assert short.wait() == 0.0  # never raised


def test_unset_leaves_vllm_alone(fake_vllm, monkeypatch):
  monkeypatch.delenv(plugin.ENV, raising=False)
  plugin.register()
  assert fake_vllm.SpinCondition().wait() == 1


def test_a_bad_value_names_the_variable(fake_vllm, monkeypatch):
  monkeypatch.setenv(plugin.ENV, "soon")
  with pytest.raises(ValueError, match=plugin.ENV):
    plugin.register()
