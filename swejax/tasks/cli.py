"""`swejax tasks ...`: synthesize, validate, filter, inspect and grade tasks.

    swejax tasks synth --out FILE [--n N] [--seed S] [--jobs J] [--packages a,b]
    swejax tasks synth --repo PATH_OR_GIT_URL [--image IMG] [--install CMD] [--test-cmd CMD]
                       --out FILE [--n N]
    swejax tasks validate --tasks FILE [--backend B] [--jobs J] [--sample K]
                          [--repeat N] [--drop-flaky] [--out FILE]
    swejax tasks filter --tasks FILE --out FILE [--max-files 7] [--max-lines 499] ...
    swejax tasks stats --tasks FILE
    swejax tasks grade --tasks FILE --instance ID --patch FILE [--backend B]
    swejax tasks images --tasks FILE [--hosts URL,...] [--pull] [--build]
    swejax tasks resolve --tasks FILE        # one JSON line per row: how it runs

Subcommands that load tasks take --image, --test-cmd, --image-namespace and
--image-template (see swejax.tasks.loader.add_row_flags).

Each prints one JSON object as its last stdout line.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time

from swejax.tasks import filters, harness, images, loader, synth


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
  p.add_argument("--repo", default="", help="mutate this repository (a directory or a git URL) "
                 "instead of the seed packages; its tests run in sandboxes")
  p.add_argument("--image", default="", help="--repo: the image its tests run in "
                 "(default the base image)")
  p.add_argument("--install", default="", help="--repo: a command run over the repository "
                 "while building the tasks' image (dependencies, an editable install)")
  p.add_argument("--install-network", action="store_true",
                 help="--repo: let the --install step reach the network")
  p.add_argument("--test-cmd", default="", help="--repo: the test command (must print "
                 "pytest's -rA summary; default python3 -m pytest -rA)")
  p.add_argument("--repo-name", default="", help="--repo: owner/name for the rows")
  p.add_argument("--keep-tests", action="store_true", help="--repo: leave the failing tests "
                 "in the repository, with an empty test_patch (SWE-smith's form)")
  p.add_argument("--backend", default="docker", choices=("auto", "docker", "local"),
                 help="--repo: sandbox backend for measuring and validating")

  p = sub.add_parser("validate", help="gold resolves and empty does not, per task")
  p.add_argument("--tasks", required=True)
  loader.add_row_flags(p)
  p.add_argument("--backend", default="auto", choices=("auto", "docker", "local"))
  p.add_argument("--jobs", type=int, default=2)
  p.add_argument("--sample", type=int, default=0, help="validate K tasks drawn with --seed")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--timeout", type=float, default=600.0, help="seconds per test command")
  p.add_argument("--repeat", type=int, default=1, help="grade gold and empty N times each; "
                 "report tests whose outcome changes (flaky)")
  p.add_argument("--drop-flaky", action="store_true", help="remove flaky tests from "
                 "FAIL_TO_PASS/PASS_TO_PASS and judge the task on the rest")
  p.add_argument("--out", default="", help="write the tasks that validate (with "
                 "meta.f2p_error_types, flaky tests dropped with --drop-flaky) to this file")

  p = sub.add_parser("filter", help="apply the paper's filters")
  p.add_argument("--tasks", required=True)
  loader.add_row_flags(p)
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
  loader.add_row_flags(p)

  p = sub.add_parser("grade", help="grade one patch file for one task")
  p.add_argument("--tasks", required=True)
  loader.add_row_flags(p)
  p.add_argument("--instance", required=True)
  p.add_argument("--patch", required=True, help="a unified diff file ('-' for stdin)")
  p.add_argument("--backend", default="auto", choices=("auto", "docker", "local"))
  p.add_argument("--timeout", type=float, default=600.0)

  p = sub.add_parser("images", help="task images present/missing per Docker host; "
                     "pull or build the missing ones")
  p.add_argument("--tasks", required=True)
  loader.add_row_flags(p)
  p.add_argument("--hosts", default="", help="comma-separated DOCKER_HOST-style URLs "
                 "(default: DOCKER_HOST or the local engine)")
  p.add_argument("--pull", action="store_true", help="pull missing images (Docker credentials "
                 "from DOCKER_CONFIG or ~/.docker/config.json)")
  p.add_argument("--build", action="store_true", help="build missing images of snapshot "
                 "tasks from the local base image")

  p = sub.add_parser("resolve", help="per row: image, test command, log parser, workdir")
  p.add_argument("--tasks", required=True)
  loader.add_row_flags(p)
  return parser


def _emit(obj: dict) -> None:
  print(json.dumps(obj, sort_keys=True), flush=True)


def _synth(args: argparse.Namespace) -> int:
  if args.n < 1:
    raise ValueError(f"--n must be at least 1, got {args.n}")
  if args.repo:
    return _synth_repo(args)
  if (args.image or args.install or args.test_cmd or args.repo_name or args.install_network
      or args.keep_tests):
    raise ValueError("--image, --install, --install-network, --test-cmd, --repo-name and "
                     "--keep-tests need --repo")
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


def _synth_repo(args: argparse.Namespace) -> int:
  from swejax.sandbox.base import SandboxError
  from swejax.tasks import synth_repo, synth_sandbox  # pulls in the sandbox backends

  if args.packages:
    raise ValueError("--packages names seed packages; it cannot go with --repo")

  def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

  start = time.monotonic()
  source = synth_repo.load_source(args.repo, args.repo_name)
  try:
    image = synth_sandbox.environment_image(
        source.name, source.files, args.image or synth_repo.BASE_IMAGE, args.install,
        args.install_network, log)
    config = synth_repo.RepoConfig(
        n=args.n, seed=args.seed, image=image, install=args.install, test_cmd=args.test_cmd,
        jobs=args.jobs, max_fail_to_pass=args.max_fail_to_pass, backend=args.backend,
        hide_tests=not args.keep_tests)
    tasks, report = synth_repo.synthesize_repo(source, config, log=log)
  except SandboxError as error:
    raise ValueError(f"--repo: the sandbox failed: {error}") from error
  count = loader.save_tasks(tasks, args.out)
  _emit({"out": args.out, "tasks": count, "image": image, **report,
         "seconds": round(time.monotonic() - start, 1)})
  return 0 if count == args.n else 1


def _validate(args: argparse.Namespace) -> int:
  from swejax.tasks.validate import validate_tasks  # pulls in the sandbox backends

  tasks = loader.load_from_args(args.tasks, args)
  if args.sample:
    tasks = sorted(random.Random(args.seed).sample(tasks, min(args.sample, len(tasks))),
                   key=lambda t: t.instance_id)

  if args.repeat < 1:
    raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
  written = {}

  def report(result) -> None:
    if not result.valid:
      _emit({"invalid": result.to_json()})
    elif result.flaky:
      _emit({"flaky": {"instance_id": result.instance_id, "tests": list(result.flaky),
                       "dropped": args.drop_flaky}})
    if result.valid:
      written[result.instance_id] = result.task

  summary = validate_tasks(tasks, jobs=args.jobs, on_result=report, backend=args.backend,
                           timeout=args.timeout, repeat=args.repeat,
                           drop_flaky=args.drop_flaky)
  if args.out:
    summary["out"] = args.out
    summary["written"] = loader.save_tasks(
        [written[t.instance_id] for t in tasks if t.instance_id in written], args.out)
  _emit(summary)
  return 0 if summary["valid"] == summary["tasks"] else 1


def _filter(args: argparse.Namespace) -> int:
  tasks = loader.load_from_args(args.tasks, args)
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
  _emit(filters.task_stats(loader.load_from_args(args.tasks, args)))
  return 0


def _grade(args: argparse.Namespace) -> int:
  from swejax.tasks.grading import grade

  tasks = {t.instance_id: t for t in loader.load_from_args(args.tasks, args)}
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


def _images(args: argparse.Namespace) -> int:
  tasks = loader.load_from_args(args.tasks, args)
  hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
  if len(set(hosts)) != len(hosts):
    raise ValueError(f"--hosts: a host is named twice in {args.hosts!r}")
  reports = images.ensure_images(tasks, hosts or None, pull=args.pull, build=args.build,
                                 log=lambda m: print(m, file=sys.stderr, flush=True))
  for report in reports:
    _emit(report.to_json())
  summary = {key: sum(len(getattr(r, key)) for r in reports)
             for key in ("missing", "pulled", "built", "failed")}
  summary.update(tasks=len(tasks), images=len(images.task_images(tasks)), hosts=len(reports),
                 unreachable=sum(bool(r.error) for r in reports))
  if summary["missing"]:
    names = sorted({name for r in reports for name in r.missing})
    summary["fetch"] = images.fetch_command(
        args.tasks, images.task_images(tasks), names, hosts,
        {"image": args.image, "image-namespace": args.image_namespace,
         "image-template": args.image_template})
  _emit(summary)
  return 0 if not summary["missing"] else 1


def _resolve(args: argparse.Namespace) -> int:
  for task in loader.load_from_args(args.tasks, args):
    _emit({"instance_id": task.instance_id, "image": task.image,
           "test_cmd": harness.test_command(task), "log_parser": task.log_parser,
           "workdir": task.workdir, "eval_type": task.eval_type})
  return 0


_COMMANDS = {"synth": _synth, "validate": _validate, "filter": _filter, "stats": _stats,
             "grade": _grade, "images": _images, "resolve": _resolve}


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    return _COMMANDS[args.command](args)
  except (loader.TaskLoadError, FileNotFoundError, ValueError) as error:
    print(f"swejax tasks {args.command}: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  raise SystemExit(main())
