"""Bounded capture of a command's output while it streams: head and tail kept."""
from __future__ import annotations

import codecs


def cut_marker(cut_chars: int) -> str:
  """The line that stands in the output where characters were dropped."""
  return f"\n[... {cut_chars} characters cut from the middle of the output ...]\n"


class OutputCap:
  """Keeps the first `head` and last `tail` characters of a stream, counts the rest.

  Memory stays O(head + tail + one chunk) however long the stream is, so a
  command printing gigabytes cannot exhaust the host.
  """

  def __init__(self, head: int = 20_000, tail: int = 20_000):
    if head < 0 or tail < 0:
      raise ValueError(f"head and tail must be >= 0, got {head}, {tail}")
    self._head_max, self._tail_max = head, tail
    self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    self._head = ""
    self._tail: list[str] = []
    self._tail_len = 0
    self.total_chars = 0
    self.total_bytes = 0

  def feed(self, data: bytes) -> None:
    """Adds raw bytes (split anywhere, even inside a UTF-8 sequence)."""
    self.total_bytes += len(data)
    self._add(self._decoder.decode(data))

  def _add(self, text: str) -> None:
    if not text:
      return
    self.total_chars += len(text)
    room = self._head_max - len(self._head)
    if room > 0:
      self._head += text[:room]
      text = text[room:]
      if not text:
        return
    if self._tail_max == 0:
      return
    if len(text) >= self._tail_max:
      self._tail, self._tail_len = [text[-self._tail_max:]], self._tail_max
      return
    self._tail.append(text)
    self._tail_len += len(text)
    if self._tail_len > 2 * self._tail_max:  # amortized trimming keeps feed() O(chunk)
      joined = "".join(self._tail)[-self._tail_max:]
      self._tail, self._tail_len = [joined], len(joined)

  @property
  def cut_chars(self) -> int:
    kept = len(self._head) + min(self._tail_len, self._tail_max)
    return self.total_chars - kept

  def text(self) -> str:
    """The kept output, with a marker naming how many characters were cut."""
    self._add(self._decoder.decode(b"", final=True))
    tail = "".join(self._tail)[-self._tail_max:] if self._tail_max else ""
    cut = self.cut_chars
    return self._head + (cut_marker(cut) if cut else "") + tail
