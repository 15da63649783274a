"""The Sandbox seam: everything the agent (and the grader) does goes through it."""
from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable


class SandboxError(RuntimeError):
  """The infrastructure failed (engine, container, image): never the agent's fault.

  Callers must treat this as an infrastructure error, never as reward 0.
  """


@dataclasses.dataclass(frozen=True)
class RunResult:
  output: str  # stdout and stderr interleaved; head and tail kept when capped
  exit_code: int  # 124 (like `timeout`) when timed out
  timed_out: bool
  truncated: bool
  cut_chars: int = 0  # characters dropped from the middle of the output
  seconds: float = 0.0


@runtime_checkable
class Sandbox(Protocol):
  isolation: str  # "docker" or "bubblewrap" (weaker; reported to the user)

  def run(self, cmd: str, timeout: float = 60.0) -> RunResult:
    """Runs `cmd` with bash in the workspace; kills all it started on timeout."""

  def read_file(self, path: str) -> bytes: ...

  def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None: ...

  def close(self) -> None: ...

  def __enter__(self) -> "Sandbox": ...

  def __exit__(self, *exc) -> None: ...
