"""Bash text that gives the agent a shell whose state survives between turns.

`Sandbox.run` starts a fresh bash for every command. The scaffold keeps, under a
root directory outside the repository:
    ROOT/bin/           the special commands (links to swejax_tools.py)
    ROOT/state/cwd      the working directory after the last command
    ROOT/state/env.sh   `export -p` after the last command (exported variables)
    ROOT/state/state.json  open file, current line, window size, submit flag
    ROOT/state/no-stdin    an empty file: the stdin of every command
Every agent command is wrapped: restore env and cwd, run, and on exit (an EXIT trap,
so `exit N` is covered) save them and print one marker line carrying state.json and
the cwd, which the host strips from the output. If the marker is missing (a timeout
killed the shell, the command closed stdout), the host reads the files instead.
Non-exported variables, functions, aliases and shell options do not persist.
"""
from __future__ import annotations

import dataclasses
import json
import shlex

TOOL_NAMES = ("open", "goto", "scroll_up", "scroll_down", "create", "edit", "replace",
              "search_file", "submit")
TOOL_FILE = "swejax_tools.py"
MARKER_PREFIX = "<<swejax-state:"


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where the scaffold lives inside the sandbox."""
  root: str

  @property
  def bin(self) -> str:
    return f"{self.root}/bin"

  @property
  def state(self) -> str:
    return f"{self.root}/state"

  @property
  def tool(self) -> str:
    return f"{self.bin}/{TOOL_FILE}"

  @property
  def state_json(self) -> str:
    return f"{self.state}/state.json"

  @property
  def cwd_file(self) -> str:
    return f"{self.state}/cwd"


@dataclasses.dataclass(frozen=True)
class ShellState:
  cwd: str
  open_file: str | None
  line: int
  submitted: bool


def marker(nonce: str) -> str:
  return f"{MARKER_PREFIX}{nonce}>>"


def probe_script(layout: Layout, repo_dir: str | None) -> str:
  """First command of an episode: make dirs, pick a python3, find the repo and its HEAD."""
  q = shlex.quote
  cd = f"cd {q(repo_dir)} || exit 3" if repo_dir else ":"
  return "\n".join([
      f"mkdir -p {q(layout.bin)} {q(layout.state)} || exit 3",
      f"{cd}",
      'py=""',
      'for c in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do',
      '  if [ -n "$c" ] && [ -x "$c" ] && "$c" -c "import sys; sys.exit(sys.version_info < (3, 6))"'
      ' >/dev/null 2>&1; then py=$c; break; fi',
      "done",
      'printf "python=%s\\n" "$py"',
      'printf "cwd=%s\\n" "$(pwd)"',
      'printf "toplevel=%s\\n" "$(git -c safe.directory="*" rev-parse --show-toplevel 2>/dev/null)"',
      'printf "head=%s\\n" "$(git -c safe.directory="*" rev-parse --verify -q HEAD 2>/dev/null)"',
  ])


def parse_probe(output: str) -> dict[str, str]:
  found = {}
  for line in output.splitlines():
    key, sep, value = line.partition("=")
    if sep and key in ("python", "cwd", "toplevel", "head"):
      found[key] = value.strip()
  return found


def install_script(layout: Layout, repo_dir: str, window: int) -> str:
  """Links the tools, writes the initial state, and checks the tools can be executed."""
  q = shlex.quote
  state = json.dumps({"open_file": None, "line": 1, "window": window, "submitted": False})
  links = " ".join(q(n) for n in TOOL_NAMES)
  return "\n".join([
      f"cd {q(layout.bin)} || exit 3",
      f"chmod 755 {TOOL_FILE} && for n in {links}; do ln -sf {TOOL_FILE} \"$n\"; done || exit 3",
      f"printf '%s' {q(repo_dir)} > {q(layout.cwd_file)} || exit 3",
      f"printf '%s' {q(state)} > {q(layout.state_json)} || exit 3",
      f"rm -f {q(layout.state)}/env.sh && : > {q(layout.state)}/no-stdin || exit 3",
      f"if ./{TOOL_FILE} probe >/dev/null 2>&1; then echo exec=yes; else echo exec=no; fi",
  ])


def wrap(command: str, layout: Layout, nonce: str, *, python: str, executable: bool) -> str:
  """The script `Sandbox.run` gets for one agent command.

  The agent's command runs through `eval` of a quoted copy, so that bash's error
  messages about it (a syntax error quotes the offending line) show the agent's own
  lines, never the preamble or its nonce, and the exit trap still reports the state.
  Stdin is an empty file, so nothing waits for input, and `edit` can tell a missing
  heredoc from an empty one.
  """
  q = shlex.quote
  s = q(layout.state)
  finish = (
      "__swejax_finish() { __swejax_rc=$?; "
      f"builtin pwd > {s}/cwd 2>/dev/null; "
      f"builtin export -p > {s}/env.sh 2>/dev/null; "
      f"builtin printf '\\n%s%s\\t%s\\n' {q(marker(nonce))} \"$(< {s}/state.json)\" \"$PWD\"; "
      'builtin exit "$__swejax_rc"; }')
  parts = [
      f"exec < {s}/no-stdin",
      finish,
      "trap __swejax_finish EXIT",
      f"if [ -f {s}/env.sh ]; then . {s}/env.sh 2>/dev/null; fi",
      f"__swejax_cwd=\"$(< {s}/cwd)\"",
      'builtin cd -- "$__swejax_cwd" 2>/dev/null || builtin echo '
      '"(note: $__swejax_cwd no longer exists; the command runs in $PWD)" >&2',
      f'case ":$PATH:" in *:{q(layout.bin)}:*) ;; *) export PATH={q(layout.bin)}:"$PATH";; esac',
  ]
  if not executable:  # e.g. a noexec /tmp: call the tools through the interpreter
    parts += [f"{n}() {{ {q(python)} -I {q(layout.tool)} {n} \"$@\"; }}; export -f {n}"
              for n in TOOL_NAMES]
  return "; ".join(parts) + "; eval " + q(command) + "\n"


def split_marker(output: str, nonce: str) -> tuple[str, dict | None, str | None]:
  """(output without the marker line, state.json as a dict, cwd); None, None if absent."""
  tag = "\n" + marker(nonce)
  at = output.rfind(tag)
  if at < 0:
    return output, None, None
  rest = output[at + len(tag):]
  line, _, after = rest.partition("\n")
  state_text, _, cwd = line.partition("\t")
  try:
    state = json.loads(state_text)
  except ValueError:
    state = None
  if not isinstance(state, dict):
    state = None
  return output[:at] + ("\n" + after if after else ""), state, cwd or None


def state_from(state: dict | None, cwd: str | None, previous: ShellState) -> ShellState:
  """Merges what the marker (or the state files) said into the last known state."""
  if not state:
    state = {}
  open_file = state.get("open_file", previous.open_file)
  line = state.get("line", previous.line)
  return ShellState(
      cwd=cwd if cwd else previous.cwd,
      open_file=open_file if isinstance(open_file, str) and open_file else None,
      line=line if isinstance(line, int) else previous.line,
      submitted=bool(state.get("submitted", previous.submitted)),
  )


def patch_script(layout: Layout, repo_dir: str, base_commit: str, out_path: str) -> str:
  """`git diff` of the working tree against the base commit, new files included.

  A private index (a copy of the repo's) is used so that the agent's own index is
  left as it was. Byte-compiled files and pytest's cache are never part of a patch.
  """
  q = shlex.quote
  idx = q(f"{layout.state}/patch.index")
  git = 'git -c safe.directory="*" -c core.quotepath=off'
  excludes = " ".join(q(p) for p in (
      ":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc",
      ":(exclude,glob)**/.pytest_cache/**"))
  return "\n".join([
      "set -e",
      f"cd {q(repo_dir)}",
      f"rm -f {idx}",
      f'src="$({git} rev-parse --git-path index)"',
      f'if [ -f "$src" ]; then cp -p "$src" {idx}; fi',  # -p: keeps racy-git checks
      f"GIT_INDEX_FILE={idx} {git} add -A -- . {excludes}",
      f"GIT_INDEX_FILE={idx} {git} diff --cached --binary --no-color --no-ext-diff "
      f"{q(base_commit)} > {q(out_path)}",
      f"rm -f {idx}",
  ])
