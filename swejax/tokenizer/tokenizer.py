"""Text <-> token ids with a Hugging Face `tokenizer.json`; special tokens only by id.

Text is encoded without the added tokens, so an issue or a command output holding
"<|im_end|>" stays plain text and can never end a turn or forge a role.
"""
from __future__ import annotations

import importlib.resources
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tokenizers

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

_DEFAULT = ("swejax", "assets/tokenizer")  # package, folder of the embedded files


class Tokenizer:
  """A byte-level BPE tokenizer with the Qwen chat special tokens.

  `vocab_size` counts added tokens (a model's embedding may be larger, padded);
  `eos_id` is `<|im_end|>`; `pad_id` is tokenizer_config.json's pad_token, else
  `<|endoftext|>`.
  """

  def __init__(self, spec: str, *, source: str = "<tokenizer.json>",
               pad_token: str | None = None):
    try:
      data = json.loads(spec)
      self._full = tokenizers.Tokenizer.from_str(spec)
      data["added_tokens"] = []
      self._text = tokenizers.Tokenizer.from_str(json.dumps(data))
    except Exception as e:  # the Rust and json errors share no base class
      raise ValueError(f"{source}: not a valid tokenizer.json ({e})") from None
    # A tokenizer.json may carry truncation/padding settings; encode must be exact.
    self._text.no_truncation()
    self._text.no_padding()
    self.source = source
    self.vocab_size = int(self._full.get_vocab_size(with_added_tokens=True))
    self.endoftext_id = self._special_id(ENDOFTEXT)
    self.im_start_id = self._special_id(IM_START)
    self.im_end_id = self._special_id(IM_END)
    self.eos_id = self.im_end_id
    self.pad_id = self._special_id(pad_token) if pad_token else self.endoftext_id

  @classmethod
  def from_file(cls, path: str | os.PathLike[str]) -> Tokenizer:
    """Loads `path`: a tokenizer.json, or a checkpoint directory holding one."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
      raise FileNotFoundError(f"{file}: no such tokenizer file")
    pad = _pad_token(file.parent / "tokenizer_config.json")
    return cls(file.read_text(encoding="utf-8"), source=str(file), pad_token=pad)

  def _special_id(self, token: str) -> int:
    if (token_id := self._full.token_to_id(token)) is None:
      raise ValueError(f"{self.source}: has no token {token!r}")
    return int(token_id)

  def encode(self, text: str) -> list[int]:
    """Ids of `text`; special-token strings inside it stay plain text."""
    if not isinstance(text, str):
      raise TypeError(f"encode expects str, got {type(text).__name__}")
    return self._text.encode(text, add_special_tokens=False).ids

  def decode(self, ids: Sequence[int] | np.ndarray, *,
             skip_special_tokens: bool = False) -> str:
    """Text of `ids`; special tokens are written out unless skipped."""
    ids = ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]
    return self._full.decode(ids, skip_special_tokens=skip_special_tokens)

  def token_to_id(self, token: str) -> int | None:
    """Id of one vocabulary entry (special tokens included), or None."""
    return self._full.token_to_id(token)

  def __repr__(self) -> str:
    return f"Tokenizer({self.source!r}, vocab_size={self.vocab_size})"


def _pad_token(config_file: Path) -> str | None:
  """`pad_token` of a Hugging Face tokenizer_config.json, if the file has one."""
  if not config_file.is_file():
    return None
  try:
    config = json.loads(config_file.read_text(encoding="utf-8"))
  except ValueError as e:
    raise ValueError(f"{config_file}: not valid JSON ({e})") from None
  pad = config.get("pad_token") if isinstance(config, dict) else None
  if isinstance(pad, dict):  # older files store an AddedToken dict
    pad = pad.get("content")
  if pad is not None and not isinstance(pad, str):
    raise ValueError(f"{config_file}: field pad_token must be a string, got {pad!r}")
  return pad


def default_tokenizer() -> Tokenizer:
  """The small tokenizer embedded in the package (built by swejax.tokenizer.build)."""
  assets = importlib.resources.files(_DEFAULT[0]).joinpath(_DEFAULT[1])
  config = json.loads(assets.joinpath("tokenizer_config.json").read_text("utf-8"))
  return Tokenizer(assets.joinpath("tokenizer.json").read_text("utf-8"),
                   source="/".join(_DEFAULT) + "/tokenizer.json",
                   pad_token=config.get("pad_token"))
