"""Prompts, observation rendering, and the in-sandbox program's own constraints."""
import ast
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swejax.agent import first_message, parse_action, prompt_line, system_prompt, tools_source
from swejax.agent import shell
from swejax.agent.prompts import render_observation, truncate_middle

SECTIONS = ("SPECIAL TOOLS", "ENVIRONMENT RESPONSE", "YOUR RESPONSE FORMAT", "HANDLING TESTS",
            "USEFUL ADVICE")


def test_system_prompt_has_the_papers_sections_in_order():
  text = system_prompt(window=37, command_timeout=90)
  positions = [text.index(f"\n{s}\n") for s in SECTIONS]
  assert positions == sorted(positions)
  for name in shell.TOOL_NAMES:
    assert re.search(rf"^  {name}\b", text, re.M), name
  assert "window of 37 lines" in text and "longer than 90 seconds" in text
  assert "(Current directory: <dir>, current file: <file>) bash-$" in text
  assert "Do not modify the repository's existing tests" in text
  assert "Reproduce the bug first" in text


def test_brief_system_prompt_names_every_tool_in_a_tenth_of_the_text():
  brief = system_prompt(window=12, command_timeout=20, style="brief")
  for name in shell.TOOL_NAMES:
    assert re.search(rf"\b{name}\b", brief), name
  assert "```command" in brief and "window of 12 lines" in brief and "20 seconds" in brief
  assert len(brief) * 5 < len(system_prompt(window=12, command_timeout=20))
  with pytest.raises(ValueError, match="agent.system_prompt: 'long'"):
    system_prompt(style="long")


def test_system_prompt_example_is_a_valid_action():
  text = system_prompt()
  start = text.index("I will look for")
  example = text[start:text.index("```\n", text.index("```command", start)) + 3]
  assert parse_action(example).command == 'grep -rn "def parse_config" .'


def test_first_message_frames_the_issue_and_ends_with_the_prompt():
  text = first_message("Crash on empty input.\n", "/testbed")
  assert "<issue>\nCrash on empty input.\n</issue>" in text
  assert text.endswith("\n(Current directory: /testbed, current file: n/a) bash-$")


def test_prompt_line():
  assert prompt_line("/a b", "/a b/c.py") == "(Current directory: /a b, current file: /a b/c.py) bash-$"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(0, 200))
def test_truncate_middle_keeps_head_and_tail(text, max_chars):
  body, cut = truncate_middle(text, max_chars)
  if cut == 0:
    assert body == text and (len(text) <= max_chars or max_chars == 0)
    return
  head, tail = max_chars // 2, max_chars - max_chars // 2
  assert cut == len(text) - max_chars
  assert body.startswith(text[:head]) and body.endswith(text[len(text) - tail:])
  assert f"[... {cut} characters cut from the middle of the output ...]" in body


def test_render_observation_timeout_and_exit_code_lines():
  timed = render_observation("partial", exit_code=124, timed_out=True, timeout=2.5, cwd="/r",
                             open_file=None, max_chars=100)
  assert timed == ("partial\n(Command timed out after 2.5 seconds and was killed.)\n"
                   "(Current directory: /r, current file: n/a) bash-$")
  silent_fail = render_observation("", exit_code=1, timed_out=False, timeout=1, cwd="/r",
                                   open_file="/r/x", max_chars=100)
  assert silent_fail == "(Exit code: 1)\n(Current directory: /r, current file: /r/x) bash-$"


def test_tools_program_runs_on_python_3_6_syntax_and_stdlib_only():
  source = tools_source()
  tree = ast.parse(source, feature_version=(3, 6))
  imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
              for a in node.names}
  imported |= {node.module.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module}
  assert imported <= set(sys.stdlib_module_names)
  assert not any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                 for n in ast.walk(tree))  # annotations import is 3.7+


def test_tools_program_names_match_the_installer():
  tree = ast.parse(tools_source())
  names = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
               and getattr(n.targets[0], "id", "") == "NAMES")
  assert tuple(names) == shell.TOOL_NAMES


def test_tools_program_without_a_name_prints_usage(tmp_path):
  path = tmp_path / shell.TOOL_FILE
  path.write_text(tools_source())
  out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
  assert out.returncode == 2 and "usage:" in out.stdout
  bad = subprocess.run([sys.executable, str(path), "frobnicate"], capture_output=True, text=True)
  assert bad.returncode == 2 and "unknown command 'frobnicate'" in bad.stderr
