"""Losses against independent numpy implementations; log-probs against the full forward."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax import model as model_lib
from swejax.learner import losses

EPS_LOW, EPS_HIGH = 0.2, 0.3
# Jitted once per set of static options: eager mode would compile every primitive.
dapo = jax.jit(losses.dapo_loss, static_argnames=("eps_low", "eps_high"))


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _inputs(seed, b=4, t=96):
  """Random inputs where both clip sides are active and some tokens are masked."""
  rng = np.random.default_rng(seed)
  old = rng.uniform(-6.0, -0.05, (b, t)).astype(np.float32)
  lp = (old + rng.normal(0.0, 0.4, (b, t))).astype(np.float32)
  # Trajectory-level advantages broadcast over tokens, with a positive mean.
  adv = np.repeat(rng.normal(0.5, 1.0, (b, 1)), t, axis=1).astype(np.float32)
  adv[:, t // 2:] = rng.normal(0.5, 1.0, (b, 1))
  mask = (rng.uniform(size=(b, t)) < 0.7).astype(np.float32)
  lp[mask == 0] += 50.0  # masked tokens with absurd ratios must not matter
  return lp, old, adv, mask


def _np_dapo(lp, old, adv, mask, eps_low, eps_high, n=None):
  lp, old, adv, mask = (np.asarray(x, np.float64) for x in (lp, old, adv, mask))
  ratio = np.exp(lp - old)
  per = -np.minimum(ratio * adv, np.clip(ratio, 1 - eps_low, 1 + eps_high) * adv)
  n = mask.sum() if n is None else n
  return (per * mask).sum() / n, ratio


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dapo_loss_matches_numpy(seed):
  lp, old, adv, mask = _inputs(seed)
  loss, m = dapo(lp, old, adv, mask, eps_low=EPS_LOW, eps_high=EPS_HIGH)
  want, ratio = _np_dapo(lp, old, adv, mask, EPS_LOW, EPS_HIGH)
  assert abs(float(loss) - want) / abs(want) <= 1e-6
  on = mask > 0
  low = on & (adv < 0) & (ratio < 1 - EPS_LOW)
  high = on & (adv > 0) & (ratio > 1 + EPS_HIGH)
  assert low.sum() > 0 and high.sum() > 0, "inputs must exercise both clip sides"
  n = mask.sum()
  np.testing.assert_allclose(m["clip_low_frac"], low.sum() / n, rtol=1e-6)
  np.testing.assert_allclose(m["clip_high_frac"], high.sum() / n, rtol=1e-6)
  np.testing.assert_allclose(m["ratio_mean"], ratio[on].mean(), rtol=1e-5)
  np.testing.assert_allclose(m["ratio_max"], ratio[on].max(), rtol=1e-5)
  log_r = np.log(ratio[on])
  np.testing.assert_allclose(m["approx_kl"], np.mean(ratio[on] - 1 - log_r), rtol=1e-4)
  diff = np.abs(lp.astype(np.float64) - old)[on]
  np.testing.assert_allclose(m["logprob_diff_mean"], diff.mean(), rtol=1e-5)
  np.testing.assert_allclose(m["logprob_diff_max"], diff.max(), rtol=1e-5)
  assert float(m["num_tokens"]) == n


def test_dapo_gradient_matches_analytic():
  lp, old, adv, mask = _inputs(3)
  grad = jax.grad(lambda x: losses.dapo_loss(x, old, adv, mask, eps_low=EPS_LOW,
                                             eps_high=EPS_HIGH)[0])(jnp.asarray(lp))
  ratio = np.exp(lp.astype(np.float64) - old)
  unclipped = ratio * adv <= np.clip(ratio, 1 - EPS_LOW, 1 + EPS_HIGH) * adv
  # d/d lp of -ratio * A is -ratio * A where the unclipped branch is the minimum, else 0.
  want = np.where(unclipped, -ratio * adv, 0.0) * mask / mask.sum()
  assert (want == 0).mean() < 0.9 and np.any(unclipped & (mask > 0))
  assert np.any(~unclipped & (mask > 0)), "some tokens must have the clipped (zero) gradient"
  assert _rel(grad, want) <= 1e-6
  assert np.all(np.asarray(grad)[mask == 0] == 0)


def test_global_normaliser_makes_microbatches_add_up():
  lp, old, adv, mask = _inputs(4, b=6)
  adv = np.abs(adv)  # no cancellation between parts: the comparison is about the normaliser
  mask[:2, :10] = 0  # unequal token counts per part
  n = mask.sum()
  whole, m_whole = dapo(lp, old, adv, mask, eps_low=EPS_LOW, eps_high=EPS_HIGH)
  parts = [dapo(lp[s], old[s], adv[s], mask[s], eps_low=EPS_LOW,
                            eps_high=EPS_HIGH, num_tokens=n)
           for s in (slice(0, 1), slice(1, 4), slice(4, 6))]
  total = sum(float(p[0]) for p in parts)
  assert abs(total - float(whole)) / abs(float(whole)) <= 1e-6
  merged = parts[0][1]
  for _, m in parts[1:]:
    merged = losses.combine_metrics(merged, m)
  for k in m_whole:
    np.testing.assert_allclose(merged[k], m_whole[k], rtol=1e-5, err_msg=k)
  # A mean of per-part means would differ here: the normaliser matters.
  mean_of_means = np.mean([float(dapo(lp[s], old[s], adv[s], mask[s],
                                                   eps_low=EPS_LOW, eps_high=EPS_HIGH)[0])
                           for s in (slice(0, 1), slice(1, 4), slice(4, 6))])
  assert abs(mean_of_means - float(whole)) > 1e-4


def test_sft_loss_matches_numpy():
  lp, _, _, mask = _inputs(6)
  lp = -np.abs(lp)
  loss, m = losses.sft_loss(lp, mask)
  want = -(lp.astype(np.float64) * mask).sum() / mask.sum()
  assert abs(float(loss) - want) / want <= 1e-6
  assert float(m["num_tokens"]) == mask.sum()


def _packed(rng, b, t, vocab):
  tokens = rng.integers(0, vocab, (b, t)).astype(np.int32)
  seg = np.zeros((b, t), np.int32)
  for r in range(b):
    cuts = np.sort(rng.choice(np.arange(2, t - 4), 2, replace=False))
    seg[r, :cuts[0]], seg[r, cuts[0]:cuts[1]], seg[r, cuts[1]:t - 3] = 1, 2, 3  # 3 pad tokens
  pos = np.zeros_like(seg)
  for r in range(b):
    for s in np.unique(seg[r]):
      idx = np.nonzero(seg[r] == s)[0]
      pos[r, idx] = np.arange(idx.size)
  return tokens, pos, seg


def _reference_logprobs(params, *, cfg, tokens, pos, seg):
  logp = jax.nn.log_softmax(model_lib.forward(params, cfg, tokens, pos, seg), axis=-1)
  prev = jnp.take_along_axis(logp[:, :-1], tokens[:, 1:, None], axis=-1)[..., 0]
  valid = (seg[:, 1:] == seg[:, :-1]) & (seg[:, 1:] != 0)
  return jnp.pad(jnp.where(valid, prev, 0.0), ((0, 0), (1, 0)))


def test_token_logprobs_matches_full_logits_and_gradient():
  cfg = model_lib.get_config("tiny")
  params = model_lib.init_params(cfg, jax.random.key(0))
  tokens, pos, seg = _packed(np.random.default_rng(0), 2, 48, cfg.vocab_size)
  ours = jax.jit(functools.partial(losses.token_logprobs, cfg=cfg), static_argnames="chunk")
  ref = jax.jit(functools.partial(_reference_logprobs, cfg=cfg))
  want = ref(params, tokens=tokens, pos=pos, seg=seg)
  for chunk in (48, 10):  # 10 does not divide 48: the largest divisor (8) is used
    got = ours(params, tokens=tokens, positions=pos, segment_ids=seg, chunk=chunk)
    np.testing.assert_allclose(got, want, atol=2e-6)
  mask = np.asarray(losses.target_mask(seg))
  assert mask[:, 0].sum() == 0 and mask[seg == 0].sum() == 0
  starts = (np.diff(seg, axis=1) != 0)
  assert mask[:, 1:][starts].sum() == 0, "first token of each segment is masked"
  assert np.all(np.asarray(got)[mask == 0] == 0)

  w = jnp.asarray(np.random.default_rng(1).normal(size=tokens.shape), jnp.float32)
  g_got = jax.jit(jax.grad(lambda p: jnp.sum(w * ours(p, tokens=tokens, positions=pos,
                                                       segment_ids=seg, chunk=16))))(params)
  g_want = jax.jit(jax.grad(lambda p: jnp.sum(w * ref(p, tokens=tokens, pos=pos, seg=seg))))(
      params)
  for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_want)):
    assert _rel(a, b) <= 1e-5


def test_token_logprobs_skips_chunks_with_no_needed_token():
  cfg = model_lib.get_config("tiny")
  params = model_lib.init_params(cfg, jax.random.key(0))
  tokens, pos, seg = _packed(np.random.default_rng(2), 2, 48, cfg.vocab_size)
  needed = np.zeros((2, 48), np.float32)
  needed[0, 20:23] = 1.0  # inside chunk [16, 32) only: the chunks of tokens 0-15, 32-47 skip
  needed[1, 21] = 1.0
  fn = jax.jit(functools.partial(losses.token_logprobs, cfg=cfg, chunk=16))
  full = fn(params, tokens=tokens, positions=pos, segment_ids=seg)
  part = fn(params, tokens=tokens, positions=pos, segment_ids=seg, needed=needed)
  inside = np.zeros((2, 48), bool)
  inside[:, 16:32] = True
  np.testing.assert_array_equal(np.asarray(part)[~inside], 0.0)
  assert np.all(np.asarray(full)[~inside & np.asarray(losses.target_mask(seg))] != 0.0)
  np.testing.assert_allclose(part[inside], full[inside], atol=1e-6)

  w = jnp.asarray(needed)
  g_part = jax.grad(lambda p: jnp.sum(w * fn(p, tokens=tokens, positions=pos, segment_ids=seg,
                                             needed=needed)))(params)
  g_full = jax.grad(lambda p: jnp.sum(w * fn(p, tokens=tokens, positions=pos,
                                             segment_ids=seg)))(params)
  for a, b in zip(jax.tree.leaves(g_part), jax.tree.leaves(g_full)):
    assert _rel(a, b) <= 1e-5
