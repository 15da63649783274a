"""Builds the embedded tokenizer: byte-level BPE trained on swejax's own text.

    python -m swejax.tokenizer.build [--vocab_size=8192] [--root=REPO] [--out=DIR]

Qwen2's layout: its NFC normalizer, pre-tokenizer regex, ByteLevel bytes, Qwen2.5's
added tokens last. NFC because transformers 5 loads a qwen2 model's tokenizer as
Qwen2Tokenizer, which normalizes with NFC whatever tokenizer.json says: without it
the demo's ids would differ from transformers' (and vLLM's) on decomposed text.
So decode(encode(x)) == NFC(x). The same corpus gives the same files byte for byte
(sorted reads; the trainer breaks ties by token id).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from swejax.tokenizer.template import CHATML_TEMPLATE
from swejax.tokenizer.tokenizer import ENDOFTEXT, IM_END, IM_START

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Qwen2.5's added tokens in Qwen's id order; the bool is Qwen's `special` flag.
ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    (ENDOFTEXT, True), (IM_START, True), (IM_END, True), ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True), ("<|box_start|>", True), ("<|box_end|>", True),
    ("<|quad_start|>", True), ("<|quad_end|>", True), ("<|vision_start|>", True),
    ("<|vision_end|>", True), ("<|vision_pad|>", True), ("<|image_pad|>", True),
    ("<|video_pad|>", True), ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False), ("<|repo_name|>", False), ("<|file_sep|>", False))
# ChatML exactly as swejax has always rendered it (no default system prompt).
CHAT_TEMPLATE = CHATML_TEMPLATE

# The corpus: the project's text sources. Generated assets are left out.
CORPUS_DIRS = ("swejax", "configs", "docs", "launch", "tests")
CORPUS_TOP_FILES = ("README.md",)
CORPUS_SUFFIXES = frozenset({".py", ".md", ".txt", ".rst", ".toml", ".cfg", ".ini",
                             ".yaml", ".yml", ".json", ".jinja", ".j2", ".sh"})
EXCLUDED_DIRS = frozenset({"__pycache__", "assets"})
MAX_FILE_BYTES = 1 << 20


def corpus_files(root: Path) -> list[Path]:
  """The project's text files under `root`, in a machine-independent order."""
  found = [root / name for name in CORPUS_TOP_FILES if (root / name).is_file()]
  for top in CORPUS_DIRS:
    for path in (root / top).rglob("*"):
      rel = path.relative_to(root).parts
      if (path.is_file() and path.suffix in CORPUS_SUFFIXES
          and not any(p in EXCLUDED_DIRS or p.startswith(".") for p in rel)
          and path.stat().st_size <= MAX_FILE_BYTES):
        found.append(path)
  return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_corpus(root: Path) -> list[str]:
  """Texts of corpus_files(root); files that are not UTF-8 are skipped."""
  texts = []
  for path in corpus_files(root):
    try:
      texts.append(path.read_bytes().decode("utf-8"))  # keeps \r as written
    except UnicodeDecodeError:
      continue
  return texts


def train(texts: Iterable[str], *, vocab_size: int = 8192,
          min_frequency: int = 2) -> tokenizers.Tokenizer:
  """Trains the byte-level BPE; the added tokens take the last ids."""
  n_learned = vocab_size - len(ADDED_TOKENS)
  if n_learned < 256:
    raise ValueError(f"--vocab_size must be >= {256 + len(ADDED_TOKENS)} "
                     f"(256 bytes + {len(ADDED_TOKENS)} added tokens), got {vocab_size}")
  tok = tokenizers.Tokenizer(models.BPE())  # no unk: every byte is a token
  tok.normalizer = normalizers.NFC()
  tok.pre_tokenizer = pre_tokenizers.Sequence([
      pre_tokenizers.Split(tokenizers.Regex(QWEN2_PATTERN), behavior="isolated"),
      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
  ])
  tok.decoder = decoders.ByteLevel()
  tok.post_processor = processors.ByteLevel(trim_offsets=False)
  trainer = trainers.BpeTrainer(
      vocab_size=n_learned, min_frequency=min_frequency, show_progress=False,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
  tok.train_from_iterator(list(texts), trainer=trainer)
  tok.add_special_tokens([t for t, special in ADDED_TOKENS if special])
  tok.add_tokens([tokenizers.AddedToken(t, special=False, normalized=False)
                  for t, special in ADDED_TOKENS if not special])
  return tok


def tokenizer_config(tok: tokenizers.Tokenizer) -> dict:
  """A Hugging Face tokenizer_config.json in Qwen2.5's form, for transformers/vLLM."""
  flags = dict(lstrip=False, normalized=False, rstrip=False, single_word=False)
  decoder = {str(tok.token_to_id(t)): dict(content=t, **flags, special=special)
             for t, special in ADDED_TOKENS}
  return dict(
      add_bos_token=False, add_prefix_space=False, added_tokens_decoder=decoder,
      additional_special_tokens=[t for t, s in ADDED_TOKENS if s and t != ENDOFTEXT],
      bos_token=None, chat_template=CHAT_TEMPLATE, clean_up_tokenization_spaces=False,
      eos_token=IM_END, errors="replace", model_max_length=131072, pad_token=ENDOFTEXT,
      split_special_tokens=False, tokenizer_class="Qwen2Tokenizer", unk_token=None)


def write(tok: tokenizers.Tokenizer, out_dir: Path) -> None:
  """Writes tokenizer.json and tokenizer_config.json into `out_dir`."""
  out_dir.mkdir(parents=True, exist_ok=True)
  (out_dir / "tokenizer.json").write_text(tok.to_str(pretty=True) + "\n", encoding="utf-8")
  config = json.dumps(tokenizer_config(tok), indent=2, ensure_ascii=False)
  (out_dir / "tokenizer_config.json").write_text(config + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
  package = Path(__file__).resolve().parents[1]
  parser = argparse.ArgumentParser(prog="python -m swejax.tokenizer.build",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--vocab_size", type=int, default=8192)
  parser.add_argument("--min_frequency", type=int, default=2)
  parser.add_argument("--root", type=Path, default=package.parent,
                      help="repository root whose text is the corpus")
  parser.add_argument("--out", type=Path, default=package / "assets" / "tokenizer")
  args = parser.parse_args(argv)
  if not (args.root / "swejax").is_dir():
    parser.error(f"--root {args.root}: no swejax/ folder there")
  texts = read_corpus(args.root)
  try:
    tok = train(texts, vocab_size=args.vocab_size, min_frequency=args.min_frequency)
  except ValueError as e:
    parser.error(str(e))
  write(tok, args.out)
  size = tok.get_vocab_size(with_added_tokens=True)
  if size < args.vocab_size:  # the trainer stops when no pair is frequent enough
    print(f"warning: the corpus gave only {size} of {args.vocab_size} tokens; "
          f"lower --min_frequency or grow the corpus", file=sys.stderr)
  print(json.dumps({"out": str(args.out), "files": len(texts), "vocab_size": size,
                    "corpus_chars": sum(map(len, texts))}))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
