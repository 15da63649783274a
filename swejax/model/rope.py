"""Rotary position embeddings, with YaRN scaling exactly as Hugging Face computes it."""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from swejax.model.config import ModelConfig


def inv_freq_and_scale(cfg: ModelConfig) -> tuple[np.ndarray, float]:
  """Inverse frequencies [H/2] (float32) and the factor applied to cos and sin."""
  dim = cfg.head_dim
  base = cfg.rope_theta
  pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim))
  pos_freqs = pos_freqs.astype(np.float32)
  rs = cfg.rope_scaling
  if rs is None:
    return (1.0 / pos_freqs).astype(np.float32), 1.0
  if rs.rope_type != "yarn":
    raise ValueError(f"rope scaling type {rs.rope_type!r} is not supported (only 'yarn')")
  factor = rs.factor

  def get_mscale(scale, mscale=1.0):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0

  attention_factor = rs.attention_factor
  if attention_factor is None:
    if rs.mscale and rs.mscale_all_dim:
      attention_factor = float(get_mscale(factor, rs.mscale) / get_mscale(factor, rs.mscale_all_dim))
    else:
      attention_factor = get_mscale(factor)

  def correction_dim(num_rotations):
    return (dim * math.log(rs.original_max_position_embeddings / (num_rotations * 2 * math.pi))) / (
        2 * math.log(base))

  low, high = correction_dim(rs.beta_fast), correction_dim(rs.beta_slow)
  if rs.truncate:
    low, high = math.floor(low), math.ceil(high)
  low, high = max(low, 0), min(high, dim - 1)
  if low == high:
    high += 0.001  # as HF: avoids a division by zero
  ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1).astype(np.float32)
  extrapolation_factor = (1 - ramp).astype(np.float32)
  inv_extra = (1.0 / pos_freqs).astype(np.float32)
  inv_inter = (1.0 / (np.float32(factor) * pos_freqs)).astype(np.float32)
  inv_freq = inv_inter * (1 - extrapolation_factor) + inv_extra * extrapolation_factor
  return inv_freq.astype(np.float32), float(attention_factor)


def cos_sin(cfg: ModelConfig, positions: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """cos, sin [B, T, H] in float32 for integer positions [B, T]."""
  inv_freq, scale = inv_freq_and_scale(cfg)
  freqs = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq)[None, None, :]
  emb = jnp.concatenate([freqs, freqs], axis=-1)
  return jnp.cos(emb) * scale, jnp.sin(emb) * scale


def apply_rope(x_btnh: jnp.ndarray, cos: jnp.ndarray, sin: jnp.ndarray) -> jnp.ndarray:
  """Hugging Face's rotate-half convention; cos/sin are cast to x's dtype as HF does."""
  cos = cos[:, :, None, :].astype(x_btnh.dtype)
  sin = sin[:, :, None, :].astype(x_btnh.dtype)
  half = x_btnh.shape[-1] // 2
  rotated = jnp.concatenate([-x_btnh[..., half:], x_btnh[..., :half]], axis=-1)
  return x_btnh * cos + rotated * sin
