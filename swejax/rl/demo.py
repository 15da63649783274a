"""What makes the embedded demo learnable by a tiny model on a CPU.

A model of about a million parameters trained for minutes cannot read code. So the demo's
issues carry a hint, as many real issues do: the file, the faulty line and what it should
read (derived from the one-line gold patch; `hints_text` in SWE-bench terms). The agent
must still act through the scaffold: open the file, replace the line, submit; and the
hidden tests still decide. The scripted demonstrations of the warm start make mistakes
at a set rate: some an agent recovers from (a format error, a useless command) and some
that fail the task (submitting without the fix, a wrong replacement). The base model
imitates both; what RFT and DAPO then visibly remove are its failure modes.
"""
from __future__ import annotations

import io
import random
import shlex
import tarfile
from typing import Any, Sequence

import numpy as np

from swejax.agent.parser import format_action
from swejax.agent.scripted import ScriptedAction


def one_line_fix(task) -> tuple[str, str, str] | None:
  """(path, old line, new line), stripped, for a gold patch that changes one line whose
  text is unique in its file; else None."""
  files = [b for b in task.patch.split("diff --git ")[1:]]
  if len(files) != 1:
    return None
  minus = [l[1:] for l in files[0].splitlines() if l.startswith("-") and not l.startswith("---")]
  plus = [l[1:] for l in files[0].splitlines() if l.startswith("+") and not l.startswith("+++")]
  if len(minus) != 1 or len(plus) != 1:
    return None
  path = files[0].split("\n", 1)[0].split(" b/", 1)[-1].strip()
  old, new = minus[0].strip(), plus[0].strip()
  if not old or not new or "'" in old + new and '"' in old + new:
    return None
  source = _file_at_base(task, path)
  if source is None or source.count(old) != 1:
    return None
  return path, old, new


def _file_at_base(task, path: str) -> str | None:
  data = task.snapshot_bytes()
  if not data:
    return None
  with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
    try:
      member = tar.extractfile(path)
    except KeyError:
      return None
    return member.read().decode("utf-8", "replace") if member else None


def _hint(path: str, old: str, new: str) -> str:
  return f"Hint: in {path}, the line `{old}` should read `{new}`."


def _open_step(path: str) -> tuple[str, str]:
  """(reasoning, command) of the demonstrations' first action."""
  return f"The hint points at {path}. Let me open it.", f"open {shlex.quote(path)}"


def _replace_step(old: str, new: str) -> tuple[str, str]:
  return (f"I replace `{old}` with `{new}`.",
          f"replace {shlex.quote(old)} {shlex.quote(new)}")


def hinted_statement(task) -> str:
  fix = one_line_fix(task)
  if fix is None:
    return task.problem_statement
  return f"{task.problem_statement.rstrip()}\n\n{_hint(*fix)}"


def demo_plan(task, *, mistake_rate: float, seed: int, fail_rate: float | None = None
              ) -> list[ScriptedAction]:
  """open -> replace -> submit, with mistakes (see the module docstring)."""
  fix = one_line_fix(task)
  if fix is None:
    raise ValueError(f"task {task.instance_id}: no one-line fix; not a demo task")
  path, old, new = fix
  rng = random.Random(seed)
  fail_rate = mistake_rate if fail_rate is None else fail_rate
  out: list[ScriptedAction] = []

  def add(kind: str, reasoning: str, command: str) -> None:
    if rng.random() < mistake_rate / 2:
      if rng.random() < 0.5:
        out.append(ScriptedAction("useless", format_action("Let me look around first.",
                                                           rng.choice(["ls", "git status"]))))
      else:
        out.append(ScriptedAction("format_error", f"I will run this:\n{command}"))
    out.append(ScriptedAction(kind, format_action(reasoning, command)))

  add("open", *_open_step(path))
  failure = rng.random() < fail_rate
  if failure and rng.random() < 0.5:
    out.append(ScriptedAction("submit", format_action("That looks fine. Submitting.", "submit")))
    return out
  replacement = old if failure else new
  add("replace", *_replace_step(old, replacement))
  add("submit", "The line is fixed. Submitting.", "submit")
  return out


def is_demo_task(task: Any) -> bool:
  return one_line_fix(task) is not None


# ----------------------------------------------------------------------------- copying
# An instruct model copies a line from the issue into its command for free; a model of a
# million parameters trained on a few hundred demonstrations memorizes their lines instead
# (held-out action accuracy stalls near 0.7 while the training accuracy passes 0.9). The
# warm start therefore first trains on a copy corpus: random pairs of the repositories'
# code lines in the shape of the hint and of the open/replace actions (pretraining's
# stand-in), then on the demonstrations.


def code_lines(tasks: Sequence[Any], *, min_len: int = 8, max_len: int = 70
               ) -> tuple[list[str], list[str]]:
  """(distinct stripped lines, file paths) of the Python files of the tasks' repositories
  at their base commits, both sorted."""
  lines, paths, seen = set(), set(), set()
  for task in tasks:
    key = (task.repo, task.base_commit)
    data = task.snapshot_bytes()
    if key in seen or not data:
      continue
    seen.add(key)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
      for member in tar.getmembers():
        if not (member.isfile() and member.name.endswith(".py")):
          continue
        paths.add(member.name.removeprefix("./"))
        for line in tar.extractfile(member).read().decode("utf-8", "replace").splitlines():
          line = line.strip()
          if min_len <= len(line) <= max_len and not ("'" in line and '"' in line):
            lines.add(line)
  return sorted(lines), sorted(paths)


REPO_DIR = "/testbed"  # where the synthetic tasks' repositories live in their sandboxes


COPY_SHAPES = ("episode", "hint")


def copy_example(tok, old: str, new: str, path: str, *, shape: str = "episode",
                 statement: Sequence[str] = (), file_lines: Sequence[str] | None = None,
                 window: int = 12, system: str = "") -> tuple[np.ndarray, np.ndarray]:
  """(token ids, loss mask) of one copy example naming `path`, `old` and `new`.

  "episode": an episode's shape: `system` (the agent's system prompt) first, the issue
  framing with `statement` lines before the hint, the open action, the window of
  `file_lines` that `open` shows (when given), then the replace action; the replacement
  is copied from as far back as in a real episode (hundreds of tokens).
  "hint": the bare hint, then the open and replace actions (tens of tokens).
  """
  from swejax.agent import prompts  # pylint: disable=import-outside-toplevel
  from swejax.agent.tools import swejax_tools  # pylint: disable=import-outside-toplevel
  from swejax.tokenizer import ChatBuilder  # pylint: disable=import-outside-toplevel
  if shape not in COPY_SHAPES:
    raise ValueError(f"warm_start.copy_shape: {shape!r} is not one of {COPY_SHAPES}")
  chat = ChatBuilder(tok)
  if shape == "hint":
    chat.user(_hint(path, old, new))
  else:
    if system:
      chat.system(system)
    issue = "\n".join(statement) + ("\n\n" if statement else "") + _hint(path, old, new)
    chat.user(prompts.first_message(issue, REPO_DIR))
  chat.assistant_sampled(tok.encode(format_action(*_open_step(path))) + [tok.im_end_id])
  if shape == "episode" and file_lines is not None:
    shown = f"{REPO_DIR}/{path}"
    start, end = swejax_tools.window_bounds(1, len(file_lines), window)
    view = swejax_tools.render(shown, list(file_lines), start, end)
    chat.user(prompts.render_observation(view, exit_code=0, timed_out=False, timeout=0.0,
                                         cwd=REPO_DIR, open_file=shown, max_chars=0))
  chat.assistant_sampled(tok.encode(format_action(*_replace_step(old, new))) + [tok.im_end_id])
  r = chat.rendered()
  return np.asarray(r.ids, np.int32), np.asarray(r.loss_mask, np.float32)


def copy_corpus(tok, lines: Sequence[str], paths: Sequence[str], n: int, seed: int, *,
                shape: str = "episode", window: int = 12, system: str = ""):
  """n copy examples (swejax.data.packing.Sequence_) over random pairs of `lines`.

  In the "episode" shape, a few random lines stand for the issue's text and a file of
  12-120 random lines holds the old one (anywhere, often below the window `open` shows).
  """
  from swejax.data.packing import Sequence_  # pylint: disable=import-outside-toplevel
  if len(lines) < 2 or not paths:
    raise ValueError(f"copy corpus: need >= 2 code lines and a path, got {len(lines)} lines")
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    a, b = rng.choice(len(lines), 2, replace=False)
    extra = {}
    if shape == "episode":
      statement = ["```python", *(lines[i] for i in rng.choice(len(lines), rng.integers(1, 9))),
                   "```"]
      body = [lines[i] for i in rng.choice(len(lines), rng.integers(11, 120))]
      body.insert(int(rng.integers(len(body) + 1)), lines[a])
      extra = dict(statement=statement, file_lines=body, window=window, system=system)
    ids, mask = copy_example(tok, lines[a], lines[b], paths[rng.integers(len(paths))],
                             shape=shape, **extra)
    out.append(Sequence_(tokens=ids, loss_mask=mask, logprobs=np.zeros(len(ids), np.float32)))
  return out
