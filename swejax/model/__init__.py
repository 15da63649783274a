"""The Qwen2 / Qwen2.5 decoder: config, parameters, forward, Hugging Face weights."""
from swejax.model.config import DEFAULT_RULES, ModelConfig, RopeScaling, get_config, presets
from swejax.model.transformer import (abstract_params, forward, hidden_states, init_params,
                                      param_axes, unembed_matrix)
from swejax.model.hf import load_hf, save_hf

__all__ = [
    "DEFAULT_RULES", "ModelConfig", "RopeScaling", "get_config", "presets", "abstract_params",
    "forward", "hidden_states", "init_params", "param_axes", "unembed_matrix", "load_hf",
    "save_hf",
]
