"""Schedule values, AdamW against a numpy implementation, the decay mask, config errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax import learner
from swejax import model as model_lib


def test_cosine_schedule_with_warmup():
  sched = learner.make_schedule({"learning_rate": 5e-6, "schedule": "cosine",
                                 "warmup_steps": 10, "total_steps": 110})
  lr = [float(sched(s)) for s in range(0, 111)]
  np.testing.assert_allclose(lr[0], 5e-7, rtol=1e-6)  # the first step already trains
  np.testing.assert_allclose(lr[9], 5e-6, rtol=1e-6)
  np.testing.assert_allclose(lr[10], 5e-6, rtol=1e-6)
  np.testing.assert_allclose(lr[60], 5e-6 * 0.5 * (1 + math.cos(math.pi * 0.5)), rtol=1e-5)
  assert lr[110] == pytest.approx(0.0, abs=1e-12)
  assert all(a >= b for a, b in zip(lr[10:], lr[11:]))


def test_constant_schedule():
  sched = learner.make_schedule({"learning_rate": 1e-6})
  assert [float(sched(s)) for s in (0, 5, 10_000)] == pytest.approx([1e-6] * 3)


def _np_adamw(params, grads_seq, lr, b1, b2, eps, wd, clip, decay):
  p = {k: v.astype(np.float64) for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  for t, g in enumerate(grads_seq, 1):
    norm = math.sqrt(sum(float(np.sum(x.astype(np.float64) ** 2)) for x in g.values()))
    scale = min(1.0, clip / norm)
    for k in p:
      gk = g[k] * scale
      m[k] = b1 * m[k] + (1 - b1) * gk
      v[k] = b2 * v[k] + (1 - b2) * gk * gk
      upd = (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
      if decay[k]:
        upd = upd + wd * p[k]
      p[k] = p[k] - lr * upd
  return p


def test_adamw_with_clipping_and_mask_matches_numpy():
  rng = np.random.default_rng(0)
  params = {"w": rng.normal(size=(4, 3)).astype(np.float32),
            "b": rng.normal(size=(3,)).astype(np.float32)}
  grads = [{k: (rng.normal(size=v.shape) * s).astype(np.float32) for k, v in params.items()}
           for s in (3.0, 0.1, 2.0)]  # the first and last are clipped, the middle is not
  section = {"learning_rate": 1e-2, "weight_decay": 0.1, "grad_clip": 1.0}
  decay = {"w": True, "b": False}
  tx = learner.make_optimizer(section, mask=decay)
  p, state = jax.tree.map(jnp.asarray, params), tx.init(params)
  for g in grads:
    upd, state = tx.update(g, state, p)
    p = jax.tree.map(lambda a, u: a + u, p, upd)
  want = _np_adamw(params, grads, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1.0, decay)
  for k in params:
    np.testing.assert_allclose(p[k], want[k], rtol=2e-6, atol=1e-7)


def test_decay_mask_skips_norms_and_biases():
  mask = learner.decay_mask(model_lib.param_axes(model_lib.get_config("tiny")))
  assert mask["embed"] and mask["layers"]["mlp"]["up_kernel"]
  assert mask["layers"]["attn"]["o_kernel"] and mask["layers"]["attn"]["q_kernel"]
  assert not mask["layers"]["attn"]["q_bias"] and not mask["layers"]["attn_norm"]["scale"]
  assert not mask["final_norm"]["scale"]


@pytest.mark.parametrize("section,match", [
    ({"lr": 1.0}, "unknown field"),
    ({"schedule": "linear"}, "optim.schedule"),
    ({"schedule": "cosine", "warmup_steps": 10, "total_steps": 5}, "optim.total_steps"),
])
def test_bad_optim_config_names_the_field(section, match):
  with pytest.raises(ValueError, match=match):
    learner.make_optimizer(section)
