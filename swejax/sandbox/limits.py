"""Resource limits of a sandbox, shared by every backend."""
from __future__ import annotations

import dataclasses
import re

from swejax.sandbox.base import SandboxError

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(value: int | str, field: str = "size") -> int:
  """Bytes from `2g`, `256m`, `512k`, `1.5g` or an int; names `field` on bad input."""
  if isinstance(value, bool):
    raise SandboxError(f"{field}: expected a size like '2g', got {value!r}")
  if isinstance(value, int):
    if value <= 0:
      raise SandboxError(f"{field}: size must be positive, got {value}")
    return value
  match = _SIZE_RE.match(str(value))
  if not match:
    raise SandboxError(f"{field}: expected a size like '2g' or '256m', got {value!r}")
  number = float(match.group(1)) * _UNITS[match.group(2).lower()]
  if number < 1:
    raise SandboxError(f"{field}: size must be positive, got {value!r}")
  return int(number)


@dataclasses.dataclass(frozen=True)
class Limits:
  """What one sandbox may use; the defaults are the paper's per-agent budget."""

  memory: int = 2 * 1024**3  # bytes: processes, workspace and /tmp together
  pids: int = 512
  cpus: float = 1.0
  disk: int = 2 * 1024**3  # bytes of workspace
  tmp: int = 256 * 1024**2  # bytes of /tmp
  network: bool = False
  head_chars: int = 20_000  # output kept from the start of a command's output
  tail_chars: int = 20_000  # and from its end

  @property
  def reserve(self) -> int:
    """Memory kept free of in-memory disks, so commands can always start."""
    return max(64 << 20, self.memory // 16)

  @property
  def tmp_cap(self) -> int:
    """Effective size of /tmp: at most half of what the reserve leaves."""
    return max(1 << 20, min(self.tmp, (self.memory - self.reserve) // 2))

  @property
  def disk_cap(self) -> int:
    """Effective size of the workspace: the rest of the memory minus /tmp and the reserve.

    The workspace and /tmp are tmpfs (no disk quota exists here) and count against
    `memory`; capping them below it means filling them can never starve the
    sandbox's own processes.
    """
    return max(1 << 20, min(self.disk, self.memory - self.reserve - self.tmp_cap))

  @classmethod
  def make(cls, *, memory: int | str = "2g", pids: int = 512, cpus: float = 1.0,
           disk: int | str = "2g", tmp: int | str = "256m", network: bool = False,
           head_chars: int = 20_000, tail_chars: int = 20_000) -> "Limits":
    """Validated limits from user-facing values (sizes as strings or bytes)."""
    memory = parse_size(memory, "memory")
    if memory < 64 << 20:
      raise SandboxError(f"memory: at least 64m, got {memory} bytes")
    if not isinstance(pids, int) or isinstance(pids, bool) or pids < 8:
      raise SandboxError(f"pids: expected an int >= 8, got {pids!r}")
    if not isinstance(cpus, (int, float)) or isinstance(cpus, bool) or not 0 < cpus <= 1024:
      raise SandboxError(f"cpus: expected a number in (0, 1024], got {cpus!r}")
    for name, chars in (("head_chars", head_chars), ("tail_chars", tail_chars)):
      if not isinstance(chars, int) or isinstance(chars, bool) or chars < 0:
        raise SandboxError(f"{name}: expected an int >= 0, got {chars!r}")
    return cls(memory=memory, pids=pids, cpus=float(cpus),
               disk=parse_size(disk, "disk"), tmp=parse_size(tmp, "tmp"),
               network=bool(network), head_chars=head_chars, tail_chars=tail_chars)
