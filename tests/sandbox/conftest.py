"""Sandbox test set-up: the engine and base image once per session for `docker` tests."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _needs_engine(request: pytest.FixtureRequest) -> None:
  if request.node.get_closest_marker("docker") is not None:
    request.getfixturevalue("docker_engine")
