"""A scripted agent: plausible trajectories for tasks whose gold patch is known.

Used for the demo's warm start (SFT data before RL). The script explores, reproduces
the bug (writes the task's regression tests to /tmp, applies them, runs them and
sees them fail), locates the code (grep / search_file / open), fixes it with `edit`
commands made from the gold patch's hunks, runs the tests again, removes the
regression tests and submits. With `mistake_rate > 0` it also makes, at that rate
per step, the mistakes a real agent makes and recovers from: a response in the wrong
format, a useless command, a wrong edit followed by its correction. Everything is
deterministic given the seed. Actions are planned up front (no observation is read),
which works because every line number follows from the patch.
"""
from __future__ import annotations

import dataclasses
import random
import shlex
from typing import Any, Iterable, Sequence

from swejax.agent.diffs import Change, FileDiff, parse_unified_diff
from swejax.agent.parser import format_action

_USELESS = ("ls -la", "git status", "pwd", "git log --oneline -3", "ls -F")


@dataclasses.dataclass(frozen=True)
class ScriptedAction:
  """One model response. `kind` says what it is for (e.g. "edit", "format_error")."""
  kind: str
  text: str


def _quote_code(text: str, limit: int = 80) -> str:
  text = text.strip().replace("`", "'")
  return repr(text if len(text) <= limit else text[:limit] + "...")


def heredoc(lines: Sequence[str]) -> tuple[str, str]:
  """(delimiter, body) for `<< 'DELIM'`: a delimiter that is none of the lines."""
  delim, k = "EOF", 0
  while delim in lines:
    k += 1
    delim = f"EOF{k}"
  body = "".join(f"{line}\n" for line in lines)
  return delim, f"{body}{delim}"


def edit_command(start: int, end: int, lines: Sequence[str], path: str | None = None) -> str:
  delim, body = heredoc(lines)
  target = f"--file {shlex.quote(path)} " if path else ""
  return f"edit {target}{start}:{end} << '{delim}'\n{body}"


def test_files_of(test_patch: str) -> list[str]:
  return [f.path for f in parse_unified_diff(test_patch) if not f.is_deleted]


def _locate_term(diff: FileDiff) -> str:
  """What a developer would grep for: the enclosing def, else a changed line."""
  hunk = diff.hunks[0]
  for token in ("def ", "class "):
    if token in hunk.section:
      name = hunk.section.split(token, 1)[1].split("(")[0].split(":")[0].strip()
      if name:
        return f"{token}{name}"
  for line in hunk.lines:
    if line[0] == "-" and line[1:].strip():
      return line[1:].strip()[:60]
  for line in hunk.lines:
    if line[1:].strip():
      return line[1:].strip()[:60]
  return diff.path.rsplit("/", 1)[-1]


class _Planner:
  """Accumulates actions; injects mistakes before planned steps at the given rate."""

  def __init__(self, rate: float, seed: int):
    if not 0.0 <= rate <= 1.0:
      raise ValueError(f"mistake_rate: expected a number in [0, 1], got {rate!r}")
    self.rate = rate
    self.rng = random.Random(seed)
    self.actions: list[ScriptedAction] = []

  def say(self, *options: str) -> str:
    return self.rng.choice(options)

  def add(self, kind: str, reasoning: str, command: str, mistakes: bool = True) -> None:
    if mistakes and self.rate and self.rng.random() < self.rate:
      self._mistake(command)
    self.actions.append(ScriptedAction(kind, format_action(reasoning, command)))

  def _mistake(self, intended: str) -> None:
    if self.rng.random() < 0.5:
      cmd = self.rng.choice(_USELESS)
      self.actions.append(ScriptedAction("useless", format_action(
          self.say("Let me check the state of things first.",
                   "Before going on, I want to look around a bit."), cmd)))
      return
    style = self.rng.randrange(3)
    if "```" in intended:  # keep the mistake a format error whatever the command holds
      style = 0
      intended = "the next command"
    if style == 0:  # the command without a block
      text = f"Next I run this:\n{intended}"
    elif style == 1:  # two blocks
      text = f"Two things to run.\n```command\n{intended}\n```\nand then\n```command\nls\n```"
    else:  # wrong fence tag
      text = f"Let me run this.\n```bash\n{intended}\n```"
    self.actions.append(ScriptedAction("format_error", text))


def scripted_actions(gold_patch: str, *, problem_statement: str = "", test_patch: str = "",
                     test_cmd: str = "python3 -m pytest -q", mistake_rate: float = 0.0,
                     seed: int = 0, scratch_dir: str = "/tmp") -> list[ScriptedAction]:
  """The responses of an agent that fixes the task with its gold patch.

  Paths are relative to the repository root, which is where an episode starts.
  The regression tests are staged in `scratch_dir`, which must be outside the repo.
  """
  tests_patch_file = f"{scratch_dir.rstrip('/')}/issue_tests.patch"
  files = parse_unified_diff(gold_patch)
  if not files:
    raise ValueError("gold_patch: no file diffs found")
  tests = test_files_of(test_patch) if test_patch.strip() else []
  run_tests = " ".join([test_cmd, *(shlex.quote(t) for t in tests)])
  plan = _Planner(mistake_rate, seed)

  summary = problem_statement.strip().split("\n", 1)[0][:160].replace("`", "'")
  plan.add("explore", (f"The issue reports: {summary}\n" if summary else "") + plan.say(
      "Let me start by looking at the layout of the repository.",
      "First I look at what the repository contains."), "ls -F", mistakes=False)
  if tests:
    delim, body = heredoc(test_patch.rstrip("\n").split("\n"))
    plan.add("reproduce", plan.say(
        "I reproduce the problem first: I add regression tests for the behaviour the issue "
        "describes and run them. They should fail before the fix.",
        "To reproduce the bug I write tests for the expected behaviour and run them; "
        "they should fail now."),
        f"cat > {shlex.quote(tests_patch_file)} << '{delim}'\n{body}\n"
        f"git apply {shlex.quote(tests_patch_file)} && {run_tests}")

  for k, diff in enumerate(files):
    _fix_file(plan, diff, first=k == 0)

  if tests:
    plan.add("test", plan.say("Now the tests should pass.", "Let me run the tests again."),
             run_tests)
    plan.add("cleanup", "The fix works. I remove the regression tests I added, so that the "
             "repository's tests stay as they were, and check what changed.",
             f"git apply -R {shlex.quote(tests_patch_file)} && git status --short")
  plan.add("submit", plan.say("The change is complete, so I submit it.",
                              "Everything looks right. Submitting."), "submit")
  return plan.actions


def _fix_file(plan: _Planner, diff: FileDiff, first: bool) -> None:
  path = diff.path
  qpath = shlex.quote(path)
  if diff.is_deleted:
    plan.add("edit", f"{path} is not needed any more, so I delete it.", f"rm {qpath}")
    return
  if diff.is_new:
    lines = [l[1:] for h in diff.hunks for l in h.lines if l[0] == "+"]
    plan.add("edit", f"The fix needs a new file, {path}.", f"create {qpath}")
    plan.add("edit", f"I write the content of {path}.", edit_command(1, 0, lines))
    return
  term = _locate_term(diff)
  if first:
    plan.add("locate", f"Let me find the code involved: I search for {_quote_code(term)}.",
             f"grep -rn --exclude-dir=.git -F -- {shlex.quote(term)} .")
  else:
    plan.add("locate", f"The issue also involves {path}. Let me search it for "
             f"{_quote_code(term)}.", f"search_file {shlex.quote(term)} {qpath}")
  changes = [c for h in diff.hunks for c in h.changes()]
  at = changes[0].start - (0 if changes[0].old_lines else 1)  # an append: the last line
  plan.add("locate", f"Let me open {path} where the change is needed.",
           f"open {qpath} {max(1, at)}")
  delta = 0
  for change in changes:
    _edit(plan, change, change.start + delta)
    delta += len(change.new_lines) - len(change.old_lines)


def _edit(plan: _Planner, change: Change, start: int) -> None:
  end = start + len(change.old_lines) - 1
  new = list(change.new_lines)
  if not change.old_lines:
    why = f"{len(new)} line(s) are missing before line {start}; I insert them."
  elif not new:
    why = f"Lines {start}-{end} should not be there; I delete them."
  else:
    why = (f"Line {start} reads {_quote_code(change.old_lines[0])}, which is wrong; it should "
           f"read {_quote_code(new[0])}.")
  wrong = plan.rate and plan.rng.random() < plan.rate
  if wrong and new:  # duplicate the last new line, then delete the duplicate
    plan.add("wrong_edit", why, edit_command(start, end, new + new[-1:]), mistakes=False)
    dup = start + len(new)
    plan.add("fix_mistake", f"Line {dup} repeats line {dup - 1} by mistake; I delete it.",
             edit_command(dup, dup, []))
  elif wrong and len(change.old_lines) > 1:  # delete one line too few, then the rest
    plan.add("wrong_edit", why, edit_command(start, end - 1, new), mistakes=False)
    plan.add("fix_mistake", f"I left line {start} behind; it must go too.",
             edit_command(start, start, []))
  else:
    plan.add("edit", why, edit_command(start, end, new))


def actions_for_task(task: Any, **kwargs: Any) -> list[ScriptedAction]:
  """`scripted_actions` for a swejax.tasks.Task (or any object with the SWE-bench fields)."""
  return scripted_actions(task.patch, problem_statement=task.problem_statement,
                          test_patch=task.test_patch, **kwargs)


def run_actions(env: Any, actions: Iterable[ScriptedAction]) -> list:
  """Steps `env` (an AgentEnv after reset) through the actions until the episode ends."""
  results = []
  for action in actions:
    if env.done:
      break
    results.append(env.step(action.text))
  return results
