"""Image-aware placement: DockerPool opens a sandbox on a host holding its image.

Unit tests use fake hosts; the `docker` tests start a second Docker engine on this
machine (its own data root, sockets and network namespace) so that the image check
really differs between two hosts.
"""
import base64
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import docker
import pytest

from swejax.cli import main as swejax_main
from swejax.sandbox import BASE_IMAGE, DockerPool, Limits, SandboxError, engine, pool
from swejax.tasks import repo, save_tasks
from swejax.tasks.image_build import build_task_image
from swejax.tasks.schema import SNAPSHOT_PREFIX, Task

LIMITS = Limits.make()


class FakeSandbox:
  def __init__(self, host, image, on_close):
    self.host, self.image, self._on_close = host, image, on_close

  def close(self):
    self._on_close()


class FakeHost:
  def __init__(self, url, images=(), capacity=2):
    self.url, self.capacity, self.images = url, capacity, set(images)

  def has_image(self, image):
    return image in self.images

  def open(self, image, limits, on_close=None, **kwargs):
    return FakeSandbox(self, image, on_close)

  def reap(self):
    return []

  def close(self):
    pass


def _pool(*hosts):
  return DockerPool(list(hosts), reap=False)


def test_a_host_holding_the_image_wins_over_a_less_loaded_one():
  a, b = FakeHost("a", ["common"], capacity=4), FakeHost("b", ["common", "only-b"], capacity=4)
  p = _pool(a, b)
  first = [p.open("only-b", LIMITS) for _ in range(3)]
  assert [s.host.url for s in first] == ["b", "b", "b"]
  assert p.open("common", LIMITS).host is a  # both hold it: the least loaded
  assert p.open("nowhere", LIMITS).host is a  # nobody holds it: least loaded of all
  for sandbox in first:
    sandbox.close()
  assert p.load() == {"a": 2, "b": 0}


def test_full_holders_are_waited_for_not_bypassed():
  a, b = FakeHost("a", capacity=1), FakeHost("b", ["img"], capacity=1)
  p = _pool(a, b)
  held = p.open("img", LIMITS)
  with pytest.raises(SandboxError, match=r"holding the image \(\['b'\]\) is full"):
    p.open("img", LIMITS, wait_s=0.2)
  got = []
  waiter = threading.Thread(target=lambda: got.append(p.open("img", LIMITS, wait_s=10)))
  waiter.start()
  time.sleep(0.2)
  held.close()
  waiter.join(5)
  assert got and got[0].host is b


def test_a_release_wakes_the_waiter_that_can_use_it():
  a, b = FakeHost("a", ["img-a"], capacity=1), FakeHost("b", ["img-b"], capacity=1)
  p = _pool(a, b)
  on_a, on_b = p.open("img-a", LIMITS), p.open("img-b", LIMITS)
  got = {}
  threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, p.open(i, LIMITS, wait_s=10)))
             for i in ("img-a", "img-b")]
  for thread in threads:
    thread.start()
  time.sleep(0.2)
  on_b.close()  # only the img-b waiter can take it
  threads[1].join(5)
  assert got.get("img-b") is not None and got["img-b"].host is b
  on_a.close()
  threads[0].join(5)
  assert got["img-a"].host is a


# -- two real engines ------------------------------------------------------------------

@pytest.fixture(scope="module")
def second_engine(docker_engine, tmp_path_factory):
  """A second dockerd in its own network namespace (a network-less engine leaves the first
  engine's bridge alone only there), holding the base image; stopped afterwards."""
  if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("unshare"):
    pytest.skip("a second Docker engine needs root, dockerd and unshare")
  root = tmp_path_factory.mktemp("engine")
  url = f"unix://{root}/docker.sock"
  log = open(root / "log", "wb")
  proc = subprocess.Popen(
      ["unshare", "--net", "dockerd", "--data-root", str(root / "data"), "--exec-root",
       str(root / "exec"), "--pidfile", str(root / "pid"), "-H", url, "--bridge=none",
       "--iptables=false", "--ip-masq=false"],
      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
  try:
    deadline = time.monotonic() + 60
    while not engine.engine_answers(url, timeout=2):
      if proc.poll() is not None or time.monotonic() > deadline:
        pytest.skip(f"a second dockerd did not start: {(root / 'log').read_text()[-800:]}")
      time.sleep(0.3)
    first, second = engine.make_client(timeout=600), engine.make_client(url, timeout=600)
    second.api.load_image(first.api.get_image(BASE_IMAGE))
    yield {"url": url, "first": first, "second": second}
    first.close()
    second.close()
  finally:
    proc.terminate()
    try:
      proc.wait(30)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()
    log.close()
    shutil.rmtree(root / "data", ignore_errors=True)


@pytest.mark.docker
@pytest.mark.slow
def test_two_engines_placement_and_report(second_engine, mini_task_like, tmp_path, capsys):
  first_url, second_url = engine.default_host(), second_engine["url"]
  made = [f"swejax-test/only-{w}:{uuid.uuid4().hex[:8]}" for w in ("first", "second")]
  only_first, only_second = made
  second_engine["first"].api.tag(BASE_IMAGE, *only_first.split(":"))
  build_task_image(only_second, client=second_engine["second"])
  try:
    with DockerPool([first_url, second_url], per_host=2) as p:
      with p.open(only_second, LIMITS) as sb:
        assert p.load() == {first_url: 0, second_url: 1}
        assert sb.run("test -f /opt/miniconda3/bin/activate && echo ok").output.strip() == "ok"
        with p.open(only_first, LIMITS):
          assert p.load() == {first_url: 1, second_url: 1}
          with p.open(only_second, LIMITS):
            assert p.load() == {first_url: 1, second_url: 2}
            with pytest.raises(SandboxError, match="full"):
              p.open(only_second, LIMITS, wait_s=0.5)
    # `swejax tasks images` host by host: --build makes the snapshot task's image on both,
    # the image task's image stays missing where it is not.
    snapshot = f"swejax-test/snapshot:{uuid.uuid4().hex[:8]}"
    made.append(snapshot)
    path = tmp_path / "tasks.jsonl"
    save_tasks([mini_task_like(BASE_IMAGE), mini_task_like(only_first),
                mini_task_like(only_second), mini_task_like(snapshot, with_snapshot=True)], path)
    argv = ["tasks", "images", "--tasks", str(path), "--hosts", f"{first_url},{second_url}"]
    assert swejax_main(argv) == 1
    first, second, summary = map(json.loads, capsys.readouterr().out.strip().splitlines())
    assert (first["host"], second["host"]) == (first_url, second_url)
    assert first["present"] == [BASE_IMAGE, only_first]
    assert first["missing"] == [only_second, snapshot]
    assert second["present"] == [BASE_IMAGE, only_second]
    assert second["missing"] == [only_first, snapshot]
    assert summary["missing"] == 4 and summary["hosts"] == 2
    assert swejax_main(argv + ["--build"]) == 1
    first, second, summary = map(json.loads, capsys.readouterr().out.strip().splitlines())
    assert first["built"] == second["built"] == [snapshot]
    assert (first["missing"], second["missing"]) == ([only_second], [only_first])
    assert summary["fetch"].endswith(f"--pull --hosts {first_url},{second_url}")
  finally:
    for client in (second_engine["first"], second_engine["second"]):
      for name in made:
        try:
          client.api.remove_image(name, force=True)
        except docker.errors.APIError:
          pass


@pytest.mark.docker
def test_host_image_cache(docker_engine, monkeypatch):
  name = f"swejax-test/cache:{uuid.uuid4().hex[:8]}"
  with DockerPool(None, per_host=1, reap=False) as p:
    host = p.hosts[0]
    assert not host.has_image(name)
    host.client.api.tag(BASE_IMAGE, *name.split(":"))
    try:
      assert not host.has_image(name)  # a miss is remembered for a moment ...
      monkeypatch.setattr(pool, "MISS_RECHECK_S", 0.0)
      assert host.has_image(name)  # ... then asked again
    finally:
      host.client.api.remove_image(name)
    assert host.has_image(name)  # a hit stays (opening would then fail, and forget it)
    with pytest.raises(SandboxError, match=f"{name} is not on .*swejax tasks images"):
      p.open(name, LIMITS)
    assert not host.has_image(name)


DIFF = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"


@pytest.fixture
def mini_task_like():
  """A valid row running in `image`; a snapshot task when `with_snapshot`."""
  snap = repo.make_snapshot({"a.py": "x = 1\n"})

  def make(image, with_snapshot=False):
    return Task(instance_id=f"t-{image}", repo="o/r",
                base_commit=repo.snapshot_commit(snap) if with_snapshot else "0" * 40,
                patch=DIFF, test_patch=DIFF, problem_statement="x", FAIL_TO_PASS=("t",),
                PASS_TO_PASS=(), image=image, test_cmd="true",
                repo_snapshot=SNAPSHOT_PREFIX + base64.b64encode(snap).decode()
                if with_snapshot else "")
  return make
