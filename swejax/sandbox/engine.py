"""Bringing up what the sandboxes need: a Docker engine, the base image, bubblewrap.

Everything here is idempotent and works offline: the engine comes from Debian's
`docker.io`, the base image is built with debootstrap from the Debian mirror the
machine's apt sources already name, then `docker import`-ed.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Iterator

import docker

from swejax.sandbox.base import SandboxError

BASE_IMAGE = "swejax/base:bookworm"
BASE_PACKAGES = ("python3", "python3-pytest", "git")
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_SUITE = "bookworm"
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def default_host() -> str:
  """The engine to use when none is named: DOCKER_HOST, else the local socket."""
  return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def make_client(host: str | None = None, timeout: float = 60.0,
                max_pool_size: int = 32) -> docker.DockerClient:
  """A client for `host` (DOCKER_HOST-style URL); TLS settings come from docker's env."""
  host = host or default_host()
  if host == os.environ.get("DOCKER_HOST"):
    return docker.from_env(timeout=int(timeout), max_pool_size=max_pool_size)
  return docker.DockerClient(base_url=host, timeout=int(timeout), max_pool_size=max_pool_size)


def engine_answers(host: str | None = None, timeout: float = 3.0) -> bool:
  """True when a Docker engine answers a ping at `host` within `timeout` seconds."""
  try:
    client = make_client(host, timeout=timeout)
  except docker.errors.DockerException:
    return False
  try:
    return bool(client.ping())
  except Exception:  # any transport error means "no engine here"
    return False
  finally:
    client.close()


@contextlib.contextmanager
def _setup_lock() -> Iterator[None]:
  """Serializes set-up between processes (tests and jobs may start it together)."""
  path = os.path.join(tempfile.gettempdir(), "swejax-sandbox-setup.lock")
  with open(path, "a+") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)


def _is_root() -> bool:
  return os.geteuid() == 0


def apt_install(*packages: str) -> None:
  """`apt-get install -y` as root, refreshing the package lists once if needed."""
  if not _is_root():
    raise SandboxError(f"installing {', '.join(packages)} needs root; install them by hand")
  env = {**os.environ, **_APT_ENV}
  cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
  if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
    return
  subprocess.run(["apt-get", "update"], env=env, capture_output=True)
  done = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if done.returncode != 0:
    raise SandboxError(f"apt-get install {' '.join(packages)} failed:\n{done.stderr[-2000:]}")


def ensure_bubblewrap() -> str | None:
  """Path of `bwrap`, installing Debian's bubblewrap when missing and root; None if absent."""
  path = shutil.which("bwrap")
  if path is None and _is_root():
    with contextlib.suppress(SandboxError):
      apt_install("bubblewrap")
    path = shutil.which("bwrap")
  return path


def _start_dockerd(log_path: str, wait_s: float = 90.0) -> None:
  """Starts Debian's dockerd in the background and waits until it answers."""
  if shutil.which("dockerd") is None:
    apt_install("docker.io")
  if shutil.which("dockerd") is None:
    raise SandboxError("dockerd is still missing after installing docker.io")
  with open(log_path, "ab") as log:
    proc = subprocess.Popen(
        ["dockerd", "--data-root", "/var/lib/docker", "-H", DEFAULT_SOCKET],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
  deadline = time.monotonic() + wait_s
  while time.monotonic() < deadline:
    if engine_answers(DEFAULT_SOCKET, timeout=2.0):
      return
    if proc.poll() is not None:
      raise SandboxError(f"dockerd exited with {proc.returncode}; see {log_path}")
    time.sleep(0.5)
  raise SandboxError(f"dockerd did not answer within {wait_s:.0f}s; see {log_path}")


def debian_mirror(paths: list[str] | None = None) -> str:
  """The Debian archive URL named by the machine's apt sources (one-line or deb822)."""
  if paths is None:
    paths = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]
  for path in paths:
    try:
      with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    except OSError:
      continue
    mirror = _mirror_from_sources(text)
    if mirror:
      return mirror
  raise SandboxError(f"no Debian '{_SUITE}' mirror found in apt sources {paths}")


def _mirror_from_sources(text: str) -> str | None:
  """First URI serving the main Debian suite (not -security) in a sources file's text."""
  for line in text.splitlines():  # one-line format: deb URI SUITE COMPONENTS
    parts = line.split("#", 1)[0].split()
    if len(parts) >= 3 and parts[0] == "deb":
      uri, suite = (parts[2], parts[3]) if parts[1].startswith("[") and len(parts) > 3 else (
          parts[1], parts[2])
      if suite == _SUITE and "security" not in uri:
        return uri
  for stanza in text.split("\n\n"):  # deb822 format
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
      if ":" in line and not line.startswith((" ", "#")):
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
    if "deb" in fields.get("types", "").split() and _SUITE in suites:
      for uri in uris:
        if "security" not in uri:
          return uri
  return None


def build_base_image(client: docker.DockerClient, image: str = BASE_IMAGE,
                     mirror: str | None = None) -> None:
  """debootstrap a minimal bookworm with python3, pytest and git; `docker import` it."""
  if shutil.which("debootstrap") is None:
    apt_install("debootstrap")
  mirror = mirror or debian_mirror()
  repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
  with tempfile.TemporaryDirectory(prefix="swejax-rootfs-", dir="/var/tmp") as tmp:
    root = os.path.join(tmp, "rootfs")
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", _SUITE,
         root, mirror], capture_output=True, text=True)
    if done.returncode != 0:
      raise SandboxError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-1500:]}"
                         f"\n{done.stderr[-1500:]}")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
      for path in glob.glob(os.path.join(root, junk, "*")):
        if os.path.isfile(path):
          os.unlink(path)
    os.makedirs(os.path.join(root, "testbed"), exist_ok=True)
    tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
    try:
      client.api.import_image_from_stream(
          tar.stdout, repository=repository, tag=tag or None,
          changes=["WORKDIR /testbed", 'CMD ["bash"]', "LABEL swejax.base=1",
                   "ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1"])
    finally:
      tar.stdout.close()
      tar.wait()
  try:
    client.images.get(image)
  except docker.errors.ImageNotFound as err:
    raise SandboxError(f"docker import did not produce {image}") from err


def ensure_engine_and_image(image: str = BASE_IMAGE, host: str | None = None, *,
                            bubblewrap: bool = True) -> dict[str, Any]:
  """Makes sure an engine answers at `host` and `image` exists there; returns a report.

  Starts Debian's engine only for the local socket and only as root; builds the
  base image only when `image` is BASE_IMAGE (task images are built elsewhere).
  """
  start = time.monotonic()
  host = host or default_host()
  report: dict[str, Any] = {"docker_host": host, "base_image": image, "engine_started": False,
                            "image_built": False}
  with _setup_lock():
    if not engine_answers(host):
      if host != DEFAULT_SOCKET:
        raise SandboxError(f"no Docker engine answers at {host}")
      if not _is_root():
        raise SandboxError("no Docker engine answers and only root can install and start one")
      _start_dockerd(os.path.join(tempfile.gettempdir(), "swejax-dockerd.log"))
      report["engine_started"] = True
    client = make_client(host, timeout=600)
    try:
      report["engine_version"] = client.version().get("Version")
      try:
        client.images.get(image)
      except docker.errors.ImageNotFound:
        if image != BASE_IMAGE:
          raise SandboxError(f"image {image} is missing on {host}; only {BASE_IMAGE} is built "
                             "here") from None
        build_base_image(client, image)
        report["image_built"] = True
    finally:
      client.close()
    if bubblewrap:
      report["bubblewrap"] = ensure_bubblewrap()
  report["seconds"] = round(time.monotonic() - start, 2)
  return report
