"""The action parser: exactly one ```command block, never an exception."""
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from swejax.agent.parser import format_action, parse_action


def test_reasoning_then_one_block():
  parsed = parse_action("I will list files.\n```command\nls -la\n```")
  assert parsed.command == "ls -la" and parsed.error is None


def test_multiline_command_with_heredoc_is_kept_verbatim():
  cmd = "edit 3:5 << 'EOF'\n    return x  \n\nEOF"
  parsed = parse_action(f"Fix it.\n```command\n{cmd}\n```\n")
  assert parsed.command == cmd


def test_tolerates_trailing_whitespace_and_crlf():
  parsed = parse_action("ok\r\n```command   \r\nls\r\n```  \r\n  \n\t")
  assert parsed.command == "ls"


def test_longer_fence_allows_backtick_lines_inside():
  cmd = "cat > README.md << 'EOF'\n```python\nx = 1\n```\nEOF"
  parsed = parse_action(f"Docs.\n````command\n{cmd}\n````")
  assert parsed.command == cmd


def test_indented_fence_is_dedented_so_heredocs_still_end():
  parsed = parse_action("x\n  ```command\n  cat << 'EOF'\n  hi\n  EOF\n  ```")
  assert parsed.command == "cat << 'EOF'\nhi\nEOF"


@pytest.mark.parametrize("text, fragment", [
    ("I think I should run ls.", "no ```command block"),
    ("a\n```command\nls\n```\nb\n```command\npwd\n```", "found 2 fenced blocks (2 of them"),
    ("a\n```python\nx = 1\n```\n```command\nls\n```", "found 2 fenced blocks (1 of them"),
    ("run\n```bash\nls\n```", "opened with '```bash'"),
    ("run\n```\nls\n```", "opened with '```'"),
    ("run\n```command\nls\n", "not closed"),
    ("run\n```command\nls\n```\nThen I will look at it.", "text after the command block"),
    ("run\n```command\n  \n```", "empty"),
    ("inline ```command ls``` only", "no ```command block"),
])
def test_format_errors_say_what_was_wrong(text, fragment):
  parsed = parse_action(text)
  assert parsed.command is None
  assert fragment in parsed.error
  assert parsed.error.startswith("Format error:")
  assert "```command\nls -la\n```" in parsed.error  # shows the right format


def test_non_text_is_an_error_not_an_exception():
  assert parse_action(None).error is not None  # type: ignore[arg-type]
  assert parse_action(b"```command\nls\n```").error is not None  # type: ignore[arg-type]


def test_format_action_uses_a_fence_longer_than_any_inside():
  cmd = "printf '````\\n'\n````\n```"
  text = format_action("why", cmd)
  assert text.split("\n")[1] == "`````command"
  assert parse_action(text).command == cmd


_PIECES = st.sampled_from([
    "```", "````", "```command", "````command", "```bash", "``` command", "   ```command",
    "    ```command", "\n", "\r\n", "\r", " ", "\t", "EOF", "ls", "`", "``", "command", "\x00",
    "\u2028", "<< 'EOF'",
])


def _check_any_text(text):
  parsed = parse_action(text)
  assert (parsed.command is None) != (parsed.error is None)
  if parsed.command is not None:
    assert parsed.command.strip()
    normalized = text.replace("\r\n", "\n")
    assert all(line.lstrip(" ") in normalized for line in parsed.command.split("\n"))


_ANY_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(_ANY_TEXT)
def test_never_raises_quick(text):
  _check_any_text(text)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None)
@given(_ANY_TEXT)
def test_never_raises_10k(text):
  _check_any_text(text)


_LINE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(
    lambda s: "\n" not in s and "\r" not in s)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=4), st.lists(_LINE, min_size=1, max_size=6))
def test_format_action_round_trips(reasoning_lines, command_lines):
  reasoning = "\n".join(l for l in reasoning_lines if not l.lstrip(" ").startswith("```"))
  command = "\n".join(command_lines).strip("\n")
  if not command.strip():
    return
  assert parse_action(format_action(reasoning, command)).command == command
