import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax.model.attention import blockwise_attention, xla_attention


def _inputs(b=2, t=70, n=4, k=2, h=16, seed=0):
  rng = np.random.default_rng(seed)
  q = jnp.asarray(rng.normal(size=(b, t, n, h)), jnp.float32)
  kk = jnp.asarray(rng.normal(size=(b, t, k, h)), jnp.float32)
  v = jnp.asarray(rng.normal(size=(b, t, k, h)), jnp.float32)
  seg = np.ones((b, t), np.int32)
  seg[0, 23:] = 2
  seg[0, 61:] = 0  # padding tail
  seg[1, 9:] = 2
  seg[1, 40:] = 3
  return q, kk, v, jnp.asarray(seg)


def _assert_matches_reference(q, k, v, seg, bq, bk, seed):
  """Blockwise equals xla_attention to 1e-5, forward and gradient."""
  ours = lambda q, k, v: blockwise_attention(q, k, v, seg, block_q=bq, block_k=bk)  # noqa: E731
  ref = lambda q, k, v: xla_attention(q, k, v, seg)  # noqa: E731
  np.testing.assert_allclose(ours(q, k, v), ref(q, k, v), atol=1e-5, rtol=0)
  w = jnp.asarray(np.random.default_rng(seed).normal(size=q.shape), jnp.float32)
  g_ours = jax.grad(lambda *a: (ours(*a) * w).sum(), argnums=(0, 1, 2))(q, k, v)
  g_ref = jax.grad(lambda *a: (ref(*a) * w).sum(), argnums=(0, 1, 2))(q, k, v)
  for a, b in zip(g_ours, g_ref):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("blocks", [(16, 8), (8, 16), (32, 32), (512, 512)])
def test_blockwise_equals_reference_forward_and_gradient(blocks):
  q, k, v, seg = _inputs()
  _assert_matches_reference(q, k, v, seg, *blocks, seed=1)


@pytest.mark.parametrize("blocks", [(16, 16), (16, 8), (8, 32)])
def test_blockwise_interior_blocks_without_mask(blocks):
  """One long segment in every row: blocks strictly below the diagonal take the unmasked
  path; the padding tail of row 0 keeps its blocks on the masked one."""
  q, k, v, _ = _inputs(t=100)
  seg = np.ones((2, 100), np.int32)
  seg[0, 90:] = 0
  seg = jnp.asarray(seg)
  _assert_matches_reference(q, k, v, seg, *blocks, seed=2)


def test_segments_do_not_see_each_other():
  q, k, v, seg = _inputs()
  out = blockwise_attention(q, k, v, seg, block_q=16, block_k=16)
  # Changing the values of segment 1 in row 0 must not change segment 2's outputs.
  v2 = v.at[0, :23].set(100.0)
  out2 = blockwise_attention(q, k, v2, seg, block_q=16, block_k=16)
  np.testing.assert_allclose(out[0, 23:61], out2[0, 23:61], atol=1e-6)
  assert not np.allclose(out[0, :23], out2[0, :23])


def test_blockwise_never_builds_a_t_by_t_array():
  q, k, v, seg = _inputs(b=2, t=256)
  f = jax.jit(lambda q, k, v: jax.grad(
      lambda q, k, v: blockwise_attention(q, k, v, seg, block_q=32, block_k=32).sum(),
      argnums=(0, 1, 2))(q, k, v))
  hlo = f.lower(q, k, v).as_text()
  assert "256x256" not in hlo
  hlo_ref = jax.jit(lambda q, k, v: xla_attention(q, k, v, seg)).lower(q, k, v).as_text()
  assert "256x256" in hlo_ref  # the check itself can fail


def test_blockwise_bfloat16_value_and_gradient():
  """bf16 in, bf16 out (the custom VJP's primal and forward rule must agree on dtype)."""
  q, k, v, seg = _inputs()
  w = jnp.asarray(np.random.default_rng(3).normal(size=q.shape), jnp.float32)
  def loss(fn, dtype):
    def f(q, k, v):
      # Under a scan (as over layers), where JAX checks the VJP's output types.
      step = lambda c, _: (c, fn(q.astype(dtype), k.astype(dtype), v.astype(dtype), seg))  # noqa: E731
      return (jax.lax.scan(step, 0.0, None, length=1)[1][0].astype(jnp.float32) * w).sum()
    return f
  ours = lambda q, k, v, s: blockwise_attention(q, k, v, s, block_q=16, block_k=16)  # noqa: E731
  assert ours(q.astype(jnp.bfloat16), k.astype(jnp.bfloat16), v.astype(jnp.bfloat16),
              seg).dtype == jnp.bfloat16
  g_ours = jax.grad(loss(ours, jnp.bfloat16), argnums=(0, 1, 2))(q, k, v)
  g_ref = jax.grad(loss(xla_attention, jnp.float32), argnums=(0, 1, 2))(q, k, v)
  for a, b in zip(g_ours, g_ref):
    np.testing.assert_allclose(a, b, atol=0.1, rtol=0.05)
