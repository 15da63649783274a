"""The Qwen2 / Qwen2.5 decoder in Flax Linen, over packed rows.

Shape letters: B batch, T time, D model, N heads, K kv heads, H head dim, F mlp, V vocab.
Inputs: tokens, positions, segment_ids, all int [B, T]; segment 0 is padding.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from swejax.model import attention as attn_lib
from swejax.model.linear import project
from swejax.model import rope
from swejax.model.config import ModelConfig
from swejax.model.sharding import constrain

_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


def _dtype(name: str):
  return jnp.dtype(name)


def _param(module: nn.Module, name: str, init, shape, axes):
  cfg = module.cfg
  return module.param(name, nn.with_logical_partitioning(init, axes), shape,
                      _dtype(cfg.param_dtype)).astype(_dtype(cfg.compute_dtype))


def _rms(x, eps):
  """(float32 x / rms(x), 1 / rms(x)) over the last axis."""
  x32 = x.astype(jnp.float32)
  r = jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
  return x32 * r, r


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def rms_norm(x, scale, eps: float):
  """scale * x / rms(x). The backward writes its two reductions (over the rows for the
  scale, over the features for x) as contractions: XLA:CPU's fused multiply-reduce of two
  [B, T, D] operands runs 20-50x slower than the same sum as a dot (30 ms against 0.5 ms
  per norm at T=2048, D=512)."""
  y, _ = _rms(x, eps)
  return scale * y.astype(x.dtype)


def _rms_norm_fwd(x, scale, eps):
  y, r = _rms(x, eps)
  return scale * y.astype(x.dtype), (x, scale, r)


def _rms_norm_bwd(eps, res, g):
  del eps
  x, scale, r = res
  y = x.astype(jnp.float32) * r
  g32 = g.astype(jnp.float32)
  lead = "abcefghijklmnopqrsuvwxyz"[:x.ndim - 1]
  dscale = jnp.einsum(f"{lead}d,{lead}d->d", g32, y)
  dy = g32 * scale.astype(jnp.float32)
  # d(x r)/dx = r (dy - y <dy, y> / D): the row dot product as a contraction.
  dot = jnp.einsum(f"{lead}d,{lead}d->{lead}", dy, y)[..., None] / x.shape[-1]
  dx = r * (dy - y * dot)
  return dx.astype(x.dtype), dscale.astype(scale.dtype)


rms_norm.defvjp(_rms_norm_fwd, _rms_norm_bwd)


class RMSNorm(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x):
    scale = _param(self, "scale", nn.initializers.ones, (x.shape[-1],), ("norm",))
    return rms_norm(x, scale, self.cfg.rms_norm_eps)


class Attention(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_btd, cos, sin, segment_ids):
    cfg = self.cfg
    d, n, k, h = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    w = nn.initializers.normal(cfg.initializer_range)
    z = nn.initializers.zeros
    wq = _param(self, "q_kernel", w, (d, n, h), ("embed", "heads", "head_dim"))
    wk = _param(self, "k_kernel", w, (d, k, h), ("embed", "kv_heads", "head_dim"))
    wv = _param(self, "v_kernel", w, (d, k, h), ("embed", "kv_heads", "head_dim"))
    bq = _param(self, "q_bias", z, (n, h), ("heads", "head_dim"))
    bk = _param(self, "k_bias", z, (k, h), ("kv_heads", "head_dim"))
    bv = _param(self, "v_bias", z, (k, h), ("kv_heads", "head_dim"))
    wo = _param(self, "o_kernel", w, (n, h, d), ("heads", "head_dim", "embed"))
    q = project("btd,dnh->btnh", x_btd, wq) + bq
    k_ = project("btd,dkh->btkh", x_btd, wk) + bk
    v = project("btd,dkh->btkh", x_btd, wv) + bv
    q, k_ = rope.apply_rope(q, cos, sin), rope.apply_rope(k_, cos, sin)
    q = constrain(q, ("batch", "seq", "act_heads", None), cfg.rules)
    k_ = constrain(k_, ("batch", "seq", "act_kv_heads", None), cfg.rules)
    v = constrain(v, ("batch", "seq", "act_kv_heads", None), cfg.rules)
    o = attn_lib.attention(q, k_, v, segment_ids, impl=cfg.attention,
                           block_q=cfg.attention_block_q, block_k=cfg.attention_block_k,
                           rules=cfg.rules)
    return project("btnh,nhd->btd", o, wo)


class MLP(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_btd):
    cfg = self.cfg
    d, f = cfg.hidden_size, cfg.intermediate_size
    w = nn.initializers.normal(cfg.initializer_range)
    gate = _param(self, "gate_kernel", w, (d, f), ("embed", "mlp"))
    up = _param(self, "up_kernel", w, (d, f), ("embed", "mlp"))
    down = _param(self, "down_kernel", w, (f, d), ("mlp", "embed"))
    h_btf = nn.silu(project("btd,df->btf", x_btd, gate)) * project("btd,df->btf", x_btd, up)
    h_btf = constrain(h_btf, ("batch", "seq", "act_mlp"), cfg.rules)
    return project("btf,fd->btd", h_btf, down)


class Block(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_btd, cos, sin, segment_ids):
    cfg = self.cfg
    x_btd = x_btd + Attention(cfg, name="attn")(RMSNorm(cfg, name="attn_norm")(x_btd), cos, sin,
                                                 segment_ids)
    x_btd = x_btd + MLP(cfg, name="mlp")(RMSNorm(cfg, name="mlp_norm")(x_btd))
    return constrain(x_btd, ("batch", "seq", "act_embed"), cfg.rules), None


class Decoder(nn.Module):
  """Returns the final-normed hidden states [B, T, D]; see `unembed_matrix` for logits."""
  cfg: ModelConfig

  @nn.compact
  def __call__(self, tokens, positions, segment_ids):
    cfg = self.cfg
    embed = self.param("embed", nn.with_logical_partitioning(
        nn.initializers.normal(cfg.initializer_range), ("vocab", "embed")),
        (cfg.vocab_size, cfg.hidden_size), _dtype(cfg.param_dtype))
    if not cfg.tie_embeddings:
      self.param("lm_head", nn.with_logical_partitioning(
          nn.initializers.normal(cfg.initializer_range), ("embed", "vocab")),
          (cfg.hidden_size, cfg.vocab_size), _dtype(cfg.param_dtype))
    x_btd = jnp.take(embed, tokens, axis=0).astype(_dtype(cfg.compute_dtype))
    x_btd = constrain(x_btd, ("batch", "seq", "act_embed"), cfg.rules)
    cos, sin = rope.cos_sin(cfg, positions)
    block = Block
    if cfg.remat != "none":
      block = nn.remat(Block, policy=_REMAT_POLICIES[cfg.remat], prevent_cse=False)
    stack = nn.scan(block, variable_axes={"params": 0}, split_rngs={"params": True},
                    in_axes=(nn.broadcast, nn.broadcast, nn.broadcast), length=cfg.num_layers,
                    unroll=min(cfg.scan_unroll, cfg.num_layers),
                    metadata_params={nn.PARTITION_NAME: "layers"})
    x_btd, _ = stack(cfg, name="layers")(x_btd, cos, sin, segment_ids)
    return RMSNorm(cfg, name="final_norm")(x_btd)


def _dummy_inputs():
  z = jnp.zeros((1, 1), jnp.int32)
  return z, z, z + 1


def abstract_params(cfg: ModelConfig, boxed: bool = False):
  """Shapes and dtypes of the parameters, without allocating them."""
  out = jax.eval_shape(lambda r: Decoder(cfg).init(r, *_dummy_inputs())["params"],
                       jax.random.key(0))
  return out if boxed else nn.unbox(out)


def param_axes(cfg: ModelConfig) -> Any:
  """Same pytree as the params: a PartitionSpec of logical axis names per array."""
  return nn.get_partition_spec(abstract_params(cfg, boxed=True))


def init_params(cfg: ModelConfig, rng: jax.Array):
  """Random parameters (a plain nested dict). Jit with out_shardings to create them sharded."""
  return nn.unbox(Decoder(cfg).init(rng, *_dummy_inputs())["params"])


def hidden_states(params, cfg: ModelConfig, tokens, positions, segment_ids):
  return Decoder(cfg).apply({"params": params}, tokens, positions, segment_ids)


def unembed_matrix(params, cfg: ModelConfig) -> jax.Array:
  """[D, V] in the compute dtype: the embedding transposed when tied."""
  w = params["embed"].T if cfg.tie_embeddings else params["lm_head"]
  return w.astype(_dtype(cfg.compute_dtype))


def forward(params, cfg: ModelConfig, tokens, positions, segment_ids) -> jax.Array:
  """float32 logits [B, T, V]. For long T use swejax.learner.token_logprobs instead."""
  x_btd = hidden_states(params, cfg, tokens, positions, segment_ids)
  return jnp.einsum("btd,dv->btv", x_btd, unembed_matrix(params, cfg),
                    preferred_element_type=jnp.float32)
