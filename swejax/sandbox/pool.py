"""Docker hosts and a pool of them: how sandboxes scale past one machine.

Each host has a limit on live sandboxes. The pool opens each new sandbox on the
least-loaded host among those that already hold its image (blocking while they are
all full), and on the least-loaded host of all when none holds it (where opening then
fails, naming the image and how to fetch it).
"""
from __future__ import annotations

import threading
import time
import uuid

import docker

from swejax.sandbox import engine, files, owner
from swejax.sandbox.base import SandboxError
from swejax.sandbox.docker_backend import DockerSandbox, seed_workspace, start_container
from swejax.sandbox.exec_stream import RawExecConnector
from swejax.sandbox.limits import Limits

MISS_RECHECK_S = 5.0  # an image found missing on a host is asked for again after this


class DockerHost:
  """One engine: a client with enough connections, and its sandboxes' factory."""

  def __init__(self, url: str | None = None, capacity: int = 32):
    if not isinstance(capacity, int) or capacity < 1:
      raise SandboxError(f"capacity of a Docker host must be an int >= 1, got {capacity!r}")
    self.url = url or engine.default_host()
    self.capacity = capacity
    try:
      self.client = engine.make_client(self.url, timeout=120, max_pool_size=capacity + 8)
      self.client.api.ping()
    except Exception as err:  # transport errors come in many types
      raise SandboxError(f"no Docker engine answers at {self.url}: {err} "
                         "(`swejax sandbox setup` starts one)") from err
    self.connector = RawExecConnector(self.client.api)
    self._owner = owner.Owner.current()
    self._empty_workspace: set[str] = set()  # image ids whose workdir holds nothing
    self._images: set[str] = set()  # found here once: they stay (a failed open forgets)
    self._misses: dict[str, float] = {}  # image -> when it was last found missing
    self._lock = threading.Lock()

  def has_image(self, image: str) -> bool:
    """Whether this engine holds `image`; a hit is remembered, a miss re-checked later."""
    with self._lock:
      if image in self._images:
        return True
      missed = self._misses.get(image)
      if missed is not None and time.monotonic() - missed < MISS_RECHECK_S:
        return False
    try:
      self.client.api.inspect_image(image)
      found = True
    except docker.errors.ImageNotFound:
      found = False
    except docker.errors.APIError:
      return False  # the engine is unwell: do not remember either way
    with self._lock:
      if found:
        self._images.add(image)
        self._misses.pop(image, None)
      else:
        self._misses[image] = time.monotonic()
    return found

  def reap(self) -> list[str]:
    """Removes this engine's sandboxes whose owner process is gone."""
    return owner.reap_docker(self.client)

  def open(self, image: str, limits: Limits, *, workdir: str = "/testbed",
           run_id: str | None = None, env: dict[str, str] | None = None,
           read_only: bool = True, seed_workspace: bool = True,
           on_close=None) -> DockerSandbox:
    """Starts one sandbox container on this engine."""
    workdir = files.check_workdir(workdir)
    name = f"swejax-{run_id + '-' if run_id else ''}{uuid.uuid4().hex[:12]}"
    labels = self._owner.labels(run_id)
    try:  # callers see the sandbox layer's error, not the Docker client's
      seed_tar = self._workspace_seed(image, workdir, labels) if seed_workspace else None
      cid = start_container(self.client, image, limits, workdir=workdir, labels=labels,
                            name=name, env=env, read_only=read_only, seed_tar=seed_tar)
    except docker.errors.DockerException as err:
      raise SandboxError(f"docker engine ({self.url}): starting {image}: {err}") from err
    return DockerSandbox(self.client, self.connector, cid, name, limits, workdir,
                         on_close=on_close)

  def _workspace_seed(self, image: str, workdir: str, labels: dict[str, str]):
    """The image's files at `workdir` (hidden by the tmpfs) as a tar, None when empty."""
    try:
      key = self.client.api.inspect_image(image)["Id"] + ":" + workdir
    except docker.errors.ImageNotFound:
      with self._lock:
        self._images.discard(image)
        self._misses[image] = time.monotonic()
      raise SandboxError(f"image {image} is not on {self.url}: fetch it with `swejax tasks "
                         f"images --tasks TASKS --hosts {self.url} --pull` (or --build for "
                         "snapshot tasks; `swejax sandbox setup` for the base image)") from None
    with self._lock:
      if key in self._empty_workspace:
        return None
    seed_tar = seed_workspace(self.client, image, workdir, labels)
    if seed_tar is None:
      with self._lock:
        self._empty_workspace.add(key)
    return seed_tar

  def close(self) -> None:
    self.client.close()


class DockerPool:
  """Several engines (DOCKER_HOST-style URLs, or DockerHost objects) with a cap of live
  sandboxes on each."""

  def __init__(self, hosts: list[str | DockerHost] | None = None, per_host: int = 32,
               reap: bool = True):
    given = list(hosts or [engine.default_host()])
    urls = [h if isinstance(h, str) else h.url for h in given]
    if len(set(urls)) != len(urls):
      raise SandboxError(f"duplicate Docker host in {urls}")
    self.hosts = [DockerHost(h, per_host) if isinstance(h, str) else h for h in given]
    self._live = {host.url: 0 for host in self.hosts}
    self._cond = threading.Condition()
    if reap:
      for host in self.hosts:
        host.reap()

  def load(self) -> dict[str, int]:
    """Live sandboxes per host URL."""
    with self._cond:
      return dict(self._live)

  def _acquire(self, wait_s: float | None, holders: set[str] = frozenset()) -> DockerHost:
    """The least-loaded host with room among `holders` (URLs), or among all hosts when
    `holders` is empty."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    with self._cond:
      while True:
        free = [h for h in self.hosts if self._live[h.url] < h.capacity and
                (not holders or h.url in holders)]
        if free:
          host = min(free, key=lambda h: self._live[h.url] / h.capacity)
          self._live[host.url] += 1
          return host
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
          which = f"every Docker host holding the image ({sorted(holders)})" if holders else (
              "every Docker host")
          raise SandboxError(f"{which} is full ({self._live}); waited {wait_s}s")
        self._cond.wait(remaining)

  def _release(self, host: DockerHost) -> None:
    with self._cond:
      self._live[host.url] -= 1
      self._cond.notify_all()  # waiters may want different hosts (their image's holders)

  def open(self, image: str, limits: Limits, *, wait_s: float | None = None,
           **kwargs) -> DockerSandbox:
    """A sandbox on the least-loaded host holding `image` (any host when none holds it);
    blocks up to `wait_s` while those are full."""
    host = self._acquire(wait_s, {h.url for h in self.hosts if h.has_image(image)})
    released = threading.Event()

    def release() -> None:
      if not released.is_set():
        released.set()
        self._release(host)

    try:
      return host.open(image, limits, on_close=release, **kwargs)
    except BaseException:
      release()
      raise

  def reap(self) -> list[str]:
    return [name for host in self.hosts for name in host.reap()]

  def close(self) -> None:
    for host in self.hosts:
      host.close()

  def __enter__(self) -> "DockerPool":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
