"""The scripted agent resolves a real task through AgentEnv; diffs parse into edits."""
import difflib
import shutil
import subprocess
import sys
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from agent.conftest import LocalProcessSandbox, git, make_repo
from swejax.agent import AgentEnv, parse_action
from swejax.agent.diffs import parse_unified_diff
from swejax.agent.scripted import actions_for_task, run_actions, scripted_actions

BUGGY = {
    "calc/__init__.py": "from calc.ops import add, clamp, mean\n",
    "calc/ops.py": textwrap.dedent("""\
        DEBUG = True
        TRACE = False


        def add(a, b):
            return a - b


        def mean(values):
            if not values:
                raise ValueError("mean of an empty list")
            return sum(values) / (len(values) + 1)


        def clamp(x, lo, hi):
            return max(lo, min(x, hi))
        """),
    "tests/test_ops.py": "from calc import clamp\n\n\ndef test_clamp():\n    assert clamp(5, 0, 3) == 3\n",
}
FIXED_OPS = textwrap.dedent("""\
    def add(a, b):
        return a + b


    def mean(values):
        if not values:
            raise ValueError("mean of an empty list")
        return sum(values) / len(values)


    def clamp(x, lo, hi):
        return max(lo, min(x, hi))


    def median(values):
        ordered = sorted(values)
        mid = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[mid]
        return (ordered[mid - 1] + ordered[mid]) / 2
    """)
UTIL = "def is_even(n):\n    return n % 2 == 0\n"
ISSUE_TESTS = textwrap.dedent("""\
    import calc.ops


    def test_add():
        assert calc.ops.add(2, 3) == 5


    def test_mean():
        assert calc.ops.mean([1, 2, 3]) == 2


    def test_median():
        assert calc.ops.median([3, 1, 2]) == 2 and calc.ops.median([4, 1, 2, 3]) == 2.5


    def test_is_even():
        from calc.util import is_even
        assert is_even(4) and not is_even(3)
    """)


class FakeTask:
  """The fields of swejax.tasks.Task that the scripted agent reads."""

  def __init__(self, patch, test_patch, problem_statement):
    self.patch, self.test_patch, self.problem_statement = patch, test_patch, problem_statement


def _diff(repo, change) -> str:
  """The `git diff` (new files included) that `change(repo)` makes; the repo is reset after."""
  change(repo)
  git(repo, "add", "-A")
  patch = git(repo, "diff", "--cached")
  git(repo, "reset", "-q", "--hard")
  git(repo, "clean", "-qfd")
  return patch


@pytest.fixture
def task(tmp_path):
  repo = make_repo(tmp_path / "base", BUGGY)

  def fix(r):
    (r / "calc/ops.py").write_text(FIXED_OPS)
    (r / "calc/util.py").write_text(UTIL)

  gold = _diff(repo, fix)
  test_patch = _diff(repo, lambda r: (r / "tests/test_issue.py").write_text(ISSUE_TESTS))
  return repo, FakeTask(gold, test_patch, "add() subtracts, mean() is off by one, and there "
                        "is no median() or is_even().\nSee the examples.")


def _resolves(base, patch, test_patch, tmp_path) -> bool:
  """Applies patch + test_patch to a copy of the base repo; True iff the whole suite passes."""
  work = tmp_path / f"check{len(list(tmp_path.iterdir()))}"
  shutil.copytree(base, work)
  for p in (patch, test_patch):
    if p:
      subprocess.run(["git", "apply", "-"], input=p, text=True, cwd=work, check=True)
  run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests"], cwd=work, capture_output=True, text=True)
  return run.returncode == 0


def _episode(base, tmp_path, name):
  work = tmp_path / name
  shutil.copytree(base, work)
  env = AgentEnv(LocalProcessSandbox(str(work)), "issue", max_turns=60,
                 scaffold_dir=str(tmp_path / f"{name}-scaffold"))
  env.reset()
  return env


def test_gold_patch_resolves_and_empty_does_not(task, tmp_path):
  base, t = task
  assert _resolves(base, t.patch, t.test_patch, tmp_path)
  assert not _resolves(base, "", t.test_patch, tmp_path)


@pytest.mark.parametrize("rate, seed", [(0.0, 0), pytest.param(0.5, 3, marks=pytest.mark.slow)])
def test_scripted_agent_resolves_the_task(task, tmp_path, rate, seed):
  base, t = task
  actions = actions_for_task(t, mistake_rate=rate, seed=seed, scratch_dir=str(tmp_path))
  env = _episode(base, tmp_path, "ep")
  results = run_actions(env, actions)
  assert len(results) == len(actions) and results[-1].submitted
  assert env.termination == "submit"
  kinds = [a.kind for a in actions]
  assert env.format_errors == kinds.count("format_error")
  if rate:
    assert {"format_error", "useless", "wrong_edit", "fix_mistake"} & set(kinds)
  else:
    assert env.format_errors == 0
    assert not {"format_error", "useless", "wrong_edit", "fix_mistake"} & set(kinds)
  reproduce = results[kinds.index("reproduce")]
  assert reproduce.exit_code == 1 and "4 failed" in reproduce.observation  # saw the bug
  tested = results[kinds.index("test")]
  assert tested.exit_code == 0 and "4 passed" in tested.observation
  patch = env.patch()
  assert "test_issue" not in patch  # the regression tests were removed again
  assert _resolves(base, patch, t.test_patch, tmp_path)


def test_mistakes_are_deterministic_and_of_every_kind(task):
  _, t = task
  assert actions_for_task(t, mistake_rate=0.4, seed=7) == actions_for_task(
      t, mistake_rate=0.4, seed=7)
  assert actions_for_task(t, mistake_rate=0.4, seed=7) != actions_for_task(
      t, mistake_rate=0.4, seed=8)
  kinds = set()
  for seed in range(6):
    for action in actions_for_task(t, mistake_rate=0.5, seed=seed):
      kinds.add(action.kind)
      parsed = parse_action(action.text)
      assert (parsed.error is not None) == (action.kind == "format_error"), action.text
  assert {"format_error", "useless", "wrong_edit", "fix_mistake"} <= kinds


def test_gold_hunks_become_edit_commands(task):
  _, t = task
  commands = [parse_action(a.text).command for a in scripted_actions(t.patch)]
  assert "create calc/util.py" in commands
  assert "edit 1:4 << 'EOF'\nEOF" in commands  # DEBUG, TRACE and two blank lines deleted
  assert any(c.startswith("open calc/ops.py") for c in commands)
  assert commands[-1] == "submit"


def test_mistake_rate_is_validated(task):
  with pytest.raises(ValueError, match="mistake_rate"):
    scripted_actions(task[1].patch, mistake_rate=1.5)


def _apply(old: list[str], diff_text: str) -> list[str]:
  lines, delta = list(old), 0
  for f in parse_unified_diff(diff_text):
    for hunk in f.hunks:
      for c in hunk.changes():
        assert lines[c.start - 1 + delta:c.end + delta] == list(c.old_lines)
        lines[c.start - 1 + delta:c.end + delta] = list(c.new_lines)
        delta += len(c.new_lines) - len(c.old_lines)
  return lines


_LINES = st.lists(st.sampled_from(["a", "b", "c", "", "  d", "e e"]), max_size=25)


@settings(max_examples=200, deadline=None)
@given(_LINES, _LINES, st.integers(0, 3))
def test_changes_rebuild_the_new_file(old, new, context):
  diff = "".join(difflib.unified_diff([l + "\n" for l in old], [l + "\n" for l in new],
                                      "a/f", "b/f", n=context))
  assert _apply(old, diff) == new


def test_bad_diffs_name_the_line():
  with pytest.raises(ValueError, match="line 1: '---' not followed"):
    parse_unified_diff("--- a/x\nnope\n")
  with pytest.raises(ValueError, match="hunk ends early"):
    parse_unified_diff("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n")
  with pytest.raises(ValueError, match="not supported"):
    parse_unified_diff("diff --git a/x b/y\nrename from x\nrename to y\n")


def _resolves_in_docker(base, patch, test_patch) -> bool:
  from swejax.sandbox import open_sandbox
  with open_sandbox("docker") as sandbox:
    sandbox.copy_in(str(base), sandbox.workdir)
    sandbox.write_file("/tmp/model.patch", patch)
    sandbox.write_file("/tmp/test.patch", test_patch)
    apply = "git apply /tmp/model.patch && " if patch else ""
    result = sandbox.run(f"{apply}git apply /tmp/test.patch && "
                         "python3 -m pytest -q -p no:cacheprovider tests", timeout=120)
    return result.exit_code == 0


@pytest.mark.docker
def test_scripted_agent_resolves_the_task_in_docker(task, docker_engine):
  from swejax.sandbox import open_sandbox
  base, t = task
  with open_sandbox("docker") as sandbox:
    sandbox.copy_in(str(base), sandbox.workdir)
    env = AgentEnv(sandbox, t.problem_statement, max_turns=40)
    env.reset()
    results = run_actions(env, actions_for_task(t, mistake_rate=0.3, seed=1))
    assert results[-1].submitted and env.termination == "submit"
    patch = env.patch()
  assert _resolves_in_docker(base, patch, t.test_patch)
  assert not _resolves_in_docker(base, "", t.test_patch)


def test_problem_statement_with_code_fences_still_gives_valid_actions(task):
  _, t = task
  actions = scripted_actions(t.patch, problem_statement="```python\nadd(1, 2)\n```\nwrong",
                             test_patch=t.test_patch)
  assert all(parse_action(a.text).command for a in actions)
