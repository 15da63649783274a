"""Fixtures for the scaffold tests: a subprocess-backed Sandbox and small git repos.

`LocalProcessSandbox` satisfies the Sandbox protocol with plain `bash -c` on the
host: no isolation at all, only for tests. Paths inside "the sandbox" are host
paths, so each test gets its own scaffold directory under tmp_path.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import textwrap
import warnings

import pytest

from swejax.sandbox.base import RunResult


class LocalProcessSandbox:
  isolation = "none"

  def __init__(self, workdir: str, head: int = 20_000, tail: int = 20_000):
    self.workdir = workdir
    self.head, self.tail = head, tail
    self.commands: list[str] = []

  def run(self, cmd: str, timeout: float = 60.0) -> RunResult:
    self.commands.append(cmd)
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=self.workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    timed_out = False
    try:
      out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      timed_out = True
      os.killpg(proc.pid, signal.SIGKILL)
      out, _ = proc.communicate()
    text = out.decode("utf-8", "replace")
    cut = max(0, len(text) - self.head - self.tail)
    if cut:
      text = (text[:self.head] + f"\n[... {cut} characters cut from the middle of the output ...]\n"
              + text[-self.tail:])
    return RunResult(output=text, exit_code=124 if timed_out else proc.returncode,
                     timed_out=timed_out, truncated=bool(cut), cut_chars=cut)

  def read_file(self, path: str) -> bytes:
    with open(path, "rb") as f:
      return f.read()

  def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
      f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)

  def close(self) -> None:
    pass

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def git(repo, *args: str) -> str:
  env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
             GIT_COMMITTER_EMAIL="t@t")
  return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                        text=True, env=env).stdout


def make_repo(path, files: dict[str, str]):
  """A git repository at `path` holding `files`, committed once."""
  path.mkdir(parents=True)
  for name, text in files.items():
    (path / name).parent.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(textwrap.dedent(text))
  git(path, "init", "-q", "-b", "main")
  git(path, "add", "-A")
  git(path, "commit", "-q", "-m", "base")
  return path


BACKENDS = [
    "fake",
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("bubblewrap", marks=pytest.mark.slow),
]


def _open_real_sandbox(request, backend: str):
  from swejax.sandbox import open_sandbox
  if backend == "docker":
    request.getfixturevalue("docker_engine")
    return open_sandbox("docker")
  request.getfixturevalue("bubblewrap")
  with warnings.catch_warnings():  # the weaker isolation is said once per process
    warnings.simplefilter("ignore", RuntimeWarning)
    return open_sandbox("local")


@dataclasses.dataclass
class Episode:
  """An AgentEnv after reset, with helpers to act and to read files back."""
  env: object
  sandbox: object
  repo: str  # the repository's path inside the sandbox
  first_observation: str

  def act(self, command: str):
    from swejax.agent import format_action
    return self.env.step(format_action("Next step.", command))

  def read(self, name: str) -> str:
    return self.sandbox.read_file(f"{self.repo}/{name}").decode()


@pytest.fixture(params=BACKENDS)
def backend(request):
  return request.param


@pytest.fixture
def make_episode(request, tmp_path, backend):
  """make_episode(files, **AgentEnv kwargs) -> Episode on a fresh git repo holding `files`."""
  from swejax.agent import AgentEnv
  opened = []

  def make(files: dict[str, str], **kwargs) -> Episode:
    repo = make_repo(tmp_path / f"repo{len(opened)}", files)
    if backend == "fake":
      sandbox = LocalProcessSandbox(str(repo))
      kwargs.setdefault("scaffold_dir", str(tmp_path / f"scaffold{len(opened)}"))
      where = str(repo)
    else:
      sandbox = _open_real_sandbox(request, backend)
      sandbox.copy_in(str(repo), sandbox.workdir)
      where = sandbox.workdir
    opened.append(sandbox)
    env = AgentEnv(sandbox, kwargs.pop("problem", "Fix the bug."), **kwargs)
    return Episode(env, sandbox, where, env.reset())

  yield make
  for sandbox in opened:
    sandbox.close()
