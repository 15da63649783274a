"""Running a repository's tests for the synthesizer, inside a sandbox, never on the host.

A `RepoSandbox` holds the clean repository at its workdir as one git commit.
Before each candidate, `git checkout` and `git clean` bring the tree back, so a
mutant costs one test run rather than a container start. Byte code is never
written: a mutant of the same size, written within the same second as the
original, would otherwise run from the original's stale .pyc.

The probe plugin (swejax.tasks.runner.PROBE_PLUGIN) is loaded through
PYTEST_ADDOPTS, so it joins whatever command the repository's tests run with.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import shlex
import tempfile
from typing import Callable, Mapping

import docker
import requests

from swejax.sandbox import SandboxError, open_sandbox
from swejax.tasks import logparse, repo, runner
from swejax.tasks.images import build_task_image
from swejax.tasks.schema import DEFAULT_WORKDIR, SNAPSHOT_PREFIX, Task

PROBE_DIR = "/tmp/swejax-probe"
PROBE_JSON = "/tmp/swejax-probe.json"
SNIPPET = "__swejax_snippet_{}__.py"
# The summary comes last; a long traceback section must not push it out.
TAIL_CHARS = 2_000_000
_RESET = ("git checkout -q -f HEAD -- . && git clean -fdxq "
          "&& find . -name __pycache__ -type d -prune -exec rm -rf {} +")


def environment_image(name: str, files: Mapping[str, bytes], base: str, install: str,
                      network: bool = False, log: Callable[[str], None] | None = None) -> str:
  """The image the tasks run in: `base` itself, or `base` with `install` run over
  the repository at build time and the workdir emptied again (rows bring their
  own tree as a snapshot). The tag depends on the files, base and command.
  `network`: the install step may reach the network (offline by default)."""
  if not install:
    return base
  digest = hashlib.sha256()
  for path in sorted(files):
    digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
  digest.update(f"\0{base}\0{install}".encode())
  slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("-.")
  tag = f"swejax-synth/{slug or 'repo'}:{digest.hexdigest()[:12]}"
  with tempfile.TemporaryDirectory(prefix="swejax-synth-image-") as tmp:
    repo.materialize(tmp, repo.make_snapshot(files))
    build_task_image(tag, repo=tmp, install=install, base=base, keep_repo=False,
                     network=network, log=log)
  return tag


def snapshot_task(files: Mapping[str, bytes], image: str, workdir: str = DEFAULT_WORKDIR,
                  instance_id: str = "clean") -> Task:
  """A throw-away task whose repository is `files`: what repo.prepare_script takes."""
  snapshot = repo.make_snapshot(files)
  return Task(instance_id=instance_id, repo="swejax/synth", base_commit="", patch="",
              test_patch="", problem_statement="", FAIL_TO_PASS=(), PASS_TO_PASS=(),
              image=image, test_cmd="", created_at=repo.DEFAULT_DATE, workdir=workdir,
              repo_snapshot=SNAPSHOT_PREFIX + base64.b64encode(snapshot).decode())


class RepoSandbox:
  """One sandbox with the clean repository; runs its suite and snippets on variants.

  Reopens its sandbox after an infrastructure failure (a mutant that kills the
  container must not end the whole run).
  """

  def __init__(self, files: Mapping[str, bytes], *, image: str, test_cmd: str,
               backend: str = "docker", python: str = "python3",
               workdir: str = DEFAULT_WORKDIR, memory: str = "2g"):
    self.files, self.image, self.test_cmd = files, image, test_cmd
    self.backend, self.python, self.workdir, self.memory = backend, python, workdir, memory
    self._sb = None

  def _sandbox(self):
    if self._sb is None:
      sb = open_sandbox(self.backend, self.image, workdir=self.workdir, memory=self.memory,
                        head_chars=2000, tail_chars=TAIL_CHARS)
      try:
        empty = sb.run(f"[ -z \"$(ls -A {shlex.quote(self.workdir)} 2>/dev/null)\" ]", timeout=60)
        if empty.exit_code != 0:
          raise SandboxError(
              f"image {self.image} has files at {self.workdir}: the tasks bring the "
              "repository as a snapshot and need an empty workdir there (build the image "
              "with --install, which empties it, or use an image without the repository)")
        task = snapshot_task(self.files, self.image, self.workdir)
        done = sb.run(repo.prepare_script(sb, task), timeout=300)
        if done.exit_code != 0:
          raise SandboxError(f"copying the repository into {self.image} failed "
                             f"(exit {done.exit_code}): {done.output[-1000:]}")
        sb.write_file(f"{PROBE_DIR}/swejax_probe.py", runner.PROBE_PLUGIN)
      except BaseException:
        sb.close()
        raise
      self._sb = sb
    return self._sb

  def close(self) -> None:
    sandbox, self._sb = self._sb, None
    if sandbox is not None:
      with contextlib.suppress(SandboxError, OSError, docker.errors.DockerException,
                               requests.exceptions.RequestException):
        sandbox.close()  # a container that will not close is left to `swejax sandbox reap`

  def _apply(self, changes: Mapping[str, bytes]) -> None:
    """The clean tree with `changes` written over it."""
    sb = self._sandbox()
    done = sb.run(f"cd {shlex.quote(self.workdir)} && {_RESET}", timeout=120)
    if done.exit_code != 0:
      raise SandboxError(f"resetting the repository failed: {done.output[-500:]}")
    for path, data in changes.items():
      sb.write_file(f"{self.workdir}/{path}", data)

  def _call(self, changes: Mapping[str, bytes], script: str, timeout: float):
    try:
      self._apply(changes)
      return self._sb.run(script, timeout=timeout)
    except (SandboxError, OSError, docker.errors.DockerException,
            requests.exceptions.RequestException) as error:
      self.close()  # the next call starts a fresh sandbox
      if isinstance(error, SandboxError):
        raise
      raise SandboxError(f"sandbox: {type(error).__name__}: {error}") from error

  def suite(self, changes: Mapping[str, bytes], timeout: float) -> runner.SuiteRun:
    """The test command's statuses, probe failures and exit code with `changes`."""
    marker = f"swejax-suite-{secrets.token_hex(8)}"
    script = (f"cd {shlex.quote(self.workdir)}\n"
              f"export PYTHONDONTWRITEBYTECODE=1 "
              f"PYTHONPATH={PROBE_DIR}${{PYTHONPATH:+:$PYTHONPATH}} "
              f"PYTEST_ADDOPTS='-p swejax_probe --swejax-probe={PROBE_JSON}'\n"
              f"rm -f {PROBE_JSON}\n"
              f"timeout -k 5 {timeout:.0f} bash -c {shlex.quote(self.test_cmd)}\n"
              f"echo \"{marker} $?\"\ncat {PROBE_JSON} 2>/dev/null || true\n")
    done = self._call(changes, script, timeout + 60)
    log, found, tail = done.output.rpartition(f"{marker} ")
    if done.timed_out or not found:
      return runner.SuiteRun({}, {}, 124, done.output[-runner.MAX_LOG_BYTES:])
    code_text, _, probe = tail.partition("\n")
    try:
      failures = json.loads(probe) if probe.strip() else {}
    except json.JSONDecodeError:
      failures = {}
    code = int(code_text) if code_text.strip().lstrip("-").isdigit() else 124
    return runner.SuiteRun(logparse.parse_pytest_log(log), failures, code, log)

  def scripts(self, changes: Mapping[str, bytes], scripts: list[str],
              timeout: float = 20.0) -> list[str]:
    """Each script's output, run at the repository root with `changes` written."""
    marker = f"swejax-script-{secrets.token_hex(8)}"
    changes = dict(changes)
    body = [f"cd {shlex.quote(self.workdir)}", "export PYTHONDONTWRITEBYTECODE=1"]
    for index, script in enumerate(scripts):
      name = SNIPPET.format(index)
      changes[name] = script.encode()
      body.append(f"echo '{marker}'; timeout -k 2 {timeout:.0f} {self.python} {name} 2>&1 "
                  f"|| echo \"EXC Exit $?\"")
    done = self._call(changes, "\n".join(body) + "\n", timeout * len(scripts) + 60)
    parts = done.output.split(f"{marker}\n")[1:]
    parts += ["EXC Timeout"] * (len(scripts) - len(parts))
    return ["EXC Timeout" if part.rstrip().endswith("EXC Exit 124") else part
            for part in parts]
