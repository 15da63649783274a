"""The run's tokenizer, checked against the model it feeds before any work.

A tokenizer that does not fit its model fails silently: ids past the embedding
index garbage rows (or crash a sampler later), and a stop token the model never
learned makes every turn run to its length limit. So the run refuses to start.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from swejax.tokenizer.chat import framing
from swejax.tokenizer.tokenizer import Tokenizer, default_dir

# What looks like a ChatML-style control token in a template's text.
_SPELLED = re.compile(r"<\|[A-Za-z0-9_.:-]{1,64}\|>")


def tokenizer_dir(tokenizer: str, init_dir: str) -> Path:
  """The directory config `model.tokenizer` names: itself; if empty, the `model.init`
  directory when it holds a tokenizer.json, else the embedded demo tokenizer."""
  if tokenizer:
    path = Path(tokenizer)
    if not (path / "tokenizer.json").is_file():
      raise ValueError(f"config model.tokenizer={tokenizer!r}: {path} holds no tokenizer.json")
    return path
  if init_dir and (Path(init_dir) / "tokenizer.json").is_file():
    return Path(init_dir)
  return default_dir()


def _model_config(model_dir: str) -> dict[str, Any]:
  """config.json of a Hugging Face model directory ({} without one)."""
  file = Path(model_dir) / "config.json" if model_dir else None
  if file is None or not file.is_file():
    return {}
  try:
    data = json.loads(file.read_text(encoding="utf-8"))
  except ValueError as e:
    raise ValueError(f"{file}: not valid JSON ({e})") from None
  return data if isinstance(data, dict) else {}


def problems(tok: Tokenizer, *, vocab_size: int, model_dir: str = "") -> list[str]:
  """What does not fit between `tok` and a model with `vocab_size` embedding rows
  (and config.json in `model_dir`, if given); [] when they fit."""
  found = []
  config = _model_config(model_dir)
  where = f"{model_dir}/config.json" if config else "the model config"
  if tok.vocab_size > vocab_size:
    found.append(f"the tokenizer has ids up to {tok.vocab_size - 1} but the model's embedding "
                 f"has {vocab_size} rows (vocab_size in {where})")
  for field, token_id in (("eos_token", tok.eos_id), ("pad_token", tok.pad_id),
                          ("bos_token", tok.bos_id), ("<|im_end|>", tok.im_end_id)):
    if token_id is None:
      continue
    if not 0 <= token_id < vocab_size:
      found.append(f"{field} is id {token_id}, outside the model's {vocab_size} rows")
    stated = config.get(f"{field}_id")
    if stated is not None and token_id not in (stated if isinstance(stated, list) else [stated]):
      found.append(f"tokenizer_config.json {field} {tok.decode([token_id])!r} is id "
                   f"{token_id}, but {where} states {field}_id={stated}")
  template = tok.chat_template
  missing = sorted({t for t in _SPELLED.findall(template.source) if t not in tok.added_tokens})
  if missing:
    found.append(f"{template.origin} writes {missing}, which the tokenizer has not as added "
                 "tokens (they would be encoded as plain text)")
  try:
    framing(template)
  except ValueError as e:
    found.append(str(e))
  return found


def check(tok: Tokenizer, *, vocab_size: int, model_dir: str = "") -> None:
  """ValueError naming the tokenizer's directory and each field that does not fit."""
  found = problems(tok, vocab_size=vocab_size, model_dir=model_dir)
  if found:
    source = tok.directory or tok.source
    model = f"model {model_dir}" if model_dir else f"a model of vocab_size {vocab_size}"
    raise ValueError(f"tokenizer {source} does not fit {model}:\n  - " + "\n  - ".join(found))


def model_tokenizer(tokenizer: str, init_dir: str, *, vocab_size: int) -> Tokenizer:
  """The run's tokenizer (config `model.tokenizer`, resolved), checked against its model."""
  tok = Tokenizer.from_file(tokenizer_dir(tokenizer, init_dir))
  check(tok, vocab_size=vocab_size, model_dir=init_dir)
  return tok
