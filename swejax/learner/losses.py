"""Token log-probabilities and the RFT/SFT and DAPO losses over packed [B, T] rows.

Every loss takes an optional `num_tokens`: the number of loss tokens of the whole optimizer
step. Summing the losses of k microbatches each divided by that global count gives exactly
the loss of the step (never a mean of per-microbatch means). Metrics follow the same rule:
keys ending in `_max` combine across microbatches by max, every other key by sum.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from swejax import model as model_lib
from swejax.model.linear import project
from swejax.model.sharding import constrain

Metrics = dict[str, jax.Array]


def target_mask(segment_ids: jax.Array) -> jax.Array:
  """1 where a token has a predecessor in its own (non-padding) segment, else 0. [B, T]."""
  same = segment_ids[:, 1:] == segment_ids[:, :-1]
  valid = jnp.concatenate([jnp.zeros_like(same[:, :1]), same], axis=1)
  return valid & (segment_ids != 0)


def _chunk_size(t: int, chunk: int) -> int:
  """Largest divisor of t that is <= chunk (chunks must tile T exactly for the scan)."""
  c = max(1, min(chunk, t))
  while t % c:
    c -= 1
  return c


def next_token_logprobs(h_btd: jax.Array, w_dv: jax.Array, targets_bt: jax.Array, *,
                        chunk: int = 1024, rules: Any = None,
                        needed_bt: jax.Array | None = None) -> jax.Array:
  """log softmax(h @ w)[target] per position, float32 [B, T], chunked over T.

  Only one [B, C, V] float32 block of logits exists at a time, and the backward pass
  recomputes it (jax.checkpoint) instead of keeping T / C of them alive. With `needed_bt`
  (bool [B, T]), a chunk with no needed position in any row is skipped (its values are 0):
  the loss of an agent trajectory covers only its actions, often a small part of the row.
  """
  b, t, d = h_btd.shape
  c = _chunk_size(t, chunk)
  n = t // c
  h_nbcd = h_btd.reshape(b, n, c, d).swapaxes(0, 1)
  tg_nbc = targets_bt.reshape(b, n, c).swapaxes(0, 1)

  def logprobs(w, h_bcd, tg_bc):
    logits = project("bcd,dv->bcv", h_bcd, w, preferred_element_type=jnp.float32)
    if rules is not None:
      logits = constrain(logits, ("batch", "seq", "act_vocab"), rules)
    lse = jax.nn.logsumexp(logits, axis=-1)
    # A masked sum rather than a gather: partitions cleanly when V is sharded.
    hit = jnp.arange(logits.shape[-1], dtype=tg_bc.dtype) == tg_bc[..., None]
    return jnp.sum(jnp.where(hit, logits, 0.0), axis=-1) - lse

  # The skip decision sits inside the checkpoint: its residuals are then only the chunk's
  # inputs, and the loop-invariant w is not stacked once per chunk.
  @jax.checkpoint
  def one_chunk(w, h_bcd, tg_bc, needed):
    if needed is None:
      return logprobs(w, h_bcd, tg_bc)
    zeros = lambda w, h, tg: jnp.zeros(tg.shape, jnp.float32)  # noqa: E731
    return jax.lax.cond(needed, logprobs, zeros, w, h_bcd, tg_bc)

  need_n = None
  if needed_bt is not None:
    need_n = jnp.any(needed_bt.reshape(b, n, c), axis=(0, 2))
  _, lp_nbc = jax.lax.scan(lambda _, x: (None, one_chunk(w_dv, *x)), None,
                           (h_nbcd, tg_nbc, need_n))
  return lp_nbc.swapaxes(0, 1).reshape(b, t)


def token_logprobs(params, cfg: model_lib.ModelConfig, tokens: jax.Array, positions: jax.Array,
                   segment_ids: jax.Array, *, chunk: int = 1024,
                   needed: jax.Array | None = None) -> jax.Array:
  """log p(token_t | earlier tokens of its segment), float32 [B, T].

  The first token of each segment (and padding) has no prediction: its value is 0 and
  `target_mask` is 0 there. With `needed` ([B, T], nonzero where the value is used, e.g.
  the loss mask), other positions may also come back as 0: chunks of the unembedding with
  no needed position are skipped.
  """
  h_btd = model_lib.hidden_states(params, cfg, tokens, positions, segment_ids)
  w_dv = model_lib.unembed_matrix(params, cfg)
  # The state at t - 1 predicts token t: shifting h (one copy of [B, T, D], small next to
  # the unembedding) aligns the chunks with the tokens, so a loss mask that starts on a
  # chunk boundary skips every chunk before it.
  h_prev = jnp.pad(h_btd[:, :-1], ((0, 0), (1, 0), (0, 0)))
  lp = next_token_logprobs(h_prev, w_dv, tokens, chunk=chunk, rules=cfg.rules,
                           needed_bt=None if needed is None else needed != 0)
  return jnp.where(target_mask(segment_ids), lp, 0.0)


def _denominator(mask: jax.Array, num_tokens: jax.Array | float | None) -> jax.Array:
  n = jnp.sum(mask) if num_tokens is None else jnp.asarray(num_tokens, jnp.float32)
  return jnp.maximum(n, 1.0)


def sft_loss(logprobs: jax.Array, loss_mask: jax.Array, *,
             num_tokens: jax.Array | float | None = None) -> tuple[jax.Array, Metrics]:
  """Mean negative log-likelihood over the tokens whose loss mask is 1 (the RFT loss)."""
  mask = loss_mask.astype(jnp.float32)
  denom = _denominator(mask, num_tokens)
  loss = -jnp.sum(logprobs * mask) / denom
  return loss, {"loss": loss, "num_tokens": jnp.sum(mask)}


def dapo_loss(logprobs: jax.Array, old_logprobs: jax.Array, advantages: jax.Array,
              loss_mask: jax.Array, *, eps_low: float, eps_high: float,
              num_tokens: jax.Array | float | None = None) -> tuple[jax.Array, Metrics]:
  """The DAPO clipped objective, token-level, summed and divided by the token count.

  As in the paper: no KL term, no reference model, and the ratio is taken against the
  sampler's log-probabilities (the loop is synchronous: the sampler serves the learner's
  weights; their gap before an update is measured as logprob_diff_*, not corrected).

  Args:
    logprobs: the learner's log-probabilities of the taken tokens, [B, T].
    old_logprobs: the sampler's (behaviour) log-probabilities, [B, T].
    advantages: per token (the trajectory's advantage broadcast over its tokens), [B, T].
    loss_mask: 1 on tokens that carry loss, [B, T].
    eps_low, eps_high: the ratio is clipped to [1 - eps_low, 1 + eps_high].
    num_tokens: the normaliser; the loss-token count of the whole optimizer step when the
      inputs are one microbatch of it. Defaults to the count in `loss_mask`.

  Returns:
    (loss, metrics). Metric means are over `num_tokens`, so they add up across microbatches.
  """
  mask = loss_mask.astype(jnp.float32)
  on = mask > 0
  denom = _denominator(mask, num_tokens)
  adv = advantages.astype(jnp.float32)

  # Masked tokens get a ratio of exactly 1 so that exp() cannot overflow into NaNs there.
  log_ratio = jnp.where(on, logprobs - old_logprobs, 0.0)
  ratio = jnp.exp(log_ratio)
  clipped = jnp.clip(ratio, 1.0 - eps_low, 1.0 + eps_high)
  per_token = -jnp.minimum(ratio * adv, clipped * adv)

  loss = jnp.sum(per_token * mask) / denom
  sg_ratio, sg_lr = jax.lax.stop_gradient(ratio), jax.lax.stop_gradient(log_ratio)
  diff = jax.lax.stop_gradient(jnp.abs(logprobs - old_logprobs)) * mask
  metrics: Metrics = {
      "loss": loss,
      # Tokens whose clipped branch is active (their gradient is zero).
      "clip_low_frac": jnp.sum(mask * ((adv < 0) & (sg_ratio < 1.0 - eps_low))) / denom,
      "clip_high_frac": jnp.sum(mask * ((adv > 0) & (sg_ratio > 1.0 + eps_high))) / denom,
      "ratio_mean": jnp.sum(sg_ratio * mask) / denom,
      "ratio_max": jnp.max(jnp.where(on, sg_ratio, 0.0)),
      # k3 estimate of KL(pi_old || pi_theta) from the sampler's tokens.
      "approx_kl": jnp.sum((sg_ratio - 1.0 - sg_lr) * mask) / denom,
      # Sampler-vs-learner gap; on the first step of an iteration this is the mismatch
      # before any update, which should be float noise.
      "logprob_diff_mean": jnp.sum(diff) / denom,
      "logprob_diff_max": jnp.max(diff),
      "num_tokens": jnp.sum(mask),
  }
  return loss, metrics


def combine_metrics(a: Metrics, b: Metrics) -> Metrics:
  """Merge the metrics of two microbatches: max for `*_max` keys, sum otherwise."""
  return {k: jnp.maximum(a[k], b[k]) if k.endswith("_max") else a[k] + b[k] for k in a}
