"""Causal grouped-query attention over packed rows.

Shapes: q [B, T, N, H], k and v [B, T, K, H] with N = K * G; segment_ids [B, T].
A token attends to earlier-or-equal tokens of its own segment; a padding token (segment
0) only to itself, which keeps every softmax row non-empty and every output finite.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from swejax.model import kernels, ring_attention
from swejax.model.config import DEFAULT_RULES

_NEG = -1e30


def _mask(seg_q, seg_k, idx_q, idx_k):
  """[B, Tq, Tk] boolean: causal within the same segment; padding (segment <= 0) sees
  only itself, so padded rows cost nothing in blockwise attention."""
  same = seg_q[:, :, None] == seg_k[:, None, :]
  diag = idx_q[:, None] == idx_k[None, :]
  real = seg_q[:, :, None] > 0
  causal = idx_q[:, None] >= idx_k[None, :]
  return same & causal[None] & (real | diag[None])


def xla_attention(q, k, v, segment_ids):
  """The reference: materializes [B, K, G, T, T] scores."""
  b, t, n, h = q.shape
  kh = k.shape[2]
  q = q.reshape(b, t, kh, n // kh, h)
  s = jnp.einsum("btkgh,bskh->bkgts", q, k, preferred_element_type=jnp.float32) / jnp.sqrt(h)
  idx = jnp.arange(t)
  mask = _mask(segment_ids, segment_ids, idx, idx)[:, None, None]
  s = jnp.where(mask, s, _NEG)
  p = jax.nn.softmax(s, axis=-1).astype(v.dtype)
  o = jnp.einsum("bkgts,bskh->btkgh", p, v, preferred_element_type=jnp.float32)
  return o.reshape(b, t, n, h).astype(q.dtype)


# ----------------------------------------------------------------------------- blockwise
# Flash-attention in plain JAX: an online softmax over key blocks, only blocks at or
# below the diagonal that share a segment with the query block visited (packed rows of
# many trajectories cost the sum of their squared lengths, not T^2), and a custom VJP that recomputes probabilities from the
# saved log-sum-exp, so neither the forward nor the backward holds [T, T].


def _pad_to(x, multiple, axis, value):
  t = x.shape[axis]
  pad = (-t) % multiple
  if not pad:
    return x
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, pad)
  return jnp.pad(x, widths, constant_values=value)


def _block_scores(qi, kj, seg_qi, seg_kj, i, j, bq, bk):
  """Masked scores [B, K, G, bq, bk] (float32) and the mask."""
  s = jnp.einsum("bqkgh,bskh->bkgqs", qi, kj, preferred_element_type=jnp.float32)
  idx_q = i * bq + jnp.arange(bq)
  idx_k = j * bk + jnp.arange(bk)
  mask = _mask(seg_qi, seg_kj, idx_q, idx_k)[:, None, None]
  return jnp.where(mask, s, _NEG), mask


def _slice(x, start, size, axis=1):
  return jax.lax.dynamic_slice_in_dim(x, start, size, axis=axis)


def _hulls(seg, size):
  """Per block of `size` positions, the [min, max] of its segment ids, with each padding
  position (0, and -1 for the positions added to fill the last block) its own key.
  Blocks whose hulls do not overlap share no segment: their scores are all masked."""
  big = jnp.iinfo(jnp.int32).max // 2
  # Padding positions only see themselves: a key of their own, after every segment.
  key = jnp.where(seg > 0, seg, big + jnp.arange(seg.shape[1], dtype=jnp.int32)[None])
  blocks = key.reshape(key.shape[0], -1, size)
  return blocks.min(-1).min(0), blocks.max(-1).max(0)  # [n_blocks] each, over the batch


def _overlap(hq, hk, i, j):
  return (hq[0][i] <= hk[1][j]) & (hk[0][j] <= hq[1][i])


def _fwd(q, k, v, seg, bq, bk):
  """q is pre-scaled [B, T, K, G, H]; returns o [B,T,K,G,H] and lse [B,K,G,T]."""
  b, t, kh, g, h = q.shape
  nq = t // bq
  hq, hk = _hulls(seg, bq), _hulls(seg, bk)

  def q_block(i):
    qi = _slice(q, i * bq, bq)
    seg_qi = _slice(seg, i * bq, bq)

    def body(j, carry):
      return jax.lax.cond(_overlap(hq, hk, i, j), visit, lambda j, c: c, j, carry)

    def visit(j, carry):
      o, m, l = carry
      kj, vj, seg_kj = _slice(k, j * bk, bk), _slice(v, j * bk, bk), _slice(seg, j * bk, bk)
      s, mask = _block_scores(qi, kj, seg_qi, seg_kj, i, j, bq, bk)
      m_new = jnp.maximum(m, s.max(-1))
      p = jnp.where(mask, jnp.exp(s - m_new[..., None]), 0.0)
      corr = jnp.exp(m - m_new)
      l = l * corr + p.sum(-1)
      pv = jnp.einsum("bkgqs,bskh->bqkgh", p.astype(vj.dtype), vj, preferred_element_type=jnp.float32)
      o = o * jnp.moveaxis(corr, -1, 1)[..., None] + pv
      return o, m_new, l

    init = (jnp.zeros((b, bq, kh, g, h), jnp.float32),
            jnp.full((b, kh, g, bq), _NEG, jnp.float32),
            jnp.zeros((b, kh, g, bq), jnp.float32))
    last = ((i + 1) * bq - 1) // bk
    o, m, l = jax.lax.fori_loop(0, last + 1, body, init)
    o = o / jnp.moveaxis(l, -1, 1)[..., None]
    return o, m + jnp.log(l)

  o, lse = jax.lax.map(q_block, jnp.arange(nq))  # [nq, B, bq, K, G, H], [nq, B, K, G, bq]
  o = jnp.moveaxis(o, 0, 1).reshape(b, t, kh, g, h)
  lse = jnp.moveaxis(lse, 0, -2).reshape(b, kh, g, t)
  return o, lse


def _bwd(q, k, v, seg, o, lse, do, bq, bk):
  b, t, kh, g, h = q.shape
  nq, nk = t // bq, t // bk
  delta = jnp.einsum("btkgh,btkgh->bkgt", do.astype(jnp.float32), o.astype(jnp.float32))
  hq, hk = _hulls(seg, bq), _hulls(seg, bk)

  def probs(i, j, qi, kj, seg_qi, seg_kj):
    s, mask = _block_scores(qi, kj, seg_qi, seg_kj, i, j, bq, bk)
    lse_i = _slice(lse, i * bq, bq, axis=3)
    return jnp.where(mask, jnp.exp(s - lse_i[..., None]), 0.0)

  def dkv_block(j):
    kj, vj, seg_kj = _slice(k, j * bk, bk), _slice(v, j * bk, bk), _slice(seg, j * bk, bk)

    def body(i, carry):
      return jax.lax.cond(_overlap(hq, hk, i, j), visit, lambda i, c: c, i, carry)

    def visit(i, carry):
      dk, dv = carry
      qi, doi, seg_qi = _slice(q, i * bq, bq), _slice(do, i * bq, bq), _slice(seg, i * bq, bq)
      p = probs(i, j, qi, kj, seg_qi, seg_kj)
      dv = dv + jnp.einsum("bkgqs,bqkgh->bskh", p, doi.astype(jnp.float32))
      dp = jnp.einsum("bqkgh,bskh->bkgqs", doi, vj, preferred_element_type=jnp.float32)
      ds = p * (dp - _slice(delta, i * bq, bq, axis=3)[..., None])
      dk = dk + jnp.einsum("bkgqs,bqkgh->bskh", ds, qi.astype(jnp.float32))
      return dk, dv

    init = (jnp.zeros((b, bk, kh, h), jnp.float32), jnp.zeros((b, bk, kh, h), jnp.float32))
    first = (j * bk) // bq
    return jax.lax.fori_loop(first, nq, body, init)

  def dq_block(i):
    qi, doi, seg_qi = _slice(q, i * bq, bq), _slice(do, i * bq, bq), _slice(seg, i * bq, bq)
    delta_i = _slice(delta, i * bq, bq, axis=3)

    def body(j, dq):
      return jax.lax.cond(_overlap(hq, hk, i, j), visit, lambda j, c: c, j, dq)

    def visit(j, dq):
      kj, vj, seg_kj = _slice(k, j * bk, bk), _slice(v, j * bk, bk), _slice(seg, j * bk, bk)
      p = probs(i, j, qi, kj, seg_qi, seg_kj)
      dp = jnp.einsum("bqkgh,bskh->bkgqs", doi, vj, preferred_element_type=jnp.float32)
      ds = p * (dp - delta_i[..., None])
      return dq + jnp.einsum("bkgqs,bskh->bqkgh", ds, kj.astype(jnp.float32))

    last = ((i + 1) * bq - 1) // bk
    return jax.lax.fori_loop(0, last + 1, body, jnp.zeros((b, bq, kh, g, h), jnp.float32))

  dk, dv = jax.lax.map(dkv_block, jnp.arange(nk))  # [nk, B, bk, K, H]
  dk = jnp.moveaxis(dk, 0, 1).reshape(b, t, kh, h)
  dv = jnp.moveaxis(dv, 0, 1).reshape(b, t, kh, h)
  dq = jnp.moveaxis(jax.lax.map(dq_block, jnp.arange(nq)), 0, 1).reshape(b, t, kh, g, h)
  return dq, dk, dv


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _flash(q, k, v, seg, bq, bk):
  return _fwd(q, k, v, seg, bq, bk)[0]


def _flash_fwd(q, k, v, seg, bq, bk):
  o, lse = _fwd(q, k, v, seg, bq, bk)
  return o, (q, k, v, seg, o, lse)


def _flash_bwd(bq, bk, res, do):
  q, k, v, seg, o, lse = res
  dq, dk, dv = _bwd(q, k, v, seg, o, lse, do, bq, bk)
  return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), None


_flash.defvjp(_flash_fwd, _flash_bwd)


def blockwise_attention(q, k, v, segment_ids, *, block_q: int = 512, block_k: int = 512):
  """Memory-efficient attention, equal to `xla_attention` up to float error."""
  b, t, n, h = q.shape
  kh = k.shape[2]
  bq, bk = min(block_q, t), min(block_k, t)
  multiple = bq * bk // _gcd(bq, bk)
  # Padded positions get segment -1: they see only each other and are sliced away.
  seg = _pad_to(segment_ids.astype(jnp.int32), multiple, 1, -1)
  scale = jnp.asarray(1.0 / jnp.sqrt(h), q.dtype)
  qs = _pad_to((q * scale).reshape(b, t, kh, n // kh, h), multiple, 1, 0)
  ks, vs = _pad_to(k, multiple, 1, 0), _pad_to(v, multiple, 1, 0)
  o = _flash(qs, ks, vs, seg, bq, bk)
  return o[:, :t].reshape(b, t, n, h).astype(q.dtype)


def _gcd(a: int, b: int) -> int:
  while b:
    a, b = b, a % b
  return a


def attention(q, k, v, segment_ids, *, impl: str = "xla", block_q: int = 512, block_k: int = 512,
              rules: Sequence[tuple[str, Any]] | None = None):
  """Causal packed attention by implementation (see `swejax.model.kernels.choose`).

  "xla" and "blockwise" run anywhere; "ring" splits T over the mesh's `context` axis;
  "splash" (TPU) and "cudnn" (NVIDIA GPU) are the platform kernels; "auto" picks one for
  the mesh being compiled for. `rules` (default DEFAULT_RULES) tells the shard_map-based
  kernels how rows and heads are split on the mesh.
  """
  impl = kernels.choose(impl, seq_len=q.shape[1], head_dim=q.shape[3], dtype=q.dtype)
  if impl == "xla":
    return xla_attention(q, k, v, segment_ids)
  if impl == "blockwise":
    return blockwise_attention(q, k, v, segment_ids, block_q=block_q, block_k=block_k)
  rules = DEFAULT_RULES if rules is None else rules
  if impl == "ring":
    return ring_attention.ring_attention(q, k, v, segment_ids, rules=rules, block_q=block_q,
                                         block_k=block_k)
  if impl == "splash":
    return kernels.splash_attention(q, k, v, segment_ids, rules=rules, block_q=block_q,
                                    block_k=block_k)
  return kernels.cudnn_attention(q, k, v, segment_ids, rules=rules)
