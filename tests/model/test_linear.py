"""swejax.model.linear.project: the same values and gradients as a plain einsum."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax.model.linear import project


@pytest.mark.parametrize("eq,xs,ws", [
    ("btd,df->btf", (2, 5, 4), (4, 3)),
    ("btd,dnh->btnh", (2, 5, 4), (4, 3, 2)),
    ("btnh,nhd->btd", (1, 6, 3, 2), (3, 2, 4)),
])
def test_project_equals_einsum_forward_and_gradient(eq, xs, ws):
  kx, kw, kr = jax.random.split(jax.random.key(0), 3)
  x, w = jax.random.normal(kx, xs), jax.random.normal(kw, ws)
  r = jax.random.normal(kr, jnp.einsum(eq, x, w).shape)
  loss = lambda f: lambda x, w: jnp.sum(f(eq, x, w) * r)
  np.testing.assert_allclose(project(eq, x, w), jnp.einsum(eq, x, w), rtol=1e-6)
  got = jax.grad(loss(project), argnums=(0, 1))(x, w)
  want = jax.grad(loss(jnp.einsum), argnums=(0, 1))(x, w)
  for g, h in zip(got, want):
    np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-6)


def test_project_rejects_other_equations():
  with pytest.raises(ValueError, match="LI,IO->LO"):
    project("btd,fd->btf", jnp.ones((1, 2, 3)), jnp.ones((4, 3)))
