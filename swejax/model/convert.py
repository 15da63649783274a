"""A Hugging Face Qwen2 directory, rewritten (`swejax convert`, swejax.checkpoint.export).

Loads SRC with swejax (checking every tensor's shape against its config.json) and writes
DST with `save_hf` in `--dtype`, tokenizer files included. This is how a run's
WORKDIR/hf becomes an embedded model (swejax/assets/NAME, `model.init="embedded:NAME"`):
bfloat16 halves its size.
"""
from __future__ import annotations

import os

from swejax.config import UsageError

DTYPES = ("float32", "bfloat16", "float16")


def convert(src: str, dst: str, dtype: str = "bfloat16") -> None:
  from swejax.model import hf  # pylint: disable=import-outside-toplevel
  if dtype not in DTYPES:
    raise UsageError(f"swejax convert: --dtype={dtype!r} is not one of {', '.join(DTYPES)}")
  if not os.path.isfile(os.path.join(src, "config.json")):
    raise UsageError(f"swejax convert: {src} is not a Hugging Face checkpoint directory "
                     "(no config.json)")
  if os.path.abspath(src) == os.path.abspath(dst):
    raise UsageError("swejax convert: SRC and DST are the same directory")
  cfg, params = hf.load_hf(src, "float32")
  hf.save_hf(params, cfg, dst, dtype=dtype, tokenizer_dir=src)
