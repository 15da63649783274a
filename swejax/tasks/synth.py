"""Synthetic SWE-bench-format tasks from seed packages and injected bugs.

For a mutant of a seed package whose test suite catches it:
- base_commit: the buggy package with the catching test functions removed;
- patch (gold): the one-file diff buggy -> correct;
- test_patch: the diff that adds the removed test functions back;
- FAIL_TO_PASS: the tests failing with the bug; PASS_TO_PASS: all others;
- problem_statement: a reproduction built from a failing test (swejax.tasks.issue),
  checked to show the bug on the buggy code and not on the correct code.
Everything is deterministic in (seed, n, seed packages).
"""
from __future__ import annotations

import ast
import base64
import collections
import concurrent.futures
import dataclasses
import os
import random
import subprocess
import tempfile
from typing import Iterable, Mapping

from swejax.sandbox.engine import BASE_IMAGE
from swejax.tasks import issue, logparse, mutate, pyast, repo, runner
from swejax.tasks.schema import SNAPSHOT_PREFIX, Task

SEEDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
TEST_CMD = "python3 -P -m pytest --no-header -rA --tb=no -p no:cacheprovider tests"
GITIGNORE = "__pycache__/\n*.pyc\n.pytest_cache/\n*.egg-info/\n"


@dataclasses.dataclass(frozen=True)
class Seed:
  name: str
  version: str
  files: Mapping[str, bytes]

  @property
  def source_files(self) -> list[str]:
    return sorted(p for p in self.files if p.endswith(".py") and not p.startswith("tests/"))

  @property
  def test_files(self) -> list[str]:
    return sorted(p for p in self.files if p.startswith("tests/") and p.endswith(".py"))


@dataclasses.dataclass(frozen=True)
class SynthConfig:
  n: int = 300
  seed: int = 0
  packages: tuple[str, ...] = ()  # seed package names; empty = all
  jobs: int = 2
  max_fail_to_pass: int = 8
  max_statement_chars: int = 800
  suite_timeout: float = 30.0  # a mutant's test run; the seed suites take ~1 s
  image: str = BASE_IMAGE


def list_seeds(root: str = SEEDS_DIR) -> list[str]:
  return sorted(d for d in os.listdir(root)
                if os.path.isfile(os.path.join(root, d, "pyproject.toml")))


def load_seed(name: str, root: str = SEEDS_DIR) -> Seed:
  """Reads a seed package (sources, tests, README, pyproject) into memory."""
  base = os.path.join(root, name)
  if not os.path.isdir(base):
    raise ValueError(f"unknown seed package {name!r}; known: {list_seeds(root)}")
  files: dict[str, bytes] = {".gitignore": GITIGNORE.encode()}
  for directory, dirs, names in os.walk(base):
    dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".pytest_cache"))
    for filename in sorted(names):
      if filename.endswith(".pyc"):
        continue
      path = os.path.join(directory, filename)
      with open(path, "rb") as handle:
        files[os.path.relpath(path, base).replace(os.sep, "/")] = handle.read()
  version = "0"
  for line in files.get("pyproject.toml", b"").decode().splitlines():
    if line.startswith("version"):
      version = line.split("=", 1)[1].strip().strip('"')
  return Seed(name=name, version=version, files=files)


def remove_tests(source: str, names: Iterable[str]) -> str:
  """Deletes test functions / methods (`name` or `Class::name`) and their decorators."""
  tree = pyast.parse(source)
  spans = []
  wanted = set(names)
  for node in tree.body:
    targets = [(node, node.name)] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []
    if isinstance(node, ast.ClassDef):
      methods = [m for m in node.body if isinstance(m, ast.FunctionDef)]
      tests = [m for m in methods if m.name.startswith("test")]
      hidden = [m for m in tests if f"{node.name}::{m.name}" in wanted]
      if hidden and len(hidden) == len(tests) and len(methods) == len(tests):
        wanted.add(node.name)
      else:
        targets += [(m, f"{node.name}::{m.name}") for m in hidden]
    for item, name in targets:
      if name in wanted:
        first = min([item.lineno] + [d.lineno for d in item.decorator_list])
        spans.append((first, item.end_lineno))
  lines = source.splitlines(keepends=True)
  drop = set()
  for first, last in spans:
    drop.update(range(first - 1, last))
    after = last
    while after < len(lines) and not lines[after].strip() and after - last < 2:
      drop.add(after)  # the blank lines that separated it from the next block
      after += 1
  text = "".join(line for i, line in enumerate(lines) if i not in drop)
  return text.rstrip("\n") + "\n"


def snapshot_diff(base: bytes, changes: Mapping[str, bytes | None]) -> tuple[str, str]:
  """(base commit, git diff) of writing `changes` (None deletes) over snapshot `base`."""
  with tempfile.TemporaryDirectory(prefix="swejax-diff-") as tmp:
    commit = repo.materialize(tmp, base)
    runner.write_tree(tmp, {p: d for p, d in changes.items() if d is not None})
    for path in (p for p, d in changes.items() if d is None):
      os.remove(os.path.join(tmp, path))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": tmp}
    subprocess.run(["git", "add", "-A", "-f", "."], cwd=tmp, env=env, check=True,
                   capture_output=True)
    done = subprocess.run(["git", "-c", "core.quotepath=false", "diff", "--cached", "--binary",
                           "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/"],
                          cwd=tmp, env=env, capture_output=True, text=True, check=True)
    return commit, done.stdout


def _ordered_candidates(seed: Seed, rng: random.Random) -> list[mutate.Mutation]:
  return ordered_candidates(seed.files, seed.source_files, rng)


def ordered_candidates(files: Mapping[str, bytes], paths: Iterable[str],
                       rng: random.Random) -> list[mutate.Mutation]:
  """All mutations of `paths`, shuffled, then interleaved so kinds alternate."""
  found = []
  for path in paths:
    found += mutate.find_mutations(path, files[path].decode())
  rng.shuffle(found)
  rank: collections.Counter[str] = collections.Counter()
  keyed = []
  for position, mutation in enumerate(found):
    keyed.append((rank[mutation.kind], mutate.KINDS.index(mutation.kind), position, mutation))
    rank[mutation.kind] += 1
  return [item[-1] for item in sorted(keyed, key=lambda k: k[:3])]


def _test_key(test_id: str) -> tuple[str, str]:
  """(test file, function or Class::method) of a test id."""
  path, _, rest = test_id.partition("::")
  return path, rest.split("[", 1)[0]


def make_task(seed: Seed, mutation: mutate.Mutation, baseline: list[str], config: SynthConfig,
              salt: str) -> tuple[Task | None, str]:
  """The task for one mutant, or (None, why it was rejected)."""
  buggy = dict(seed.files)
  buggy[mutation.path] = mutation.apply(seed.files[mutation.path].decode()).encode()
  run = runner.run_suite(buggy, timeout=config.suite_timeout)
  if run.exit_code not in (0, 1) or any("::" not in t for t in run.statuses):
    return None, "breaks_collection"
  failing = [t for t in baseline if not logparse.passed(run.statuses, t)]
  if not failing:
    return None, "survived"
  if len(failing) > config.max_fail_to_pass:
    return None, "too_many_failures"
  statement = _statement(seed, buggy, failing, run.failures, config, salt)
  if statement is None:
    return None, "no_statement"
  hidden: dict[str, set[str]] = collections.defaultdict(set)
  for test_id in failing:
    path, name = _test_key(test_id)
    hidden[path].add(name)
  base_files = dict(buggy)
  for path, names in hidden.items():
    base_files[path] = remove_tests(seed.files[path].decode(), names).encode()
  snapshot = repo.make_snapshot(base_files)
  commit, gold = snapshot_diff(snapshot, {mutation.path: seed.files[mutation.path]})
  _, test_patch = snapshot_diff(snapshot, {p: seed.files[p] for p in hidden})
  failed_types = sorted({run.failures.get(t, {}).get("type", "") for t in failing} - {""})
  task = Task(
      instance_id="", repo=f"swejax-synth/{seed.name}", base_commit=commit, patch=gold,
      test_patch=test_patch, problem_statement=statement, FAIL_TO_PASS=tuple(failing),
      PASS_TO_PASS=tuple(t for t in baseline if t not in set(failing)), image=config.image,
      test_cmd=TEST_CMD, version=seed.version, created_at=repo.DEFAULT_DATE,
      environment_setup_commit=commit,
      meta={"synthetic": True, "seed_package": seed.name, "num_modified_files": 1,
            "f2p_error_types": failed_types,
            "mutation": {"kind": mutation.kind, "path": mutation.path, "line": mutation.line,
                         "function": mutation.function}},
      repo_snapshot=SNAPSHOT_PREFIX + base64.b64encode(snapshot).decode())
  return task, "ok"


def _statement(seed: Seed, buggy: Mapping[str, bytes], failing: list[str],
               failures: Mapping[str, dict], config: SynthConfig, salt: str) -> str | None:
  """The first failing test (shortest first) that yields a faithful issue text."""
  candidates = []
  for test_id in failing:
    info = failures.get(test_id)
    if not info or info.get("when") != "call" or not info.get("line"):
      continue
    path = test_id.split("::", 1)[0]
    source = seed.files[path].decode()
    snippet = issue.build_snippet(source, test_id, info["line"])
    if snippet is not None:
      candidates.append((len(snippet.display()), test_id, snippet))
  for _, test_id, snippet in sorted(candidates, key=lambda c: c[:2])[:3]:
    script = snippet.script()
    bad = issue.Outcome.parse(runner.run_script(buggy, script))
    good = issue.Outcome.parse(runner.run_script(seed.files, script))
    if bad is None or good is None:
      continue
    text = issue.describe(snippet, bad, good, random.Random(f"{salt}:{test_id}"), seed.name)
    if text is not None and len(text) <= config.max_statement_chars:
      return text
  return None


def synthesize(config: SynthConfig = SynthConfig(), log=None) -> list[Task]:
  """`config.n` tasks, round-robin over the seed packages, deterministic."""
  names = list(config.packages) or list_seeds()
  seeds = [load_seed(name) for name in names]
  per_seed = -(-config.n // len(seeds))
  kept: dict[str, list[Task]] = {s.name: [] for s in seeds}
  reasons: collections.Counter[str] = collections.Counter()
  with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, config.jobs)) as pool:
    for seed in seeds:
      baseline_run = runner.run_suite(seed.files)
      baseline = sorted(baseline_run.statuses)
      if baseline_run.exit_code != 0 or not baseline or not all(
          logparse.passed(baseline_run.statuses, t) for t in baseline):
        raise RuntimeError(f"seed package {seed.name}: its own tests do not pass:\n"
                           f"{baseline_run.log[-2000:]}")
      rng = random.Random(f"{config.seed}:{seed.name}")
      candidates = _ordered_candidates(seed, rng)
      position = 0
      while len(kept[seed.name]) < per_seed and position < len(candidates):
        batch = candidates[position:position + 2 * max(1, config.jobs)]
        salts = [f"{config.seed}:{seed.name}:{position + i}" for i in range(len(batch))]
        position += len(batch)
        results = pool.map(lambda item: make_task(seed, item[0], baseline, config, item[1]),
                           zip(batch, salts))
        for task, reason in results:
          reasons[reason] += 1
          if task is not None and len(kept[seed.name]) < per_seed:
            number = len(kept[seed.name])
            kept[seed.name].append(dataclasses.replace(
                task, instance_id=f"swejax-synth__{seed.name}-{number:04d}"))
      if log:
        log(f"{seed.name}: {len(kept[seed.name])} tasks from {position} of "
            f"{len(candidates)} mutants")
  if log:
    log(f"mutants: {dict(reasons)}")
  ordered = [tasks[i] for i in range(per_seed) for tasks in kept.values() if i < len(tasks)]
  return ordered[:config.n]
