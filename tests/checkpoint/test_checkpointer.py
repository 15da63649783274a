"""Checkpointer: bit-exact sharded restore, keep-last-N, JSON states, crash safety."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from swejax import learner
from swejax import model as model_lib
from swejax.checkpoint import Checkpointer, rng_from_state, rng_state


def _randomize(state, seed):
  """Every leaf gets random full-precision values, so exactness means every bit."""
  rng = np.random.default_rng(seed)

  def leaf(x):
    if jnp.issubdtype(x.dtype, jnp.floating):
      value = rng.standard_normal(x.shape).astype(x.dtype)
    else:
      value = rng.integers(1, 1000, x.shape).astype(x.dtype)
    return jax.device_put(value, x.sharding)

  return jax.tree.map(leaf, state)


def _assert_identical(a, b):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(np.atleast_1d(np.asarray(x)).view(np.uint8),
                                  np.atleast_1d(np.asarray(y)).view(np.uint8))


@pytest.fixture(scope="module")
def tiny():
  cfg = model_lib.get_config("tiny")
  tx = learner.make_tx(cfg, {"learning_rate": 1e-3})
  mesh = learner.make_mesh({"fsdp": 4, "tensor": 2})
  state = _randomize(learner.init_state(cfg, tx, mesh, jax.random.key(0)), seed=1)
  return cfg, tx, mesh, state


def test_train_state_restores_bit_exactly_onto_its_shardings(tiny, tmp_path):
  cfg, tx, mesh, state = tiny
  data_state = {"version": 1, "grain": {"next_index": 17}}
  gen = np.random.default_rng(3)
  gen.random(5)
  loop_state = {"iteration": 4, "stage": "dapo", "history": {"task-1": [True, False]},
                "rng": rng_state(gen), "seeds": [1, 2]}
  with Checkpointer(tmp_path, keep=2) as ckpt:
    ckpt.save(4, state, data_state=data_state, loop_state=loop_state)
  assert os.path.isdir(tmp_path / "checkpoints" / "4" / "state")

  abstract = learner.abstract_state(cfg, tx, mesh)
  with Checkpointer(tmp_path, keep=2) as ckpt:
    assert ckpt.latest_step() == 4
    restored, data_back, loop_back = ckpt.restore(4, abstract)
  _assert_identical(state, restored)
  assert isinstance(restored, learner.TrainState)
  split = 0
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(abstract)):
    assert got.sharding == want.sharding
    split += not got.sharding.is_fully_replicated
  assert split > 0  # the test really covers sharded arrays
  assert data_back == data_state and loop_back == loop_state
  assert rng_from_state(loop_back["rng"]).random(3).tolist() == gen.random(3).tolist()


def test_restore_onto_other_shardings(tiny, tmp_path):
  cfg, tx, _, state = tiny
  with Checkpointer(tmp_path) as ckpt:
    ckpt.save(1, state, data_state={}, loop_state={})
    other = learner.abstract_state(cfg, tx, learner.make_mesh({"fsdp": 8}))
    restored, _, _ = ckpt.restore(None, other)
  _assert_identical(state, restored)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(other)):
    assert got.sharding == want.sharding


def _small_state(seed):
  params = {"w": jnp.asarray(np.random.default_rng(seed).standard_normal((8, 4)), jnp.float32),
            "b": jnp.full((4,), float(seed), jnp.float32)}
  opt = optax.adam(1e-2)
  opt_state = opt.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  _, opt_state = opt.update(grads, opt_state, params)
  return learner.TrainState(step=jnp.asarray(seed, jnp.int32), params=params,
                            opt_state=opt_state)


def _abstract(state):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                      state)


def test_keep_last_n_and_resume_sees_latest(tmp_path):
  with Checkpointer(tmp_path, keep=2) as ckpt:
    for step in range(1, 5):
      ckpt.save(step, _small_state(step), data_state={"i": step}, loop_state={"s": step})
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["3", "4"]
  with Checkpointer(tmp_path, keep=2) as ckpt:
    assert ckpt.all_steps() == [3, 4] and ckpt.latest_step() == 4
    state, data_state, loop_state = ckpt.restore(3, _abstract(_small_state(0)))
    _assert_identical(state, _small_state(3))
    assert (data_state, loop_state) == ({"i": 3}, {"s": 3})
    with pytest.raises(ValueError, match="not after the latest checkpoint 4"):
      ckpt.save(4, _small_state(4), data_state={}, loop_state={})
    with pytest.raises(FileNotFoundError, match="no checkpoint 1 in .*have \\[3, 4\\]"):
      ckpt.restore(1, _abstract(_small_state(0)))


def test_empty_workdir_has_no_latest(tmp_path):
  with Checkpointer(tmp_path) as ckpt:
    assert ckpt.latest_step() is None
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
      ckpt.restore(None, _abstract(_small_state(0)))


@pytest.mark.parametrize("loop_state,match", [
    ({"history": {3: [True]}}, r"loop_state\['history'\]: key 3 is a int"),
    ({"pair": (1, 2)}, r"loop_state\['pair'\]: a tuple .*use a list"),
    ({"x": np.float32(1.0)}, r"loop_state\['x'\]: a float32 .*item\(\)"),
    ({"x": [1.0, float("nan")]}, r"loop_state\['x'\]\[1\]: nan is not valid JSON"),
])
def test_non_json_loop_state_is_refused_before_writing(tmp_path, loop_state, match):
  with Checkpointer(tmp_path) as ckpt:
    with pytest.raises(ValueError, match=match):
      ckpt.save(1, _small_state(1), data_state={}, loop_state=loop_state)
    assert ckpt.latest_step() is None
  assert os.listdir(tmp_path / "checkpoints") == []


def test_restore_needs_shardings(tmp_path):
  with Checkpointer(tmp_path) as ckpt:
    ckpt.save(1, _small_state(1), data_state={}, loop_state={})
    bare = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), _small_state(0))
    with pytest.raises(ValueError, match=r"leaf .*step has no sharding"):
      ckpt.restore(1, bare)


def test_uncommitted_tmp_dir_is_ignored_and_cleaned(tmp_path):
  with Checkpointer(tmp_path) as ckpt:
    ckpt.save(1, _small_state(1), data_state={"i": 1}, loop_state={})
  half = tmp_path / "checkpoints" / "3.orbax-checkpoint-tmp"
  (half / "state").mkdir(parents=True)
  (half / "state" / "garbage").write_text("half written")
  with Checkpointer(tmp_path) as ckpt:
    assert ckpt.latest_step() == 1 and ckpt.all_steps() == [1]
    ckpt.save(2, _small_state(2), data_state={"i": 2}, loop_state={})
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]  # the leftover is gone
  with Checkpointer(tmp_path) as ckpt:
    state, data_state, _ = ckpt.restore(2, _abstract(_small_state(0)))
  _assert_identical(state, _small_state(2))
  assert data_state == {"i": 2}


_CHILD = textwrap.dedent("""
    import os, signal, sys, threading
    import jax.numpy as jnp
    from orbax.checkpoint._src.path import atomicity
    from swejax import learner
    from swejax.checkpoint import Checkpointer

    def state(v):
      return learner.TrainState(step=jnp.asarray(v, jnp.int32),
                                params={"w": jnp.full((64, 64), v, jnp.float32)},
                                opt_state=(jnp.full((64, 64), -v, jnp.float32),))

    ckpt = Checkpointer(sys.argv[1])
    ckpt.save(1, state(1), data_state={"i": 1}, loop_state={})
    ckpt.wait()

    async def die(self, *args, **kwargs):
      # Everything is written; the commit (the rename) has not happened.
      print("finalizing", sorted(os.listdir(os.path.join(sys.argv[1], "checkpoints"))),
            "in the background" if threading.current_thread() is not threading.main_thread()
            else "in the caller", flush=True)
      os.kill(os.getpid(), signal.SIGKILL)

    atomicity.AtomicRenameTemporaryPath.finalize = die
    ckpt.save(2, state(2), data_state={"i": 2}, loop_state={})
    ckpt.wait()
    print("not killed", flush=True)
""")


@pytest.mark.slow
def test_kill_9_during_async_save_keeps_the_last_committed_checkpoint(tmp_path):
  proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True,
                        text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
  # The save was asynchronous and died between writing and committing.
  assert "finalizing ['1', '2.orbax-checkpoint-tmp'] in the background" in proc.stdout, proc.stdout
  with Checkpointer(tmp_path) as ckpt:
    assert ckpt.latest_step() == 1
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                       sharding=jax.sharding.SingleDeviceSharding(
                                           jax.devices()[0])),
        learner.TrainState(step=jnp.zeros((), jnp.int32),
                           params={"w": jnp.zeros((64, 64), jnp.float32)},
                           opt_state=(jnp.zeros((64, 64), jnp.float32),)))
    state, data_state, _ = ckpt.restore(None, abstract)
    assert data_state == {"i": 1}
    assert float(state.params["w"][0, 0]) == 1.0 and int(state.step) == 1
    # The run goes on: the same step saves again over the abandoned attempt.
    ckpt.save(2, state, data_state={"i": 2}, loop_state={})
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]
  with Checkpointer(tmp_path) as ckpt:
    assert ckpt.restore(2, abstract)[1] == {"i": 2}


def test_relative_workdir(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with Checkpointer("run") as ckpt:
    ckpt.save(1, _small_state(1), data_state={}, loop_state={})
  assert os.listdir(tmp_path / "run" / "checkpoints") == ["1"]
