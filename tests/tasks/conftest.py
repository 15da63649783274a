"""A tiny hand-made task, patch builders and the sandbox backends for task tests."""
import base64
import os
import subprocess

import pytest

from swejax.sandbox import BASE_IMAGE, SandboxError, open_sandbox
from swejax.tasks import repo, synth
from swejax.tasks.schema import SNAPSHOT_PREFIX, Task

BASE_FILES = {
    "pyproject.toml": '[project]\nname = "mini"\nversion = "0.1"\n',
    "mini/__init__.py": "",
    "mini/core.py": "def add(a, b):\n    return a - b\n",
    "mini/other.py": "def mul(a, b):\n    return a * b\n",
    "tests/__init__.py": "",
    "tests/test_core.py": ("from mini.core import add\n\n\ndef test_add_exists():\n"
                           "    assert callable(add)\n"),
    "tests/test_other.py": ("from mini.other import mul\n\n\ndef test_mul():\n"
                            "    assert mul(2, 3) == 6\n"),
}
FIXED_CORE = "def add(a, b):\n    return a + b\n"
HIDDEN_TEST = "\n\ndef test_add():\n    assert add(2, 3) == 5\n"
FIX_MARKER = "return a + b"


def _bytes(files):
  return {k: v.encode() for k, v in files.items()}


@pytest.fixture(scope="session")
def mini_snapshot():
  return repo.make_snapshot(_bytes(BASE_FILES))


@pytest.fixture(scope="session")
def mini_task(mini_snapshot):
  commit, gold = synth.snapshot_diff(mini_snapshot, {"mini/core.py": FIXED_CORE.encode()})
  _, test_patch = synth.snapshot_diff(
      mini_snapshot, {"tests/test_core.py": (BASE_FILES["tests/test_core.py"] + HIDDEN_TEST).encode()})
  return Task(
      instance_id="mini-1", repo="swejax/mini", base_commit=commit, patch=gold,
      test_patch=test_patch, problem_statement="add(2, 3) returns -1, expected 5",
      FAIL_TO_PASS=("tests/test_core.py::test_add",),
      PASS_TO_PASS=("tests/test_core.py::test_add_exists", "tests/test_other.py::test_mul"),
      image=BASE_IMAGE, test_cmd=synth.TEST_CMD, created_at=repo.DEFAULT_DATE,
      repo_snapshot=SNAPSHOT_PREFIX + base64.b64encode(mini_snapshot).decode())


@pytest.fixture(scope="session")
def make_patch(mini_snapshot, tmp_path_factory):
  """changes: {path: text | None (delete) | ("symlink", target)} -> a git diff."""

  def build(changes):
    root = str(tmp_path_factory.mktemp("patch"))
    repo.materialize(root, mini_snapshot)
    for path, value in changes.items():
      full = os.path.join(root, path)
      if value is None or isinstance(value, tuple):
        if os.path.isdir(full) and not os.path.islink(full):
          subprocess.run(["rm", "-rf", full], check=True)
        elif os.path.lexists(full):
          os.remove(full)
      if isinstance(value, tuple):
        os.symlink(value[1], full)
      elif value is not None:
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
          handle.write(value)
    env = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    subprocess.run(["git", "add", "-A", "-f", "."], cwd=root, env=env, check=True)
    return subprocess.run(["git", "diff", "--cached", "--binary"], cwd=root, env=env, check=True,
                          capture_output=True, text=True).stdout

  return build


@pytest.fixture(scope="session")
def docker_ready():
  from swejax.sandbox import ensure_engine_and_image
  try:
    ensure_engine_and_image()
  except SandboxError as error:
    pytest.skip(f"no Docker engine: {error}")


@pytest.fixture(scope="session")
def local_ready():
  """The local backend runs the host's python3; it needs pytest there."""
  try:
    with open_sandbox("local") as sandbox:
      result = sandbox.run("python3 -c 'import pytest' && git --version", timeout=60)
  except SandboxError as error:
    pytest.skip(f"no local sandbox: {error}")
  if result.exit_code != 0:
    pytest.skip(f"the local sandbox lacks python3 pytest or git: {result.output[-300:]}")


@pytest.fixture(params=[pytest.param("docker", marks=pytest.mark.docker), "local"])
def backend(request):
  request.getfixturevalue(f"{request.param}_ready")
  return request.param
