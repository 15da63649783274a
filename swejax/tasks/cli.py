"""`swejax tasks ...`: synthesize, validate, filter, inspect and grade tasks.

    swejax tasks synth --out FILE [--n N] [--seed S] [--jobs J] [--packages a,b]
    swejax tasks validate --tasks FILE [--backend B] [--jobs J] [--sample K]
    swejax tasks filter --tasks FILE --out FILE [--max-files 7] [--max-lines 499] ...
    swejax tasks stats --tasks FILE
    swejax tasks grade --tasks FILE --instance ID --patch FILE [--backend B]

Each prints one JSON object as its last stdout line.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time

from swejax.tasks import filters, loader, synth


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="swejax tasks", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)

  p = sub.add_parser("synth", help="write synthetic tasks (JSONL)")
  p.add_argument("--out", required=True)
  p.add_argument("--n", type=int, default=300)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--jobs", type=int, default=2)
  p.add_argument("--packages", default="", help="comma-separated seed packages (default all)")
  p.add_argument("--max-fail-to-pass", type=int, default=8)

  p = sub.add_parser("validate", help="gold resolves and empty does not, per task")
  p.add_argument("--tasks", required=True)
  p.add_argument("--backend", default="auto", choices=("auto", "docker", "local"))
  p.add_argument("--jobs", type=int, default=2)
  p.add_argument("--sample", type=int, default=0, help="validate K tasks drawn with --seed")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--timeout", type=float, default=600.0, help="seconds per test command")

  p = sub.add_parser("filter", help="apply the paper's filters")
  p.add_argument("--tasks", required=True)
  p.add_argument("--out", required=True)
  p.add_argument("--max-files", type=int, default=7)
  p.add_argument("--max-lines", type=int, default=499)
  p.add_argument("--max-difficulty", type=float, default=None)
  p.add_argument("--max-issue-text", type=float, default=None)
  p.add_argument("--max-test-score", type=float, default=None)
  p.add_argument("--keep-error-types", action="store_true",
                 help="keep tasks whose failing tests hit AttributeError/ImportError-type errors")

  p = sub.add_parser("stats", help="counts and sizes of a task file")
  p.add_argument("--tasks", required=True)

  p = sub.add_parser("grade", help="grade one patch file for one task")
  p.add_argument("--tasks", required=True)
  p.add_argument("--instance", required=True)
  p.add_argument("--patch", required=True, help="a unified diff file ('-' for stdin)")
  p.add_argument("--backend", default="auto", choices=("auto", "docker", "local"))
  p.add_argument("--timeout", type=float, default=600.0)
  return parser


def _emit(obj: dict) -> None:
  print(json.dumps(obj, sort_keys=True), flush=True)


def _synth(args: argparse.Namespace) -> int:
  if args.n < 1:
    raise ValueError(f"--n must be at least 1, got {args.n}")
  packages = tuple(p for p in args.packages.split(",") if p)
  known = synth.list_seeds()
  unknown = [p for p in packages if p not in known]
  if unknown:
    raise ValueError(f"--packages: unknown {unknown}; known: {known}")
  start = time.monotonic()
  config = synth.SynthConfig(n=args.n, seed=args.seed, packages=packages, jobs=args.jobs,
                             max_fail_to_pass=args.max_fail_to_pass)
  tasks = synth.synthesize(config, log=lambda m: print(m, file=sys.stderr, flush=True))
  count = loader.save_tasks(tasks, args.out)
  by_package: dict[str, int] = {}
  for task in tasks:
    by_package[task.meta["seed_package"]] = by_package.get(task.meta["seed_package"], 0) + 1
  _emit({"out": args.out, "tasks": count, "packages": by_package,
         "seconds": round(time.monotonic() - start, 1)})
  return 0 if count == args.n else 1


def _validate(args: argparse.Namespace) -> int:
  from swejax.tasks.validate import validate_tasks  # pulls in the sandbox backends

  tasks = loader.load_tasks(args.tasks)
  if args.sample:
    tasks = sorted(random.Random(args.seed).sample(tasks, min(args.sample, len(tasks))),
                   key=lambda t: t.instance_id)

  def report(result) -> None:
    if not result.valid:
      _emit({"invalid": result.to_json()})

  summary = validate_tasks(tasks, jobs=args.jobs, on_result=report, backend=args.backend,
                           timeout=args.timeout)
  _emit(summary)
  return 0 if summary["valid"] == summary["tasks"] else 1


def _filter(args: argparse.Namespace) -> int:
  tasks = loader.load_tasks(args.tasks)
  config = filters.FilterConfig(
      max_modified_files=args.max_files, max_changed_lines=args.max_lines,
      max_difficulty_score=args.max_difficulty, max_issue_text_score=args.max_issue_text,
      max_test_score=args.max_test_score,
      drop_error_types=() if args.keep_error_types else filters.DEFAULT_DROP_ERRORS)
  kept, dropped = filters.filter_tasks(tasks, config)
  loader.save_tasks(kept, args.out)
  _emit({"tasks": len(tasks), "kept": len(kept), "dropped": dropped, "out": args.out})
  return 0


def _stats(args: argparse.Namespace) -> int:
  _emit(filters.task_stats(loader.load_tasks(args.tasks)))
  return 0


def _grade(args: argparse.Namespace) -> int:
  from swejax.tasks.grading import grade

  tasks = {t.instance_id: t for t in loader.load_tasks(args.tasks)}
  if args.instance not in tasks:
    raise ValueError(f"--instance: {args.instance!r} is not in {args.tasks}")
  if args.patch == "-":
    patch = sys.stdin.read()
  else:
    with open(args.patch, encoding="utf-8") as handle:
      patch = handle.read()
  result = grade(tasks[args.instance], patch, backend=args.backend, timeout=args.timeout)
  _emit(result.to_json())
  return 0 if result.resolved else 1


_COMMANDS = {"synth": _synth, "validate": _validate, "filter": _filter, "stats": _stats,
             "grade": _grade}


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    return _COMMANDS[args.command](args)
  except (loader.TaskLoadError, FileNotFoundError, ValueError) as error:
    print(f"swejax tasks {args.command}: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  raise SystemExit(main())
