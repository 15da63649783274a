"""Text <-> token ids with a model's Hugging Face tokenizer files; specials only by id.

A tokenizer is a directory as Hugging Face writes it: tokenizer.json (the
vocabulary), tokenizer_config.json (special tokens, chat template) and, since
transformers 5, chat_template.jinja (which wins over the config's template).

`encode` ignores the added tokens, so an issue or a command output holding
"<|im_end|>" stays plain text and can never end a turn or forge a role.
"""
from __future__ import annotations

import importlib.resources
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers

from swejax.tokenizer.template import CHATML_TEMPLATE, ChatTemplate

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# The files that make a tokenizer, as written into a Hugging Face export.
FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
         "special_tokens_map.json")
# transformers' named special tokens: the template sees them as variables.
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                      "cls_token", "mask_token")

_DEFAULT = ("swejax", "assets/tokenizer")  # package, folder of the embedded files


class Tokenizer:
  """A byte-level BPE tokenizer of the Qwen family (it has the ChatML tokens).

  `vocab_size` is the highest id + 1, added tokens included (a model's embedding may
  be larger, padded). `eos_id`, `pad_id`, `bos_id` are tokenizer_config.json's
  tokens (eos defaults to `<|im_end|>`, pad to `<|endoftext|>`, bos to none);
  `im_end_id` ends a chat turn whatever the eos (base models name `<|endoftext|>`).
  """

  def __init__(self, spec: str, *, source: str = "<tokenizer.json>",
               config: Mapping[str, Any] | None = None, chat_template: str | None = None,
               directory: Path | None = None):
    try:
      data = json.loads(spec)
      self._full = tokenizers.Tokenizer.from_str(spec)
      added = data.get("added_tokens") or []
      data["added_tokens"] = []
      self._text = tokenizers.Tokenizer.from_str(json.dumps(data))
    except Exception as e:  # the Rust and json errors share no base class
      raise ValueError(f"{source}: not a valid tokenizer.json ({e})") from None
    # A tokenizer.json may carry truncation/padding settings; encode must be exact.
    for t in (self._full, self._text):
      t.no_truncation()
      t.no_padding()
    self.source, self.directory = source, directory
    config = dict(config or {})
    self.added_tokens = {str(t["content"]): bool(t.get("special", False)) for t in added}
    vocab = self._full.get_vocab(with_added_tokens=True)
    self.vocab_size = max(vocab.values()) + 1 if vocab else 0
    self.endoftext_id = self._special_id(ENDOFTEXT, "the ChatML end of text")
    self.im_start_id = self._special_id(IM_START, "the ChatML turn start")
    self.im_end_id = self._special_id(IM_END, "the ChatML turn end")
    config_file = str(directory / "tokenizer_config.json") if directory else source
    self.special_tokens_map = {k: v for k in SPECIAL_TOKEN_KEYS
                               if (v := _token_field(config, k, config_file)) is not None}
    names = self.special_tokens_map
    self.eos_id = self._special_id(names.get("eos_token", IM_END), "eos_token")
    self.pad_id = self._special_id(names.get("pad_token", ENDOFTEXT), "pad_token")
    bos = names.get("bos_token")
    self.bos_id = self._special_id(bos, "bos_token") if bos is not None else None
    template = chat_template if chat_template is not None else config.get("chat_template")
    template = _default_template(template, config_file)
    self.chat_template = ChatTemplate(self, template or CHATML_TEMPLATE,
                                      origin=f"{source}: chat template")

  @classmethod
  def from_file(cls, path: str | os.PathLike[str]) -> Tokenizer:
    """Loads `path`: a tokenizer directory (or checkpoint), or a tokenizer.json whose
    directory's tokenizer_config.json and chat_template.jinja come with it."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
      raise FileNotFoundError(f"{file}: no such tokenizer file")
    config = _read_json(file.parent / "tokenizer_config.json")
    legacy = _read_json(file.parent / "special_tokens_map.json")
    # transformers lets the legacy special_tokens_map.json override the config.
    config.update({k: legacy[k] for k in SPECIAL_TOKEN_KEYS if k in legacy})
    jinja = file.parent / "chat_template.jinja"
    template = jinja.read_text(encoding="utf-8") if jinja.is_file() else None
    return cls(file.read_text(encoding="utf-8"), source=str(file), config=config,
               chat_template=template, directory=file.parent)

  def _special_id(self, token: str, field: str) -> int:
    if (token_id := self._full.token_to_id(token)) is None:
      raise ValueError(f"{self.source}: has no token {token!r} ({field})")
    return int(token_id)

  def encode(self, text: str) -> list[int]:
    """Ids of `text`; added-token strings inside it stay plain text."""
    if not isinstance(text, str):
      raise TypeError(f"encode expects str, got {type(text).__name__}")
    return self._text.encode(text, add_special_tokens=False).ids

  def encode_with_added(self, text: str) -> list[int]:
    """Ids of template text, its added tokens matched (never for message text)."""
    return self._full.encode(text, add_special_tokens=False).ids

  def decode(self, ids: Sequence[int] | np.ndarray, *,
             skip_special_tokens: bool = False) -> str:
    """Text of `ids`; special tokens are written out unless skipped."""
    ids = ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]
    return self._full.decode(ids, skip_special_tokens=skip_special_tokens)

  def token_to_id(self, token: str) -> int | None:
    """Id of one vocabulary entry (special tokens included), or None."""
    return self._full.token_to_id(token)

  def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], *,
                          add_generation_prompt: bool = False, **kwargs) -> list[int]:
    """The ids of a text conversation ({role, content, ...} dicts) as transformers'
    `apply_chat_template(..., tokenize=True, sanitize_control_tokens=True)`."""
    return self.chat_template.encode(messages, add_generation_prompt=add_generation_prompt,
                                     **kwargs)

  def __repr__(self) -> str:
    return f"Tokenizer({self.source!r}, vocab_size={self.vocab_size})"


def _read_json(file: Path) -> dict:
  """A JSON object file, or {} if there is none."""
  if not file.is_file():
    return {}
  try:
    data = json.loads(file.read_text(encoding="utf-8"))
  except ValueError as e:
    raise ValueError(f"{file}: not valid JSON ({e})") from None
  if not isinstance(data, dict):
    raise ValueError(f"{file}: must hold a JSON object, got {type(data).__name__}")
  return data


def _token_field(config: Mapping[str, Any], key: str, source: str) -> str | None:
  """A special-token field of tokenizer_config.json: a string, an AddedToken dict
  (older files) or null."""
  value = config.get(key)
  if isinstance(value, dict):
    value = value.get("content")
  if value is not None and not isinstance(value, str):
    raise ValueError(f"{source}: field {key} must be a string, got {value!r}")
  return value


def _default_template(template: Any, source: str) -> str | None:
  """The default of tokenizer_config.json's chat_template: a string, or a list of
  {name, template} (older files), of which "default" is the one transformers uses."""
  if template is None or isinstance(template, str):
    return template
  if isinstance(template, list):
    named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
    if isinstance(named.get("default"), str):
      return named["default"]
  raise ValueError(f"{source}: field chat_template must be a string or a list of "
                   "{name, template} with a 'default' one")


def default_dir() -> Path:
  """The directory of the small tokenizer embedded in the package."""
  return Path(str(importlib.resources.files(_DEFAULT[0]).joinpath(_DEFAULT[1])))


def default_tokenizer() -> Tokenizer:
  """The small tokenizer embedded in the package (built by swejax.tokenizer.build)."""
  tok = Tokenizer.from_file(default_dir())
  tok.source = "/".join(_DEFAULT) + "/tokenizer.json"
  return tok
