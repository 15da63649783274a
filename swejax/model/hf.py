"""Hugging Face Qwen2 checkpoints <-> swejax parameters, one tensor (slice) at a time."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, SingleDeviceSharding

from swejax.model import safetensors_io as st
from swejax.model.config import ModelConfig, RopeScaling
from swejax.model.sharding import named_shardings
from swejax.model.transformer import abstract_params, param_axes

_LAYER = "model.layers.{}."


@dataclasses.dataclass(frozen=True)
class _Map:
  hf: str  # name; "{}" is the layer index for stacked parameters
  to_ours: Callable[[np.ndarray, ModelConfig], np.ndarray]  # views, no copies
  to_hf: Callable[[np.ndarray, ModelConfig], np.ndarray]


def _ident(x, cfg):
  return x


def _t(x, cfg):
  return x.T


def _table(cfg: ModelConfig) -> dict[tuple[str, ...], _Map]:
  n, k, h, d = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.hidden_size
  proj_in = lambda heads: _Map(  # noqa: E731  [heads*H, D] <-> [D, heads, H]
      "", lambda x, c: x.T.reshape(d, heads, h), lambda x, c: x.reshape(d, heads * h).T)
  bias = lambda heads: _Map(  # noqa: E731
      "", lambda x, c: x.reshape(heads, h), lambda x, c: x.reshape(heads * h))
  a, m = _LAYER + "self_attn.", _LAYER + "mlp."
  table = {
      ("embed",): _Map("model.embed_tokens.weight", _ident, _ident),
      ("final_norm", "scale"): _Map("model.norm.weight", _ident, _ident),
      ("layers", "attn_norm", "scale"): _Map(_LAYER + "input_layernorm.weight", _ident, _ident),
      ("layers", "mlp_norm", "scale"): _Map(_LAYER + "post_attention_layernorm.weight", _ident,
                                            _ident),
      ("layers", "attn", "q_kernel"): dataclasses.replace(proj_in(n), hf=a + "q_proj.weight"),
      ("layers", "attn", "k_kernel"): dataclasses.replace(proj_in(k), hf=a + "k_proj.weight"),
      ("layers", "attn", "v_kernel"): dataclasses.replace(proj_in(k), hf=a + "v_proj.weight"),
      ("layers", "attn", "q_bias"): dataclasses.replace(bias(n), hf=a + "q_proj.bias"),
      ("layers", "attn", "k_bias"): dataclasses.replace(bias(k), hf=a + "k_proj.bias"),
      ("layers", "attn", "v_bias"): dataclasses.replace(bias(k), hf=a + "v_proj.bias"),
      ("layers", "attn", "o_kernel"): _Map(a + "o_proj.weight", lambda x, c: x.T.reshape(n, h, d),
                                           lambda x, c: x.reshape(n * h, d).T),
      ("layers", "mlp", "gate_kernel"): _Map(m + "gate_proj.weight", _t, _t),
      ("layers", "mlp", "up_kernel"): _Map(m + "up_proj.weight", _t, _t),
      ("layers", "mlp", "down_kernel"): _Map(m + "down_proj.weight", _t, _t),
  }
  if not cfg.tie_embeddings:
    table[("lm_head",)] = _Map("lm_head.weight", _t, _t)
  return table


# ----------------------------------------------------------------------------- config.json


def config_from_hf(d: dict, source: str = "config.json", **overrides) -> ModelConfig:
  """ModelConfig from a Qwen2 config.json, old (rope_theta/rope_scaling) or new
  (rope_parameters) layout."""
  required = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads")
  missing = [k for k in required if k not in d]
  if missing:
    raise ValueError(f"{source}: missing field(s) {', '.join(missing)}")
  if d.get("model_type", "qwen2") not in ("qwen2",):
    raise ValueError(f"{source}: model_type {d.get('model_type')!r} is not supported (qwen2)")
  theta = d.get("rope_theta")
  scaling = d.get("rope_scaling")
  params = d.get("rope_parameters")
  if params:
    theta = params.get("rope_theta", theta)
    scaling = params
  rope_scaling = None
  if scaling:
    kind = scaling.get("rope_type") or scaling.get("type") or "default"
    if kind == "yarn":
      orig = (d.get("original_max_position_embeddings")
              or scaling.get("original_max_position_embeddings") or d["max_position_embeddings"])
      factor = scaling.get("factor") or d["max_position_embeddings"] / orig
      rope_scaling = RopeScaling(
          factor=float(factor), original_max_position_embeddings=int(orig),
          beta_fast=float(scaling.get("beta_fast") or 32), beta_slow=float(scaling.get("beta_slow") or 1),
          attention_factor=scaling.get("attention_factor"), mscale=scaling.get("mscale"),
          mscale_all_dim=scaling.get("mscale_all_dim"), truncate=scaling.get("truncate", True))
    elif kind != "default":
      raise ValueError(f"{source}: rope type {kind!r} is not supported (default, yarn)")
  eos = d.get("eos_token_id")
  eos = 151645 if eos is None else eos
  fields = dict(
      vocab_size=d["vocab_size"], hidden_size=d["hidden_size"],
      intermediate_size=d["intermediate_size"], num_layers=d["num_hidden_layers"],
      num_heads=d["num_attention_heads"],
      num_kv_heads=d.get("num_key_value_heads") or d["num_attention_heads"],
      head_dim=d.get("head_dim"), rope_theta=float(theta if theta is not None else 10000.0),
      rope_scaling=rope_scaling, rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)),
      tie_embeddings=bool(d.get("tie_word_embeddings", False)),
      max_position_embeddings=int(d.get("max_position_embeddings", 32768)),
      initializer_range=float(d.get("initializer_range", 0.02)),
      bos_token_id=int(d.get("bos_token_id") if d.get("bos_token_id") is not None else 151643),
      eos_token_id=int(eos[0] if isinstance(eos, list) else eos))
  fields.update(overrides)
  return ModelConfig(**fields)


def config_to_hf(cfg: ModelConfig, dtype: str) -> dict:
  out: dict[str, Any] = {
      "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
      "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
      "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_layers,
      "num_attention_heads": cfg.num_heads, "num_key_value_heads": cfg.num_kv_heads,
      "head_dim": cfg.head_dim, "rope_theta": cfg.rope_theta, "rms_norm_eps": cfg.rms_norm_eps,
      "tie_word_embeddings": cfg.tie_embeddings,
      "max_position_embeddings": cfg.max_position_embeddings,
      "initializer_range": cfg.initializer_range, "attention_dropout": 0.0,
      "use_sliding_window": False, "sliding_window": None, "use_cache": True,
      "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
      "torch_dtype": dtype, "dtype": dtype,
  }
  if cfg.rope_scaling is not None:
    rs = dataclasses.asdict(cfg.rope_scaling)
    out["rope_scaling"] = {k: v for k, v in rs.items() if v is not None}
  return out


# ----------------------------------------------------------------------------- load


def _weight_files(path: str) -> list[str]:
  index = os.path.join(path, "model.safetensors.index.json")
  if os.path.exists(index):
    with open(index) as f:
      files = sorted(set(json.load(f)["weight_map"].values()))
    return [os.path.join(path, name) for name in files]
  single = os.path.join(path, "model.safetensors")
  if os.path.exists(single):
    return [single]
  raise FileNotFoundError(f"{path}: no model.safetensors or model.safetensors.index.json")


def _flat(tree, prefix=()):
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _flat(value, prefix + (key,))
    else:
      yield prefix + (key,), value


def _unflat(items):
  out: dict = {}
  for path, value in items:
    node = out
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return out


def load_hf(path: str, dtype: str | None = None, *, mesh: Mesh | None = None,
            **overrides) -> tuple[ModelConfig, dict]:
  """(cfg, params) from a Hugging Face Qwen2 directory.

  Each device's shard is read straight from the memory-mapped files (only the slices it
  owns), so the whole model never sits in host memory. `dtype` sets the parameter dtype
  (default float32); `overrides` other ModelConfig fields (attention, remat, rules, ...).
  """
  cfg_path = os.path.join(path, "config.json")
  if not os.path.exists(cfg_path):
    raise FileNotFoundError(f"{path}: not a Hugging Face checkpoint directory (no config.json)")
  with open(cfg_path) as f:
    raw = json.load(f)
  if dtype is not None:
    overrides["param_dtype"] = dtype
  cfg = config_from_hf(raw, source=cfg_path, **overrides)
  tensors = st.LazyTensors(_weight_files(path))
  table = _table(cfg)
  shapes = dict(_flat(abstract_params(cfg)))
  if mesh is not None:
    shardings = dict(_flat(named_shardings(param_axes(cfg), mesh, cfg.rules)))
  else:
    device = jax.local_devices()[0]
    shardings = {p: SingleDeviceSharding(device) for p in shapes}
  out = []
  for p, shape_dtype in shapes.items():
    m = table[p]
    stacked = p[0] == "layers"
    names = [m.hf.format(i) for i in range(cfg.num_layers)] if stacked else [m.hf]
    for name in names:
      if name not in tensors:
        raise KeyError(f"{path}: tensor {name} is missing from the checkpoint")
      want = m.to_hf(np.empty(shape_dtype.shape[1:] if stacked else shape_dtype.shape,
                              np.uint8), cfg).shape
      if tuple(tensors[name].shape) != tuple(want):
        raise ValueError(f"{path}: tensor {name} has shape {tuple(tensors[name].shape)}, "
                         f"config.json implies {tuple(want)}")
    np_dtype = np.dtype(shape_dtype.dtype)

    def callback(index, m=m, names=names, stacked=stacked, np_dtype=np_dtype):
      if not stacked:
        return np.asarray(m.to_ours(tensors[names[0]], cfg)[index], dtype=np_dtype)
      layers = range(cfg.num_layers)[index[0]]
      return np.stack([np.asarray(m.to_ours(tensors[names[i]], cfg)[index[1:]], dtype=np_dtype)
                       for i in layers])

    out.append((p, jax.make_array_from_callback(shape_dtype.shape, shardings[p], callback)))
  return cfg, _unflat(out)


# ----------------------------------------------------------------------------- save


def iter_hf_tensors(params, cfg: ModelConfig, dtype=None):
  """Yields (hf name, numpy array) one tensor at a time (one layer of a stacked param)."""
  table = _table(cfg)
  for p, value in _flat(params):
    m = table[p]
    target = np.dtype(dtype) if dtype is not None else np.dtype(value.dtype)
    if p[0] == "layers":
      for i in range(cfg.num_layers):
        yield m.hf.format(i), m.to_hf(np.asarray(jax.device_get(value[i])), cfg).astype(target)
    else:
      yield m.hf, m.to_hf(np.asarray(jax.device_get(value)), cfg).astype(target)


def hf_specs(cfg: ModelConfig, dtype) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  table = _table(cfg)
  specs = {}
  for p, sd in _flat(abstract_params(cfg)):
    m = table[p]
    if p[0] == "layers":
      shape = m.to_hf(np.empty(sd.shape[1:], np.uint8), cfg).shape
      for i in range(cfg.num_layers):
        specs[m.hf.format(i)] = (shape, np.dtype(dtype))
    else:
      specs[m.hf] = (m.to_hf(np.empty(sd.shape, np.uint8), cfg).shape, np.dtype(dtype))
  return specs


def save_hf(params, cfg: ModelConfig, path: str, *, dtype: str | None = None,
            tokenizer_dir: str | None = None, max_shard_bytes: int = 4 * 2**30) -> None:
  """Writes config.json and safetensors (sharded with an index past `max_shard_bytes`)
  that transformers' from_pretrained and vLLM load. Streams tensor by tensor."""
  dtype = dtype or cfg.param_dtype
  np_dtype = np.dtype(jnp.dtype(dtype))
  os.makedirs(path, exist_ok=True)
  specs = hf_specs(cfg, np_dtype)
  shards: list[dict] = [{}]
  size = 0
  for name, (shape, dt) in specs.items():
    nbytes = int(np.prod(shape)) * dt.itemsize
    if shards[-1] and size + nbytes > max_shard_bytes:
      shards.append({})
      size = 0
    shards[-1][name] = (shape, dt)
    size += nbytes
  files = (["model.safetensors"] if len(shards) == 1 else
           [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))])
  file_of = {name: files[i] for i, shard in enumerate(shards) for name in shard}
  writers = {f: st.Writer(os.path.join(path, f), shard) for f, shard in zip(files, shards)}
  # Our parameter order differs from the declared order: write per file in declared order.
  pending: dict[str, dict[str, np.ndarray]] = {f: {} for f in files}
  order = {f: list(shard) for f, shard in zip(files, shards)}
  cursor = {f: 0 for f in files}
  for name, array in iter_hf_tensors(params, cfg, np_dtype):
    f = file_of[name]
    pending[f][name] = array
    while cursor[f] < len(order[f]) and order[f][cursor[f]] in pending[f]:
      key = order[f][cursor[f]]
      writers[f].write(key, pending[f].pop(key))
      cursor[f] += 1
  for w in writers.values():
    w.close()
  if len(files) > 1:
    total = sum(int(np.prod(s)) * d.itemsize for s, d in specs.values())
    with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
      json.dump({"metadata": {"total_size": total}, "weight_map": file_of}, f, indent=1)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config_to_hf(cfg, str(jnp.dtype(dtype))), f, indent=2)
  if tokenizer_dir is not None:
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                 "special_tokens_map.json"):
      src = os.path.join(tokenizer_dir, name)
      if os.path.exists(src):
        shutil.copy(src, os.path.join(path, name))
