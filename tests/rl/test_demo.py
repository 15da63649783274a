"""The demo's data: hinted one-line fixes and the copy corpus of the warm start."""
import importlib.resources
import shlex

import numpy as np
import pytest

from swejax.agent import parse_action
from swejax.data import batching
from swejax.rl import demo
from swejax.tasks import load_tasks
from swejax.tokenizer import default_tokenizer


@pytest.fixture(scope="module")
def tasks():
  path = str(importlib.resources.files("swejax") / "assets" / "synthetic_tasks.jsonl")
  return [t for t in load_tasks(path) if demo.is_demo_task(t)][:40]


def test_code_lines_come_from_the_repositories(tasks):
  lines, paths = demo.code_lines(tasks)
  assert len(lines) > 500 and lines == sorted(set(lines))
  assert all(8 <= len(l) <= 70 and l == l.strip() for l in lines)
  assert not any("'" in l and '"' in l for l in lines)  # shell-quotable either way
  assert paths and all(p.endswith(".py") and not p.startswith("./") for p in paths)
  fix_paths = {demo.one_line_fix(t)[0] for t in tasks}
  assert fix_paths <= set(paths)


@pytest.mark.parametrize("shape", ["hint", "episode"])
def test_copy_example_is_the_hint_then_the_demonstrations_actions(shape):
  tok = default_tokenizer()
  old, new, path = 'if op != "==":', "return a + b", "pkg/mod.py"
  ids, mask = demo.copy_example(tok, old, new, path, shape=shape)
  text = tok.decode(ids.tolist())
  assert f"Hint: in {path}, the line `{old}` should read `{new}`." in text
  actions = text.split("<|im_start|>assistant\n")[1:]
  commands = [parse_action(a.split("<|im_end|>")[0]).command for a in actions]
  assert commands == [f"open {path}", f"replace {shlex.quote(old)} {shlex.quote(new)}"]
  # Loss exactly on the two actions (and their end tokens), nothing of the hint.
  learned = tok.decode(ids[mask > 0].tolist())
  assert "Hint" not in learned and learned.count("```command") == 2
  assert mask.sum() == sum(len(tok.encode(a.split("<|im_end|>")[0])) + 1 for a in actions)


def test_episode_shaped_copy_example_puts_an_episode_between_hint_and_copy():
  tok = default_tokenizer()
  old, new, path = "total = a - b", "total = a + b", "pkg/mod.py"
  body = [f"line_{i} = {i}" for i in range(30)]
  body.insert(20, old)
  ids, mask = demo.copy_example(tok, old, new, path, statement=["x = f(1)"], file_lines=body,
                                window=12, system="SYSTEM PROMPT")
  text = tok.decode(ids.tolist())
  assert text.startswith("<|im_start|>system\nSYSTEM PROMPT")
  assert "<issue>\nx = f(1)\n\nHint: in pkg/mod.py" in text  # the agent's issue framing
  # The observation is what `open` shows: the first 12 of the file's 31 lines.
  assert "[File: /testbed/pkg/mod.py (31 lines total)]\n1:line_0 = 0\n" in text
  assert "12:line_11 = 11\n(19 more lines below)" in text and "13:" not in text
  assert "current file: /testbed/pkg/mod.py) bash-$" in text
  # The replacement is copied from the hint, hundreds of tokens back; loss only on actions.
  learned = tok.decode(ids[mask > 0].tolist())
  assert "Hint" not in learned and "line_0" not in learned and learned.count("```command") == 2
  hint_at = text.index("Hint")
  assert len(tok.encode(text[hint_at:text.rindex("replace ")])) > 150
  with pytest.raises(ValueError, match="copy_shape"):
    demo.copy_example(tok, old, new, path, shape="prose")


def test_episode_shaped_corpus_holds_the_old_line_in_the_file():
  tok = default_tokenizer()
  lines = [f"v{i} = {i} * {i}" for i in range(200)]
  for s in demo.copy_corpus(tok, lines, ["m.py"], 20, seed=3, system="S"):
    text = tok.decode(s.tokens.tolist())
    old = text.split("the line `", 1)[1].split("`", 1)[0]
    shown = text.split("[File: /testbed/m.py (", 1)[1]
    n = int(shown.split(" lines total", 1)[0])
    assert 12 <= n <= 120 and text.count(old) >= 3  # hint, file (when shown) or not, actions
  hints = demo.copy_corpus(tok, lines, ["m.py"], 3, seed=3, shape="hint")
  assert all(tok.decode(s.tokens.tolist()).startswith("<|im_start|>user\nHint:") for s in hints)


def test_copy_corpus_is_seeded_and_checks_its_input():
  tok = default_tokenizer()
  lines = [f"x = {i}" for i in range(10)]
  a = demo.copy_corpus(tok, lines, ["m.py"], 5, seed=1)
  b = demo.copy_corpus(tok, lines, ["m.py"], 5, seed=1)
  c = demo.copy_corpus(tok, lines, ["m.py"], 5, seed=2)
  assert [s.tokens.tolist() for s in a] == [s.tokens.tolist() for s in b]
  assert [s.tokens.tolist() for s in a] != [s.tokens.tolist() for s in c]
  with pytest.raises(ValueError, match="copy corpus"):
    demo.copy_corpus(tok, lines[:1], ["m.py"], 1, seed=0)


@pytest.mark.parametrize("n,expected_m", [(1, 1), (3, 4), (8, 8), (9, 16)])
def test_step_batches_have_a_power_of_two_microbatches(n, expected_m):
  tok = default_tokenizer()
  seqs = demo.copy_corpus(tok, [f"x = {i}" for i in range(10)], ["m.py"], n, seed=0)
  longest = max(len(s.tokens) for s in seqs)
  batch, eff = batching.packed_step_batch(seqs, longest, 1)  # about one sequence per row
  assert batch["tokens"].shape[0] == expected_m and batch["tokens"].shape[1] == 1
  assert np.sum(batch["segment_ids"] > 0) == sum(len(s.tokens) for s in seqs)
  assert 0 < eff <= 1
