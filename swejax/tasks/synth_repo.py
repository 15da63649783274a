"""Tasks from a user's own Python repository, SWE-smith style.

For a repository (a local directory or a git URL) whose tests run in an image:
1. the clean suite runs twice in a sandbox; tests that pass both times are the
   baseline, tests whose outcome changes are flaky and never used;
2. each candidate mutant (swejax.tasks.mutate, source files only) runs the suite
   in a sandbox (one per worker, its tree reset with git between candidates);
   it is kept when 1..max_fail_to_pass baseline tests fail and nothing else
   breaks (collection errors, crashes, timeouts are rejected);
3. the issue text comes from a failing test (swejax.tasks.issue): a reproduction
   whose result, run in the sandbox on the buggy and on the correct code, shows
   the symptom; it never holds the fix;
4. the task is written in SWE-bench form and kept only if it validates (gold
   patch resolves, empty patch does not; swejax.tasks.validate).

How base_commit is reached: each row carries a `repo_snapshot` of the buggy tree
with the FAIL_TO_PASS test functions removed; the image only provides the
environment. The grader commits the snapshot once (swejax.tasks.repo), so the
repository has a single commit and no history that could hold the fix. `patch`
reverts the mutation, `test_patch` restores the removed tests, and the test
command runs the whole suite. With `hide_tests=False` the tests stay and
test_patch is empty (SWE-smith's form). Nothing runs on the host but git and `ast`.
"""
from __future__ import annotations

import base64
import collections
import concurrent.futures
import dataclasses
import queue
import random
import re
import time
from typing import Callable, Iterable, Mapping

from swejax.sandbox.base import SandboxError
from swejax.sandbox.engine import BASE_IMAGE
from swejax.tasks import issue, logparse, mutate, patches, repo, runner, synth
from swejax.tasks.schema import SNAPSHOT_PREFIX, TEST_FILES, Task
from swejax.tasks.synth_sandbox import RepoSandbox
from swejax.tasks.synth_source import Source, load_source, mutable_paths, package_name
from swejax.tasks.validate import validate_tasks

__all__ = ["DEFAULT_TEST_CMD", "RepoConfig", "Source", "baseline_tests", "failure_statement",
           "fix_leaks", "hidden_tests", "judge_run", "load_source", "mutable_paths",
           "package_name", "synthesize_repo"]

DEFAULT_TEST_CMD = "python3 -m pytest --no-header -rA --tb=no -p no:cacheprovider"
Log = Callable[[str], None]
# `<object at 0x7f...>` in a shown value: differs from run to run, so no reader could match it.
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]{6,}")


@dataclasses.dataclass(frozen=True)
class RepoConfig:
  n: int = 20
  seed: int = 0
  image: str = BASE_IMAGE  # the environment the tests run in
  install: str = ""  # how `image` was built from the base: rows carry it so that
                     # `swejax tasks images --build` can build the image on other hosts
  test_cmd: str = ""  # default DEFAULT_TEST_CMD; must print pytest's -rA summary
  python: str = "python3"  # runs the issue reproductions
  backend: str = "docker"
  jobs: int = 2
  max_fail_to_pass: int = 8
  max_statement_chars: int = 800
  # Without a reproduction, write the issue from the failing tests' errors.
  failure_statements: bool = True
  suite_timeout: float = 0.0  # per mutant run; 0: 3x the clean run + 20 s
  # False: the failing tests stay in the repository and test_patch is empty (SWE-smith's
  # form); True: they are removed from it and test_patch restores them (SWE-bench's).
  hide_tests: bool = True
  validate: bool = True

  @property
  def command(self) -> str:
    return self.test_cmd or DEFAULT_TEST_CMD


def baseline_tests(first: runner.SuiteRun, second: runner.SuiteRun) -> tuple[list[str],
                                                                                list[str]]:
  """(tests that passed in both clean runs, tests whose status changed between them)."""
  tests = set(first.statuses) | set(second.statuses)
  flaky = sorted(t for t in tests if first.statuses.get(t) != second.statuses.get(t))
  passing = sorted(t for t in tests if "::" in t and first.statuses.get(t) == logparse.PASSED
                   and second.statuses.get(t) == logparse.PASSED)
  return passing, flaky


def judge_run(run: runner.SuiteRun, baseline: list[str], max_failing: int) -> tuple[list[str],
                                                                                    str]:
  """(failing baseline tests, "ok") or ([], why the mutant is rejected)."""
  if run.exit_code == 124:
    return [], "timeout"
  if run.exit_code not in (0, 1) or any("::" not in t for t in run.statuses):
    return [], "breaks_collection"
  failing = [t for t in baseline if run.statuses.get(t) != logparse.PASSED]
  if not failing:
    return [], "survived"
  if len(failing) > max_failing:
    return [], "too_many_failures"
  if any(t not in run.statuses for t in failing):
    return [], "tests_vanished"  # a crash or exit mid-run, not a clean failure
  return failing, "ok"


def hidden_tests(files: Mapping[str, bytes], failing: Iterable[str]) -> dict[str, bytes] | None:
  """The test files with the failing test functions removed; None if one cannot be."""
  names: dict[str, set[str]] = collections.defaultdict(set)
  for test_id in failing:
    path, _, rest = test_id.partition("::")
    if path not in files or not patches.is_test_infrastructure(path):
      return None
    names[path].add(rest.split("[", 1)[0])
  changed = {}
  for path, wanted in names.items():
    try:
      text = synth.remove_tests(files[path].decode(), wanted)
    except (SyntaxError, UnicodeDecodeError):
      return None
    if text.encode() == files[path]:
      return None
    changed[path] = text.encode()
  return changed


def fix_leaks(statement: str, gold: str) -> bool:
  """Does the issue text quote a line the fix adds?"""
  added = [l[1:].strip() for l in gold.splitlines() if l.startswith("+")
           and not l.startswith("+++")]
  return any(line in statement for line in added if len(line) > 12)


def failure_statement(failing: list[str], failures: Mapping[str, dict], package: str,
                      rng: random.Random) -> str | None:
  """An issue text from the errors the failing tests hit, for tests that no
  reproduction can be cut from (methods of test classes, loops, yield fixtures)."""
  seen = []
  for test_id in failing:
    info = failures.get(test_id) or {}
    kind, message = info.get("type", ""), " ".join(info.get("message", "").split())
    if info.get("when") == "call" and kind:
      seen.append((test_id.split("::")[-1], f"{kind}: {message[:200]}" if message else kind))
  if not seen:
    return None
  name, error = seen[0]
  title = rng.choice([f"{name} fails with {error.split(':')[0]}",
                      f"{error.split(':')[0]} in {name}"])
  listed = "\n".join(f"{test}: {text}" for test, text in seen[:3])
  intro = rng.choice([f"Running the tests of `{package}`, I get:",
                      f"With the current `{package}`, these checks fail:"])
  return f"{title}\n\n{intro}\n\n```\n{listed}\n```\n\nThey are expected to pass.\n"


class _Maker:
  """Turns one mutation into a task, or a reason it was rejected."""

  def __init__(self, source: Source, config: RepoConfig, baseline: list[str],
               timeout: float, sandboxes: "queue.Queue[RepoSandbox]"):
    self.source, self.config, self.baseline = source, config, baseline
    self.timeout, self.sandboxes = timeout, sandboxes

  def __call__(self, item: tuple[mutate.Mutation, str]) -> tuple[Task | None, str]:
    sandbox = self.sandboxes.get()
    try:
      return self.make(sandbox, *item)
    except SandboxError:
      return None, "sandbox_error"
    finally:
      self.sandboxes.put(sandbox)

  def make(self, sandbox: RepoSandbox, mutation: mutate.Mutation,
           salt: str) -> tuple[Task | None, str]:
    files, config = self.source.files, self.config
    original = files[mutation.path]
    buggy = mutation.apply(original.decode()).encode()
    run = sandbox.suite({mutation.path: buggy}, self.timeout)
    failing, reason = judge_run(run, self.baseline, config.max_fail_to_pass)
    if not failing:
      return None, reason
    hidden = hidden_tests(files, failing) if config.hide_tests else {}
    if hidden is None:
      return None, "cannot_hide_tests"
    statement, issue_from = self.statement(sandbox, mutation, buggy, failing, run.failures,
                                           salt)
    if statement is None:
      return None, "no_statement"
    base_files = {**files, mutation.path: buggy, **hidden}
    snapshot = repo.make_snapshot(base_files)
    commit, gold = synth.snapshot_diff(snapshot, {mutation.path: original})
    test_patch = synth.snapshot_diff(snapshot, {p: files[p] for p in hidden})[1] if (
        hidden) else ""
    if fix_leaks(statement, gold):
      return None, "statement_leaks_fix"
    error_types = sorted({run.failures.get(t, {}).get("type", "") for t in failing} - {""})
    failing_set = set(failing)
    return Task(
        instance_id="", repo=self.source.name, base_commit=commit, patch=gold,
        test_patch=test_patch, problem_statement=statement, FAIL_TO_PASS=tuple(failing),
        PASS_TO_PASS=tuple(t for t in self.baseline if t not in failing_set),
        image=config.image, test_cmd=config.command, version="", created_at=repo.DEFAULT_DATE,
        environment_setup_commit=commit,
        install_config={"install": config.install} if config.install else None,
        meta={"synthetic": True, "source_repo": self.source.name,
              "source_commit": self.source.commit, "num_modified_files": 1,
              "f2p_error_types": error_types, "issue_from": issue_from,
              "mutation": {"kind": mutation.kind, "path": mutation.path,
                           "line": mutation.line, "function": mutation.function}},
        repo_snapshot=SNAPSHOT_PREFIX + base64.b64encode(snapshot).decode()), "ok"

  def statement(self, sandbox: RepoSandbox, mutation: mutate.Mutation, buggy: bytes,
                failing: list[str], failures: Mapping[str, dict],
                salt: str) -> tuple[str | None, str]:
    """(issue text, "reproduction" | "test_errors"): the shortest failing test whose
    reproduction shows the bug, else the errors the failing tests hit."""
    candidates = []
    for test_id in failing:
      info = failures.get(test_id)
      if not info or info.get("when") != "call" or not info.get("line"):
        continue
      try:
        source = self.source.files[test_id.split("::", 1)[0]].decode()
        snippet = issue.build_snippet(source, test_id, info["line"])
      except (SyntaxError, UnicodeDecodeError, ValueError):
        snippet = None
      if snippet is not None:
        candidates.append((len(snippet.display()), test_id, snippet))
    chosen = sorted(candidates, key=lambda c: c[:2])[:3]
    package = package_name(mutation.path)
    if not chosen:
      return self.fallback(failing, failures, package, salt), "test_errors"
    scripts = [snippet.script() for _, _, snippet in chosen]
    bad = sandbox.scripts({mutation.path: buggy}, scripts)
    good = sandbox.scripts({}, scripts)
    for (_, test_id, snippet), bad_out, good_out in zip(chosen, bad, good):
      bad_run, good_run = issue.Outcome.parse(bad_out), issue.Outcome.parse(good_out)
      if bad_run is None or good_run is None:
        continue
      text = issue.describe(snippet, bad_run, good_run, random.Random(f"{salt}:{test_id}"),
                            package)
      if text is not None and len(text) <= self.config.max_statement_chars and not (
          _ADDRESS.search(text)):
        return text, "reproduction"
    return self.fallback(failing, failures, package, salt), "test_errors"

  def fallback(self, failing: list[str], failures: Mapping[str, dict], package: str,
               salt: str) -> str | None:
    if not self.config.failure_statements:
      return None
    text = failure_statement(failing, failures, package, random.Random(f"{salt}:failure"))
    if not text or len(text) > self.config.max_statement_chars or _ADDRESS.search(text):
      return None
    return text


def _validated(tasks: list[Task], config: RepoConfig, log: Log) -> list[Task]:
  """The tasks whose gold patch resolves and empty patch does not, graded as training
  grades them: a measured mutant is not yet a task the grader agrees with."""
  if not config.validate or not tasks:
    return tasks
  valid: set[str] = set()

  def record(result) -> None:
    if result.valid:
      valid.add(result.instance_id)
    else:
      log(f"{result.instance_id}: dropped, {result.problem}")

  validate_tasks(tasks, jobs=config.jobs, backend=config.backend, on_result=record)
  return [t for t in tasks if t.instance_id in valid]


def synthesize_repo(source: Source, config: RepoConfig = RepoConfig(),
                    log: Log | None = None) -> tuple[list[Task], dict]:
  """Up to `config.n` validated tasks from `source`, deterministic in (seed, source)."""
  log = log or (lambda message: None)
  start = time.monotonic()
  if TEST_FILES in config.command:
    raise ValueError(f"--test-cmd: {TEST_FILES} has no meaning here: the tasks run the whole "
                     "suite, so that PASS_TO_PASS covers every file")
  paths = mutable_paths(source.files)
  if not paths:
    raise ValueError(f"--repo: no library source file to mutate in {source.name}")
  sandboxes: queue.Queue[RepoSandbox] = queue.Queue()
  opened = [RepoSandbox(source.files, image=config.image, test_cmd=config.command,
                        backend=config.backend, python=config.python)
            for _ in range(max(1, config.jobs))]
  for sandbox in opened:
    sandboxes.put(sandbox)
  try:
    clean_start = time.monotonic()
    first = opened[0].suite({}, config.suite_timeout or 600)
    clean_seconds = time.monotonic() - clean_start
    second = opened[0].suite({}, config.suite_timeout or 600)
    baseline, flaky = baseline_tests(first, second)
    if first.exit_code not in (0, 1) or not baseline:
      raise ValueError(f"--repo: the tests of {source.name} did not run in {config.image} "
                       f"(exit {first.exit_code}; check --image, --install and --test-cmd):\n"
                       f"{first.log[-2000:]}")
    log(f"{source.name}: {len(baseline)} baseline tests, {len(flaky)} flaky, "
        f"clean run {clean_seconds:.1f}s, {len(paths)} source files")
    timeout = config.suite_timeout or 3 * clean_seconds + 20
    maker = _Maker(source, config, baseline, timeout, sandboxes)
    candidates = synth.ordered_candidates(source.files, paths,
                                          random.Random(f"{config.seed}:{source.name}"))
    kept: list[Task] = []
    reasons: collections.Counter[str] = collections.Counter()
    position = 0
    prefix = source.name.replace("/", "__")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(opened)) as pool:
      while len(kept) < config.n and position < len(candidates):
        size = max(2 * len(opened), min(4 * len(opened), config.n - len(kept)))
        batch = candidates[position:position + size]
        salts = [f"{config.seed}:{source.name}:{position + i}" for i in range(len(batch))]
        made = []
        for offset, (task, reason) in enumerate(pool.map(maker, zip(batch, salts))):
          reasons[reason] += 1
          if task is not None:
            made.append(dataclasses.replace(
                task, instance_id=f"{prefix}-candidate-{position + offset:05d}"))
        position += len(batch)
        valid = _validated(made, config, log)
        reasons["invalid"] += len(made) - len(valid)
        for task in valid[:config.n - len(kept)]:
          kept.append(dataclasses.replace(task, instance_id=f"{prefix}-synth-{len(kept):04d}"))
        log(f"{len(kept)}/{config.n} tasks after {position} of {len(candidates)} mutants "
            f"({time.monotonic() - start:.0f}s; {dict(sorted(reasons.items()))})")
  finally:
    for sandbox in opened:
      sandbox.close()
  report = {"repo": source.name, "baseline_tests": len(baseline), "flaky_tests": flaky,
            "mutants_tried": position, "mutants_found": len(candidates),
            "outcomes": dict(sorted(reasons.items())),
            "seconds": round(time.monotonic() - start, 1)}
  log(f"mutants: {report['outcomes']}")
  return kept, report
