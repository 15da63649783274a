#!/usr/bin/env python3
"""The scaffold's special commands, installed into the sandbox as one program with many names.

Each name on PATH (open, goto, scroll_up, scroll_down, create, edit, replace,
search_file, submit) is a link to this file; it dispatches on the name it was
called by (or on its first argument when run as `python3 swejax_tools.py NAME`).
The open file, the current line and the submit flag live in `../state/state.json`
next to this file, outside the repository, so they survive between commands.

Runs under whatever python3 the sandbox has (3.6 or newer), so: standard library
only, no syntax newer than 3.6. It is started with `python3 -I` so that the
repository (PYTHONPATH, a file named like a standard module) cannot shadow the
modules it imports.
"""
import json
import os
import sys

NAMES = ("open", "goto", "scroll_up", "scroll_down", "create", "edit", "replace",
         "search_file", "submit")
OVERLAP = 2  # lines shared by consecutive windows when scrolling
MAX_HITS = 100  # search_file lists at most this many lines
CONTEXT = 3  # lines shown around an edited region
EDIT_USAGE = ("Usage: edit [--file PATH] START:END << 'EOF'\n<replacement lines>\nEOF\n"
              "Replaces lines START..END (inclusive). START:START-1 inserts before line START; "
              "an empty heredoc deletes the lines.")


class ToolError(Exception):
  """A mistake of the caller: printed as `Error: ...`, exit status 1."""


def _state_path():
  here = os.path.dirname(os.path.realpath(__file__))
  return os.path.join(os.path.dirname(here), "state", "state.json")


def load_state():
  try:
    with open(_state_path()) as f:
      state = json.load(f)
  except (OSError, ValueError):
    state = {}
  state.setdefault("open_file", None)
  state.setdefault("line", 1)
  state.setdefault("window", 100)
  state.setdefault("submitted", False)
  return state


def save_state(state):
  path = _state_path()
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(state, f)
  os.replace(tmp, path)


def read_lines(path):
  """Returns (lines without their newline, ends with newline, uses CRLF)."""
  if not os.path.exists(path):
    raise ToolError("File not found: {}".format(path))
  if os.path.isdir(path):
    raise ToolError("{} is a directory. Use `ls {}` to list it.".format(path, path))
  with open(path, "rb") as f:
    data = f.read()
  if b"\0" in data[:8192]:
    raise ToolError("{} looks like a binary file; these commands work on text files.".format(path))
  text = data.decode("utf-8", "surrogateescape")
  if not text:
    return [], True, False
  crlf = "\r\n" in text
  lines = text.split("\n")
  trailing = lines[-1] == ""
  if trailing:
    lines.pop()
  if crlf:
    lines = [l[:-1] if l.endswith("\r") else l for l in lines]
  return lines, trailing, crlf


def write_lines(path, lines, trailing, crlf):
  nl = "\r\n" if crlf else "\n"
  text = nl.join(lines) + (nl if lines and trailing else "")
  with open(path, "wb") as f:
    f.write(text.encode("utf-8", "surrogateescape"))


def window_bounds(line, n, size):
  """First and last line (1-based, inclusive) of the window of `size` lines around `line`."""
  start = max(1, min(line - size // 2, n - size + 1))
  return start, min(n, start + size - 1)


def render(path, lines, start, end):
  n = len(lines)
  out = ["[File: {} ({} lines total)]".format(path, n)]
  if n == 0:
    out.append("(empty file)")
    return "\n".join(out)
  if start > 1:
    out.append("({} more lines above)".format(start - 1))
  out.extend("{}:{}".format(i, lines[i - 1]) for i in range(start, end + 1))
  if end < n:
    out.append("({} more lines below)".format(n - end))
  return "\n".join(out)


def show_window(state, note=None):
  path = state["open_file"]
  lines = read_lines(path)[0]
  start, end = window_bounds(state["line"], len(lines), state["window"])
  text = render(path, lines, start, end)
  print(text if note is None else note + "\n" + text)


def parse_int(text, what):
  try:
    return int(text)
  except ValueError:
    raise ToolError("{} must be an integer, got {!r}".format(what, text))


def require_open(state):
  if not state["open_file"]:
    raise ToolError("No file is open. Use `open FILE` first.")
  return state["open_file"]


def check_line(path, line, n):
  if not 1 <= line <= max(n, 1):
    raise ToolError("Line {} is out of range: {} has {} lines (valid: 1-{}).".format(
        line, path, n, max(n, 1)))


def cmd_open(args, state):
  if len(args) > 2:
    raise ToolError("Usage: open [FILE] [LINE]")
  if not args:
    require_open(state)
    return show_window(state)
  if len(args) == 1 and state["open_file"] and args[0].isdigit() and not os.path.exists(args[0]):
    return cmd_goto(args, state)  # `open 120` with a file open means `goto 120`
  path = os.path.abspath(args[0])
  lines = read_lines(path)[0]
  line = 1
  if len(args) == 2:
    line = parse_int(args[1], "LINE")
    check_line(path, line, len(lines))
  state["open_file"], state["line"] = path, line
  save_state(state)
  show_window(state)


def cmd_goto(args, state):
  if len(args) != 1:
    raise ToolError("Usage: goto LINE")
  path = require_open(state)
  line = parse_int(args[0], "LINE")
  check_line(path, line, len(read_lines(path)[0]))
  state["line"] = line
  save_state(state)
  show_window(state)


def cmd_scroll(args, state, down):
  if args:
    raise ToolError("Usage: {} (no arguments)".format("scroll_down" if down else "scroll_up"))
  path = require_open(state)
  n, size = len(read_lines(path)[0]), state["window"]
  start, end = window_bounds(state["line"], n, size)
  if down and end >= n:
    return show_window(state, "(Already at the bottom of the file.)")
  if not down and start <= 1:
    return show_window(state, "(Already at the top of the file.)")
  if down:
    new_start = min(start + size - OVERLAP, max(1, n - size + 1))
  else:
    new_start = max(1, start - size + OVERLAP)
  state["line"] = new_start + size // 2
  save_state(state)
  show_window(state)


def read_stdin_text():
  """The heredoc text, or None when no heredoc was given.

  The scaffold's shell reads stdin from an empty marker file (state/no-stdin), so
  "no heredoc" is told apart from an empty one (which bash gives as /dev/null).
  """
  try:
    st = os.fstat(0)
  except OSError:
    return None
  if os.isatty(0):
    return None
  try:
    marker = os.stat(os.path.join(os.path.dirname(_state_path()), "no-stdin"))
    if (st.st_dev, st.st_ino) == (marker.st_dev, marker.st_ino):
      return None
  except OSError:
    pass
  return sys.stdin.buffer.read().decode("utf-8", "surrogateescape")


def text_to_lines(text):
  if text == "":
    return []
  lines = text.split("\n")
  if lines[-1] == "":
    lines.pop()
  return [l[:-1] if l.endswith("\r") else l for l in lines]


def syntax_warning(path, old_lines, new_lines):
  """A warning when an edit turned a parseable Python file into one that does not parse."""
  if not path.endswith(".py"):
    return None
  def error(lines):
    try:
      compile("\n".join(lines) + "\n", path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
      return e
    return None
  new_error = error(new_lines)
  if new_error is None or error(old_lines) is not None:
    return None
  where = getattr(new_error, "lineno", None)
  return ("Warning: {} no longer parses as Python ({}: {}{}). Fix it with another edit.".format(
      path, type(new_error).__name__, getattr(new_error, "msg", new_error),
      ", line {}".format(where) if where else ""))


def count(n, noun, plural=None):
  return "{} {}".format(n, noun if n == 1 else plural or noun + "s")


def span(start, end):
  return "line {}".format(start) if start == end else "lines {}-{}".format(start, end)


def report_update(state, path, summary, new_lines, first, last, warning):
  """Says what changed and shows the changed lines (numbered) with a little context."""
  start = max(1, first - CONTEXT)
  end = min(len(new_lines), max(last, first - 1) + CONTEXT)
  end = min(end, start + 2 * CONTEXT + state["window"] - 1)  # a long replacement: its start only
  parts = ["File updated: {}: {}".format(path, summary), render(path, new_lines, start, end)]
  parts.append("Check the lines above: indentation, and no line lost or duplicated.")
  if warning:
    parts.append(warning)
  print("\n".join(parts))


def cmd_create(args, state):
  if len(args) != 1:
    raise ToolError("Usage: create FILENAME")
  path = os.path.abspath(args[0])
  if os.path.lexists(path):
    raise ToolError("File already exists: {}. Use `open {}` to view it and `edit` to change it."
                    .format(path, args[0]))
  parent = os.path.dirname(path)
  if parent and not os.path.isdir(parent):
    os.makedirs(parent)
  text = read_stdin_text() or ""
  with open(path, "wb") as f:
    f.write(text.encode("utf-8", "surrogateescape"))
  state["open_file"], state["line"] = path, 1
  save_state(state)
  show_window(state, "Created {}.".format(path))


def parse_edit_args(args, state):
  path, span = None, None
  i = 0
  while i < len(args):
    a = args[i]
    if a == "--file":
      if i + 1 >= len(args):
        raise ToolError("--file needs a PATH.\n" + EDIT_USAGE)
      path, i = args[i + 1], i + 2
      continue
    if a.startswith("--file="):
      path, i = a[len("--file="):], i + 1
      continue
    if span is not None or ":" not in a:
      raise ToolError("Unexpected argument {!r}.\n{}".format(a, EDIT_USAGE))
    span, i = a, i + 1
  if span is None:
    raise ToolError("Missing the line range START:END.\n" + EDIT_USAGE)
  start_text, _, end_text = span.partition(":")
  start, end = parse_int(start_text, "START"), parse_int(end_text, "END")
  path = os.path.abspath(path) if path else require_open(state)
  return path, start, end


def cmd_edit(args, state):
  path, start, end = parse_edit_args(args, state)
  if not os.path.exists(path):
    raise ToolError("File not found: {}. Use `create {}` first.".format(path, path))
  lines, trailing, crlf = read_lines(path)
  n = len(lines)
  if n == 0 and start == 1 and end in (0, 1):
    end = 0  # an empty file: 1:1 means "write the first lines"
  if not (1 <= start <= n + 1 and start - 1 <= end <= n):
    raise ToolError(
        "Invalid range {}:{} for {} ({} lines). Use START:END with 1 <= START <= END <= {} to "
        "replace lines, START:START-1 (e.g. 4:3) to insert before line START, {}:{} to append."
        .format(start, end, path, n, n, n + 1, n))
  text = read_stdin_text()
  if text is None:
    raise ToolError("No replacement text: edit reads it from a heredoc.\n" + EDIT_USAGE)
  new = text_to_lines(text)
  result = lines[:start - 1] + new + lines[end:]
  write_lines(path, result, trailing or n == 0, crlf)
  if end < start:
    summary = "inserted {} before line {}.".format(count(len(new), "line"), start)
  elif not new:
    summary = "deleted {}.".format(span(start, end))
  else:
    summary = "replaced {} with {}.".format(span(start, end), count(len(new), "line"))
  state["open_file"], state["line"] = path, start
  save_state(state)
  report_update(state, path, summary, result, start, start + len(new) - 1,
                syntax_warning(path, lines, result))


def cmd_replace(args, state):
  replace_all = "--replace-all" in args
  rest = [a for a in args if a != "--replace-all"]
  if len(rest) != 2:
    raise ToolError("Usage: replace [--replace-all] SEARCH REPLACE (quote each argument)")
  search, repl = rest
  if not search:
    raise ToolError("SEARCH must not be empty.")
  path = require_open(state)
  lines, trailing, crlf = read_lines(path)
  text = "\n".join(lines)
  hits, pos = [], text.find(search)
  while pos != -1:
    hits.append(text.count("\n", 0, pos) + 1)
    pos = text.find(search, pos + len(search))
  total = len(hits)
  if not total:
    raise ToolError("SEARCH text not found in {}. It must match exactly, including whitespace "
                    "(use search_file to look).".format(path))
  if total > 1 and not replace_all:
    shown = ", ".join(str(h) for h in hits[:10]) + (", ..." if total > 10 else "")
    raise ToolError("SEARCH occurs {} times in {} (lines {}). Make it unique or use --replace-all."
                    .format(total, path, shown))
  new_text = text.replace(search, repl) if replace_all else text.replace(search, repl, 1)
  new_lines = new_text.split("\n") if new_text else []
  write_lines(path, new_lines, trailing, crlf)
  state["line"] = hits[0]
  save_state(state)
  where = sorted(set(hits)) if replace_all else hits[:1]
  at = ", ".join(str(h) for h in where[:10]) + (", ..." if len(where) > 10 else "")
  summary = "replaced {} (on {} {}).".format(
      count(total if replace_all else 1, "occurrence"), "line" if len(where) == 1 else "lines", at)
  report_update(state, path, summary, new_lines, hits[0], hits[0] + repl.count("\n"),
                syntax_warning(path, lines, new_lines))


def cmd_search_file(args, state):
  if len(args) not in (1, 2):
    raise ToolError("Usage: search_file TERM [FILE]")
  term = args[0]
  if not term:
    raise ToolError("TERM must not be empty.")
  path = os.path.abspath(args[1]) if len(args) == 2 else require_open(state)
  lines = read_lines(path)[0]
  hits = [(i + 1, l) for i, l in enumerate(lines) if term in l]
  if not hits:
    print("No matches found for {!r} in {}".format(term, path))
    return
  more = " (showing the first {}; narrow the search)".format(MAX_HITS) if len(hits) > MAX_HITS else ""
  out = ["Found {} for {!r} in {}{}:".format(count(len(hits), "match", "matches"), term, path, more)]
  out.extend("Line {}: {}".format(i, l) for i, l in hits[:MAX_HITS])
  out.append("End of matches for {!r} in {}".format(term, path))
  print("\n".join(out))


def cmd_submit(args, state):
  if args:
    raise ToolError("submit takes no arguments.")
  state["submitted"] = True
  save_state(state)
  print("Submitted: the current changes to the repository (git diff) are your solution.")


def utf8_streams():
  """UTF-8 output whatever the locale (Python 3.6 under LANG=C would print ASCII only)."""
  import io
  sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="surrogateescape")
  sys.stderr = io.TextIOWrapper(sys.stderr.buffer, encoding="utf-8", errors="backslashreplace")


def main(argv):
  utf8_streams()
  name, args = os.path.basename(argv[0]), argv[1:]
  if name not in NAMES:  # run as `python3 swejax_tools.py NAME ARGS...`
    if not args:
      print("usage: {} NAME [ARGS...] with NAME in {}".format(name, ", ".join(NAMES)))
      return 2
    name, args = args[0], args[1:]
  if name == "probe":
    print("swejax-tools ok")
    return 0
  state = load_state()
  commands = {
      "open": cmd_open, "goto": cmd_goto, "create": cmd_create, "edit": cmd_edit,
      "replace": cmd_replace, "search_file": cmd_search_file, "submit": cmd_submit,
      "scroll_up": lambda a, s: cmd_scroll(a, s, down=False),
      "scroll_down": lambda a, s: cmd_scroll(a, s, down=True),
  }
  if name not in commands:
    print("Error: unknown command {!r}".format(name), file=sys.stderr)
    return 2
  try:
    commands[name](args, state)
  except ToolError as e:
    sys.stdout.flush()
    print("Error: {}".format(e), file=sys.stderr)
    return 1
  except OSError as e:
    print("Error: {}".format(e), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  code = main(sys.argv)
  sys.stdout.flush()
  sys.stderr.flush()
  sys.exit(code)
