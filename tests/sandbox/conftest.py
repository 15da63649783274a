"""Sandbox test set-up: the engine and base image once per session for `docker` tests."""
from __future__ import annotations

import os

import pytest

from swejax.sandbox import SandboxError, engine


@pytest.fixture(scope="session")
def docker_engine() -> dict:
  """Starts the engine and builds the base image if needed (minutes the first time)."""
  try:
    return engine.ensure_engine_and_image(bubblewrap=False)
  except SandboxError as err:
    if os.geteuid() != 0 and not engine.engine_answers():
      pytest.skip(f"no Docker engine and not root: {err}")
    raise


@pytest.fixture(scope="session")
def bubblewrap() -> str:
  path = engine.ensure_bubblewrap()
  if path is None:
    pytest.skip("bubblewrap is not installed and cannot be installed here")
  return path


@pytest.fixture(autouse=True)
def _needs_engine(request: pytest.FixtureRequest) -> None:
  if request.node.get_closest_marker("docker") is not None:
    request.getfixturevalue("docker_engine")
