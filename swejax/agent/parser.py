"""The action format: free reasoning text, then exactly one ```command block, nothing after.

The rules (strict, so that the format is learnable and unambiguous; the paper counts
zero or two+ blocks as a format error):
- A fence is a line with at most 3 leading spaces and then 3 or more backticks.
  A block opened by N backticks closes at the next fence line of >= N backticks and
  nothing else (as in CommonMark), so a command containing ``` lines can be wrapped
  in ````command ... ````.
- The response holds exactly ONE fenced block; its info string is `command`.
- Only whitespace may follow the closing fence. Trailing whitespace on fence lines
  and CRLF line ends are tolerated.
- Indentation of the opening fence is removed from the content lines (CommonMark),
  so an indented block still terminates its heredocs.
Anything else is a format error: the message says what was wrong and goes back to
the agent as its observation.
"""
from __future__ import annotations

import dataclasses
import re

_FENCE = re.compile(r"^( {0,3})(`{3,})(.*)$")
_EXAMPLE = "Let me list the files of the repository.\n```command\nls -la\n```"


@dataclasses.dataclass(frozen=True)
class ParsedAction:
  """Exactly one of `command` and `error` is set."""
  command: str | None
  error: str | None


@dataclasses.dataclass(frozen=True)
class _Block:
  info: str
  lines: list[str]
  end: int | None  # index of the closing fence line; None when never closed


def _blocks(lines: list[str]) -> list[_Block]:
  blocks: list[_Block] = []
  i = 0
  while i < len(lines):
    m = _FENCE.match(lines[i].rstrip())
    if m is None or "`" in m.group(3):  # a backtick in the info string: not a fence
      i += 1
      continue
    indent, ticks, info = len(m.group(1)), len(m.group(2)), m.group(3).strip()
    body: list[str] = []
    j, end = i + 1, None
    while j < len(lines):
      close = _FENCE.match(lines[j].rstrip())
      if close and len(close.group(2)) >= ticks and not close.group(3).strip():
        end = j
        break
      body.append(_dedent(lines[j], indent))
      j += 1
    blocks.append(_Block(info, body, end))
    if end is None:
      break
    i = end + 1
  return blocks


def _dedent(line: str, n: int) -> str:
  k = 0
  while k < n and k < len(line) and line[k] == " ":
    k += 1
  return line[k:]


def _error(what: str) -> ParsedAction:
  return ParsedAction(None, (
      f"Format error: {what}\n"
      "Your response must be your reasoning followed by exactly one command block, "
      "with nothing after it, for example:\n" + _EXAMPLE))


def parse_action(text: str) -> ParsedAction:
  """Splits a model response into its command, or says why it is not a valid action.

  Never raises, whatever the text.
  """
  if not isinstance(text, str):
    return _error(f"the response is not text ({type(text).__name__}).")
  lines = text.replace("\r\n", "\n").split("\n")
  blocks = _blocks(lines)
  if not blocks:
    return _error("no ```command block found.")
  if len(blocks) > 1:
    named = sum(b.info == "command" for b in blocks)
    return _error(f"found {len(blocks)} fenced blocks ({named} of them ```command); use exactly "
                  "one. To run several commands, put them on separate lines (or join them with "
                  "&&) inside the one block, and use no other ``` blocks in your reasoning.")
  block = blocks[0]
  if block.end is None:
    return _error("the ```command block is not closed: end it with a line ```.")
  if block.info != "command":
    shown = f"```{block.info}" if block.info else "```"
    return _error(f"the block is opened with {shown!r}; open it with ```command.")
  if any(line.strip() for line in lines[block.end + 1:]):
    return _error("there is text after the command block; end your response with the block.")
  command = "\n".join(block.lines).strip("\n")
  if not command.strip():
    return _error("the command block is empty.")
  return ParsedAction(command, None)


def format_action(reasoning: str, command: str) -> str:
  """Renders reasoning and a command as one valid action (the fence outgrows any ``` inside)."""
  longest = max((len(m.group(2)) for line in command.split("\n")
                 if (m := _FENCE.match(line))), default=0)
  fence = "`" * max(3, longest + 1)
  reasoning = reasoning.strip()
  return f"{reasoning}\n{fence}command\n{command}\n{fence}" if reasoning else (
      f"{fence}command\n{command}\n{fence}")
