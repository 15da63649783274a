"""Conversations and tokenizers shared by the chat-template tests."""
import importlib.resources
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QWEN_DIR = REPO / ".." / "shared" / "data" / "qwen_tokenizer"
DEMO_DIR = Path(str(importlib.resources.files("swejax").joinpath("assets/tokenizer")))
# The demo's base model: transformers loads a qwen2 model's tokenizer as Qwen2Tokenizer.
DEMO_MODEL_DIR = DEMO_DIR.parent / "demo_base"


def tokenizer_dirs():
  """The real Qwen3 tokenizer (skipped with a reason where it is absent), the demo's,
  and the demo model's directory."""
  qwen = pytest.param(QWEN_DIR, id="qwen3", marks=pytest.mark.skipif(
      not (QWEN_DIR / "tokenizer.json").is_file(),
      reason=f"the Qwen3 reference tokenizer is not at {QWEN_DIR}"))
  return [qwen, pytest.param(DEMO_DIR, id="demo"), pytest.param(DEMO_MODEL_DIR, id="demo_base")]


_LOG = "".join(f"tests/test_{i % 37}.py::test_case_{i} PASSED [{i % 100:3d}%]\n"
               for i in range(3000))
_TRACEBACK = '''Traceback (most recent call last):
  File "/repo/src/parse.py", line 42, in parse
    return int(x) // 0
ZeroDivisionError: integer division or modulo by zero
'''
SYSTEM = "You are a careful software engineer.\nAnswer with one ```bash block per turn.\n"
ISSUE = ("`parse()` crashes on empty input:\n\n```python\n>>> parse('')\n" + _TRACEBACK
         + "```\nExpected: `None`.\tThanks!  \n")
UNICODE = ("café naïve résumé — “quotes” ‘single’ … 日本語のテキスト 中文 한국어 "
           "עברית العربية emoji 🐍🚀👩‍💻 flags 🇫🇷 combining e\u0301 a\u0308 "
           "zero\u200bwidth nbsp\u00a0x "
           "math ∑∫√∞ ≤≥ box ┌─┐ tab\tcr\r\nend\n")
ACTION = "I'll read the file first.\n```bash\ncat src/parse.py\n```"
CODE = ('```python\ndef parse(x: str) -> int | None:\n    """Parse x."""\n    if not x:\n'
        '        return None\n    return int(x)\n```\n\n    indented    spaces   \n\n\n')

# name -> messages; no message text spells an added token (see the sanitizing tests).
CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "hello"}],
    "system_user": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ISSUE}],
    "multi_turn": [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": ISSUE},
        {"role": "assistant", "content": ACTION}, {"role": "user", "content": CODE},
        {"role": "assistant", "content": "```bash\npython -c 'import parse'\n```"},
        {"role": "user", "content": UNICODE},
        {"role": "assistant", "content": "Fixed.\n```bash\nsubmit\n```"}],
    "tool_outputs": [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": ISSUE},
        {"role": "assistant", "content": ACTION},
        {"role": "tool", "content": CODE},
        {"role": "assistant", "content": "Two commands.\n```bash\nls\n```"},
        {"role": "tool", "content": "a.py\nb.py\n"}, {"role": "tool", "content": UNICODE},
        {"role": "user", "content": "Please also add a test."},
        {"role": "assistant", "content": "Done."}],
    "reasoning": [
        {"role": "user", "content": ISSUE},
        {"role": "assistant", "content": ACTION, "reasoning_content": "The traceback says x=''."},
        {"role": "user", "content": CODE},
        {"role": "assistant", "content": "```bash\nsubmit\n```",
         "reasoning_content": "\nLooks right.\n"},
        {"role": "tool", "content": "ok"}],
    "long_observation": [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": ISSUE},
        {"role": "assistant", "content": "```bash\npytest -v\n```"},
        {"role": "user", "content": _LOG + UNICODE * 50 + CODE * 200},
        {"role": "assistant", "content": "```bash\nsubmit\n```"}],
    "whitespace_edges": [
        {"role": "system", "content": ""}, {"role": "user", "content": "\n\n  "},
        {"role": "assistant", "content": " "}, {"role": "user", "content": "\r\n\t"}],
}

# A Qwen2.5-style template (written for these tests): a default system prompt when
# none is given, tools as JSON, tool outputs joined into one user turn, and
# transformers' {% generation %} tags around assistant text.
QWEN25_STYLE_TEMPLATE = """\
{%- set default_system = 'You are a helpful assistant.' %}
{%- if messages[0].role == 'system' %}
  {%- set system = messages[0].content %}
{%- else %}
  {%- set system = default_system %}
{%- endif %}
{{- '<|im_start|>system\\n' + system }}
{%- if tools %}
  {{- '\\n\\n# Tools\\n<tools>' }}
  {%- for tool in tools %}{{- '\\n' + tool | tojson }}{%- endfor %}
  {{- '\\n</tools>' }}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- for message in messages %}
  {%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
  {%- elif message.role == 'assistant' %}
    {{- '<|im_start|>assistant\\n' }}
    {%- generation %}{{- message.content + '<|im_end|>' }}{%- endgeneration %}
    {{- '\\n' }}
  {%- elif message.role == 'tool' %}
    {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
      {{- '<|im_start|>user' }}
    {%- endif %}
    {{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}
    {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
      {{- '<|im_end|>\\n' }}
    {%- endif %}
  {%- elif message.role not in ['system'] %}
    {{- raise_exception('unknown role ' + message.role) }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""
TOOLS = [{"type": "function", "function": {
    "name": "bash", "description": "Run a command — «quoted» & <escaped>?",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                   "required": ["command"]}}}]
