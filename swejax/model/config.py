"""Model dimensions: one frozen dataclass and the published Qwen2.5 presets."""
from __future__ import annotations

import dataclasses
from typing import Any

# Logical axis -> mesh axes. One small table; overridable per run (ModelConfig.rules).
# Parameters: "vocab", "embed", "heads", "kv_heads", "head_dim", "mlp", "layers", "norm".
# Activations: "batch", "seq", "act_embed", "act_heads", "act_kv_heads", "act_mlp", "act_vocab".
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp")),
    ("seq", "context"),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_kv_heads", "tensor"),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("head_dim", None),
    ("layers", None),
    ("norm", None),
)


# Kept in step with swejax.model.kernels.IMPLEMENTATIONS (a test checks).
_ATTENTION = ("xla", "blockwise", "ring", "splash", "cudnn", "auto")


@dataclasses.dataclass(frozen=True)
class RopeScaling:
  """YaRN as Hugging Face computes it (rope_type "yarn")."""
  factor: float
  original_max_position_embeddings: int
  beta_fast: float = 32.0
  beta_slow: float = 1.0
  attention_factor: float | None = None
  mscale: float | None = None
  mscale_all_dim: float | None = None
  truncate: bool = True
  rope_type: str = "yarn"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  vocab_size: int
  hidden_size: int
  intermediate_size: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  head_dim: int | None = None  # None: hidden_size // num_heads
  rope_theta: float = 1_000_000.0
  rope_scaling: RopeScaling | None = None
  rms_norm_eps: float = 1e-6
  tie_embeddings: bool = False
  max_position_embeddings: int = 32768
  initializer_range: float = 0.02
  # Numerics and memory.
  param_dtype: str = "float32"
  compute_dtype: str = "float32"
  # "xla" (reference) | "blockwise" (never builds [T, T]) | "ring" (T split over the
  # context axis) | "splash" (TPU) | "cudnn" (NVIDIA GPU) | "auto" (by mesh and platform)
  attention: str = "xla"
  attention_block_q: int = 512
  attention_block_k: int = 512
  remat: str = "none"  # "none" | "full" | "dots" | "dots_no_batch"
  scan_unroll: int = 1  # layers per iteration of the layer scan (XLA fuses across them)
  rules: tuple[tuple[str, Any], ...] = DEFAULT_RULES
  # Special tokens (Qwen2.5's ids for the published models).
  bos_token_id: int = 151643
  eos_token_id: int = 151645

  def __post_init__(self):
    if self.num_heads % self.num_kv_heads:
      raise ValueError(
          f"num_heads={self.num_heads} must be a multiple of num_kv_heads={self.num_kv_heads}")
    if self.head_dim is None:
      if self.hidden_size % self.num_heads:
        raise ValueError(f"hidden_size={self.hidden_size} not divisible by num_heads={self.num_heads}")
      object.__setattr__(self, "head_dim", self.hidden_size // self.num_heads)
    for name in ("param_dtype", "compute_dtype"):
      if getattr(self, name) not in ("float32", "bfloat16"):
        raise ValueError(f"{name} must be 'float32' or 'bfloat16', got {getattr(self, name)!r}")
    if self.attention not in _ATTENTION:
      raise ValueError(f"attention must be one of {' | '.join(_ATTENTION)}, "
                       f"got {self.attention!r}")
    if self.remat not in ("none", "full", "dots", "dots_no_batch"):
      raise ValueError(f"remat must be none|full|dots|dots_no_batch, got {self.remat!r}")
    if not (isinstance(self.scan_unroll, int) and 1 <= self.scan_unroll):
      raise ValueError(f"scan_unroll must be an int >= 1, got {self.scan_unroll!r}")
    if isinstance(self.rope_scaling, dict):
      object.__setattr__(self, "rope_scaling", RopeScaling(**self.rope_scaling))
    object.__setattr__(self, "rules", tuple(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in self.rules))

  def replace(self, **kw) -> "ModelConfig":
    return dataclasses.replace(self, **kw)

  @property
  def num_params(self) -> int:
    d, f, h = self.hidden_size, self.intermediate_size, self.head_dim
    n, k = self.num_heads, self.num_kv_heads
    attn = d * n * h * 2 + d * k * h * 2 + (n + 2 * k) * h
    layer = attn + 3 * d * f + 2 * d
    emb = self.vocab_size * d * (1 if self.tie_embeddings else 2)
    return self.num_layers * layer + emb + d


def _qwen(d, f, layers, heads, kv, vocab, tied, eps) -> ModelConfig:
  return ModelConfig(vocab_size=vocab, hidden_size=d, intermediate_size=f, num_layers=layers,
                     num_heads=heads, num_kv_heads=kv, tie_embeddings=tied, rms_norm_eps=eps)


def presets() -> dict[str, ModelConfig]:
  """Published Qwen2.5 dimensions, plus small ones for tests, the CPU demo and benchmarks."""
  return {
      "tiny": ModelConfig(vocab_size=8192, hidden_size=128, intermediate_size=384, num_layers=2,
                          num_heads=4, num_kv_heads=2, head_dim=32, rope_theta=10000.0,
                          tie_embeddings=True, max_position_embeddings=8192,
                          # the embedded tokenizer's <|endoftext|> and <|im_end|>
                          bos_token_id=8170, eos_token_id=8172),
      # ~40M parameters: the learner benchmark's model.
      "small": ModelConfig(vocab_size=8192, hidden_size=512, intermediate_size=1536, num_layers=8,
                           num_heads=8, num_kv_heads=2, rope_theta=10000.0, tie_embeddings=True,
                           max_position_embeddings=8192, bos_token_id=8170, eos_token_id=8172),
      "qwen2.5-0.5b": _qwen(896, 4864, 24, 14, 2, 151936, True, 1e-6),
      "qwen2.5-1.5b": _qwen(1536, 8960, 28, 12, 2, 151936, True, 1e-6),
      "qwen2.5-3b": _qwen(2048, 11008, 36, 16, 2, 151936, True, 1e-6),
      "qwen2.5-7b": _qwen(3584, 18944, 28, 28, 4, 152064, False, 1e-6),
      "qwen2.5-14b": _qwen(5120, 13824, 48, 40, 8, 152064, False, 1e-5),
      "qwen2.5-32b": _qwen(5120, 27648, 64, 40, 8, 152064, False, 1e-5),
      "qwen2.5-72b": _qwen(8192, 29568, 80, 64, 8, 152064, False, 1e-5),
  }


def get_config(name: str, **overrides) -> ModelConfig:
  table = presets()
  if name not in table:
    raise ValueError(f"unknown model preset {name!r}; known: {', '.join(table)}")
  return table[name].replace(**overrides) if overrides else table[name]
