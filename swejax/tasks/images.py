"""Task images on every sandbox host: which are there, pulling or building the rest.

    reports = ensure_images(tasks, ["unix:///var/run/docker.sock", "tcp://gpu2:2376"],
                            pull=True)       # one HostImages per host
    require_images(tasks, hosts, "tasks.jsonl")   # ValueError naming what is missing

Pulls go through the Docker SDK's low-level API with the usual credentials
(DOCKER_CONFIG or ~/.docker/config.json, credential helpers included, as the SDK
reads them). Builds (`image_build`) need no registry: snapshot tasks' images come
from the local base image.
"""
from __future__ import annotations

import dataclasses
import shlex
import time
from typing import Callable, Iterable, Mapping, Sequence

import docker
from docker.utils import parse_repository_tag

from swejax.sandbox import engine, resolve_backend
from swejax.sandbox.base import SandboxError
from swejax.tasks.image_build import build_snapshot_image, build_task_image
from swejax.tasks.schema import Task

__all__ = ["HostImages", "build_snapshot_image", "build_task_image", "ensure_images",
           "fetch_command", "has_image", "pull_image", "require_images", "require_run_images",
           "task_images"]

Log = Callable[[str], None]
_PROGRESS_EVERY_S = 2.0
_DONE_STATUSES = ("Pull complete", "Already exists")


@dataclasses.dataclass
class HostImages:
  """One host's answer: images present and missing (after any pull or build)."""
  host: str
  present: list[str] = dataclasses.field(default_factory=list)
  missing: list[str] = dataclasses.field(default_factory=list)
  pulled: list[str] = dataclasses.field(default_factory=list)
  built: list[str] = dataclasses.field(default_factory=list)
  failed: dict[str, str] = dataclasses.field(default_factory=dict)  # image -> why
  error: str = ""  # the engine did not answer

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def task_images(tasks: Iterable[Task]) -> dict[str, list[Task]]:
  """Image name -> the tasks that run in it, in first-seen order."""
  images: dict[str, list[Task]] = {}
  for task in tasks:
    images.setdefault(task.image or engine.BASE_IMAGE, []).append(task)
  return images


def has_image(client: docker.DockerClient, image: str) -> bool:
  try:
    client.api.inspect_image(image)
    return True
  except docker.errors.ImageNotFound:
    return False


def fetch_command(tasks_path: str, images: dict[str, list[Task]], missing: Iterable[str],
                  hosts: Sequence[str] = (), row_flags: Mapping[str, str] | None = None) -> str:
  """The command that fetches `missing`: --build when every one can be built here.
  `row_flags` (flag name -> value, e.g. {"image-namespace": ...}) name the images as the
  caller's own loading did."""
  buildable = all(any(t.repo_snapshot for t in images.get(name, ())) or
                  name == engine.BASE_IMAGE for name in missing)
  words = ["swejax", "tasks", "images", "--tasks", tasks_path]
  words += [w for flag, value in (row_flags or {}).items() if value
            for w in (f"--{flag}", value)]
  words += ["--build" if buildable else "--pull"] + (["--hosts", ",".join(hosts)] if hosts else [])
  return shlex.join(words)


def _short(text: str) -> str:
  return " ".join(str(text).split())[:400]


def pull_image(client: docker.DockerClient, image: str, log: Log | None = None,
               host: str = "") -> None:
  """Pulls `image` with a progress line every few seconds; SandboxError when it fails."""
  repository, tag = parse_repository_tag(image)
  if tag is None and "@" not in repository:
    tag = "latest"
  where = f" on {host}" if host else ""
  layers: dict[str, tuple[int, int]] = {}  # layer -> (bytes done, total)
  done: set[str] = set()
  last = 0.0

  def progress(final: str = "") -> str:
    got = sum(c for c, _ in layers.values()) / 1e6
    total = sum(t for _, t in layers.values()) / 1e6
    return (f"pull {image}{where}: {len(done)}/{len(layers)} layers, {got:.1f}/{total:.1f} MB"
            f"{final}")

  try:
    stream = client.api.pull(repository, tag=tag, stream=True, decode=True)
    for event in stream:
      if "error" in event:
        raise SandboxError(f"pulling {image}{where} failed: {_short(event['error'])}")
      layer, status = event.get("id", ""), event.get("status", "")
      detail = event.get("progressDetail") or {}
      if layer and status in ("Pulling fs layer", "Waiting", "Downloading", "Extracting",
                              *_DONE_STATUSES):
        current, total = layers.get(layer, (0, 0))
        if status == "Downloading":
          current, total = detail.get("current", current), detail.get("total", total)
        elif status in _DONE_STATUSES:
          current = total
          done.add(layer)
        layers[layer] = (current, total)
      if log is not None and time.monotonic() - last >= _PROGRESS_EVERY_S:
        last = time.monotonic()
        log(progress())
  except docker.errors.APIError as err:
    raise SandboxError(f"pulling {image}{where} failed: {_short(err)}") from err
  if not has_image(client, image):
    raise SandboxError(f"pulling {image}{where} ended without the image")
  if log is not None:
    log(progress(", done"))


def _fetch(client: docker.DockerClient, host: str, image: str, tasks: list[Task], *,
           pull: bool, build: bool, log: Log | None) -> str:
  """Pulls or builds one missing image; returns "pulled" or "built" (SandboxError else)."""
  snapshot_task = next((t for t in tasks if t.repo_snapshot), None)
  if build and image == engine.BASE_IMAGE:
    if log is not None:
      log(f"build {image} on {host}: debootstrap (minutes)")
    engine.build_base_image(client, image)
    return "built"
  if build and snapshot_task is not None:
    build_snapshot_image(snapshot_task, client=client, log=log)
    return "built"
  if pull:
    pull_image(client, image, log, host)
    return "pulled"
  raise SandboxError(f"{image}: no task with this image carries repo_snapshot, so it cannot "
                     "be built here; pull it (--pull)")


def ensure_images(tasks: Sequence[Task], hosts: Sequence[str] | None = None, *,
                  pull: bool = False, build: bool = False,
                  log: Log | None = None) -> list[HostImages]:
  """Per host (DOCKER_HOST-style URLs; default the local engine): which of the tasks'
  images are present and which missing, pulling (`pull`) or building (`build`) the
  missing ones first. A host whose engine does not answer gets `error`."""
  images = task_images(tasks)
  reports = []
  for host in list(hosts or [engine.default_host()]):
    report = HostImages(host)
    reports.append(report)
    if not engine.engine_answers(host, timeout=10):
      report.error = f"no Docker engine answers at {host}"
      report.missing = list(images)
      continue
    client = engine.make_client(host, timeout=1800)  # a build step may print nothing for long
    try:
      # the base first: snapshot images are built from it
      for image in sorted(images, key=lambda name: name != engine.BASE_IMAGE):
        if not has_image(client, image) and (pull or build):
          try:
            done = _fetch(client, host, image, images[image], pull=pull, build=build, log=log)
            getattr(report, done).append(image)
          except (RuntimeError, docker.errors.DockerException) as err:  # SandboxError, git
            report.failed[image] = str(err)
        (report.present if has_image(client, image) else report.missing).append(image)
    finally:
      client.close()
  return reports


def require_images(tasks: Sequence[Task], hosts: Sequence[str] | None, tasks_path: str,
                   row_flags: Mapping[str, str] | None = None) -> None:
  """ValueError naming every missing image, its hosts, and the command that fetches it
  (or the host whose engine does not answer)."""
  reports = ensure_images(tasks, hosts)
  down = [r.error for r in reports if r.error]
  if down:
    raise ValueError("; ".join(down))
  missing = {r.host: r.missing for r in reports if r.missing}
  if not missing:
    return
  names = sorted({image for images in missing.values() for image in images})
  where = "; ".join(f"on {host}: {', '.join(images)}" for host, images in missing.items())
  command = fetch_command(tasks_path, task_images(tasks), names, list(hosts or ()), row_flags)
  raise ValueError(f"{len(names)} task image(s) missing {where}; fetch them with `{command}`")


def require_run_images(sandbox, tasks, pool: Sequence[Task], held_out: Sequence[Task]) -> None:
  """`swejax train`'s check before any work, from the config's `sandbox` and `tasks`
  sections: every image of the run's tasks on every sandbox host, else ValueError naming
  them and the command that fetches them. Docker only: the local backend has no images."""
  urls = [h.strip() for h in sandbox.hosts.split(",") if h.strip()]
  if not urls and resolve_backend(sandbox.backend) != "docker":
    return
  flags = {"image": tasks.image, "image-namespace": tasks.image_namespace,
           "image-template": tasks.image_template}
  if tasks.eval_path:
    require_images(pool, urls, tasks.path or "TASKS", flags)
    require_images(held_out, urls, tasks.eval_path, flags)
  else:
    require_images([*pool, *held_out], urls, tasks.path or "TASKS", flags)
