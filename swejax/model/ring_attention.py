"""Ring attention: causal GQA over packed rows whose time axis is split over a mesh axis.

Each of the C shards of the `context` axis keeps its queries; keys and values (with their
segment ids) travel around the ring with ppermute, one hop per step, while every shard
folds each visiting block into an online softmax. Neither pass holds more than a
[block_q, block_k] score tile: inside a shard the blocks are visited flash-style, and the
backward pass (a custom VJP) runs a second ring in which the key/value gradients travel
with their keys and arrive home after C hops.

Load balance (the layout is handled inside attention): callers pass rows in their natural
order, split contiguously over the axis like every other activation. Inside, the halves
of the shards' slices are exchanged so that shard i holds chunks i and 2C-1-i of the 2C
chunks of the row (the zig-zag layout), which gives every shard the same causal work at
every ring step; the outputs are exchanged back. Causality and segments are decided on the
global token index (as `xla_attention` does), so positions (RoPE is applied before) never
need permuting; each padding token gets a segment of its own, so it sees only itself. A shard's indices are increasing in its local order in both layouts,
which is what lets a query block stop at the first key block that starts after it; key
blocks that share no segment with a query block are skipped too.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from swejax.model import kernels

_NEG = -1e30


def zigzag_order(t: int, c: int) -> np.ndarray:
  """The global index of every slot when a row of `t` tokens is laid out zig-zag over `c`
  shards (shard i holds chunks i and 2c-1-i, in that order); for tests and inspection."""
  if t % (2 * c):
    raise ValueError(f"zig-zag layout: T={t} must be a multiple of 2 x context={2 * c}")
  chunk = t // (2 * c)
  out = [np.arange(g * chunk, (g + 1) * chunk) for i in range(c) for g in (i, 2 * c - 1 - i)]
  return np.concatenate(out)


def _largest_divisor(n: int, at_most: int) -> int:
  d = max(1, min(n, at_most))
  while n % d:
    d -= 1
  return d


# ----------------------------------------------------------------------------- one shard
# q is pre-scaled [B, Lq, K, G, H]; k, v [B, Lk, K, H]; seg_* [B, L*]; idx_* [L*] global
# token indices, increasing. Scores, softmax statistics and gradients are float32.


def _tile_scores(qi, kj, seg_qi, seg_kj, idx_qi, idx_kj):
  s = jnp.einsum("bqkgh,bskh->bkgqs", qi, kj, preferred_element_type=jnp.float32)
  mask = (seg_qi[:, :, None] == seg_kj[:, None, :]) & (idx_qi[:, None] >= idx_kj[None, :])[None]
  mask = mask[:, None, None]
  return jnp.where(mask, s, _NEG), mask


def visible_blocks(k_first, q_last):
  """How many key blocks a query block visits: key blocks are in increasing index order,
  so the visible ones (first index <= the query block's last) are a prefix."""
  return jnp.sum(k_first <= q_last)


def _sl(x, start, size, axis=1):
  return jax.lax.dynamic_slice_in_dim(x, start, size, axis=axis)


def _hulls(seg, size):
  """Per block of `size` slots, the [min, max] of its segment ids over the batch, padding
  (0) ordered after every segment. Blocks whose hulls are disjoint share no segment, so
  every score between them is masked: packed rows cost the sum of squared segment lengths."""
  key = jnp.where(seg > 0, seg, jnp.iinfo(jnp.int32).max // 2)
  blocks = key.reshape(key.shape[0], -1, size)
  return blocks.min(-1).min(0), blocks.max(-1).max(0)


def _when_overlapping(hq, hk, i_of, j_of, visit):
  """visit(x, carry) for tile (i, j) = (i_of(x), j_of(x)) only if their hulls overlap."""
  def body(x, carry):
    i, j = i_of(x), j_of(x)
    overlap = (hq[0][i] <= hk[1][j]) & (hk[0][j] <= hq[1][i])
    return jax.lax.cond(overlap, visit, lambda x, c: c, x, carry)
  return body


def _local_fwd(q, k, v, seg_q, seg_k, idx_q, idx_k, bq, bk):
  """Attention of local queries to one visiting key block: (o [B,Lq,K,G,H] f32, lse
  [B,K,G,Lq]); rows that see no key get o = 0 and lse = _NEG."""
  b, lq, kh, g, h = q.shape
  nq = lq // bq
  k_first = idx_k[::bk]
  hq, hk = _hulls(seg_q, bq), _hulls(seg_k, bk)

  def q_block(i):
    qi, seg_qi, idx_qi = _sl(q, i * bq, bq), _sl(seg_q, i * bq, bq), _sl(idx_q, i * bq, bq, 0)
    visible = visible_blocks(k_first, idx_qi[-1])

    def visit(j, carry):
      o, m, l = carry
      kj, vj = _sl(k, j * bk, bk), _sl(v, j * bk, bk)
      s, mask = _tile_scores(qi, kj, seg_qi, _sl(seg_k, j * bk, bk), idx_qi,
                             _sl(idx_k, j * bk, bk, 0))
      m_new = jnp.maximum(m, s.max(-1))
      p = jnp.where(mask, jnp.exp(s - m_new[..., None]), 0.0)
      corr = jnp.exp(m - m_new)
      pv = jnp.einsum("bkgqs,bskh->bqkgh", p.astype(vj.dtype), vj,
                      preferred_element_type=jnp.float32)
      return o * jnp.moveaxis(corr, -1, 1)[..., None] + pv, m_new, l * corr + p.sum(-1)

    init = (jnp.zeros((b, bq, kh, g, h), jnp.float32),
            jnp.full((b, kh, g, bq), _NEG, jnp.float32), jnp.zeros((b, kh, g, bq), jnp.float32))
    body = _when_overlapping(hq, hk, lambda j: i, lambda j: j, visit)
    o, m, l = jax.lax.fori_loop(0, visible, body, init)
    seen = l > 0
    l_safe = jnp.where(seen, l, 1.0)
    o = o / jnp.moveaxis(l_safe, -1, 1)[..., None]
    return o, jnp.where(seen, m + jnp.log(l_safe), _NEG)

  o, lse = jax.lax.map(q_block, jnp.arange(nq))
  return (jnp.moveaxis(o, 0, 1).reshape(b, lq, kh, g, h),
          jnp.moveaxis(lse, 0, -2).reshape(b, kh, g, lq))


def _local_bwd(q, k, v, seg_q, seg_k, idx_q, idx_k, do, lse, delta, bq, bk):
  """Gradients of the local queries and of one visiting key block (float32), from the
  final (all-keys) lse and delta = rowsum(do * o)."""
  b, lq, kh, g, h = q.shape
  lk = k.shape[1]
  nq, nk = lq // bq, lk // bk
  q_last = idx_q[bq - 1::bq]
  k_first = idx_k[::bk]
  hq, hk = _hulls(seg_q, bq), _hulls(seg_k, bk)

  def probs(qi, kj, seg_qi, seg_kj, idx_qi, idx_kj, lse_i):
    s, mask = _tile_scores(qi, kj, seg_qi, seg_kj, idx_qi, idx_kj)
    return jnp.where(mask, jnp.exp(s - lse_i[..., None]), 0.0)

  def q_tile(i):
    return (_sl(q, i * bq, bq), _sl(do, i * bq, bq), _sl(seg_q, i * bq, bq),
            _sl(idx_q, i * bq, bq, 0), _sl(lse, i * bq, bq, 3), _sl(delta, i * bq, bq, 3))

  def dkv_block(j):
    kj, vj, seg_kj, idx_kj = (_sl(k, j * bk, bk), _sl(v, j * bk, bk), _sl(seg_k, j * bk, bk),
                              _sl(idx_k, j * bk, bk, 0))

    def visit(i, carry):
      dk, dv = carry
      qi, doi, seg_qi, idx_qi, lse_i, delta_i = q_tile(i)
      p = probs(qi, kj, seg_qi, seg_kj, idx_qi, idx_kj, lse_i)
      dv = dv + jnp.einsum("bkgqs,bqkgh->bskh", p, doi.astype(jnp.float32))
      dp = jnp.einsum("bqkgh,bskh->bkgqs", doi, vj, preferred_element_type=jnp.float32)
      ds = p * (dp - delta_i[..., None])
      return dk + jnp.einsum("bkgqs,bqkgh->bskh", ds, qi.astype(jnp.float32)), dv

    zeros = jnp.zeros((b, bk, kh, h), jnp.float32)
    body = _when_overlapping(hq, hk, lambda i: i, lambda i: j, visit)
    # Query blocks that end before this key block starts see none of it.
    return jax.lax.fori_loop(jnp.sum(q_last < k_first[j]), nq, body, (zeros, zeros))

  def dq_block(i):
    qi, doi, seg_qi, idx_qi, lse_i, delta_i = q_tile(i)

    def visit(j, dq):
      kj, vj = _sl(k, j * bk, bk), _sl(v, j * bk, bk)
      p = probs(qi, kj, seg_qi, _sl(seg_k, j * bk, bk), idx_qi, _sl(idx_k, j * bk, bk, 0), lse_i)
      dp = jnp.einsum("bqkgh,bskh->bkgqs", doi, vj, preferred_element_type=jnp.float32)
      ds = p * (dp - delta_i[..., None])
      return dq + jnp.einsum("bkgqs,bskh->bqkgh", ds, kj.astype(jnp.float32))

    body = _when_overlapping(hq, hk, lambda j: i, lambda j: j, visit)
    return jax.lax.fori_loop(0, visible_blocks(k_first, idx_qi[-1]), body,
                             jnp.zeros((b, bq, kh, g, h), jnp.float32))

  dk, dv = jax.lax.map(dkv_block, jnp.arange(nk))
  dq = jax.lax.map(dq_block, jnp.arange(nq))
  return (jnp.moveaxis(dq, 0, 1).reshape(b, lq, kh, g, h),
          jnp.moveaxis(dk, 0, 1).reshape(b, lk, kh, h),
          jnp.moveaxis(dv, 0, 1).reshape(b, lk, kh, h))


def _merge(o_a, lse_a, o_b, lse_b):
  """Two softmax-normalized partial outputs over disjoint key sets -> their union's."""
  lse = jnp.logaddexp(lse_a, lse_b)
  w_a = jnp.moveaxis(jnp.exp(lse_a - lse), -1, 1)[..., None]
  w_b = jnp.moveaxis(jnp.exp(lse_b - lse), -1, 1)[..., None]
  return o_a * w_a + o_b * w_b, lse


# ----------------------------------------------------------------------------- the ring


def local_index(shard, length: int, size: int, zigzag: bool):
  """Global token indices of the `length` slots of `shard` (may be traced) of `size`."""
  if not zigzag:
    return shard * length + jnp.arange(length)
  c = length // 2
  return jnp.concatenate([shard * c + jnp.arange(c), (2 * size - 1 - shard) * c + jnp.arange(c)])


def _ring_fwd(q, k, v, seg, axis, size, zigzag, bq, bk):
  me = jax.lax.axis_index(axis)
  length = q.shape[1]
  idx_q = local_index(me, length, size, zigzag)
  hop = [(s, (s + 1) % size) for s in range(size)]

  def visit(step, o, lse, k_, v_, seg_k):
    idx_k = local_index((me - step) % size, length, size, zigzag)
    return _merge(o, lse, *_local_fwd(q, k_, v_, seg, seg_k, idx_q, idx_k, bq, bk))

  def body(step, carry):
    o, lse, k_, v_, seg_k = carry
    # Send the block on before using it, so the transfer overlaps the computation.
    nxt = jax.lax.ppermute((k_, v_, seg_k), axis, hop)
    return (*visit(step, o, lse, k_, v_, seg_k), *nxt)

  b, _, kh, g, h = q.shape
  init = (jnp.zeros((b, length, kh, g, h), jnp.float32),
          jnp.full((b, kh, g, length), _NEG, jnp.float32), k, v, seg)
  o, lse, k_, v_, seg_k = jax.lax.fori_loop(0, size - 1, body, init)
  o, lse = visit(size - 1, o, lse, k_, v_, seg_k)
  return o.astype(q.dtype), lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7, 8))
def _ring(q, k, v, seg, axis, size, zigzag, bq, bk):
  return _ring_fwd(q, k, v, seg, axis, size, zigzag, bq, bk)[0]


def _ring_vjp_fwd(q, k, v, seg, axis, size, zigzag, bq, bk):
  o, lse = _ring_fwd(q, k, v, seg, axis, size, zigzag, bq, bk)
  return o, (q, k, v, seg, o, lse)


def _ring_vjp_bwd(axis, size, zigzag, bq, bk, res, do):
  q, k, v, seg, o, lse = res
  me = jax.lax.axis_index(axis)
  length = q.shape[1]
  idx_q = local_index(me, length, size, zigzag)
  hop = [(s, (s + 1) % size) for s in range(size)]
  delta = jnp.einsum("btkgh,btkgh->bkgt", do.astype(jnp.float32), o.astype(jnp.float32))

  def visit(step, dq, k_, v_, seg_k, dk, dv):
    idx_k = local_index((me - step) % size, length, size, zigzag)
    dq_s, dk_s, dv_s = _local_bwd(q, k_, v_, seg, seg_k, idx_q, idx_k, do, lse, delta, bq, bk)
    # The key block's gradient travels with it and is home after `size` hops.
    dk, dv = jax.lax.ppermute((dk + dk_s, dv + dv_s), axis, hop)
    return dq + dq_s, dk, dv

  def body(step, carry):
    dq, k_, v_, seg_k, dk, dv = carry
    nxt = jax.lax.ppermute((k_, v_, seg_k), axis, hop)
    dq, dk, dv = visit(step, dq, k_, v_, seg_k, dk, dv)
    return (dq, *nxt, dk, dv)

  zeros_kv = jnp.zeros(k.shape, jnp.float32)
  init = (jnp.zeros(q.shape, jnp.float32), k, v, seg, zeros_kv, zeros_kv)
  dq, k_, v_, seg_k, dk, dv = jax.lax.fori_loop(0, size - 1, body, init)
  dq, dk, dv = visit(size - 1, dq, k_, v_, seg_k, dk, dv)
  return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), None


_ring.defvjp(_ring_vjp_fwd, _ring_vjp_bwd)


# ----------------------------------------------------------------------------- layout


def _zigzag_perms(size: int):
  """ppermute pairs for the even and the odd chunk of every shard (contiguous -> zig-zag):
  chunk g goes to shard g if g < C, else to shard 2C-1-g."""
  dest = lambda g: g if g < size else 2 * size - 1 - g  # noqa: E731
  return ([(i, dest(2 * i)) for i in range(size)], [(i, dest(2 * i + 1)) for i in range(size)])


def _to_zigzag(x, axis, size):
  """[B, L, ...] contiguous slice (chunks 2i, 2i+1) -> zig-zag (chunks i, 2C-1-i)."""
  even_perm, odd_perm = _zigzag_perms(size)
  half = x.shape[1] // 2
  from_even = jax.lax.ppermute(x[:, :half], axis, even_perm)
  from_odd = jax.lax.ppermute(x[:, half:], axis, odd_perm)
  # Shard j's first chunk is j and its second 2C-1-j: the even one comes first iff j is.
  even_first = jax.lax.axis_index(axis) % 2 == 0
  first = jnp.where(even_first, from_even, from_odd)
  second = jnp.where(even_first, from_odd, from_even)
  return jnp.concatenate([first, second], axis=1)


def _from_zigzag(x, axis, size):
  even_perm, odd_perm = _zigzag_perms(size)
  half = x.shape[1] // 2
  even_first = jax.lax.axis_index(axis) % 2 == 0
  even = jnp.where(even_first, x[:, :half], x[:, half:])
  odd = jnp.where(even_first, x[:, half:], x[:, :half])
  back = lambda perm: [(d, s) for s, d in perm]  # noqa: E731
  return jnp.concatenate([jax.lax.ppermute(even, axis, back(even_perm)),
                          jax.lax.ppermute(odd, axis, back(odd_perm))], axis=1)


# ----------------------------------------------------------------------------- public


def ring_attention(q, k, v, segment_ids, *, rules: Sequence[tuple[str, Any]],
                   mesh=None, axis: str = "context", load_balance: bool = True,
                   block_q: int = 512, block_k: int = 512):
  """Equal to `xla_attention` up to float error, with T split over mesh axis `axis`.

  Called under jit with a mesh set (jax.set_mesh) or with `mesh`; rows, heads and kv heads
  are split over the mesh axes that `rules` gives "batch", "act_heads" and
  "act_kv_heads". T must be a multiple of 2 x the axis size (of the axis size when
  `load_balance` is False); rows shorter than that (model init) are computed blockwise.
  """
  mesh = jax.sharding.get_abstract_mesh() if mesh is None else mesh
  size = 1 if mesh.empty or axis not in mesh.axis_names else mesh.shape[axis]
  t, h = q.shape[1], q.shape[3]
  parts = 2 * size if load_balance else size
  if size == 1 or t < parts:
    # Nothing to split (no context axis, or a row shorter than the ring, as at init).
    from swejax.model.attention import blockwise_attention  # pylint: disable=g-import-not-at-top
    return blockwise_attention(q, k, v, segment_ids, block_q=block_q, block_k=block_k)
  if t % parts:
    raise ValueError(f"ring attention: T={t} must be a multiple of {parts} (the {axis!r} axis "
                     f"has {size} shards{', two chunks each' if load_balance else ''})")
  q_spec, kv_spec, seg_spec = kernels.shard_specs(q.shape, k.shape, rules, mesh, axis,
                                                  "ring attention")
  chunk = t // parts
  bq, bk = _largest_divisor(chunk, block_q), _largest_divisor(chunk, block_k)

  def shard(q, k, v, seg):
    bl, length, nl, _ = q.shape
    khl = k.shape[2]
    qs = (q * jnp.asarray(1.0 / np.sqrt(h), q.dtype)).reshape(bl, length, khl, nl // khl, h)
    if load_balance:
      qs, k, v, seg = (_to_zigzag(x, axis, size) for x in (qs, k, v, seg))
    o = _ring(qs, k, v, seg, axis, size, load_balance, bq, bk)
    if load_balance:
      o = _from_zigzag(o, axis, size)
    return o.reshape(bl, length, nl, h)

  return jax.shard_map(shard, mesh=mesh, in_specs=(q_spec, kv_spec, kv_spec, seg_spec),
                       out_specs=q_spec, check_vma=False)(
                           q, k, v, kernels.unique_padding(segment_ids))
