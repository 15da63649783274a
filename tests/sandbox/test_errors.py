"""The sandbox layer's one failure type: Docker client errors come out as SandboxError."""
import docker
import pytest

from swejax.sandbox.base import SandboxError
from swejax.sandbox.docker_backend import DockerSandbox, _sandbox_errors


class _Fake:
  name = "swejax-test"

  @_sandbox_errors
  def run(self, cmd):
    raise docker.errors.APIError(f"engine went away running {cmd}")


def test_a_docker_error_is_a_sandbox_error_naming_the_sandbox():
  with pytest.raises(SandboxError, match="swejax-test: APIError: .*engine went away") as e:
    _Fake().run("ls")
  assert isinstance(e.value.__cause__, docker.errors.APIError)


def test_every_public_operation_is_wrapped():
  for name in ("run", "read_file", "write_file", "put_archive", "copy_in"):
    assert getattr(DockerSandbox, name).__wrapped__
