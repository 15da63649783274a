"""`model.init`: the weights a run starts from, a Hugging Face checkpoint directory (the
paper starts from an instruct model, each later stage from the previous one's export)."""
from __future__ import annotations

import importlib.resources
import os

from swejax.model import hf

EMBEDDED_PREFIX = "embedded:"
_ARCHITECTURE = ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                 "num_kv_heads", "head_dim", "tie_embeddings")


def resolve_init(init: str) -> str:
  """`model.init`: a Hugging Face directory, or "embedded:NAME" for swejax/assets/NAME."""
  if init.startswith(EMBEDDED_PREFIX):
    return str(importlib.resources.files("swejax") / "assets" / init[len(EMBEDDED_PREFIX):])
  return os.path.expanduser(init)


def check_init(init: str) -> str:
  """The resolved `model.init` directory; ValueError naming the flag if it is not one."""
  path = resolve_init(init)
  if not os.path.isfile(os.path.join(path, "config.json")):
    raise ValueError(f"config model.init={init!r}: {path} is not a Hugging Face checkpoint "
                     "directory (no config.json)")
  return path


def initial_params(init: str, model_cfg, mesh):
  """The run's starting weights: random (init empty) or a Hugging Face checkpoint whose
  architecture must be the configured one (the paper starts from an instruct model)."""
  if not init:
    return None
  path = check_init(init)
  cfg, params = hf.load_hf(path, model_cfg.param_dtype, mesh=mesh)
  wrong = [f"{k} {getattr(cfg, k)} != {getattr(model_cfg, k)}" for k in _ARCHITECTURE
           if getattr(cfg, k) != getattr(model_cfg, k)]
  if wrong:
    raise ValueError(f"config model.init={init!r}: the checkpoint's architecture differs from "
                     f"model.preset's: {'; '.join(wrong)}")
  return params
