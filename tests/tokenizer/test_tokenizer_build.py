"""Tests of swejax.tokenizer.build: corpus selection, determinism, the written files."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from swejax.tokenizer import Tokenizer
from swejax.tokenizer import build

PACKAGE = Path(build.__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path: Path) -> Path:
  """A small project tree: real swejax sources plus files the corpus must skip."""
  root = tmp_path / "repo"
  for src in sorted((PACKAGE / "tokenizer").glob("*.py")):
    dst = root / "swejax" / "tokenizer" / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
  (root / "README.md").write_text("# swejax\nRL for software-engineering agents.\n")
  (root / "docs").mkdir()
  (root / "docs" / "notes.md").write_text("Tokens carry loss only if sampled.\n")
  for skipped in ("swejax/assets/tokenizer/tokenizer.json", "swejax/__pycache__/x.py",
                  "swejax/.hidden/x.py", "swejax/tokenizer/image.png"):
    (root / skipped).parent.mkdir(parents=True, exist_ok=True)
    (root / skipped).write_text("SKIPPED")
  (root / "swejax" / "latin1.txt").write_bytes(b"caf\xe9 SKIPPED\n")
  return root


def test_corpus_is_project_text_in_sorted_order(root):
  rel = [p.relative_to(root).as_posix() for p in build.corpus_files(root)]
  assert rel == sorted(rel)
  assert {"README.md", "docs/notes.md", "swejax/tokenizer/build.py"} <= set(rel)
  assert not any(r.endswith((".png", "x.py", "tokenizer.json")) for r in rel)
  assert not any("SKIPPED" in text for text in build.read_corpus(root))


def test_build_is_deterministic_across_processes(root, tmp_path):
  argv = ["--root", str(root), "--vocab_size", "600"]
  assert build.main(argv + ["--out", str(tmp_path / "a")]) == 0
  subprocess.run([sys.executable, "-m", "swejax.tokenizer.build", *argv,
                  "--out", str(tmp_path / "b")], check=True, capture_output=True)
  for name in ("tokenizer.json", "tokenizer_config.json"):
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
  tok = Tokenizer.from_file(tmp_path / "a")
  assert tok.vocab_size == 600
  text = (root / "swejax" / "tokenizer" / "chat.py").read_text()
  assert tok.decode(tok.encode(text)) == text
  assert len(tok.encode(text)) < len(text.encode()) / 2  # merges learned from the corpus


def test_config_matches_tokenizer(tmp_path):
  tok = build.train(["def f(x):\n  return x\n"] * 3, vocab_size=300)
  build.write(tok, tmp_path)
  config = json.loads((tmp_path / "tokenizer_config.json").read_text())
  decoder = {int(i): (d["content"], d["special"])
             for i, d in config["added_tokens_decoder"].items()}
  assert decoder == {tok.token_to_id(t): (t, s) for t, s in build.ADDED_TOKENS}
  loaded = Tokenizer.from_file(tmp_path)
  assert loaded.pad_id == loaded.token_to_id(config["pad_token"])
  assert loaded.eos_id == loaded.token_to_id(config["eos_token"])


def test_bad_arguments():
  with pytest.raises(ValueError, match="--vocab_size must be >= 278"):
    build.train(["x"], vocab_size=100)
  with pytest.raises(SystemExit):
    build.main(["--root", "/nonexistent-swejax-root"])
