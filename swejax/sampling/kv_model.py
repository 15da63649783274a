"""The decoder with a KV cache, over the same parameter pytree as swejax.model.

Pure functions for the sampler's engine: `prefill` appends a chunk of tokens to one slot's
cache; `decode` runs one token for a batch of slots at once and samples the next one. The numerics
follow swejax.model step for step (the same RMSNorm and MLP modules, the same rope, scores
in float32 divided by sqrt(H), float32 logits), so that the log-probabilities recorded here
equal the learner's up to float error.

Shape letters: S slots, M cache length, T chunk,
L layers, D model, N heads, K kv heads, G = N / K, H head dim, V vocab.
Cache: {"k": [L, S, M, K, H], "v": [L, S, M, K, H]} in the compute dtype. Writes to a
position >= M are dropped: padding and idle slots point there. Prefill and decode attend
over key blocks up to their last position (memory and work follow the history, not M).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from swejax.model import rope
from swejax.model import transformer as tfm
from swejax.model.config import ModelConfig

Cache = dict[str, jax.Array]
_NEG = -1e30


def init_cache(cfg: ModelConfig, slots: int, max_len: int) -> Cache:
  shape = (cfg.num_layers, slots, max_len, cfg.num_kv_heads, cfg.head_dim)
  dtype = jnp.dtype(cfg.compute_dtype)
  return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)}


def _cast(tree, cfg: ModelConfig):
  """Parameters in the compute dtype, as swejax.model's `_param` does."""
  return jax.tree.map(lambda x: x.astype(jnp.dtype(cfg.compute_dtype)), tree)


def _embed(params, cfg: ModelConfig, tokens: jax.Array) -> jax.Array:
  return jnp.take(params["embed"], tokens, axis=0).astype(jnp.dtype(cfg.compute_dtype))


def _norm(scale_params, cfg: ModelConfig, x: jax.Array) -> jax.Array:
  return tfm.RMSNorm(cfg).apply({"params": scale_params}, x)


def _qkv(ap, cfg: ModelConfig, x_btd, positions_bt):
  """Projections and rope exactly as swejax.model's Attention."""
  ap = _cast(ap, cfg)
  q = jnp.einsum("btd,dnh->btnh", x_btd, ap["q_kernel"]) + ap["q_bias"]
  k = jnp.einsum("btd,dkh->btkh", x_btd, ap["k_kernel"]) + ap["k_bias"]
  v = jnp.einsum("btd,dkh->btkh", x_btd, ap["v_kernel"]) + ap["v_bias"]
  cos, sin = rope.cos_sin(cfg, positions_bt)
  return rope.apply_rope(q, cos, sin), rope.apply_rope(k, cos, sin), v


def _attend_blocks(q_btnh, read_block, positions_bt, num_blocks, block: int, kv_heads: int):
  """Grouped-query attention over the cache (key position <= query position) as an online
  softmax over key blocks 0..num_blocks-1 (a dynamic count), `read_block(j)` giving block
  j's K and V [B, block, K, H]: memory [B, T, block] and work follow the history, not M,
  and a block is small enough to stay in the CPU's cache between its two uses. Block 0
  holds position 0, which every query sees, so no row is ever empty. Scores are float32
  divided by sqrt(H), as in swejax.model's attention."""
  b, t, n, h = q_btnh.shape
  kh, g = kv_heads, n // kv_heads
  q = q_btnh.reshape(b, t, kh, g, h)

  def body(j, carry):
    o, m, l = carry
    kj, vj = read_block(j)
    s = jnp.einsum("btkgh,bskh->bkgts", q, kj, preferred_element_type=jnp.float32) / jnp.sqrt(h)
    mask = ((j * block + jnp.arange(block))[None, None, :] <= positions_bt[:, :, None])
    mask = mask[:, None, None]  # [B, 1, 1, T, block]
    s = jnp.where(mask, s, _NEG)
    m_new = jnp.maximum(m, s.max(-1))
    p = jnp.where(mask, jnp.exp(s - m_new[..., None]), 0.0)
    corr = jnp.exp(m - m_new)
    pv = jnp.einsum("bkgts,bskh->bkgth", p.astype(vj.dtype), vj,
                    preferred_element_type=jnp.float32)
    return o * corr[..., None] + pv, m_new, l * corr + p.sum(-1)

  init = (jnp.zeros((b, kh, g, t, h), jnp.float32), jnp.full((b, kh, g, t), _NEG),
          jnp.zeros((b, kh, g, t), jnp.float32))
  o, _, l = jax.lax.fori_loop(0, num_blocks, body, init)
  o = jnp.moveaxis(o / l[..., None], 3, 1)  # [B, T, K, G, H]
  return o.reshape(b, t, n, h).astype(q_btnh.dtype)


def _slot_attention(cfg: ModelConfig, slots_b, positions_bt, num_blocks, block: int):
  """`attend(q, ck, cv, layer)` for `_layers`: row b of q is cache slot slots_b[b] (any
  slots, in any order), read in key blocks (one slice per row, no copy of other slots)."""
  def attend(q, ck, cv, layer):
    size = (1, 1, block) + ck.shape[3:]

    def read_block(j):
      def row(c, slot):
        return jax.lax.dynamic_slice(c, (layer, slot, j * block, 0, 0), size)[0, 0]
      return (jax.vmap(lambda sl: row(ck, sl))(slots_b),
              jax.vmap(lambda sl: row(cv, sl))(slots_b))
    return _attend_blocks(q, read_block, positions_bt, num_blocks, block, cfg.num_kv_heads)
  return attend


def _layers(params, cfg: ModelConfig, cache: Cache, x_btd, positions_bt, write_bt, slots_b,
            attend):
  """The decoder stack over the slots `slots_b` (rows of x): writes their K/V at `write_bt`,
  then `attend(q, ck, cv, layer)` reads what it needs of the whole cache."""
  def layer(carry, xs):
    x, ck, cv = carry
    lp, i = xs
    h_btd = _norm(lp["attn_norm"], cfg, x)
    q, k, v = _qkv(lp["attn"], cfg, h_btd, positions_bt)
    ck = ck.at[i, slots_b[:, None], write_bt].set(k.astype(ck.dtype), mode="drop")
    cv = cv.at[i, slots_b[:, None], write_bt].set(v.astype(cv.dtype), mode="drop")
    o = attend(q, ck, cv, i)
    x = x + jnp.einsum("btnh,nhd->btd", o, _cast(lp["attn"]["o_kernel"], cfg))
    x = x + tfm.MLP(cfg).apply({"params": lp["mlp"]}, _norm(lp["mlp_norm"], cfg, x))
    return (x, ck, cv), None

  idx = jnp.arange(cfg.num_layers)
  (x, ck, cv), _ = jax.lax.scan(layer, (x_btd, cache["k"], cache["v"]), (params["layers"], idx))
  return x, {"k": ck, "v": cv}


def prefill(params, cfg: ModelConfig, cache: Cache, slot: jax.Array, tokens_t: jax.Array,
            start: jax.Array, length: jax.Array, *, block: int) -> Cache:
  """Appends tokens_t[:length] to `slot`'s cache at positions start, start + 1, ...

  tokens_t is padded to a bucket size; the padding is computed but never written. No
  logits: the last prompt token goes through `decode`, which samples. The cache length
  must be a multiple of `block`, the key block of the attention.
  """
  t = tokens_t.shape[0]
  m = cache["k"].shape[2]
  i = jnp.arange(t)
  positions = start + i
  write = jnp.where(i < length, positions, m)[None]
  x = _embed(params, cfg, tokens_t[None])
  slot = jnp.reshape(slot, (1,))
  num_blocks = (start + length + block - 1) // block

  attend = _slot_attention(cfg, slot, positions[None], num_blocks, block)
  _, cache = _layers(params, cfg, cache, x, positions[None], write, slot, attend)
  return cache


def logits(params, cfg: ModelConfig, x_btd: jax.Array) -> jax.Array:
  x = _norm(params["final_norm"], cfg, x_btd)
  return jnp.einsum("btd,dv->btv", x, tfm.unembed_matrix(params, cfg),
                    preferred_element_type=jnp.float32)


def decode(params, cfg: ModelConfig, cache: Cache, tokens_s: jax.Array, positions_s: jax.Array,
           active_s: jax.Array, sampling: dict[str, jax.Array], *, block: int,
           truncate: bool, slots_s: jax.Array | None = None
           ) -> tuple[Cache, jax.Array, jax.Array]:
  """One step for a batch of slots: token at its position in, (cache, next ids, log-probs)
  out. Row r is cache slot slots_s[r]; without slots_s, the rows are all the slots in
  order (the batch is the whole cache). A batch of the busy slots only spares the work of
  the idle ones (their rows of every matmul, their attention over the history).

  Inactive rows compute on garbage and write nothing (their slot may be any). Keys are
  read in blocks of `block` positions up to the block of the furthest active position (a
  dynamic count: one compilation serves every length); the cache length must be a
  multiple of `block`.
  """
  s, m = tokens_s.shape[0], cache["k"].shape[2]
  write = jnp.where(active_s, positions_s, m)[:, None]
  x = _embed(params, cfg, tokens_s[:, None])
  num_blocks = jnp.max(jnp.where(active_s, positions_s, 0)) // block + 1

  slots_s = jnp.arange(s) if slots_s is None else slots_s
  attend = _slot_attention(cfg, slots_s, positions_s[:, None], num_blocks, block)
  x, cache = _layers(params, cfg, cache, x, positions_s[:, None], write, slots_s, attend)
  logits_sv = logits(params, cfg, x)[:, 0]
  ids, lps = sample(logits_sv, truncate=truncate, **sampling)
  return cache, ids, lps


def _truncate(scaled_sv, probs_sv, top_k, top_p, min_p):
  """Masks tokens outside top_k / top_p / min_p (0, 1.0, 0.0 mean off), per row."""
  v = scaled_sv.shape[-1]
  order = jnp.argsort(-scaled_sv, axis=-1)
  sorted_p = jnp.take_along_axis(probs_sv, order, axis=-1)
  rank = jnp.argsort(order, axis=-1)  # rank of each token in the sorted order
  k = jnp.where(top_k > 0, top_k, v)[:, None]
  before = jnp.cumsum(sorted_p, axis=-1) - sorted_p  # mass strictly above each token
  keep_sorted = before < top_p[:, None]
  keep_p = jnp.take_along_axis(keep_sorted, rank, axis=-1)
  keep_min = probs_sv >= min_p[:, None] * probs_sv.max(-1, keepdims=True)
  keep = (rank < k) & keep_p & keep_min
  return jnp.where(keep, scaled_sv, -jnp.inf)


def sample(logits_sv: jax.Array, *, seed: jax.Array, step: jax.Array, temperature: jax.Array,
           top_k: jax.Array, top_p: jax.Array, min_p: jax.Array,
           truncate: bool) -> tuple[jax.Array, jax.Array]:
  """Next ids and their log-probabilities under the distribution they were drawn from.

  Row r draws with the Gumbel-max trick from the key fold_in(key(seed[r]), step[r]): the
  noise of a request's i-th token depends on (seed, i) only, never on the batch. Greedy
  rows (temperature 0) take the argmax and record the temperature-1 log-probability.
  """
  greedy = temperature <= 0.0
  t = jnp.where(greedy, 1.0, temperature)[:, None]
  scaled = logits_sv.astype(jnp.float32) / t
  if truncate:
    scaled = _truncate(scaled, jax.nn.softmax(scaled, axis=-1), top_k, top_p, min_p)
  logp = jax.nn.log_softmax(scaled, axis=-1)

  def noise(sd, st):
    return jax.random.gumbel(jax.random.fold_in(jax.random.key(sd), st), scaled.shape[-1:],
                             jnp.float32)

  g = jax.vmap(noise)(seed, step)
  ids = jnp.where(greedy, jnp.argmax(scaled, axis=-1), jnp.argmax(scaled + g, axis=-1))
  return ids.astype(jnp.int32), jnp.take_along_axis(logp, ids[:, None], axis=-1)[:, 0]


def sampling_arrays(slots: int) -> dict[str, Any]:
  """Neutral per-slot sampling settings (numpy), filled in by the engine."""
  return {"seed": np.zeros(slots, np.uint32), "step": np.zeros(slots, np.int32),
          "temperature": np.ones(slots, np.float32), "top_k": np.zeros(slots, np.int32),
          "top_p": np.ones(slots, np.float32), "min_p": np.zeros(slots, np.float32)}
