"""Pure parts: sizes and limits, Docker stream frames, apt sources, owners, the pool."""
from __future__ import annotations

import struct
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swejax.sandbox import SandboxError
from swejax.sandbox.engine import _mirror_from_sources
from swejax.sandbox.exec_stream import FrameParser
from swejax.sandbox.limits import Limits, parse_size
from swejax.sandbox.owner import Owner
from swejax.sandbox.pool import DockerPool


@pytest.mark.parametrize("text, expected", [
    ("2g", 2 << 30), ("256m", 256 << 20), ("512K", 512 << 10), ("1.5g", 3 << 29),
    ("100", 100), ("2GiB", 2 << 30), ("64mb", 64 << 20), (4096, 4096)])
def test_parse_size(text, expected):
  assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "two gigs", "-1g", "0", 0, True, "1x"])
def test_parse_size_names_the_field(bad):
  with pytest.raises(SandboxError, match="memory"):
    parse_size(bad, "memory")


@pytest.mark.parametrize("kwargs, field", [
    ({"pids": 2}, "pids"), ({"cpus": 0}, "cpus"), ({"memory": "1m"}, "memory"),
    ({"disk": "lots"}, "disk"), ({"head_chars": -1}, "head_chars")])
def test_limits_reject_bad_values_by_name(kwargs, field):
  with pytest.raises(SandboxError, match=field):
    Limits.make(**kwargs)


def test_in_memory_disks_leave_room_for_processes():
  limits = Limits.make()  # 2 GiB memory, 2 GB workspace, 256 MiB /tmp
  assert limits.tmp_cap == 256 << 20
  assert limits.disk_cap + limits.tmp_cap + limits.reserve == limits.memory
  small = Limits.make(memory="256m", disk="64m", tmp="32m")
  assert (small.disk_cap, small.tmp_cap) == (64 << 20, 32 << 20)


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=12),
       cuts=st.lists(st.integers(0, 5000), max_size=15))
def test_frame_parser_reassembles_any_split(frames, cuts):
  wire = b"".join(struct.pack(">BxxxL", kind, len(data)) + data for kind, data in frames)
  points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
  parser, got = FrameParser(), []
  for a, b in zip(points, points[1:]):
    got += parser.feed(wire[a:b])
  assert got == [(k, d) for k, d in frames]
  assert parser.pending == 0


def test_mirror_from_one_line_and_deb822_sources():
  one_line = ("# comment\ndeb http://security.example/debian-security bookworm-security main\n"
              "deb [arch=amd64] http://mirror.example/debian bookworm main\n")
  assert _mirror_from_sources(one_line) == "http://mirror.example/debian"
  deb822 = ("Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
            "\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
            "Components: main\n")
  assert _mirror_from_sources(deb822) == "http://mirror.example/debian"
  assert _mirror_from_sources("deb http://x/ubuntu jammy main\n") is None


def test_owner_is_gone_when_pid_dies_or_is_reused():
  me = Owner.current()
  assert not me.is_gone()
  assert Owner(me.host, me.pid, "12345.00").is_gone()  # same pid, other start: reused
  assert not Owner("some-other-host", 1, "0.00").is_gone()  # cannot tell: leave it
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  owner = Owner.of_pid(child.pid)
  child.wait()
  assert owner.is_gone()
  assert Owner.from_labels(me.labels("r1")) == me
  assert Owner.from_labels({"swejax.owner.pid": "x"}) is None


class _FakeHost:
  def __init__(self, url, capacity):
    self.url, self.capacity, self.opened = url, capacity, 0

  def has_image(self, image):
    return True  # every host holds it: placement by load alone (test_placement.py: by image)

  def open(self, image, limits, on_close=None, **kwargs):
    self.opened += 1
    return self.url, on_close  # the "sandbox": where it runs and how to close it

  def reap(self):
    return []

  def close(self):
    pass


def test_pool_picks_least_loaded_host_and_blocks_when_full():
  pool = DockerPool.__new__(DockerPool)
  a, b = _FakeHost("unix:///a", 2), _FakeHost("tcp://b:2375", 1)
  pool.hosts, pool._live, pool._cond = [a, b], {a.url: 0, b.url: 0}, threading.Condition()
  limits = Limits.make()
  # loads 0/2 and 0/1 tie -> a; then a is half full, b empty -> b; then only a has room
  opened = [pool.open("img", limits) for _ in range(3)]
  assert [url for url, _ in opened] == [a.url, b.url, a.url]
  assert pool.load() == {a.url: 2, b.url: 1}
  with pytest.raises(SandboxError, match="full"):
    pool.open("img", limits, wait_s=0.05)
  opened[1][1]()
  opened[1][1]()  # closing twice releases once
  assert pool.load() == {a.url: 2, b.url: 0}
  assert pool.open("img", limits, wait_s=0)[0] == b.url
  timer = threading.Timer(0.1, opened[0][1])
  timer.start()
  assert pool.open("img", limits, wait_s=5)[0] == a.url  # waits for the slot freed on a
  timer.join()
  assert pool.load() == {a.url: 2, b.url: 1}
