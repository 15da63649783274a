"""rms_norm's hand-written backward against autodiff of the plain formula."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax.model.transformer import rms_norm


def _plain(x, scale, eps):
  x32 = x.astype(jnp.float32)
  y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
  return scale * y.astype(x.dtype)


@pytest.mark.parametrize("shape", [(2, 5, 16), (7, 32)])
def test_rms_norm_value_and_gradient_match_autodiff(shape):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape) * 3.0, jnp.float32)
  scale = jnp.asarray(1.0 + 0.5 * rng.normal(size=shape[-1:]), jnp.float32)
  w = jnp.asarray(rng.normal(size=shape), jnp.float32)
  np.testing.assert_allclose(rms_norm(x, scale, 1e-6), _plain(x, scale, 1e-6), rtol=1e-6)
  ours = jax.grad(lambda x, s: jnp.sum(w * rms_norm(x, s, 1e-6)), argnums=(0, 1))(x, scale)
  want = jax.grad(lambda x, s: jnp.sum(w * _plain(x, s, 1e-6)), argnums=(0, 1))(x, scale)
  for a, b in zip(ours, want):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
