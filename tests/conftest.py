"""Test-wide set-up: 8 fake CPU devices for sharding tests, before JAX starts."""
import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()


@pytest.fixture(scope="session")
def docker_engine() -> dict:
  """Starts the engine and builds the base image if needed (minutes the first time)."""
  from swejax.sandbox import SandboxError, engine
  try:
    return engine.ensure_engine_and_image(bubblewrap=False)
  except SandboxError as err:
    if os.geteuid() != 0 and not engine.engine_answers():
      pytest.skip(f"no Docker engine and not root: {err}")
    raise


@pytest.fixture(scope="session")
def bubblewrap() -> str:
  from swejax.sandbox import engine
  path = engine.ensure_bubblewrap()
  if path is None:
    pytest.skip("bubblewrap is not installed and cannot be installed here")
  return path
