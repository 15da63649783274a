"""Building task images offline: a repository clone, an activation shim, an install step.

Published SWE-bench and SWE-rebench images hold the repository as a git clone at
/testbed and a conda environment `testbed`; the harness's commands start with
`source /opt/miniconda3/bin/activate && conda activate testbed`. The images built
here come from a local base image (never a registry: the classic builder, FROM the
local tag) and carry a shim at that path instead of conda, so that those commands
run with the image's own python3. It is a shim, not conda: it knows `activate` and
`deactivate`, nothing else.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
import shlex
import subprocess
import tarfile
import tempfile
from typing import Callable

import docker

from swejax.sandbox import engine
from swejax.sandbox.base import SandboxError
from swejax.tasks import repo as task_repo
from swejax.tasks.schema import DEFAULT_WORKDIR, Task

CONDA_ROOT = "/opt/miniconda3"
ENV_BIN = f"{CONDA_ROOT}/envs/testbed/bin"
# Sourced by the harness's activation line: `conda activate testbed` puts ENV_BIN (python,
# python3, pytest of the image) first on PATH, as the real environment would.
ACTIVATE_SHIM = f"""# swejax: a shim for offline task images, NOT conda. It makes the harness's
# `source {CONDA_ROOT}/bin/activate && conda activate testbed` work with the image's
# own python3 ({ENV_BIN} links to it). Only `activate` and `deactivate` exist.
conda() {{
  case "$1" in
    activate)
      case "${{2:-base}}" in
        testbed) case ":$PATH:" in *":{ENV_BIN}:"*) ;; *) PATH="{ENV_BIN}:$PATH" ;; esac
                 export PATH CONDA_DEFAULT_ENV=testbed CONDA_PREFIX={CONDA_ROOT}/envs/testbed ;;
        base) export CONDA_DEFAULT_ENV=base CONDA_PREFIX={CONDA_ROOT} ;;
        *) echo "conda (swejax shim): no environment '$2' (only testbed)" >&2; return 1 ;;
      esac ;;
    deactivate) unset CONDA_DEFAULT_ENV CONDA_PREFIX ;;
    *) echo "conda (swejax shim): only 'conda activate testbed' works in this image" >&2
       return 1 ;;
  esac
}}
export CONDA_SHLVL=1
"""
# Names in ENV_BIN and what they point to (when the image has it).
_ENV_LINKS = {"python": "python3", "python3": "python3", "pytest": "pytest",
              "py.test": "pytest", "pip": "pip3", "pip3": "pip3"}
_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0"}


def _git(args: list[str], cwd: str) -> str:
  done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                        env={**os.environ, **_GIT_ENV})
  if done.returncode != 0:
    raise SandboxError(f"git {' '.join(args)} in {cwd} failed: {done.stderr.strip()[-800:]}")
  return done.stdout.strip()


def clone_at(source: str, dest: str, commit: str | None = None, *,
             future: bool = False) -> tuple[str, str]:
  """Clones the git repository `source` into `dest` with HEAD and a clean tree at
  `commit` (default: source's HEAD); returns (commit id, branch).

  `future=False`: only history up to `commit` is fetched, so no later object exists.
  `future=True`: as the published images are made (clone, then reset to the base
  commit): every branch and tag of `source` stays, the branch's reflog keeps the tip.
  `source` itself is never modified.
  """
  source = os.path.abspath(source)
  if not os.path.isdir(source):
    raise SandboxError(f"repository {source} is not a directory")
  if _git(["rev-parse", "--is-inside-work-tree"], source) == "true":
    if _git(["rev-parse", "--show-toplevel"], source) != os.path.realpath(source):
      raise SandboxError(f"{source} is inside a git repository but not its top level")
  commit = _git(["rev-parse", "--verify", f"{commit or 'HEAD'}^{{commit}}"], source)
  on_branch = subprocess.run(["git", "symbolic-ref", "--short", "-q", "HEAD"], cwd=source,
                             capture_output=True, text=True)
  branch = on_branch.stdout.strip() if on_branch.returncode == 0 else "main"
  parent = os.path.dirname(os.path.abspath(dest))
  if future:
    _git(["clone", "-q", "--no-local", "--no-checkout", source, dest], parent)
    for ref in _git(["for-each-ref", "--format=%(refname)", "refs/remotes/origin"],
                    dest).splitlines():
      name = ref[len("refs/remotes/origin/"):]
      if name != "HEAD":
        _git(["update-ref", f"refs/heads/{name}", ref], dest)
    _git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], dest)
    _git(["reset", "-q", "--hard", commit], dest)
    _git(["remote", "remove", "origin"], dest)
  else:
    _git(["init", "-q", "-b", branch, dest], parent)
    _git(["fetch", "-q", "--no-tags", source, commit], dest)
    _git(["update-ref", f"refs/heads/{branch}", commit], dest)
    _git(["reset", "-q", "--hard", commit], dest)
    for leftover in ("FETCH_HEAD", "ORIG_HEAD"):
      path = os.path.join(dest, ".git", leftover)
      if os.path.exists(path):
        os.unlink(path)
    _git(["reflog", "expire", "--expire=now", "--all"], dest)
  if _git(["status", "--porcelain", "--untracked-files=all"], dest):
    raise SandboxError(f"the clone of {source} at {commit} is not clean")
  return commit, branch


def _dockerfile(base: str, workdir: str, has_repo: bool, install: str, keep_repo: bool) -> str:
  lines = [f"FROM {base}", "COPY conda/ /opt/miniconda3/",
           f"RUN set -e; mkdir -p {ENV_BIN}; for pair in "
           + " ".join(f"{k}:{v}" for k, v in _ENV_LINKS.items())
           + '; do p=$(command -v "${pair#*:}" || true); [ -z "$p" ] || '
           f'ln -sf "$p" {ENV_BIN}/"${{pair%%:*}}"; done']
  if has_repo:
    lines.append(f"COPY repo/ {workdir}/")
  lines.append(f"WORKDIR {workdir}")
  steps = []
  if install:
    steps.append(f"source {CONDA_ROOT}/bin/activate && conda activate testbed && "
                 f"cd {shlex.quote(workdir)} && {install}")
  if not keep_repo:
    steps.append(f"find {shlex.quote(workdir)} -mindepth 1 -delete")
  if steps:
    lines.append("RUN " + json.dumps(["bash", "-c", "set -e\n" + "\n".join(steps)]))
  lines.append("LABEL swejax.task-image=1")
  return "\n".join(lines) + "\n"


def build_task_image(tag: str, *, repo: str | None = None, commit: str | None = None,
                     future: bool = False, workdir: str = DEFAULT_WORKDIR, install: str = "",
                     base: str = engine.BASE_IMAGE, keep_repo: bool = True,
                     network: bool = False, host: str | None = None,
                     client: docker.DockerClient | None = None,
                     log: Callable[[str], None] | None = None) -> str:
  """Builds `tag` FROM the local image `base` and returns the new image's id.

  The image holds the git repository `repo` (a host path; see `clone_at` for
  `commit` and `future`) at `workdir`, the conda shim (module docstring), and
  runs `install` there at build time with the shim activated. `keep_repo=False`
  empties `workdir` afterwards: the image of snapshot tasks, whose rows bring the
  repository themselves. Nothing is pulled; a missing `base` is an error. The build
  steps have no network unless `network` (then the engine's default bridge).
  """
  if not posixpath.isabs(workdir) or workdir == "/":
    raise SandboxError(f"workdir must be an absolute path below /, got {workdir!r}")
  own = client is None
  client = client or engine.make_client(host, timeout=1800)
  try:
    try:
      client.api.inspect_image(base)
    except docker.errors.ImageNotFound:
      raise SandboxError(f"base image {base} is not on {host or engine.default_host()} "
                         "(`swejax sandbox setup` builds it)") from None
    with tempfile.TemporaryDirectory(prefix="swejax-image-") as context:
      if repo is not None:
        clone_at(repo, os.path.join(context, "repo"), commit, future=future)
      os.makedirs(os.path.join(context, "conda", "bin"))
      with open(os.path.join(context, "conda", "bin", "activate"), "w") as handle:
        handle.write(ACTIVATE_SHIM)
      with open(os.path.join(context, "Dockerfile"), "w") as handle:
        handle.write(_dockerfile(base, workdir, repo is not None, install, keep_repo))
      archive = io.BytesIO()
      with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(context, arcname=".")
      archive.seek(0)
      _run_build(client, archive, tag, network, log)
    return client.api.inspect_image(tag)["Id"]
  finally:
    if own:
      client.close()


def _run_build(client: docker.DockerClient, archive: io.BytesIO, tag: str, network: bool,
               log: Callable[[str], None] | None) -> None:
  tail: list[str] = []
  try:
    for event in client.api.build(fileobj=archive, custom_context=True, tag=tag, rm=True,
                                  forcerm=True, pull=False, decode=True,
                                  network_mode=None if network else "none"):
      if "error" in event:
        raise SandboxError(f"building {tag} failed: {event['error'].strip()}\n"
                           + "".join(tail)[-2000:])
      text = event.get("stream", "")
      if text:
        tail = (tail + [text])[-40:]
        if log is not None and text.strip():
          log(f"build {tag}: {text.strip()}")
  except docker.errors.APIError as err:
    raise SandboxError(f"building {tag} failed: {err}") from err


def build_snapshot_image(task: Task, *, base: str = engine.BASE_IMAGE,
                         host: str | None = None, client: docker.DockerClient | None = None,
                         log: Callable[[str], None] | None = None) -> str:
  """The image of a snapshot task (`task.image`): the base, the shim and the row's
  `install_config.install` run against its repository, which is then removed (one
  such image serves every snapshot task that names it). Returns the image id."""
  if task.image == base:
    raise SandboxError(f"{task.instance_id}: its image is the base image {base} itself "
                       "(`swejax sandbox setup` builds that)")
  if not task.repo_snapshot:
    raise SandboxError(f"{task.instance_id}: no repo_snapshot, so its image {task.image} "
                       "cannot be built here (pull it)")
  install = (task.install_config or {}).get("install") or ""
  if isinstance(install, list):
    install = " && ".join(str(step) for step in install)
  with tempfile.TemporaryDirectory(prefix="swejax-snap-") as tmp:
    commit = task_repo.materialize(tmp, task.snapshot_bytes(),
                                   task.created_at or task_repo.DEFAULT_DATE)
    if commit != task.base_commit:
      raise SandboxError(
          f"{task.instance_id}: its repo_snapshot commits to {commit}, not base_commit "
          f"{task.base_commit} (the commit date is created_at="
          f"{task.created_at or task_repo.DEFAULT_DATE!r})")
    return build_task_image(task.image, repo=tmp, commit=commit, workdir=task.workdir,
                            install=str(install), base=base, keep_repo=False, host=host,
                            client=client, log=log)
