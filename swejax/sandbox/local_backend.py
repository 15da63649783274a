"""The local sandbox: bubblewrap on the host, for machines without a Docker engine.

Weaker than Docker (same kernel, host system directories visible read-only, the
host's Python); reported as isolation="bubblewrap". Each command is one `bwrap`
with its own pid, network, ipc and uts namespaces: when the command ends (or is
killed at its timeout) its pid namespace dies and takes every process with it.
Memory, pids and cpu are capped with a cgroup v1 group when root, else memory by
`prlimit --as`. The workspace and /tmp are host directories, size-capped tmpfs
mounts when root.
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import posixpath
import select
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
import warnings
from typing import IO

from swejax.sandbox import cgroups, files
from swejax.sandbox.base import RunResult, SandboxError
from swejax.sandbox.limits import Limits
from swejax.sandbox.output import OutputCap
from swejax.sandbox.owner import Owner

PREFIX = "swejax-sbx-"
# Host system directories the sandbox sees read-only; /root, /home, /run, ... stay hidden.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt", "var")
WEAKER = ("the local sandbox (bubblewrap) isolates less than Docker: it shares the host "
          "kernel and sees the host's system directories read-only")
_RECV = 1 << 18


@functools.lru_cache(maxsize=1)
def _warn_weaker() -> None:
  """Once per process: a run opens thousands of sandboxes."""
  warnings.warn(WEAKER, RuntimeWarning, stacklevel=4)


class LocalSandbox:
  """A bubblewrap sandbox whose workspace persists between commands."""

  isolation = "bubblewrap"

  def __init__(self, limits: Limits, *, workdir: str = "/testbed", run_id: str | None = None,
               env: dict[str, str] | None = None):
    bwrap = shutil.which("bwrap")
    if bwrap is None:
      raise SandboxError("bubblewrap is not installed (`swejax sandbox setup` installs it)")
    workdir = files.check_workdir(workdir, also=SYSTEM_DIRS)
    _warn_weaker()
    self._bwrap, self.limits, self.workdir = bwrap, limits, workdir
    self._env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                 **(env or {})}
    owner = Owner.current()
    self.id = f"{owner.pid}-{uuid.uuid4().hex[:12]}"
    self.state_dir = os.path.join(tempfile.gettempdir(), PREFIX + self.id)
    self._work, self._tmp = os.path.join(self.state_dir, "work"), os.path.join(self.state_dir, "tmp")
    self._lock = threading.RLock()
    self._closed = False
    self._group = cgroups.Group(PREFIX + self.id) if cgroups.available() else None
    os.makedirs(self._work)
    os.makedirs(self._tmp)
    os.chmod(self._tmp, 0o1777)
    with open(os.path.join(self.state_dir, "owner.json"), "w") as handle:
      json.dump({"host": owner.host, "pid": owner.pid, "start": owner.start,
                 "run_id": run_id or "", "mounts": []}, handle)
    try:
      self._mounts = self._mount_tmpfs()
      if self._group is not None:
        self._group.create(limits.memory, limits.pids, limits.cpus)
    except BaseException:
      self._cleanup()
      raise

  def _mount_tmpfs(self) -> list[str]:
    """Size-caps workspace and /tmp with host tmpfs mounts when we may mount."""
    if os.geteuid() != 0:
      return []
    mounted = []
    for path, size, mode in ((self._work, self.limits.disk_cap, "0755"),
                             (self._tmp, self.limits.tmp_cap, "1777")):
      done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs",
                             path], capture_output=True, text=True)
      if done.returncode != 0:
        break
      mounted.append(path)
    meta = os.path.join(self.state_dir, "owner.json")
    with open(meta) as handle:
      info = json.load(handle)
    info["mounts"] = mounted
    with open(meta, "w") as handle:
      json.dump(info, handle)
    return mounted

  # -- commands ---------------------------------------------------------------------
  def _argv(self, cmd: str) -> list[str]:
    argv = [self._bwrap, "--die-with-parent", "--new-session", "--unshare-pid",
            "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL", "--hostname", "sandbox", "--clearenv",
            "--proc", "/proc", "--dev", "/dev"]
    for name in SYSTEM_DIRS:
      path = os.path.join("/", name)
      if os.path.islink(path):
        argv += ["--symlink", os.readlink(path), path]
      elif os.path.isdir(path):
        argv += ["--ro-bind", path, path]
    argv += ["--bind", self._tmp, "/tmp", "--bind", self._work, self.workdir,
             "--chdir", self.workdir]
    for key, value in self._env.items():
      argv += ["--setenv", key, value]
    argv += ["bash", "-c", cmd]
    if self._group is None:
      argv = ["prlimit", f"--as={self.limits.memory}", "--", *argv]
    return argv

  def run(self, cmd: str, timeout: float = 60.0) -> RunResult:
    """Runs `cmd` with bash in the workspace; its pid namespace dies with it."""
    if not isinstance(cmd, str):
      raise TypeError(f"cmd must be a str, got {type(cmd).__name__}")
    if not timeout > 0:
      raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    with self._lock:
      self._check_usable()
      argv = self._argv(cmd)
      if self._group is not None:  # join the groups first, so every descendant is capped
        argv = ["sh", "-c", self._group.join_command() + ' && exec "$@"', "sh", *argv]
      start = time.monotonic()
      proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
      cap = OutputCap(self.limits.head_chars, self.limits.tail_chars)
      timed_out = False
      try:
        timed_out = not self._pump(proc, cap, start + timeout)
      finally:
        if timed_out or proc.poll() is None:
          self._kill(proc)
        proc.stdout.close()
        exit_code = proc.wait()
        if self._group is not None:
          self._group.kill_all()
      seconds = time.monotonic() - start
      if exit_code < 0:
        exit_code = 128 - exit_code
      return RunResult(output=cap.text(), exit_code=124 if timed_out else exit_code,
                       timed_out=timed_out, truncated=cap.cut_chars > 0,
                       cut_chars=cap.cut_chars, seconds=seconds)

  @staticmethod
  def _pump(proc: subprocess.Popen, cap: OutputCap, deadline: float) -> bool:
    """Feeds output until EOF (True) or the deadline (False)."""
    fd = proc.stdout.fileno()
    while True:
      remaining = deadline - time.monotonic()
      if remaining <= 0:
        return False
      if select.select([fd], [], [], min(remaining, 1.0))[0]:
        data = os.read(fd, _RECV)
        if not data:
          return True
        cap.feed(data)

  def _kill(self, proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
      os.killpg(proc.pid, signal.SIGKILL)  # bwrap dies, its pid-1 child follows (die-with-parent)
    if self._group is not None:
      self._group.kill_all()

  def _check_usable(self) -> None:
    if self._closed:
      raise SandboxError(f"local sandbox {self.id} is closed")

  # -- files ------------------------------------------------------------------------
  def _host_path(self, path: str, *, write: bool) -> str:
    """The host path behind a sandbox path, following symlinks as the sandbox would."""
    target = files.resolve(self.workdir, path)
    for _ in range(40):
      mapped = self._map(target)
      if mapped is None:
        raise (PermissionError if write else FileNotFoundError)(
            f"{path}: not visible in the sandbox")
      host, inside, parts = mapped
      for i, part in enumerate(parts):
        host, inside = os.path.join(host, part), posixpath.join(inside, part)
        if os.path.islink(host):
          link = os.readlink(host)
          base = "/" if link.startswith("/") else posixpath.dirname(inside)
          target = posixpath.normpath(posixpath.join(base, link, *parts[i + 1:]))
          break
      else:
        if write and self._map(target)[1] == "/":
          raise PermissionError(f"{path}: read-only file system in the sandbox")
        return host
    raise SandboxError(f"{path}: too many levels of symbolic links")

  def _map(self, target: str) -> tuple[str, str, list[str]] | None:
    """(host dir, sandbox dir, remaining components) of the mount holding `target`."""
    for inside, host in ((self.workdir, self._work), ("/tmp", self._tmp)):
      if target == inside or target.startswith(inside + "/"):
        rel = target[len(inside):].strip("/")
        return host, inside, rel.split("/") if rel else []
    parts = target.strip("/").split("/")
    if parts[0] in SYSTEM_DIRS and os.path.lexists(os.path.join("/", parts[0])):
      return "/", "/", parts
    return None

  def oom_kills(self) -> int | None:
    """Kills for the memory cap so far, seen from the host (None without a cgroup: the
    `prlimit --as` cap makes allocations fail instead of killing)."""
    return self._group.oom_kills() if self._group is not None else None

  def read_file(self, path: str, max_bytes: int = 256 << 20) -> bytes:
    with self._lock:
      self._check_usable()
      host = self._host_path(path, write=False)
      if os.path.isdir(host):
        raise IsADirectoryError(f"{path} is a directory in the sandbox")
      if not os.path.isfile(host):
        raise FileNotFoundError(f"{path}: no such file in the sandbox")
      if os.path.getsize(host) > max_bytes:
        raise ValueError(f"{path} is {os.path.getsize(host)} bytes, more than max_bytes")
      with open(host, "rb") as handle:
        return handle.read()

  def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
    if isinstance(data, str):
      data = data.encode()
    with self._lock:
      self._check_usable()
      host = self._host_path(path, write=True)
      os.makedirs(os.path.dirname(host), exist_ok=True)
      fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
      with os.fdopen(fd, "wb") as handle:
        handle.write(data)
      os.chmod(host, mode)

  def put_archive(self, dest: str, data: bytes | IO[bytes]) -> None:
    """Extracts a tar archive at `dest` (created if missing); unsafe members refused."""
    with self._lock:
      self._check_usable()
      host = self._host_path(dest, write=True)
      os.makedirs(host, exist_ok=True)
      stream = io.BytesIO(data) if isinstance(data, bytes) else data
      with tarfile.open(fileobj=stream, mode="r:*") as tar:
        tar.extractall(host, filter="tar")

  def copy_in(self, local_path: str, dest: str = ".") -> None:
    with files.directory_tar(local_path) as tar:
      self.put_archive(dest, tar)

  # -- lifetime ---------------------------------------------------------------------
  def _cleanup(self) -> None:
    if self._group is not None:
      self._group.remove()
    cleanup_state_dir(self.state_dir)

  def close(self) -> None:
    with self._lock:
      if self._closed:
        return
      self._closed = True
      self._cleanup()

  def __enter__(self) -> "LocalSandbox":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def cleanup_state_dir(state_dir: str) -> None:
  """Unmounts and removes one local sandbox's host directories."""
  with contextlib.suppress(OSError, ValueError):
    with open(os.path.join(state_dir, "owner.json")) as handle:
      for path in json.load(handle).get("mounts", []):
        subprocess.run(["umount", "-l", path], capture_output=True)
  shutil.rmtree(state_dir, ignore_errors=True)


def reap_local() -> list[str]:
  """Removes local sandboxes (dirs, mounts, cgroups) whose owner process is gone."""
  removed = []
  root = tempfile.gettempdir()
  for name in sorted(os.listdir(root)):
    if not name.startswith(PREFIX):
      continue
    state_dir = os.path.join(root, name)
    try:
      with open(os.path.join(state_dir, "owner.json")) as handle:
        info = json.load(handle)
      owner = Owner(host=info["host"], pid=int(info["pid"]), start=info["start"])
    except (OSError, ValueError, KeyError):
      continue
    if owner.is_gone():
      if cgroups.available():
        cgroups.Group(name).remove()
      cleanup_state_dir(state_dir)
      removed.append(name)
  return removed
