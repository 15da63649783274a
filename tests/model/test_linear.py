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


def test_scan_unroll_changes_the_schedule_not_the_function():
  import jax
  from swejax import model as model_lib
  from swejax.learner import token_logprobs
  cfg = model_lib.get_config("tiny", num_layers=4)
  params = model_lib.init_params(cfg, jax.random.key(0))
  tokens = np.arange(32, dtype=np.int32)[None] % cfg.vocab_size
  pos, seg = np.arange(32, dtype=np.int32)[None], np.ones((1, 32), np.int32)
  f = lambda c: token_logprobs(params, c, tokens, pos, seg)  # noqa: E731
  unrolled = cfg.replace(scan_unroll=2)
  np.testing.assert_allclose(np.asarray(f(unrolled)), np.asarray(f(cfg)), rtol=1e-6, atol=1e-6)
  assert "unroll=2" in str(jax.make_jaxpr(lambda: f(unrolled))())
  assert "unroll=2" not in str(jax.make_jaxpr(lambda: f(cfg))())
  with pytest.raises(ValueError, match="scan_unroll"):
    model_lib.get_config("tiny", scan_unroll=0)
