"""Docker hosts and a pool of them: how sandboxes scale past one machine.

Each host has a limit on live sandboxes; the pool opens each new sandbox on the
least-loaded host and blocks while every host is full.
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
    self._lock = threading.Lock()

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
    seed_tar = self._workspace_seed(image, workdir, labels) if seed_workspace else None
    cid = start_container(self.client, image, limits, workdir=workdir, labels=labels, name=name,
                          env=env, read_only=read_only, seed_tar=seed_tar)
    return DockerSandbox(self.client, self.connector, cid, name, limits, workdir,
                         on_close=on_close)

  def _workspace_seed(self, image: str, workdir: str, labels: dict[str, str]):
    """The image's files at `workdir` (hidden by the tmpfs) as a tar, None when empty."""
    try:
      key = self.client.api.inspect_image(image)["Id"] + ":" + workdir
    except docker.errors.ImageNotFound:
      raise SandboxError(f"image {image} is not on {self.url} (run `swejax sandbox setup` "
                         "or build the task image)") from None
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
  """Several engines (DOCKER_HOST-style URLs) with a cap of live sandboxes on each."""

  def __init__(self, hosts: list[str] | None = None, per_host: int = 32, reap: bool = True):
    urls = list(hosts or [engine.default_host()])
    if len(set(urls)) != len(urls):
      raise SandboxError(f"duplicate Docker host in {urls}")
    self.hosts = [DockerHost(url, per_host) for url in urls]
    self._live = {host.url: 0 for host in self.hosts}
    self._cond = threading.Condition()
    if reap:
      for host in self.hosts:
        host.reap()

  def load(self) -> dict[str, int]:
    """Live sandboxes per host URL."""
    with self._cond:
      return dict(self._live)

  def _acquire(self, wait_s: float | None) -> DockerHost:
    deadline = None if wait_s is None else time.monotonic() + wait_s
    with self._cond:
      while True:
        free = [h for h in self.hosts if self._live[h.url] < h.capacity]
        if free:
          host = min(free, key=lambda h: self._live[h.url] / h.capacity)
          self._live[host.url] += 1
          return host
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
          raise SandboxError(f"every Docker host is full ({self._live}); waited {wait_s}s")
        self._cond.wait(remaining)

  def _release(self, host: DockerHost) -> None:
    with self._cond:
      self._live[host.url] -= 1
      self._cond.notify()

  def open(self, image: str, limits: Limits, *, wait_s: float | None = None,
           **kwargs) -> DockerSandbox:
    """A sandbox on the least-loaded host; blocks up to `wait_s` while all are full."""
    host = self._acquire(wait_s)
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
