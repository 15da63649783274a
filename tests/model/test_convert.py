"""`swejax convert`: a checkpoint rewritten in another dtype loads back with the same values."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax.cli import main as cli_main
from swejax.model import hf
from swejax.model.config import ModelConfig
from swejax.model.transformer import init_params


def _tiny():
  return ModelConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_layers=2,
                     num_heads=4, num_kv_heads=2, head_dim=8, tie_embeddings=True)


def test_convert_to_bfloat16_rounds_every_tensor(tmp_path):
  cfg = _tiny()
  params = init_params(cfg, jax.random.PRNGKey(0))
  src, dst = tmp_path / "src", tmp_path / "dst"
  hf.save_hf(params, cfg, str(src), dtype="float32")
  (src / "tokenizer.json").write_text("{}")
  assert cli_main(["convert", str(src), str(dst), "--dtype=bfloat16"]) == 0
  assert json.loads((dst / "config.json").read_text())["torch_dtype"] == "bfloat16"
  assert (dst / "tokenizer.json").exists()
  assert (dst / "model.safetensors").stat().st_size < 0.6 * (src / "model.safetensors").stat().st_size
  _, back = hf.load_hf(str(dst), "float32")
  want = jax.tree.map(lambda x: np.asarray(jnp.asarray(x, jnp.bfloat16), np.float32), params)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(back)):
    np.testing.assert_array_equal(np.asarray(b), a)


def test_convert_refuses_bad_input(tmp_path, capsys):
  assert cli_main(["convert", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
  assert "not a Hugging Face checkpoint directory" in capsys.readouterr().err
  cfg = _tiny()
  hf.save_hf(init_params(cfg, jax.random.PRNGKey(0)), cfg, str(tmp_path / "m"))
  assert cli_main(["convert", str(tmp_path / "m"), str(tmp_path / "o"), "--dtype=int8"]) == 2
  assert "--dtype='int8'" in capsys.readouterr().err
