"""Ring attention over the context axis of 8 fake CPU devices equals the reference."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax import model as model_lib
from swejax.learner import losses
from swejax.learner.mesh import make_mesh
from swejax.model import ring_attention as ring_lib
from swejax.model.attention import attention, xla_attention
from swejax.model.config import DEFAULT_RULES


def _inputs(b, t, n=4, k=2, h=8, seed=0):
  rng = np.random.default_rng(seed)
  q = jnp.asarray(rng.normal(size=(b, t, n, h)), jnp.float32)
  kk = jnp.asarray(rng.normal(size=(b, t, k, h)), jnp.float32)
  v = jnp.asarray(rng.normal(size=(b, t, k, h)), jnp.float32)
  # Segments whose boundaries fall inside shards and chunks, one that spans several
  # shards, and a padding tail.
  seg = np.ones((b, t), np.int32)
  seg[0, 5:] = 2
  seg[0, t // 2 + 3:] = 3
  seg[0, t - 5:] = 0
  seg[1, t // 4 - 1:] = 2
  seg[1, t - 3:] = 0
  w = jnp.asarray(rng.normal(size=q.shape), jnp.float32)
  return q, kk, v, jnp.asarray(seg), w


def _out_and_grads(fn, q, k, v, w):
  o, vjp = jax.vjp(fn, q, k, v)
  return (o, *vjp(w))


@pytest.mark.parametrize("mesh_axes,load_balance,t", [
    (dict(data=1, fsdp=1, tensor=2, context=4), True, 32),
    (dict(data=2, fsdp=1, tensor=1, context=4), False, 32),
    (dict(data=1, fsdp=1, tensor=1, context=8), True, 64),
])
def test_ring_equals_reference_forward_and_gradient(mesh_axes, load_balance, t):
  mesh = make_mesh(mesh_axes)
  q, k, v, seg, w = _inputs(2, t)
  ring = lambda q, k, v: ring_lib.ring_attention(  # noqa: E731
      q, k, v, seg, rules=DEFAULT_RULES, load_balance=load_balance, block_q=2, block_k=4)
  with jax.set_mesh(mesh):
    got = jax.jit(lambda q, k, v: _out_and_grads(ring, q, k, v, w))(q, k, v)
  want = _out_and_grads(lambda q, k, v: xla_attention(q, k, v, seg), q, k, v, w)
  for name, a, b in zip(("out", "dq", "dk", "dv"), got, want):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0, err_msg=name)


def test_zigzag_relayout_and_its_inverse():
  size, t = 4, 16
  mesh = make_mesh(dict(data=1, fsdp=1, tensor=2, context=size))
  x = jnp.arange(t, dtype=jnp.int32)[None, :]

  def there_and_back(x):
    z = ring_lib._to_zigzag(x, "context", size)  # pylint: disable=protected-access
    return z, ring_lib._from_zigzag(z, "context", size)  # pylint: disable=protected-access

  spec = jax.sharding.PartitionSpec(None, "context")
  with jax.set_mesh(mesh):
    z, back = jax.jit(jax.shard_map(there_and_back, mesh=mesh, in_specs=spec,
                                    out_specs=(spec, spec), check_vma=False))(x)
  expected = ring_lib.zigzag_order(t, size)
  np.testing.assert_array_equal(z[0], expected)
  np.testing.assert_array_equal(back[0], np.arange(t))
  # The index each shard uses for causality is the token it holds after the relayout.
  held = [np.asarray(ring_lib.local_index(s, t // size, size, True)) for s in range(size)]
  np.testing.assert_array_equal(np.concatenate(held), expected)


def _work(size, t, block, zigzag):
  """[shard, step] -> (query block, key block) tiles the kernel visits."""
  length = t // size
  out = np.zeros((size, size), int)
  for me in range(size):
    idx_q = ring_lib.local_index(me, length, size, zigzag)
    for step in range(size):
      idx_k = ring_lib.local_index((me - step) % size, length, size, zigzag)
      out[me, step] = sum(int(ring_lib.visible_blocks(idx_k[::block], idx_q[i + block - 1]))
                          for i in range(0, length, block))
  return out


def test_zigzag_balances_causal_work_at_every_step():
  size, t, block = 4, 256, 8
  balanced = _work(size, t, block, zigzag=True)
  assert (balanced == balanced[0]).all(), balanced  # every shard, the same work per step
  plain = _work(size, t, block, zigzag=False)
  assert plain[-1].sum() > 2 * plain[0].sum()  # the check can tell the layouts apart
  assert balanced.sum() == plain.sum()  # same total work, only spread evenly


def test_ring_never_builds_a_t_by_t_array():
  mesh = make_mesh(dict(data=1, fsdp=1, tensor=2, context=4))
  q, k, v, seg, w = _inputs(2, 256)
  ring = lambda q, k, v: ring_lib.ring_attention(q, k, v, seg, rules=DEFAULT_RULES,  # noqa: E731
                                                 block_q=16, block_k=16)
  with jax.set_mesh(mesh):
    hlo = jax.jit(lambda q, k, v: _out_and_grads(ring, q, k, v, w)).lower(q, k, v).as_text()
  assert "collective_permute" in hlo
  for square in ("256x256", "64x64", "32x32"):  # whole row, one shard, one chunk
    assert square not in hlo
  assert "16x16" in hlo  # the check can find a square: the score tiles are there


def test_uneven_length_is_a_clear_error():
  mesh = make_mesh(dict(data=1, fsdp=1, tensor=2, context=4))
  q, k, v, seg, _ = _inputs(2, 36)
  with jax.set_mesh(mesh), pytest.raises(ValueError, match="T=36 must be a multiple of 8"):
    jax.jit(lambda q, k, v: ring_lib.ring_attention(q, k, v, seg, rules=DEFAULT_RULES))(q, k, v)


def test_auto_takes_the_ring_when_the_context_axis_splits_t():
  q, k, v, seg, _ = _inputs(2, 32)
  mesh = make_mesh(dict(data=1, fsdp=1, tensor=2, context=4))
  with jax.set_mesh(mesh):
    hlo = jax.jit(lambda q, k, v: attention(q, k, v, seg, impl="auto")).lower(q, k, v).as_text()
  assert "collective_permute" in hlo


def test_model_log_probs_with_context_parallelism():
  """The tiny model sharded over context=4 gives the unsharded log-probabilities, and the
  chunked log-prob computation never holds [T, V] (or a shard's [T/4, V]) in float32."""
  t, chunk = 256, 32
  cfg = model_lib.get_config("tiny", num_layers=1, attention="ring", attention_block_q=16,
                             attention_block_k=16)
  params = model_lib.init_params(cfg, jax.random.key(0))
  rng = np.random.default_rng(0)
  tokens = jnp.asarray(rng.integers(0, cfg.vocab_size, (2, t)), jnp.int32)
  _, _, _, seg, _ = _inputs(2, t)
  positions = np.zeros((2, t), np.int32)
  for r, row in enumerate(np.asarray(seg)):  # restart at every segment, as packing does
    starts = np.r_[0, np.flatnonzero(np.diff(row)) + 1, t]
    for s, e in zip(starts[:-1], starts[1:]):
      positions[r, s:e] = np.arange(e - s)
  mesh = make_mesh(dict(data=1, fsdp=1, tensor=2, context=4))
  lp = lambda p, c: losses.token_logprobs(p, c, tokens, positions, seg, chunk=chunk)  # noqa: E731
  want = lp(params, cfg.replace(attention="xla"))
  with jax.set_mesh(mesh):
    fn = jax.jit(lambda p: lp(p, cfg))
    got = fn(params)
    hlo = fn.lower(params).compile().as_text()
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
  # Per device: V may be split over tensor=2, T over context=4; chunks are [.., 32, V'].
  v = cfg.vocab_size
  shapes = {m.group(1) for m in re.finditer(rf"f32\[(?:\d+,)*?(\d+),(?:{v}|{v // 2})\]", hlo)}
  assert shapes and str(t) not in shapes and str(t // 4) not in shapes, shapes
