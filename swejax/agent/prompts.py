"""What the agent reads: the system prompt, the first user message and observations.

All pure functions of their arguments, so that a conversation can be re-rendered
exactly from an episode record.
"""
from __future__ import annotations

NO_FILE = "n/a"
NO_OUTPUT = "Your command ran successfully and did not produce any output."

_SYSTEM = """\
You are an autonomous software engineer. You work in a command-line interface inside a \
sandbox that holds a code repository, and you solve the issue you are given by running \
one command per response and reading its output.

SPECIAL TOOLS
Besides any non-interactive shell command, these commands are available:
  open [FILE] [LINE]
      Open FILE and show a numbered window of {window} lines around LINE (default: the top).
      With no arguments, show the window of the open file again.
  goto LINE
      Move the window of the open file to LINE.
  scroll_down
      Show the next window of the open file.
  scroll_up
      Show the previous window of the open file.
  create FILENAME
      Create a new file and open it: empty, or holding the text of a heredoc as for edit.
  edit [--file PATH] START:END << 'EOF'
  <replacement lines>
  EOF
      Replace lines START to END (inclusive, numbered from 1) of the open file, or of PATH,
      with the lines between the EOF markers. START:START-1 inserts before line START
      (1:0 inserts at the top, N+1:N appends after the last line N); an empty heredoc
      deletes the lines. Quote the delimiter ('EOF') so that the shell leaves $ and `
      alone, and write the indentation the code needs. The changed lines are shown back.
  replace [--replace-all] SEARCH REPLACE
      Replace the exact text SEARCH by REPLACE in the open file. SEARCH must occur once,
      unless --replace-all is given.
  search_file TERM [FILE]
      List the lines of FILE (default: the open file) that contain TERM.
  submit
      End the episode. Your changes to the repository (its git diff) are your solution.

ENVIRONMENT RESPONSE
After each command you get its output (stdout and stderr). A long output is shortened: its \
start and its end are kept and the number of characters cut is stated. A non-zero exit \
status is shown as "(Exit code: N)"; a command running longer than {timeout:g} seconds is \
killed. Each response ends with a prompt line:
(Current directory: <dir>, current file: <file>) bash-$
Every command runs in a fresh non-interactive shell: the working directory and exported \
environment variables carry over to the next command; shell variables, aliases, functions \
and background processes do not. Nothing can be typed into a running program, so do not \
start editors (vim, nano), pagers or interactive shells.

YOUR RESPONSE FORMAT
Each response is your reasoning, followed by exactly one command block and nothing after it:

I will look for the function that parses the configuration.
```command
grep -rn "def parse_config" .
```

The block starts with a line ```command and ends with a line ```. Use no other ``` blocks \
in your response. A response with no command block, or with more than one, is not run and \
is answered with a format error. To run several commands in one turn, put them on separate \
lines of the one block or join them with &&. If the command itself has a line starting \
with ```, open the block with ````command and close it with ````.

HANDLING TESTS
Do not modify the repository's existing tests or test configuration (test files, \
conftest.py, pytest settings): your solution is judged by the project's tests, including \
tests written for this issue that you cannot see. Run existing tests to check your work, \
for example: python3 -m pytest path/to/test_file.py -q

USEFUL ADVICE
1. Reproduce the bug first: write a short script that shows the problem (for example \
/tmp/reproduce.py, outside the repository) and run it. Run it again after the fix.
2. Find the relevant code with grep -rn, find, search_file and open before you edit.
3. After every edit, read the lines shown: check the indentation and that no line was \
lost or duplicated.
4. Think about edge cases, and run the existing tests of the code you changed.
5. Remove scratch files you created inside the repository, then run submit.
"""

# For small models with short contexts (the CPU demo): the same tools and format, no advice.
_SYSTEM_BRIEF = """\
You are a software engineer in a sandbox holding a code repository. Solve the issue by \
running one command per response: your reasoning, then exactly one block
```command
<command>
```
Tools besides shell commands: open FILE [LINE] (a window of {window} lines), goto LINE, \
scroll_down, scroll_up, create FILE, edit [--file PATH] START:END << 'EOF' (lines, then \
EOF), replace SEARCH REPLACE (in the open file), search_file TERM [FILE], submit (ends the episode; your git diff is the solution). Commands are killed after \
{timeout:g} seconds.
"""

SYSTEM_PROMPTS = {"full": _SYSTEM, "brief": _SYSTEM_BRIEF}

_FIRST = """\
We are solving the following issue in the repository at {repo_dir}:
<issue>
{problem_statement}
</issue>

Change the repository's non-test files so that the issue is resolved, then run submit.
"""


def system_prompt(*, window: int = 100, command_timeout: float = 120.0,
                  style: str = "full") -> str:
  """The system prompt for the scaffold's settings: "full" has the paper's five sections,
  "brief" only the tools and the format (a tenth of the tokens, for small models)."""
  if style not in SYSTEM_PROMPTS:
    raise ValueError(f"agent.system_prompt: {style!r} is not one of {sorted(SYSTEM_PROMPTS)}")
  return SYSTEM_PROMPTS[style].format(window=window, timeout=command_timeout)


def prompt_line(cwd: str, open_file: str | None) -> str:
  return f"(Current directory: {cwd}, current file: {open_file or NO_FILE}) bash-$"


def first_message(problem_statement: str, repo_dir: str, open_file: str | None = None) -> str:
  """o_0: the issue text, framed, ending with the prompt line like every observation."""
  text = _FIRST.format(repo_dir=repo_dir, problem_statement=problem_statement.strip("\n"))
  return text + prompt_line(repo_dir, open_file)


def truncate_middle(text: str, max_chars: int) -> tuple[str, int]:
  """Keeps the head and the tail of `text` within about `max_chars`; returns (text, cut)."""
  if max_chars <= 0 or len(text) <= max_chars:
    return text, 0
  head = max_chars // 2
  tail = max_chars - head
  cut = len(text) - head - tail
  return text[:head] + _cut_marker(cut) + text[len(text) - tail:], cut


def _cut_marker(cut: int) -> str:
  return f"\n[... {cut} characters cut from the middle of the output ...]\n"


def render_observation(output: str, *, exit_code: int, timed_out: bool, timeout: float,
                       cwd: str, open_file: str | None, max_chars: int,
                       already_cut: int = 0) -> str:
  """o_t for a command: its output (head + tail), its exit status, then the prompt line.

  Exit status format: nothing when 0; `(Exit code: N)` on its own line otherwise;
  `(Command timed out after T seconds and was killed.)` on a timeout.
  `already_cut` counts characters the sandbox dropped before us: it is added to the
  count we report, so the agent learns the true size.
  """
  body, cut = truncate_middle(output, max_chars)
  if cut and already_cut:
    theirs = _cut_marker(already_cut)
    if theirs in output and theirs not in body:  # their marker fell in our cut: not content
      total = cut - len(theirs) + already_cut
    else:
      total = cut + already_cut
    body = body.replace(_cut_marker(cut), _cut_marker(total), 1)
  if not body.strip() and exit_code == 0 and not timed_out:
    body = NO_OUTPUT
  parts = [body.rstrip("\n")] if body.strip() else []
  if timed_out:
    parts.append(f"(Command timed out after {timeout:g} seconds and was killed.)")
  elif exit_code != 0:
    parts.append(f"(Exit code: {exit_code})")
  parts.append(prompt_line(cwd, open_file))
  return "\n".join(parts)


def render_format_error(error: str, *, cwd: str, open_file: str | None) -> str:
  return f"{error}\n{prompt_line(cwd, open_file)}"
