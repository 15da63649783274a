"""Tests of loading a model's own tokenizer (swejax.tokenizer.check, Tokenizer.from_file)."""
import importlib.util
import json
import shutil

import pytest

from swejax.tokenizer import Tokenizer
from swejax.tokenizer.check import check, model_tokenizer, problems, tokenizer_dir
from swejax.tokenizer.tokenizer import default_dir
from swejax.rl.task_sets import TaskSets
from tests.tokenizer.conversations import QWEN_DIR, REPO

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def model_dir(tmp_path):
  """A model directory with the demo tokenizer and a config.json stating its ids."""
  for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(default_dir() / name, tmp_path / name)
  _write(tmp_path / "config.json", {"vocab_size": 8192, "bos_token_id": 8170,
                                    "eos_token_id": 8172})
  return tmp_path


def _write(path, data):
  path.write_text(json.dumps(data), encoding="utf-8")


def _edit_config(directory, **changes):
  config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
  config.update(changes)
  _write(directory / "tokenizer_config.json", config)


def test_tokenizer_dir_defaults_to_the_init_directory_then_the_embedded_one(model_dir, tmp_path):
  assert tokenizer_dir("", str(model_dir)) == model_dir
  assert tokenizer_dir(str(model_dir), "") == model_dir
  assert tokenizer_dir("", "") == default_dir()
  (tmp_path / "weights_only").mkdir()
  assert tokenizer_dir("", str(tmp_path / "weights_only")) == default_dir()
  with pytest.raises(ValueError, match=r"config model.tokenizer='/nonexistent': .* no tokenizer"):
    tokenizer_dir("/nonexistent", str(model_dir))


def test_a_fitting_tokenizer_passes(model_dir):
  tok = model_tokenizer("", str(model_dir), vocab_size=8192)
  assert tok.directory == model_dir
  assert problems(tok, vocab_size=8192, model_dir=str(model_dir)) == []
  assert problems(tok, vocab_size=9000) == []  # a padded embedding is fine


def test_qwen3_fits_a_qwen_model_config(tmp_path):
  if not (QWEN_DIR / "tokenizer.json").is_file():
    pytest.skip(f"the Qwen3 reference tokenizer is not at {QWEN_DIR}")
  tok = Tokenizer.from_file(QWEN_DIR)
  _write(tmp_path / "config.json", {"vocab_size": 151936, "bos_token_id": 151643,
                                    "eos_token_id": 151645})
  assert (tok.vocab_size, tok.eos_id, tok.pad_id, tok.bos_id) == (151669, 151645, 151643, None)
  check(tok, vocab_size=151936, model_dir=str(tmp_path))
  with pytest.raises(ValueError, match="ids up to 151668 but the model's embedding has 8192"):
    check(tok, vocab_size=8192, model_dir=str(tmp_path))


def test_misfits_name_the_directory_and_the_field(model_dir):
  _write(model_dir / "config.json", {"vocab_size": 8000, "eos_token_id": [8170, 8171],
                                     "pad_token_id": 8172})
  tok = Tokenizer.from_file(model_dir)
  with pytest.raises(ValueError) as e:
    check(tok, vocab_size=8000, model_dir=str(model_dir))
  message = str(e.value)
  assert message.startswith(f"tokenizer {model_dir} does not fit model {model_dir}:")
  assert "ids up to 8191 but the model's embedding has 8000 rows" in message
  assert f"eos_token '<|im_end|>' is id 8172, but {model_dir}/config.json states " \
         "eos_token_id=[8170, 8171]" in message
  assert "pad_token '<|endoftext|>' is id 8170, but" in message
  assert "eos_token is id 8172, outside the model's 8000 rows" in message


def test_template_tokens_missing_from_the_vocabulary_are_refused(model_dir):
  _edit_config(model_dir, chat_template="{% for m in messages %}<|im_start|>{{ m.content }}"
                                        "<|eot_id|><|im_end|>\n{% endfor %}")
  found = problems(Tokenizer.from_file(model_dir), vocab_size=8192)
  assert any("writes ['<|eot_id|>']" in p and "chat template" in p for p in found)


def test_template_whose_turns_do_not_end_with_im_end_is_refused(model_dir):
  _edit_config(model_dir, chat_template="{% for m in messages %}{{ m.role }}: {{ m.content }}\n"
                                        "{% endfor %}{% if add_generation_prompt %}assistant:"
                                        "{% endif %}")
  tok = Tokenizer.from_file(model_dir)
  with pytest.raises(ValueError, match=r"chat template: an assistant turn must end with <\|im_end"):
    check(tok, vocab_size=8192)


def test_chat_template_jinja_wins_over_the_config(model_dir):
  (model_dir / "chat_template.jinja").write_text(
      "{% for m in messages %}<|im_start|>{{ m.role }}!\n{{ m.content }}<|im_end|>\n"
      "{% endfor %}", encoding="utf-8")
  tok = Tokenizer.from_file(model_dir)
  assert tok.decode(tok.apply_chat_template(MESSAGES)) == "<|im_start|>user!\nhi<|im_end|>\n"


def test_older_config_forms(model_dir):
  _edit_config(model_dir, chat_template=[
      {"name": "tool_use", "template": "unused"},
      {"name": "default", "template": "{{ messages[0]['content'] }}<|im_end|>"}],
      eos_token={"content": "<|endoftext|>"}, pad_token=None)
  _write(model_dir / "special_tokens_map.json", {"pad_token": "<|im_start|>",
                                                 "eos_token": "<|im_end|>"})
  tok = Tokenizer.from_file(model_dir)
  assert tok.decode(tok.apply_chat_template(MESSAGES)) == "hi<|im_end|>"
  # special_tokens_map.json overrides the config, as in transformers
  assert (tok.eos_id, tok.pad_id) == (tok.im_end_id, tok.im_start_id)
  (model_dir / "special_tokens_map.json").unlink()
  tok = Tokenizer.from_file(model_dir)
  assert (tok.eos_id, tok.pad_id) == (tok.endoftext_id, tok.endoftext_id)


@pytest.mark.parametrize("changes, error", [
    ({"chat_template": 3}, "tokenizer_config.json: field chat_template must be a string"),
    ({"chat_template": "{% for %}"}, "chat template is not valid Jinja"),
    ({"eos_token": "<|nope|>"}, r"has no token '<\|nope\|>' \(eos_token\)"),
    ({"bos_token": ["x"]}, "tokenizer_config.json: field bos_token must be a string"),
])
def test_bad_configs_give_clear_errors(model_dir, changes, error):
  _edit_config(model_dir, **changes)
  with pytest.raises(ValueError, match=error):
    Tokenizer.from_file(model_dir)


def test_template_errors_name_the_template(model_dir):
  _edit_config(model_dir, chat_template="{{ raise_exception('roles must alternate') }}")
  with pytest.raises(ValueError, match="chat template: the chat template failed: roles must"):
    Tokenizer.from_file(model_dir).apply_chat_template(MESSAGES)


def test_the_sandbox_refuses_unsafe_templates(model_dir):
  _edit_config(model_dir, chat_template="{{ messages.__class__.__mro__ }}")
  with pytest.raises(Exception, match="unsafe|access"):
    Tokenizer.from_file(model_dir).apply_chat_template(MESSAGES)


def _demo_config(variant):
  spec = importlib.util.spec_from_file_location("demo_config", REPO / "configs" / "demo.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def test_the_run_reads_model_tokenizer_and_checks_it_before_any_work(tmp_path):
  config = _demo_config("smoke")
  assert config.model.tokenizer == "" and TaskSets(config, str(tmp_path)).tokenizer.directory \
      == default_dir()
  config = _demo_config("default")  # model.init is the embedded demo_base checkpoint
  assert TaskSets(config, str(tmp_path)).tokenizer.directory.name == "demo_base"
  if (QWEN_DIR / "tokenizer.json").is_file():
    config.model.tokenizer = str(QWEN_DIR)
    with pytest.raises(ValueError, match=r"tokenizer .*qwen_tokenizer does not fit model .*"
                                         r"demo_base:\n  - the tokenizer has ids up to 151668"):
      TaskSets(config, str(tmp_path))
  assert not any(tmp_path.iterdir())
