"""Golden logits: swejax's Qwen2 against Hugging Face transformers (torch, CPU, float32)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from swejax import model as M  # noqa: E402

BASE = dict(vocab_size=384, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False)
CASES = {
    "plain": {},
    "tied": dict(tie_word_embeddings=True),
    # YaRN: evaluated at positions well past the original 32-token context.
    "yarn": dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0,
                                  "original_max_position_embeddings": 32}),
}


def _hf_model(tmp_path, **overrides):
  torch.manual_seed(0)
  config = transformers.Qwen2Config(**{**BASE, **overrides})
  model = transformers.Qwen2ForCausalLM(config).to(torch.float32).eval()
  with torch.no_grad():  # random biases and norms so that every parameter matters
    for name, p in model.named_parameters():
      if name.endswith("bias") or "norm" in name:
        p.add_(torch.randn_like(p) * 0.1)
  model.save_pretrained(tmp_path)
  return model


def _hf_logits(model, tokens):
  with torch.no_grad():
    return model(torch.tensor(tokens)).logits.float().numpy()


def _ours(params, cfg, tokens):
  b, t = tokens.shape
  pos = np.broadcast_to(np.arange(t), (b, t))
  return np.asarray(M.forward(params, cfg, jnp.asarray(tokens), jnp.asarray(pos),
                              jnp.ones((b, t), jnp.int32)))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("attention", ["xla", "blockwise"])
def test_logits_match_transformers(tmp_path, case, attention):
  hf = _hf_model(tmp_path, **CASES[case])
  cfg, params = M.load_hf(str(tmp_path), attention=attention, attention_block_q=16,
                          attention_block_k=16)
  assert cfg.tie_embeddings == (case == "tied")
  assert (cfg.rope_scaling is not None) == (case == "yarn")
  tokens = np.random.default_rng(0).integers(0, BASE["vocab_size"], size=(2, 100))
  np.testing.assert_allclose(_ours(params, cfg, tokens), _hf_logits(hf, tokens), atol=1e-4, rtol=0)


def test_old_rope_scaling_layout_loads_the_same(tmp_path):
  """Published Qwen2.5 checkpoints use rope_theta + rope_scaling {"type": "yarn"}."""
  _hf_model(tmp_path, **CASES["yarn"])
  cfg_new, _ = M.load_hf(str(tmp_path))
  path = os.path.join(tmp_path, "config.json")
  with open(path) as f:
    raw = json.load(f)
  raw.pop("rope_parameters", None)
  raw["rope_theta"] = 10000.0
  raw["rope_scaling"] = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}
  with open(path, "w") as f:
    json.dump(raw, f)
  cfg_old, _ = M.load_hf(str(tmp_path))
  assert cfg_old.rope_scaling == cfg_new.rope_scaling
  assert cfg_old.rope_theta == cfg_new.rope_theta == 10000.0


@pytest.mark.parametrize("case", ["plain", "tied", "yarn"])
def test_save_hf_roundtrip_through_transformers(tmp_path, case):
  hf = _hf_model(tmp_path / "src", **CASES[case])
  cfg, params = M.load_hf(str(tmp_path / "src"))
  params = jax.tree.map(lambda x: x * 1.01, params)  # exported weights are ours, not a copy
  M.save_hf(params, cfg, str(tmp_path / "out"))
  reloaded = transformers.Qwen2ForCausalLM.from_pretrained(str(tmp_path / "out"),
                                                           dtype=torch.float32).eval()
  tokens = np.random.default_rng(1).integers(0, BASE["vocab_size"], size=(1, 80))
  np.testing.assert_allclose(_ours(params, cfg, tokens), _hf_logits(reloaded, tokens), atol=1e-4,
                             rtol=0)
  del hf


def test_sharded_checkpoint_with_index(tmp_path):
  hf = _hf_model(tmp_path / "src")
  cfg, params = M.load_hf(str(tmp_path / "src"))
  M.save_hf(params, cfg, str(tmp_path / "out"), max_shard_bytes=200_000)
  files = [f for f in os.listdir(tmp_path / "out") if f.endswith(".safetensors")]
  assert len(files) > 1 and os.path.exists(tmp_path / "out" / "model.safetensors.index.json")
  cfg2, params2 = M.load_hf(str(tmp_path / "out"))
  tokens = np.random.default_rng(2).integers(0, BASE["vocab_size"], size=(1, 40))
  np.testing.assert_allclose(_ours(params2, cfg2, tokens), _hf_logits(hf, tokens), atol=1e-4,
                             rtol=0)


def test_bfloat16_export_loads_in_transformers(tmp_path):
  _hf_model(tmp_path / "src")
  cfg, params = M.load_hf(str(tmp_path / "src"))
  M.save_hf(params, cfg, str(tmp_path / "bf16"), dtype="bfloat16")
  reloaded = transformers.Qwen2ForCausalLM.from_pretrained(str(tmp_path / "bf16"))
  assert next(reloaded.parameters()).dtype == torch.bfloat16
  cfg2, params2 = M.load_hf(str(tmp_path / "bf16"), dtype="bfloat16")
  assert params2["embed"].dtype == jnp.bfloat16
  np.testing.assert_array_equal(
      np.asarray(params2["embed"]).astype(np.float32),
      np.asarray(params["embed"].astype(jnp.bfloat16)).astype(np.float32))
