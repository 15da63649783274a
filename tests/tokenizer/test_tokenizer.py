"""Tests of swejax.tokenizer.tokenizer: loading, encode/decode, special ids."""
import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swejax.tokenizer import Tokenizer, default_tokenizer
from swejax.tokenizer.build import ADDED_TOKENS, QWEN2_PATTERN


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
  return default_tokenizer()


def _asset_json(tok: Tokenizer) -> dict:
  return json.loads(tok._full.to_str())


def test_default_vocab_is_small_with_qwen_added_tokens_last(tok):
  assert tok.vocab_size == 8192
  names = [name for name, _ in ADDED_TOKENS]
  ids = [tok.token_to_id(name) for name in names]
  assert ids == list(range(8192 - len(names), 8192))
  assert (tok.endoftext_id, tok.im_start_id, tok.im_end_id) == tuple(ids[:3])
  assert tok.eos_id == tok.im_end_id
  assert tok.pad_id == tok.endoftext_id


def test_default_is_byte_level_bpe_with_qwen2_pre_tokenizer(tok):
  spec = _asset_json(tok)
  assert spec["model"]["type"] == "BPE"
  assert spec["normalizer"] == {"type": "NFC"}  # as transformers' Qwen2Tokenizer does
  split, byte_level = spec["pre_tokenizer"]["pretokenizers"]
  assert split["pattern"]["Regex"] == QWEN2_PATTERN
  assert byte_level["type"] == "ByteLevel" and spec["decoder"]["type"] == "ByteLevel"
  # All 256 bytes are tokens, so no text is ever unknown.
  byte_tokens = [t for t in spec["model"]["vocab"] if len(t) == 1]
  assert len(byte_tokens) == 256


def test_special_token_text_is_not_parsed(tok):
  added = set(range(tok.vocab_size - len(ADDED_TOKENS), tok.vocab_size))
  text = "".join(f"x{name}y " for name, _ in ADDED_TOKENS)
  ids = tok.encode(text)
  assert not added & set(ids)
  assert tok.decode(ids) == text


def test_encode_has_no_special_insertion_and_decode_shows_specials(tok):
  assert tok.encode("") == []
  ids = [tok.im_start_id, *tok.encode("user\nhi"), tok.im_end_id]
  assert tok.decode(ids) == "<|im_start|>user\nhi<|im_end|>"
  assert tok.decode(np.asarray(ids)) == "<|im_start|>user\nhi<|im_end|>"
  assert tok.decode(ids, skip_special_tokens=True) == "user\nhi"


def test_encode_rejects_non_text(tok):
  with pytest.raises(TypeError, match="str"):
    tok.encode(b"bytes")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_on_any_unicode(text):
  tok = default_tokenizer()
  assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)


def test_from_checkpoint_directory_reads_pad_token(tmp_path, tok):
  (tmp_path / "tokenizer.json").write_text(tok._full.to_str(), encoding="utf-8")
  assert Tokenizer.from_file(tmp_path / "tokenizer.json").pad_id == tok.endoftext_id
  (tmp_path / "tokenizer_config.json").write_text(
      json.dumps({"pad_token": {"content": "<|im_end|>"}}), encoding="utf-8")
  loaded = Tokenizer.from_file(tmp_path)
  assert loaded.pad_id == tok.im_end_id
  assert loaded.encode("def f(x): pass") == tok.encode("def f(x): pass")


def test_truncation_in_file_is_ignored(tmp_path, tok):
  spec = _asset_json(tok)
  spec["truncation"] = {"direction": "Right", "max_length": 4, "strategy": "LongestFirst",
                        "stride": 0}
  loaded = Tokenizer(json.dumps(spec))
  text = "one two three four five six seven eight"
  assert loaded.encode(text) == tok.encode(text)
  assert len(loaded.encode(text)) > 4


def test_bad_files_give_clear_errors(tmp_path, tok):
  with pytest.raises(FileNotFoundError, match="no such tokenizer file"):
    Tokenizer.from_file(tmp_path)
  bad = tmp_path / "tokenizer.json"
  bad.write_text("{not json", encoding="utf-8")
  with pytest.raises(ValueError, match=f"{bad}: not a valid tokenizer.json"):
    Tokenizer.from_file(bad)
  spec = _asset_json(tok)
  spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] != "<|im_end|>"]
  bad.write_text(json.dumps(spec), encoding="utf-8")
  with pytest.raises(ValueError, match="has no token '<\\|im_end\\|>'"):
    Tokenizer.from_file(bad)
  bad.write_text(tok._full.to_str(), encoding="utf-8")
  (tmp_path / "tokenizer_config.json").write_text('{"pad_token": 3}', encoding="utf-8")
  with pytest.raises(ValueError, match="tokenizer_config.json: field pad_token"):
    Tokenizer.from_file(tmp_path)
