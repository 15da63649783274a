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
# Flash attention in plain JAX: an online softmax over key blocks, visiting only blocks at
# or below the diagonal that share a segment with the query block (packed rows of many
# trajectories cost the sum of their squared lengths, not T^2), and a custom VJP that
# recomputes probabilities from the saved log-sum-exp, so neither pass holds [T, T].
#
# Internal layout: the G query heads of a kv head are folded into the rows, q [C, T*G, H]
# with row t*G + g and C = B*K, keys and values [C, T, H]. Every block product is then one
# plain batched matmul over C with no transposes in the loop (on CPU that is 3x faster
# than keeping the heads as a batch dimension), and a query block is one contiguous slice.


def _pad_to(x, multiple, axis, value):
  t = x.shape[axis]
  pad = (-t) % multiple
  if not pad:
    return x
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, pad)
  return jnp.pad(x, widths, constant_values=value)


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


def _visits(hq, hk, i, bq, bk, visit):
  """A fori_loop body over key blocks j for query block i: skips blocks sharing no segment
  with block i, and runs `visit(j, carry, masked)` with masked=False when no score of the
  pair needs a mask (both blocks lie in one segment and key block j ends before query
  block i starts: the interior of a long trajectory, most of the work)."""
  def body(j, carry):
    overlap = (hq[0][i] <= hk[1][j]) & (hk[0][j] <= hq[1][i])
    one_segment = (hq[0][i] == hq[1][i]) & (hk[0][j] == hk[1][j]) & (hq[0][i] == hk[0][j])
    below = (j + 1) * bk <= i * bq
    kind = jnp.where(overlap, jnp.where(one_segment & below, 1, 2), 0)
    return jax.lax.switch(kind, [lambda j, c: c, functools.partial(visit, masked=False),
                                 functools.partial(visit, masked=True)], j, carry)
  return body


def _block_mask(seg_qi, seg_kj, i, j, bq, bk, g):
  """[C, bq*G, bk]: causal within a segment; padding (segment <= 0) sees only itself."""
  idx_q = i * bq + jnp.arange(bq * g) // g
  idx_k = j * bk + jnp.arange(bk)
  return _mask(jnp.repeat(seg_qi, g, axis=1), seg_kj, idx_q, idx_k)


def _fwd(q, k, v, seg, bq, bk, g):
  """q [C, T*G, H] pre-scaled, k, v [C, T, H], seg [C, T]: o [C, T*G, H], lse [C, T*G]."""
  c, tg, h = q.shape
  t = tg // g
  hq, hk = _hulls(seg, bq), _hulls(seg, bk)

  def q_block(i):
    qi, seg_qi = _slice(q, i * bq * g, bq * g), _slice(seg, i * bq, bq)

    def visit(j, carry, masked):
      o, m, l = carry
      kj, vj, seg_kj = _slice(k, j * bk, bk), _slice(v, j * bk, bk), _slice(seg, j * bk, bk)
      s = jnp.einsum("cmh,csh->cms", qi, kj, preferred_element_type=jnp.float32)
      if masked:
        mask = _block_mask(seg_qi, seg_kj, i, j, bq, bk, g)
        s = jnp.where(mask, s, _NEG)
      m_new = jnp.maximum(m, s.max(-1))
      p = jnp.exp(s - m_new[..., None])
      if masked:  # a row masked so far has m_new = _NEG: exp(0) there, not 0
        p = jnp.where(mask, p, 0.0)
      corr = jnp.exp(m - m_new)
      pv = jnp.einsum("cms,csh->cmh", p.astype(vj.dtype), vj, preferred_element_type=jnp.float32)
      return o * corr[..., None] + pv, m_new, l * corr + p.sum(-1)

    init = (jnp.zeros((c, bq * g, h), jnp.float32), jnp.full((c, bq * g), _NEG, jnp.float32),
            jnp.zeros((c, bq * g), jnp.float32))
    last = ((i + 1) * bq - 1) // bk
    o, m, l = jax.lax.fori_loop(0, last + 1, _visits(hq, hk, i, bq, bk, visit), init)
    return o / l[..., None], m + jnp.log(l)

  o, lse = jax.lax.map(q_block, jnp.arange(t // bq))  # [nq, C, bq*G, H], [nq, C, bq*G]
  return jnp.moveaxis(o, 0, 1).reshape(c, tg, h), jnp.moveaxis(lse, 0, 1).reshape(c, tg)


def _bwd(q, k, v, seg, o, lse, do, bq, bk, g):
  """One pass over the visited blocks: dq of a query block, and dk, dv accumulated."""
  c, tg, h = q.shape
  t = tg // g
  delta = jnp.sum(do.astype(jnp.float32) * o.astype(jnp.float32), -1)  # [C, T*G]
  hq, hk = _hulls(seg, bq), _hulls(seg, bk)

  def q_block(dkv, i):
    rows = functools.partial(_slice, start=i * bq * g, size=bq * g)
    qi, doi, lse_i, delta_i = rows(q), rows(do), rows(lse), rows(delta)
    seg_qi = _slice(seg, i * bq, bq)

    def visit(j, carry, masked):
      dq, dk, dv = carry
      kj, vj, seg_kj = _slice(k, j * bk, bk), _slice(v, j * bk, bk), _slice(seg, j * bk, bk)
      s = jnp.einsum("cmh,csh->cms", qi, kj, preferred_element_type=jnp.float32)
      p = jnp.exp(s - lse_i[..., None])
      if masked:
        p = jnp.where(_block_mask(seg_qi, seg_kj, i, j, bq, bk, g), p, 0.0)
      dp = jnp.einsum("cmh,csh->cms", doi, vj, preferred_element_type=jnp.float32)
      ds = p * (dp - delta_i[..., None])
      dq = dq + jnp.einsum("cms,csh->cmh", ds, kj.astype(jnp.float32))
      add = lambda acc, x: jax.lax.dynamic_update_slice_in_dim(
          acc, _slice(acc, j * bk, bk) + x, j * bk, axis=1)
      dk = add(dk, jnp.einsum("cms,cmh->csh", ds, qi.astype(jnp.float32)))
      dv = add(dv, jnp.einsum("cms,cmh->csh", p, doi.astype(jnp.float32)))
      return dq, dk, dv

    last = ((i + 1) * bq - 1) // bk
    init = (jnp.zeros((c, bq * g, h), jnp.float32),) + dkv
    dq, dk, dv = jax.lax.fori_loop(0, last + 1, _visits(hq, hk, i, bq, bk, visit), init)
    return (dk, dv), dq

  zeros = jnp.zeros((c, t, h), jnp.float32)
  (dk, dv), dq = jax.lax.scan(q_block, (zeros, zeros), jnp.arange(t // bq))
  return jnp.moveaxis(dq, 0, 1).reshape(c, tg, h), dk, dv


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _flash(q, k, v, seg, bq, bk, g):
  return _fwd(q, k, v, seg, bq, bk, g)[0].astype(q.dtype)


def _flash_fwd(q, k, v, seg, bq, bk, g):
  o, lse = _fwd(q, k, v, seg, bq, bk, g)
  return o.astype(q.dtype), (q, k, v, seg, o.astype(q.dtype), lse)


def _flash_bwd(bq, bk, g, res, do):
  q, k, v, seg, o, lse = res
  dq, dk, dv = _bwd(q, k, v, seg, o, lse, do, bq, bk, g)
  return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), None


_flash.defvjp(_flash_fwd, _flash_bwd)


def blockwise_attention(q, k, v, segment_ids, *, block_q: int = 512, block_k: int = 512):
  """Memory-efficient attention, equal to `xla_attention` up to float error."""
  b, t, n, h = q.shape
  kh = k.shape[2]
  g = n // kh
  bq, bk = min(block_q, t), min(block_k, t)
  multiple = bq * bk // _gcd(bq, bk)
  # Padded positions get segment -1: they see only themselves and are sliced away.
  seg = _pad_to(segment_ids.astype(jnp.int32), multiple, 1, -1)
  tp = seg.shape[1]
  scale = jnp.asarray(1.0 / jnp.sqrt(h), q.dtype)
  qf = _pad_to((q * scale).reshape(b, t, kh, g, h), multiple, 1, 0)
  qf = qf.transpose(0, 2, 1, 3, 4).reshape(b * kh, tp * g, h)
  fold = lambda x: _pad_to(x, multiple, 1, 0).transpose(0, 2, 1, 3).reshape(b * kh, tp, h)
  o = _flash(qf, fold(k), fold(v), jnp.repeat(seg, kh, axis=0), bq, bk, g)
  o = o.reshape(b, kh, tp, g, h).transpose(0, 2, 1, 3, 4)
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
