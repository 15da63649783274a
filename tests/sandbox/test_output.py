"""OutputCap keeps head and tail, counts the cut, and stays bounded."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swejax.sandbox.output import OutputCap, cut_marker


def _feed_in_pieces(cap: OutputCap, data: bytes, cuts: list[int]) -> None:
  points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
  for a, b in zip(points, points[1:]):
    cap.feed(data[a:b])


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400), head=st.integers(0, 50), tail=st.integers(0, 50),
       cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_cap_matches_head_and_tail_of_the_whole_text(text, head, tail, cuts):
  cap = OutputCap(head, tail)
  _feed_in_pieces(cap, text.encode(), cuts)  # splits may fall inside UTF-8 sequences
  kept = cap.text()
  if len(text) <= head + tail:
    assert kept == text and cap.cut_chars == 0
  else:
    cut = len(text) - head - tail
    assert cap.cut_chars == cut
    assert kept == text[:head] + cut_marker(cut) + (text[-tail:] if tail else "")


def test_memory_stays_bounded_on_a_long_stream():
  cap = OutputCap(100, 100)
  chunk = b"0123456789" * 100
  for _ in range(10_000):  # 10 MB
    cap.feed(chunk)
    assert cap._tail_len <= 2 * 100 + len(chunk)
  assert cap.total_bytes == 10_000_000
  assert cap.cut_chars == 10_000_000 - 200
  assert "9999800 characters cut" in cap.text()


def test_invalid_utf8_is_replaced_not_raised():
  cap = OutputCap(10, 10)
  cap.feed(b"ok \xff\xfe end")
  assert cap.text() == "ok \ufffd\ufffd end"
