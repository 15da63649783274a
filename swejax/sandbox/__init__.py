"""Sandboxes where the agent acts and the grader runs tests: Docker, or bubblewrap.

    with open_sandbox("docker") as sb:
      sb.copy_in("repo/", "/testbed")
      result = sb.run("python -m pytest -q", timeout=60)

`open_sandbox` reaps sandboxes left by dead processes before it starts a new one
(a DockerPool reaps when it is made); `swejax sandbox reap` does it by hand.
"""
from __future__ import annotations

import docker

from swejax.sandbox.base import RunResult, Sandbox, SandboxError
from swejax.sandbox.engine import BASE_IMAGE, engine_answers, ensure_engine_and_image
from swejax.sandbox.limits import Limits
from swejax.sandbox.local_backend import LocalSandbox, reap_local
from swejax.sandbox.pool import DockerHost, DockerPool
from swejax.sandbox.docker_backend import DockerSandbox

__all__ = [
    "BASE_IMAGE", "DockerHost", "DockerPool", "DockerSandbox", "Limits", "LocalSandbox",
    "RunResult", "Sandbox", "SandboxError", "engine_answers", "ensure_engine_and_image",
    "open_sandbox", "reap", "resolve_backend",
]

BACKENDS = ("auto", "docker", "local")


def resolve_backend(backend: str = "auto", host: str | None = None,
                    pool: DockerPool | None = None) -> str:
  """"docker" or "local": `auto` takes Docker when a pool is given or an engine answers."""
  if backend not in BACKENDS:
    raise SandboxError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
  if backend != "auto":
    return backend
  return "docker" if pool is not None or engine_answers(host) else "local"


def open_sandbox(backend: str = "auto", image: str = BASE_IMAGE, *, memory: int | str = "2g",
                 pids: int = 512, cpus: float = 1.0, disk: int | str = "2g",
                 tmp: int | str = "256m", network: bool = False, workdir: str = "/testbed",
                 run_id: str | None = None, host: str | None = None,
                 env: dict[str, str] | None = None, pool: DockerPool | None = None,
                 read_only: bool = True, seed_workspace: bool = True,
                 head_chars: int = 20_000, tail_chars: int = 20_000) -> Sandbox:
  """A started sandbox (a context manager) with hardened defaults; each limit configurable.

  Sizes take "2g", "256m", ... The workspace at `workdir` (`disk`) and /tmp (`tmp`)
  are size-capped tmpfs: they count against `memory` and are capped further so
  that, full, they still leave max(64 MiB, memory/16) to the processes (with the
  defaults the workspace holds 1.625 GiB). Each `run` is serialized and kills
  everything it started before returning. Docker only: `host` (a DOCKER_HOST-style
  URL) or `pool`, a read-only root (`read_only`), `seed_workspace` (copy the
  image's own files at `workdir` into the workspace). Both backends also offer
  `put_archive(dest, tar)` and `copy_in(local_path, dest)`.
  """
  limits = Limits.make(memory=memory, pids=pids, cpus=cpus, disk=disk, tmp=tmp,
                       network=network, head_chars=head_chars, tail_chars=tail_chars)
  if env is not None and not all(isinstance(k, str) and isinstance(v, str)
                                 for k, v in env.items()):
    raise SandboxError(f"env must map str to str, got {env!r}")
  if run_id is not None and (not run_id.replace("-", "").replace("_", "").isalnum()
                             or len(run_id) > 64):
    raise SandboxError(f"run_id must be letters, digits, '-' or '_' (<= 64), got {run_id!r}")
  kind = resolve_backend(backend, host, pool)
  if kind == "local":
    if image != BASE_IMAGE:
      raise SandboxError(f"the local backend runs on the host and cannot run image {image!r}")
    if limits.network:
      raise SandboxError("the local backend has no network; use Docker for network=True")
    reap_local()
    return LocalSandbox(limits, workdir=workdir, run_id=run_id, env=env)
  options = dict(workdir=workdir, run_id=run_id, env=env, read_only=read_only,
                 seed_workspace=seed_workspace)
  if pool is not None:
    return pool.open(image, limits, **options)
  docker_host = DockerHost(host, capacity=1)
  try:
    docker_host.reap()
    return docker_host.open(image, limits, on_close=docker_host.close, **options)
  except docker.errors.DockerException as err:
    docker_host.close()
    raise SandboxError(f"docker engine ({docker_host}): {err}") from err
  except BaseException:
    docker_host.close()
    raise


def reap(host: str | None = None) -> dict[str, list[str]]:
  """Removes sandboxes whose owner process is gone: Docker (if an engine answers), local."""
  removed = {"docker": [], "local": reap_local()}
  if engine_answers(host):
    docker_host = DockerHost(host)
    try:
      removed["docker"] = docker_host.reap()
    finally:
      docker_host.close()
  return removed
