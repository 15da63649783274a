"""`swejax tokenize`: the token ids of a conversation, as a run would render it.

    swejax tokenize --tokenizer DIR --messages FILE [--add_generation_prompt]

FILE (or - for stdin) is a JSON list of {role, content} messages (other fields,
such as reasoning_content, reach the template as they do in transformers). Prints
one JSON list of ids: compare it with what a sampler or `transformers` gives to
check token-in-token-out. Text that spells a special token stays text.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swejax.tokenizer.tokenizer import Tokenizer


def read_messages(path: str) -> list[dict]:
  """The messages of FILE; ValueError naming the file and the bad message."""
  name = "<stdin>" if path == "-" else path
  try:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    messages = json.loads(text)
  except OSError as e:
    raise ValueError(f"--messages {name}: cannot read it ({e.strerror or e})") from None
  except ValueError as e:
    raise ValueError(f"--messages {name}: not valid JSON ({e})") from None
  if not isinstance(messages, list) or not messages:
    raise ValueError(f"--messages {name}: must be a non-empty JSON list of "
                     "{role, content} objects")
  for i, m in enumerate(messages):
    if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
      raise ValueError(f"--messages {name}: message {i} must be an object with a string "
                       f"role and a content, got {json.dumps(m)[:80]}")
  return messages


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog="swejax tokenize", description=__doc__.split("\n")[0])
  parser.add_argument("--tokenizer", required=True,
                      help="a tokenizer or Hugging Face model directory (tokenizer.json, "
                           "tokenizer_config.json, chat_template.jinja)")
  parser.add_argument("--messages", required=True, help="JSON list of {role, content}; - for stdin")
  parser.add_argument("--add_generation_prompt", action="store_true",
                      help="end with the prompt an assistant turn is sampled from")
  args = parser.parse_args(argv)
  try:
    tok = Tokenizer.from_file(args.tokenizer)
    messages = read_messages(args.messages)
    ids = tok.apply_chat_template(messages, add_generation_prompt=args.add_generation_prompt)
  except (OSError, ValueError, TypeError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(json.dumps(ids))
  return 0
