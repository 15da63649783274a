"""The `swejax` command: a thin dispatcher to each part's own entry point.

    swejax train --config=configs/demo.py[:variant] [--config.a.b=v ...] [--workdir=DIR]
    swejax eval  --config=... --workdir=DIR
    swejax tasks {synth,validate,...} ...
    swejax sandbox {setup,reap,...} ...
    swejax convert SRC DST [--dtype=bfloat16]   # WORKDIR/checkpoints/N or an HF dir, to HF
    swejax tokenize --tokenizer=DIR --messages=FILE   # a conversation's token ids
    swejax report WORKDIR [RUN_B] [--out DIR]   # the static HTML report of a run

`swejax --config=...` with no subcommand means `swejax train`.
"""
from __future__ import annotations

import importlib
import sys

# subcommand -> module with `main(argv: list[str]) -> int`
_COMMANDS = {
    "train": "swejax.rl.main",
    "eval": "swejax.eval.cli",
    "tasks": "swejax.tasks.cli",
    "sandbox": "swejax.sandbox.cli",
    "convert": "swejax.checkpoint.export",
    "tokenize": "swejax.tokenizer.cli",
    "report": "swejax.report.cli",
}


def _usage() -> str:
  names = ", ".join(sorted(_COMMANDS))
  return f"usage: swejax COMMAND [flags]   (commands: {names}; `swejax COMMAND --help` for more)"


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ("-h", "--help"):
    print(_usage())
    return 0 if argv else 2
  if argv[0].startswith("--"):
    command, rest = "train", argv
  else:
    command, rest = argv[0], argv[1:]
  if command not in _COMMANDS:
    print(f"swejax: unknown command {command!r}\n{_usage()}", file=sys.stderr)
    return 2
  from swejax.config import UsageError  # pylint: disable=import-outside-toplevel
  module = importlib.import_module(_COMMANDS[command])
  try:
    return int(module.main(rest) or 0)
  except UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  raise SystemExit(main())
