"""`swejax tokenize` end to end: a subprocess, compared with transformers."""
import json
import subprocess
import sys

import pytest

from tests.tokenizer.conversations import CONVERSATIONS, tokenizer_dirs

transformers = pytest.importorskip("transformers")


def _tokenize(*args, stdin=None):
  return subprocess.run([sys.executable, "-m", "swejax.cli", "tokenize", *map(str, args)],
                        capture_output=True, text=True, input=stdin, timeout=120, check=False)


@pytest.mark.parametrize("directory", tokenizer_dirs())
def test_prints_the_ids_transformers_gives(directory, tmp_path):
  messages = CONVERSATIONS["tool_outputs"] + CONVERSATIONS["multi_turn"][1:]
  file = tmp_path / "messages.json"
  file.write_text(json.dumps(messages, ensure_ascii=False), encoding="utf-8")
  hf = transformers.AutoTokenizer.from_pretrained(str(directory))
  for flag, agp in (((), False), (("--add_generation_prompt",), True)):
    out = _tokenize("--tokenizer", directory, "--messages", file, *flag)
    assert out.returncode == 0, out.stderr
    expected = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=agp)
    assert json.loads(out.stdout) == list(expected["input_ids"])
  stdin = _tokenize("--tokenizer", directory, "--messages", "-",
                    stdin=json.dumps(messages[:2]))
  assert json.loads(stdin.stdout) == list(
      hf.apply_chat_template(messages[:2], tokenize=True)["input_ids"])


@pytest.mark.parametrize("content, error", [
    (None, "cannot read it"),
    ("{not json", "not valid JSON"),
    ("[]", "must be a non-empty JSON list"),
    ('[{"content": "x"}]', "message 0 must be an object with a string role"),
])
def test_bad_message_files_name_the_file(tmp_path, content, error):
  file = tmp_path / "m.json"
  if content is not None:
    file.write_text(content, encoding="utf-8")
  out = _tokenize("--tokenizer", tokenizer_dirs()[1].values[0], "--messages", file)
  assert out.returncode == 2 and out.stdout == ""
  assert f"--messages {file}: {error}" in out.stderr


def test_bad_tokenizer_directory(tmp_path):
  out = _tokenize("--tokenizer", tmp_path, "--messages", "-", stdin="[]")
  assert out.returncode == 2 and "no such tokenizer file" in out.stderr
