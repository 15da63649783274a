"""`swejax sandbox {setup,reap,run}`: bring up the engine and image, clean up, try a command.

    swejax sandbox setup [--image IMAGE] [--host URL] [--no-bubblewrap]
    swejax sandbox reap [--host URL]
    swejax sandbox run [--backend B] [--image IMAGE] [--timeout S] -- COMMAND

Each prints one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from swejax.sandbox import (BACKENDS, BASE_IMAGE, SandboxError, ensure_engine_and_image,
                            open_sandbox)
from swejax.sandbox import reap as reap_sandboxes


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="swejax sandbox", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  setup = sub.add_parser("setup", help="start a Docker engine and build the base image (idempotent)")
  setup.add_argument("--image", default=BASE_IMAGE)
  setup.add_argument("--host", default=None, help="DOCKER_HOST-style URL (default: DOCKER_HOST "
                     "or the local socket)")
  setup.add_argument("--no-bubblewrap", action="store_true", help="do not install bubblewrap")
  reap = sub.add_parser("reap", help="remove sandboxes whose owner process is gone")
  reap.add_argument("--host", default=None)
  run = sub.add_parser("run", help="run one command in a fresh sandbox")
  run.add_argument("--backend", default="auto", choices=BACKENDS)
  run.add_argument("--image", default=BASE_IMAGE)
  run.add_argument("--host", default=None)
  run.add_argument("--timeout", type=float, default=60.0)
  run.add_argument("cmd", nargs=argparse.REMAINDER)
  return parser


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
  try:
    if args.command == "setup":
      report = ensure_engine_and_image(args.image, args.host, bubblewrap=not args.no_bubblewrap)
    elif args.command == "reap":
      report = {"removed": reap_sandboxes(args.host)}
    else:
      cmd = " ".join(args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd)
      if not cmd:
        raise SandboxError("swejax sandbox run: give a command after --")
      with open_sandbox(args.backend, args.image, host=args.host) as sandbox:
        result = sandbox.run(cmd, timeout=args.timeout)
        report = {"isolation": sandbox.isolation, **dataclasses.asdict(result)}
  except SandboxError as err:
    print(json.dumps({"error": str(err)}))
    print(f"swejax sandbox {args.command}: {err}", file=sys.stderr)
    return 1
  print(json.dumps(report))
  return 0 if args.command != "run" or report["exit_code"] == 0 else 1


if __name__ == "__main__":
  raise SystemExit(main())
