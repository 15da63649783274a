"""The run's tokenizer goes into its Hugging Face exports, template included."""
import shutil

import jax

from swejax.model import hf
from swejax.model.config import ModelConfig
from swejax.model.transformer import init_params
from swejax.tokenizer import Tokenizer
from swejax.tokenizer.check import check
from swejax.tokenizer.tokenizer import FILES, default_dir

TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }} (exported)\n{{ m.content }}"
            "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
            "{% endif %}")


def test_export_carries_the_tokenizer_and_its_template(tmp_path):
  src = tmp_path / "tokenizer"
  shutil.copytree(default_dir(), src)
  (src / "chat_template.jinja").write_text(TEMPLATE, encoding="utf-8")
  cfg = ModelConfig(vocab_size=8192, hidden_size=32, intermediate_size=64, num_layers=1,
                    num_heads=4, num_kv_heads=2, head_dim=8, tie_embeddings=True,
                    bos_token_id=8170, eos_token_id=8172)
  out = tmp_path / "hf"
  hf.save_hf(init_params(cfg, jax.random.PRNGKey(0)), cfg, str(out), tokenizer_dir=str(src))
  for name in FILES[:3]:
    assert (out / name).read_bytes() == (src / name).read_bytes()
  messages = [{"role": "user", "content": "hi"}]
  exported, original = Tokenizer.from_file(out), Tokenizer.from_file(src)
  assert exported.apply_chat_template(messages) == original.apply_chat_template(messages)
  assert "(exported)" in exported.decode(exported.apply_chat_template(messages))
  check(exported, vocab_size=cfg.vocab_size, model_dir=str(out))
