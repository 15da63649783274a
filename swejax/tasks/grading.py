"""Honest grading of a model patch, SWE-bench style, in a fresh sandbox.

Order of events (each a step the agent's patch cannot influence):
1. a fresh sandbox; the repository at base_commit (swejax.tasks.repo);
2. `git apply` of the model patch. A patch that does not apply is the agent's
   failure (reason `patch_does_not_apply`, reward 0), reported as its own reason
   and NOT as an infrastructure error: the agent produced it, and a policy must
   not learn to dodge negative reward with broken diffs;
3. with `strict`, source changes that reach into pytest are refused (`tampering`);
4. every changed path that is test infrastructure (patches.is_test_infrastructure,
   NEW modules that would shadow the standard library or pytest, every path the
   test_patch touches) is reset to base_commit; byte code is deleted;
5. `git apply` of the test_patch (if any); the test command runs with the guard plugin
   (swejax.tasks.guard_plugin) loaded first under a one-time module name, found
   through PYTHONPATH and through the user site directory (a .pth file), so a
   test command that sets its own PYTHONPATH keeps it;
6. the verdict (swejax.tasks.verdict) comes from the exit status the sandbox
   observed, the guard's record (written to a descriptor the code under test
   does not own) and the parsed log, the worse of record and log per test;
7. resolved iff all that holds and every FAIL_TO_PASS and PASS_TO_PASS test passed
   (FAIL_TO_PASS as PASSED only, unless the task's meta.f2p_pass_statuses says more).
Infrastructure failures (engine errors, a timeout or an out-of-memory kill of the
test command, a task whose test_patch does not apply) set `infra_error`, so
callers never mistake them for the agent's failure. A timeout and an OOM kill are
what the sandbox measured (the command's run time, the memory cgroup's OOM kill
count), never an exit status (124, 137) the code under test can choose itself.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shlex
import time
from typing import Any, Mapping

import docker
import requests

from swejax.sandbox.base import Sandbox, SandboxError
from swejax.tasks import harness, patches, repo, verdict
from swejax.tasks.schema import Task
from swejax.tasks.verdict import END_LINE, consistent  # noqa: F401  (the public rule)

MODEL_PATCH = "/tmp/swejax-model.patch"
TEST_PATCH = "/tmp/swejax-test.patch"
GUARD_DIR = "/tmp/swejax-guard"
LOG_TAIL_CHARS = 4000
# The summary (one line per test) comes last: keep a long tail of the test log.
GRADE_TAIL_CHARS = 2_000_000
# Environment that changes how pytest runs or reports is never inherited; the
# guard plugin (swejax.tasks.guard_plugin) is loaded into every pytest run. It is
# found through PYTHONPATH and, should the test command set its own PYTHONPATH,
# through a .pth file in a user site directory of every Python 3 version (which
# also adds the user site the interpreter had before).
_ENV = """unset PYTEST_PLUGINS CI BUILD_NUMBER PYTHONSTARTUP PYTHONINSPECT PYTHONNOUSERSITE
export SWEJAX_USER_BASE="${{PYTHONUSERBASE:-${{HOME:-/root}}/.local}}"
for minor in $(seq 6 20); do
  site={guard}/user/lib/python3.$minor/site-packages
  mkdir -p "$site"
  printf '%s\nimport os, site; site.addsitedir(os.environ.get("SWEJAX_USER_BASE", "") + "/lib/python3.%s/site-packages")\n' {guard} "$minor" > "$site/{module}.pth"
done
export PYTHONPATH={guard}${{PYTHONPATH:+:$PYTHONPATH}} PYTHONUSERBASE={guard}/user \
  PYTEST_ADDOPTS='-p {module}'
"""
# Source changes that reach into the test runner (checked on non-test files).
_TAMPER = re.compile(
    r"\b_pytest\b|\bpluggy\b|^\s*(?:import|from)\s+pytest\b|\bpytest\s*\.|"
    r"\bsys\._getframe\b|\bf_back\b|\bf_locals\b|\bgc\.get_objects\b|\binspect\.stack\b|"
    r"\bcurrentframe\b|\bf_globals\b|\bctypes\b|\bbuiltins\b|\bswejax|"
    r"\b__code__\b|\bco_filename\b|\bFunctionType\b|\bCodeType\b")
_RUNNER_REPOS = ("pytest", "pluggy")


@dataclasses.dataclass(frozen=True)
class GradeResult:
  instance_id: str
  resolved: bool
  # resolved | tests_failed | exit_status_mismatch | unverified_log | patch_does_not_apply
  # | tampering (refused by text, or seen by the guard) | reset_failed | infra_error
  reason: str
  infra_error: str | None = None
  statuses: Mapping[str, str] = dataclasses.field(default_factory=dict)
  exit_code: int | None = None
  failed: tuple[str, ...] = ()  # FAIL_TO_PASS / PASS_TO_PASS tests that did not pass
  missing: tuple[str, ...] = ()  # ... of which absent from the log
  reset_paths: tuple[str, ...] = ()  # test infrastructure the patch changed, reset
  log_tail: str = ""
  truncated: bool = False
  isolation: str = ""
  seconds: float = 0.0
  note: str = ""  # why the log could not be trusted, in words
  # FAIL_TO_PASS test -> the exception type it failed with (pytest summary lines)
  error_types: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def to_json(self) -> dict[str, Any]:
    row = dataclasses.asdict(self)
    row["statuses"] = dict(self.statuses)
    row["error_types"] = dict(self.error_types)
    return row


def tampering_lines(patch: str, repo_name: str = "") -> list[str]:
  """Added source lines (outside test infrastructure) that reach into pytest.

  Empty for the pytest and pluggy repositories themselves.
  """
  if repo_name.rstrip("/").split("/")[-1] in _RUNNER_REPOS:
    return []
  found = []
  current = ""
  for line in patch.splitlines():
    if line.startswith("+++ "):
      current = line[4:].split("\t")[0]
      current = current[2:] if current.startswith("b/") else current
    elif line.startswith("+") and current.endswith(".py") and not (
        patches.is_test_infrastructure(current)):
      code = line[1:].split("#", 1)[0]
      if _TAMPER.search(code):
        found.append(f"{current}: {line[1:].strip()[:200]}")
  return found


def build_test_command(task: Task) -> str:
  """What the sandbox runs after the test_patch is applied (swejax.tasks.harness)."""
  return harness.test_command(task)


def _guard_source() -> bytes:
  with open(os.path.join(os.path.dirname(__file__), "guard_plugin.py"), "rb") as handle:
    return handle.read()


# After the test command: its run time and the memory cgroup's OOM kills ("?" if
# unreadable) on a line of our own; the exit status stays the test command's. An exit 137
# is an infrastructure error only when a kill for the memory cap was counted.
_AFTER = """status=$?
kills=$({{ cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; }} \\
  2>/dev/null | awk '$1 == "oom_kill" {{n += $2}} END {{print (NR ? n + 0 : "?")}}')
echo; echo "{step} after $(( ($(date +%s%N) - start) / 1000000 )) $kills"
exit $status
"""


def _after(output: str, step: str) -> tuple[str, float | None, int | None]:
  """(the test output, the command's seconds, OOM kills) from _AFTER's line."""
  head, found, tail = output.rpartition(f"\n{step} after ")
  if not found:
    return output, None, None
  fields = tail.split()
  seconds = int(fields[0]) / 1000 if fields and fields[0].isdigit() else None
  kills = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
  return head, seconds, kills


def _protected(task: Task) -> list[str]:
  """The test_patch's files and every conftest.py above them: the guard checks that
  they do not change while the tests run."""
  paths = set(patches.touched_paths(task.test_patch))
  for path in list(paths):
    parts = path.split("/")[:-1]
    paths.update("/".join(parts[:i] + ["conftest.py"]) for i in range(len(parts) + 1))
  return sorted(paths)


def _paths(output: str) -> list[str]:
  return [p for p in output.split("\0") if p.strip()]


def _reset_script(workdir: str, reset: list[str], new_only: list[str]) -> str:
  """Removes test infrastructure absent at base_commit, restores the rest."""
  quoted = " ".join(shlex.quote(p) for p in reset)
  shadows = " ".join(shlex.quote(p) for p in new_only)
  return f"""set -e
cd {shlex.quote(workdir)}
restore=()
for p in {quoted}; do
  if git cat-file -e "HEAD:$p" 2>/dev/null; then restore+=("$p"); else rm -rf -- "$p"; fi
done
for p in {shadows}; do
  git cat-file -e "HEAD:$p" 2>/dev/null || rm -rf -- "$p"
done
if [ ${{#restore[@]}} -gt 0 ]; then git checkout -q HEAD -- "${{restore[@]}}"; fi
find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {{}} + \\
  -o -name '*.pyc' -type f -exec rm -f {{}} +
"""


class _Grader:
  """One grading run inside one sandbox: two commands, each a few steps."""

  def __init__(self, task: Task, sandbox: Sandbox, timeout: float, strict: bool):
    self.task, self.sb, self.timeout, self.strict = task, sandbox, timeout, strict
    self.workdir = shlex.quote(task.workdir)
    self.step = f"swejax-step-{secrets.token_hex(8)}"  # marks our own lines in the output

  def result(self, resolved: bool, reason: str, **fields: Any) -> GradeResult:
    return GradeResult(instance_id=self.task.instance_id, resolved=resolved, reason=reason,
                       isolation=getattr(self.sb, "isolation", ""), **fields)

  def _guarded(self, name: str, body: str, log: str) -> str:
    """Runs `body` in a subshell; on failure prints `<step> <name>` and its log, stops."""
    return (f"( {body}\n) > {log} 2>&1 || {{ echo '{self.step} {name}'; "
            f"tail -c 2000 {log}; exit 0; }}\n")

  def _failed_step(self, output: str) -> tuple[str, str] | None:
    for name in ("prepare", "apply", "reset", "test_patch"):
      marker = f"{self.step} {name}\n"
      if marker in output:
        return name, output.split(marker, 1)[1]
    return None

  def setup(self, patch: str) -> tuple[list[str], GradeResult | None]:
    """Prepares the repository, applies `patch`; returns the changed paths."""
    script = self._guarded("prepare", repo.prepare_script(self.sb, self.task),
                           "/tmp/swejax-prepare.log")
    script += f"echo '{self.step} head'; tail -n 1 /tmp/swejax-prepare.log\ncd {self.workdir}\n"
    if patch.strip():
      self.sb.write_file(MODEL_PATCH, patch if patch.endswith("\n") else patch + "\n")
      script += self._guarded("apply", f"git apply --verbose --whitespace=nowarn {MODEL_PATCH}",
                              "/tmp/swejax-apply.log")
    script += (f"echo '{self.step} listed'; git diff --name-only -z --no-renames HEAD; "
               f"printf '\\0{self.step}\\0'; git ls-files --others -z\n")
    run = self.sb.run(script, timeout=300)
    if run.timed_out:
      raise SandboxError("preparing the repository timed out")
    failed = self._failed_step(run.output)
    if failed and failed[0] == "prepare":
      repo.check_head(self.task, failed[1], 1)
    if failed:
      return [], self.result(False, "patch_does_not_apply", log_tail=failed[1][-2000:])
    head, _, listed = run.output.partition(f"{self.step} listed\n")
    repo.check_head(self.task, head.split(f"{self.step} head\n")[-1], 0)
    tracked, _, untracked = listed.partition(f"\0{self.step}\0")
    return sorted(set(_paths(tracked)) | set(_paths(untracked))), None

  def grade(self, patch: str) -> GradeResult:
    task = self.task
    suspicious = tampering_lines(patch, task.repo) if self.strict else []
    if suspicious:
      return self.result(False, "tampering", log_tail="\n".join(suspicious)[-2000:])
    changed, early = self.setup(patch)
    if early is not None:
      return early
    test_patch_paths = set(patches.touched_paths(task.test_patch))
    reset = sorted({p for p in changed if patches.is_test_infrastructure(p)}
                   | (test_patch_paths & set(changed)))
    new_only = sorted(p for p in changed if patches.shadows_runner(p) and p not in reset)
    nonce, module = secrets.token_hex(16), f"swejax_guard_{secrets.token_hex(6)}"
    self.sb.write_file(TEST_PATCH, task.test_patch if task.test_patch.endswith("\n")
                       else task.test_patch + "\n")
    self.sb.write_file(f"{GUARD_DIR}/{module}.py", _guard_source())
    config = {"nonce": nonce, "root": task.workdir, "protect": _protected(task),
              "expected": list(task.FAIL_TO_PASS + task.PASS_TO_PASS)}
    self.sb.write_file(f"{GUARD_DIR}/config.json", json.dumps(config), mode=0o600)
    env = _ENV.format(guard=GUARD_DIR, module=module)
    script = (self._guarded("reset", _reset_script(task.workdir, reset, new_only),
                            "/tmp/swejax-reset.log")
              + f"cd {self.workdir}\n"
              + (self._guarded("test_patch", f"git apply --verbose {TEST_PATCH}",
                               "/tmp/swejax-test-apply.log") if task.test_patch.strip() else "")
              + f"echo '{self.step} tests'\n{env}start=$(date +%s%N)\ntimeout -k 5 "
              f"{self.timeout:.0f} bash -c {shlex.quote(build_test_command(task))}\n"
              f"{_AFTER.format(step=self.step)}")
    run = self.sb.run(script, timeout=self.timeout + 60)
    failed = self._failed_step(run.output.split(f"{self.step} tests\n", 1)[0])
    if failed and failed[0] == "reset":
      return self.result(False, "reset_failed", reset_paths=tuple(reset),
                         log_tail=failed[1][-2000:])
    if failed:
      return self.result(False, "infra_error", reset_paths=tuple(reset),
                         infra_error=f"test_patch does not apply: {failed[1][-500:]}")
    output = run.output.split(f"{self.step} tests\n", 1)[-1]
    output, seconds, oom_kills = _after(output, self.step)
    shown = "\n".join(line for line in output[-4 * GRADE_TAIL_CHARS:].split("\n")
                      if not line.startswith(verdict.TEST_LINE))  # not the guard's record
    common = dict(exit_code=run.exit_code, reset_paths=tuple(reset),
                  log_tail=shown[-LOG_TAIL_CHARS:], truncated=run.truncated)
    # Only what the sandbox saw makes an infrastructure error: the code under test
    # can exit 124 or 137 itself, but not run the clock or the OOM counter up.
    if run.timed_out or (run.exit_code == 124 and seconds is not None
                         and seconds >= self.timeout - 1):
      return self.result(False, "infra_error", infra_error=f"timeout: the test command ran "
                         f"over {self.timeout:.0f}s", **common)
    if oom_kills is None and hasattr(self.sb, "oom_kills"):
      oom_kills = self.sb.oom_kills()  # a sandbox whose cgroup is read from the host
    if run.exit_code == 137 and oom_kills:
      return self.result(False, "infra_error", infra_error="the test command was killed "
                         f"(exit 137; out-of-memory kills: {oom_kills})", **common)
    if (run.truncated and verdict.is_pytest(task)
        and "short test summary info" not in output[-GRADE_TAIL_CHARS:]):
      return self.result(False, "infra_error", infra_error="the test log was cut before its "
                         "summary; raise tail_chars", **common)
    judged = verdict.judge(task, output, run.exit_code, nonce)
    common.update(statuses=judged.statuses, failed=judged.failed, missing=judged.missing,
                  note=judged.note, error_types=judged.error_types)
    return self.result(judged.reason == "resolved", judged.reason,
                       infra_error=judged.infra_error, **common)


def grade(task: Task, patch: str, *, backend: str = "auto", timeout: float = 600.0,
          strict: bool = True, sandbox: Sandbox | None = None,
          **sandbox_options: Any) -> GradeResult:
  """Grades `patch` (a unified diff, "" for none) for `task` in a fresh sandbox.

  `strict`: refuse patches whose source changes reach into pytest (tampering_lines).
  `sandbox`: a freshly opened sandbox to use (and close) instead of opening one
  with `swejax.sandbox.open_sandbox(backend, task.image, **sandbox_options)`.
  `timeout` bounds the test command; set-up steps have their own bounds.
  """
  from swejax.sandbox import open_sandbox  # the backends pull in docker

  start = time.monotonic()
  result: GradeResult
  try:
    if sandbox is None:
      sandbox_options.setdefault("tail_chars", GRADE_TAIL_CHARS)
      sandbox = open_sandbox(backend, task.image, workdir=task.workdir, **sandbox_options)
    with sandbox:
      result = _Grader(task, sandbox, timeout, strict).grade(patch)
  except (SandboxError, OSError, docker.errors.DockerException,
          requests.exceptions.RequestException) as error:
    # The engine or the sandbox failed, never the agent: an infrastructure error.
    result = GradeResult(instance_id=task.instance_id, resolved=False, reason="infra_error",
                         infra_error=f"sandbox: {type(error).__name__}: {error}",
                         isolation=getattr(sandbox, "isolation", ""))
  return dataclasses.replace(result, seconds=round(time.monotonic() - start, 3))
