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
5. `git apply` of the test_patch; the test command runs (pytest `-rA`) with the
   guard plugin (swejax.tasks.guard_plugin) loaded first: it ends pytest right
   after the summary with a one-time end line carrying pytest's exit status, and
   exits 3 if the code under test replaced pytest's reporting functions;
6. only the log before the end line is parsed, from its last summary section; a
   test missing from it counts as failed; no end line -> `unverified_log`; the
   exit status must agree with the parsed log (0 iff something ran and nothing
   failed, 1 iff something failed) -> else `exit_status_mismatch`;
7. resolved iff all that holds and every FAIL_TO_PASS and PASS_TO_PASS test passed.
Infrastructure failures (engine errors, a timeout or an out-of-memory kill of the
test command, a task whose test_patch does not apply) set `infra_error`, so
callers never mistake them for the agent's failure.
"""
from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shlex
import time
from typing import Any, Mapping

import docker
import requests

from swejax.sandbox.base import Sandbox, SandboxError
from swejax.tasks import logparse, patches, repo
from swejax.tasks.schema import TEST_FILES, Task

MODEL_PATCH = "/tmp/swejax-model.patch"
TEST_PATCH = "/tmp/swejax-test.patch"
GUARD_DIR = "/tmp/swejax-guard"
END_LINE = "swejax-guard-end"  # as guard_plugin.END_LINE (that file runs in the sandbox)
LOG_TAIL_CHARS = 4000
# The summary (one line per test) comes last: keep a long tail of the test log.
GRADE_TAIL_CHARS = 2_000_000
# Environment that changes how pytest runs or reports is never inherited; the
# guard plugin (swejax.tasks.guard_plugin) is loaded into every pytest run.
_ENV = ("unset PYTEST_PLUGINS CI BUILD_NUMBER PYTHONSTARTUP PYTHONINSPECT; "
        f"export PYTHONPATH={GUARD_DIR}${{PYTHONPATH:+:$PYTHONPATH}} "
        "PYTEST_ADDOPTS='-p swejax_guard'")
# Source changes that reach into the test runner (checked on non-test files).
_TAMPER = re.compile(
    r"\b_pytest\b|\bpluggy\b|^\s*(?:import|from)\s+pytest\b|\bpytest\s*\.|"
    r"\bsys\._getframe\b|\bf_back\b|\bf_locals\b|\bgc\.get_objects\b|\binspect\.stack\b|"
    r"\bcurrentframe\b|\bf_globals\b|\bctypes\b|\bbuiltins\b")
_RUNNER_REPOS = ("pytest", "pluggy")


@dataclasses.dataclass(frozen=True)
class GradeResult:
  instance_id: str
  resolved: bool
  # resolved | tests_failed | exit_status_mismatch | unverified_log | patch_does_not_apply
  # | tampering | reset_failed | infra_error
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

  def to_json(self) -> dict[str, Any]:
    row = dataclasses.asdict(self)
    row["statuses"] = dict(self.statuses)
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


def consistent(exit_code: int, statuses: Mapping[str, str]) -> bool:
  """Does pytest's exit status agree with the parsed log?"""
  failures = any(s in (logparse.FAILED, logparse.ERROR) for s in statuses.values())
  if exit_code == 0:
    return bool(statuses) and not failures
  if exit_code == 1:
    return failures
  return False


def build_test_command(task: Task) -> str:
  files = " ".join(shlex.quote(p) for p in patches.test_files(task.test_patch))
  return task.test_cmd.replace(TEST_FILES, files)


def _guard_source() -> bytes:
  with open(os.path.join(os.path.dirname(__file__), "guard_plugin.py"), "rb") as handle:
    return handle.read()


def _trusted_log(output: str, nonce: str) -> tuple[str, int | None]:
  """The log up to the guard's end line, and pytest's exit status from that line.

  (output, None) when the end line is missing: pytest did not finish normally
  (it was killed, or exited early), or something other than pytest ran.
  """
  end = f"{END_LINE} {nonce} exit="
  at = output.find(end)
  status = re.match(r"-?\d+", output[at + len(end):]) if at >= 0 else None
  if status is None:
    return output, None
  return output[:at], int(status.group())


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
    nonce = secrets.token_hex(16)
    self.sb.write_file(TEST_PATCH, task.test_patch if task.test_patch.endswith("\n")
                       else task.test_patch + "\n")
    self.sb.write_file(f"{GUARD_DIR}/swejax_guard.py", _guard_source())
    self.sb.write_file(f"{GUARD_DIR}/nonce", nonce, mode=0o600)
    script = (self._guarded("reset", _reset_script(task.workdir, reset, new_only),
                            "/tmp/swejax-reset.log")
              + f"cd {self.workdir}\n"
              + self._guarded("test_patch", f"git apply --verbose {TEST_PATCH}",
                              "/tmp/swejax-test-apply.log")
              + f"echo '{self.step} tests'\n{_ENV}; timeout -k 5 {self.timeout:.0f} "
              f"bash -c {shlex.quote(build_test_command(task))}\n")
    run = self.sb.run(script, timeout=self.timeout + 60)
    failed = self._failed_step(run.output.split(f"{self.step} tests\n", 1)[0])
    if failed and failed[0] == "reset":
      return self.result(False, "reset_failed", reset_paths=tuple(reset),
                         log_tail=failed[1][-2000:])
    if failed:
      return self.result(False, "infra_error", reset_paths=tuple(reset),
                         infra_error=f"test_patch does not apply: {failed[1][-500:]}")
    output = run.output.split(f"{self.step} tests\n", 1)[-1]
    common = dict(exit_code=run.exit_code, reset_paths=tuple(reset),
                  log_tail=output[-LOG_TAIL_CHARS:], truncated=run.truncated)
    timed_out = run.timed_out or (run.exit_code == 124 and END_LINE not in output)
    if timed_out:
      return self.result(False, "infra_error", infra_error=f"timeout: the test command ran "
                         f"over {self.timeout:.0f}s", **common)
    if run.exit_code == 137:
      return self.result(False, "infra_error", infra_error="the test command was killed "
                         "(exit 137: out of memory?)", **common)
    if run.truncated and "short test summary info" not in output[-GRADE_TAIL_CHARS:]:
      return self.result(False, "infra_error", infra_error="the test log was cut before its "
                         "summary; raise tail_chars", **common)
    log, exit_code = _trusted_log(output, nonce)
    statuses = logparse.get_parser(task.log_parser)(log)
    expected = task.FAIL_TO_PASS + task.PASS_TO_PASS
    failed_tests = tuple(t for t in expected if not logparse.passed(statuses, t))
    missing = tuple(t for t in failed_tests if t not in statuses)
    common.update(statuses=statuses, failed=failed_tests, missing=missing)
    if exit_code is None:
      return self.result(False, "unverified_log", **common)
    if not consistent(exit_code, statuses):
      return self.result(False, "exit_status_mismatch", **common)
    if failed_tests:
      return self.result(False, "tests_failed", **common)
    return self.result(True, "resolved", **common)


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
