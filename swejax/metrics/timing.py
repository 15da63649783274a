"""The time breakdown of an iteration, and a progress line for the rollouts."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, TextIO


class Timer:
  """Accumulates wall time per named phase: `with timer("rollouts"): ...`."""

  def __init__(self, clock: Callable[[], float] = time.perf_counter):
    self._clock = clock
    self.seconds: dict[str, float] = {}

  @contextlib.contextmanager
  def __call__(self, name: str) -> Iterator[None]:
    start = self._clock()
    try:
      yield
    finally:
      self.seconds[name] = self.seconds.get(name, 0.0) + (self._clock() - start)

  def as_metrics(self, prefix: str = "time/") -> dict[str, float]:
    """{"time/<phase>": seconds} for a metrics record."""
    return {prefix + k: v for k, v in self.seconds.items()}

  def reset(self) -> None:
    self.seconds = {}


class Progress:
  """Episodes done, solve rate so far and the slowest running episode, on one line.

  On a terminal the line is rewritten in place (\\r); otherwise (logs, CI) a full line is
  printed at most every `interval_s` seconds, plus the final state.
  """

  def __init__(self, total: int, *, label: str = "rollouts", stream: TextIO | None = None,
               interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
    self.total = int(total)
    self._label = label
    self._stream = sys.stderr if stream is None else stream
    self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
    self._interval_s = interval_s
    self._clock = clock
    self._last_print: float | None = None
    self._last_line = ""
    self._printed_line = ""
    self._width = 0

  def line(self, done: int, solved: int, slowest_s: float | None) -> str:
    pct = 100.0 * done / self.total if self.total else 100.0
    rate = f"{solved / done:.2f}" if done else "-"
    slow = f"{slowest_s:.0f}s" if slowest_s is not None else "-"
    return (f"{self._label} {done}/{self.total} ({pct:.0f}%) | solved {solved} "
            f"(rate {rate}) | slowest running {slow}")

  def update(self, done: int, solved: int, slowest_s: float | None = None) -> None:
    """`slowest_s`: elapsed seconds of the longest still-running episode (None: none)."""
    self._last_line = self.line(done, solved, slowest_s)
    now = self._clock()
    if self._tty:
      pad = max(0, self._width - len(self._last_line))
      self._stream.write("\r" + self._last_line + " " * pad)
      self._width = len(self._last_line)
      self._stream.flush()
      self._printed_line = self._last_line
    elif (self._last_print is None or now - self._last_print >= self._interval_s
          or done >= self.total):
      if self._last_line != self._printed_line:
        self._stream.write(self._last_line + "\n")
        self._stream.flush()
        self._printed_line = self._last_line
      self._last_print = now

  def close(self) -> None:
    """Ends the line on a terminal; elsewhere prints the last state if not yet shown."""
    if self._tty:
      if self._width:
        self._stream.write("\n")
    elif self._last_line and self._last_line != self._printed_line:
      self._stream.write(self._last_line + "\n")
      self._printed_line = self._last_line
    self._stream.flush()

  def __enter__(self) -> Progress:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()
