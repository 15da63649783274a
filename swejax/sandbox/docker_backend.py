"""The Docker sandbox: one hardened container per episode.

Every command runs under a wrapper inside the container: `timeout -k` bounds it,
then `kill -9 -1` (everything but PID 1, atomically, so setsid'd or double-forked
children die too) leaves nothing running once the call returns. If the command
killed the wrapper (so its cleanup never ran), the host kills from a fresh exec,
raising the pids/memory caps briefly if a bomb left no room for it; the host also
keeps its own deadline and at worst kills the container. PID 1 is a bash loop
that reaps orphans (so killed processes never pin the pids limit) and survives
`kill -9 -1`. The wrapper and commands run with oom_score_adj 1000, so under
memory pressure the kernel kills them, never PID 1.

The wrapper normally lives in one long-lived exec per container, the session loop of
swejax.sandbox.docker_session, which also carries small file transfers: an exec or an
archive call per command cost the engine ~50 ms of CPU. The per-command exec of WRAPPER
is the path when no session can run.
"""
from __future__ import annotations

import contextlib
import functools
import posixpath
import re
import shlex
import tarfile
import tempfile
import threading
import time
from typing import IO, Callable

import docker
from docker.types import DriverConfig, LogConfig, Mount

from swejax.sandbox import files
from swejax.sandbox.base import RunResult, SandboxError
from swejax.sandbox.docker_session import SERVER, SessionEnded, ShellSession
from swejax.sandbox.exec_stream import RawExecConnector, pump
from swejax.sandbox.limits import Limits
from swejax.sandbox.output import OutputCap

PID1 = 'trap "exit 0" TERM; while :; do sleep 86400 & wait $!; done'
WRAPPER = r"""trap true TERM INT HUP QUIT
{ echo 1000 >/proc/self/oom_score_adj; } 2>/dev/null
timeout -k 2 "$2" bash -c "$1" </dev/null 2>&1
rc=$?
kill -9 -1 2>/dev/null
printf 'swejax-exit %d\n' "$rc" >&2
exit "$rc"
"""
_MARKER = re.compile(rb"swejax-exit (\d+)\n\Z")
HOST_GRACE_S = 5.0  # host deadline = timeout + this (the wrapper needs timeout + 2)
_KILL_WAIT_S = 5.0
_CALL_TIMEOUT_S = 60.0  # a file transfer through the session
_SESSION_FILE_MAX = 8 << 20  # larger files go through the engine's archive calls
# Exit 2: missing, 3: a directory, 4: over the limit (the size printed: over max_bytes is
# an error, else the engine's path reads it); else the engine path decides (its errors
# are the reference).
_READ_SCRIPT = """f={path}
if [ -f "$f" ]; then
  s=$(wc -c <"$f") || exit 5
  [ "$s" -le {max} ] || {{ printf '%s' "$s"; exit 4; }}
  exec cat -- "$f"
fi
[ -d "$f" ] && exit 3
[ -e "$f" ] || exit 2
exit 5
"""
# stdin is the content: written beside the target, then renamed over it (-T: never into
# a directory of that name).
_WRITE_SCRIPT = """mkdir -p -- {parent} 2>/dev/null
t={parent}/.swejax-write.$$
cat >"$t" && chmod {mode} "$t" && mv -fT -- "$t" {target} || {{ rm -f -- "$t"; exit 1; }}
"""


def _sandbox_errors(method):
  """Docker client errors as SandboxError: the sandbox layer's one failure type."""
  @functools.wraps(method)
  def wrapped(self, *args, **kwargs):
    try:
      return method(self, *args, **kwargs)
    except docker.errors.DockerException as err:
      raise SandboxError(f"{self.name}: {type(err).__name__}: {err}") from err
  return wrapped


def tmpfs_volume(target: str, size: int, mode: str) -> Mount:
  """An anonymous volume backed by a size-capped tmpfs: bounded, and docker cp works."""
  return Mount(target=target, source=None, type="volume", driver_config=DriverConfig(
      "local", {"type": "tmpfs", "device": "tmpfs", "o": f"size={size},mode={mode}"}))


class DockerSandbox:
  """A running container; `run` is serialized (the cleanup kills all but PID 1)."""

  isolation = "docker"
  persistent_shell = True  # commands and small files through one session (docker_session)

  def __init__(self, client: docker.DockerClient, connector: RawExecConnector,
               container_id: str, name: str, limits: Limits, workdir: str,
               on_close: Callable[[], None] | None = None):
    self._client, self._api, self._connector = client, client.api, connector
    self.id, self.name, self.limits, self.workdir = container_id, name, limits, workdir
    self._on_close = on_close
    self._lock = threading.RLock()  # one command or file transfer at a time
    self._close_lock = threading.Lock()
    self._closed = False
    self._dead: str | None = None
    self._shell: ShellSession | None = None
    self._shell_failed = False
    # How often the host had to step in (the wrapper is expected to do the work).
    self.interventions = {"host_kills": 0, "limit_raises": 0, "container_kills": 0}

  # -- commands ---------------------------------------------------------------------
  @_sandbox_errors
  def run(self, cmd: str, timeout: float = 60.0) -> RunResult:
    """Runs `cmd` with bash in the workspace; nothing it started survives the call."""
    if not isinstance(cmd, str):
      raise TypeError(f"cmd must be a str, got {type(cmd).__name__}")
    if not timeout > 0:
      raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    with self._lock:
      self._check_usable()
      start = time.monotonic()
      cap = OutputCap(self.limits.head_chars, self.limits.tail_chars)
      watch = _Watch(self, start + timeout + HOST_GRACE_S)
      session = self._session()
      if session is not None:
        exit_code = self._run_in_session(session, cmd, timeout, cap, watch)
      else:
        exit_code = self._run_exec(cmd, timeout, cap, watch)
      seconds = time.monotonic() - start
      timed_out = watch.stage > 0 or (exit_code in (124, 137) and seconds >= timeout)
      output = cap.text()
      if self._dead:
        output += f"\n[sandbox killed: {self._dead}]\n"
      return RunResult(output=output, exit_code=124 if timed_out else exit_code,
                       timed_out=timed_out, truncated=cap.cut_chars > 0,
                       cut_chars=cap.cut_chars, seconds=seconds)

  def _run_exec(self, cmd: str, timeout: float, cap: OutputCap, watch: "_Watch") -> int:
    """One exec of WRAPPER: the path when no session can run."""
    exec_id = self._exec_create(["bash", "-c", WRAPPER, "swejax-run", cmd, f"{timeout:.3f}"])
    sock, initial = self._connector.start(exec_id)
    try:
      pump(sock, initial, watch.on_frame(cap), watch.deadline, watch.on_deadline)
    finally:
      sock.close()
    if self._closed:  # by another thread, while the command ran
      raise SandboxError(f"sandbox {self.name} was closed while a command ran")
    exit_code = 137 if self._dead else self._exit_code(exec_id)
    if not self._dead and (watch.stage or watch.wrapper_exit() != exit_code):
      self._kill_all()  # the wrapper did not finish its own cleanup
    return exit_code

  def _run_in_session(self, session: ShellSession, cmd: str, timeout: float, cap: OutputCap,
                      watch: "_Watch") -> int:
    try:
      exit_code = session.request(cmd, timeout, cap.feed, watch.deadline, watch.on_deadline)
    except SessionEnded:
      exit_code = None
    if self._closed:
      raise SandboxError(f"sandbox {self.name} was closed while a command ran")
    if exit_code is not None and not watch.stage:
      return exit_code
    # The command killed the session's loop (so its cleanup never ran), or the host
    # killed everything at the deadline: kill what may be left, as for a killed wrapper.
    self._drop_session()
    if self._dead:
      return 137
    code = self._exit_code(session.exec_id) if exit_code is None else exit_code
    self._kill_all()
    return code

  # -- the session --------------------------------------------------------------------
  def _session(self) -> ShellSession | None:
    """The live session, opening one if needed; None when sessions do not work here."""
    if self._shell is not None and self._shell.alive:
      return self._shell
    self._drop_session()
    if not self.persistent_shell or self._shell_failed:
      return None
    try:
      exec_id = self._api.exec_create(self.id, ["bash", "-c", SERVER], stdin=True, stdout=True,
                                      stderr=True, workdir=self.workdir)["Id"]
      sock, initial = self._connector.start(exec_id)
    except (docker.errors.APIError, SandboxError):
      self._shell_failed = True
      return None
    shell = ShellSession(exec_id, sock, initial)
    try:  # a round trip proves the loop runs here (bash, base64, head, timeout)
      ok = shell.request("", 30.0, lambda _: None, lambda: time.monotonic() + 30.0,
                         lambda: True) == 0
    except SessionEnded:
      ok = False
    if not ok:
      shell.close()
      self._shell_failed = True
      return None
    self._shell = shell
    return shell

  def _drop_session(self) -> None:
    shell, self._shell = self._shell, None
    if shell is not None:
      shell.close()

  def _session_call(self, script: str, stdin: bytes = b"",
                    limit: int = 1 << 20) -> tuple[int, bytes] | None:
    """A helper script in the session: (exit status, raw output), None when the session
    cannot answer (the caller then takes the engine's own path)."""
    session = self._session()
    if session is None:
      return None
    out = bytearray()
    too_long = False

    def collect(data: bytes) -> None:
      nonlocal too_long
      if len(out) + len(data) > limit:
        too_long = True
      else:
        out.extend(data)

    deadline = time.monotonic() + _CALL_TIMEOUT_S + HOST_GRACE_S
    try:
      code = session.request(script, _CALL_TIMEOUT_S, collect, lambda: deadline,
                             lambda: True, stdin=stdin)
    except SessionEnded:
      self._drop_session()
      return None
    return None if too_long else (code, bytes(out))

  def _exec_create(self, argv: list[str]) -> str:
    try:
      return self._api.exec_create(self.id, argv, stdout=True, stderr=True,
                                   workdir=self.workdir)["Id"]
    except docker.errors.APIError as err:
      raise SandboxError(f"sandbox {self.name}: cannot start a command: {err}") from err

  def _exit_code(self, exec_id: str) -> int:
    for delay in (0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0):
      time.sleep(delay)
      try:
        info = self._api.exec_inspect(exec_id)
      except docker.errors.APIError as err:
        raise SandboxError(f"sandbox {self.name}: lost a command: {err}") from err
      if not info.get("Running") and info.get("ExitCode") is not None:
        return int(info["ExitCode"])
    return 137

  def _kill_all(self) -> None:
    """Kills every process but PID 1 from a fresh exec, making room for it if needed."""
    self.interventions["host_kills"] += 1
    if self._shell is not None:  # `kill -9 -1` from the fresh exec ends its loop too
      self._shell.alive = False  # (its socket may be in use: the next call drops it)
    if self._exec_ok(["bash", "-c", "kill -9 -1"]):
      return
    limits = self.limits  # pids or memory exhausted: the exec itself could not start
    self.interventions["limit_raises"] += 1
    try:
      self._update(limits.pids + 64, limits.memory + (256 << 20))
      if not self._exec_ok(["bash", "-c", "kill -9 -1"]):
        self._kill_container("its processes could not be killed from inside")
    except docker.errors.APIError:
      self._kill_container("its processes could not be killed from inside")
    finally:
      if not self._dead:
        with contextlib.suppress(docker.errors.APIError):
          self._update(limits.pids, limits.memory)

  def _exec_ok(self, argv: list[str]) -> bool:
    """Runs a short helper command; True if it started and exited 0."""
    try:
      exec_id = self._exec_create(argv)
      self._api.exec_start(exec_id)
      return self._exit_code(exec_id) == 0
    except (docker.errors.APIError, SandboxError):
      return False

  def _update(self, pids: int, memory: int) -> None:
    """Changes the container's pids and memory caps (the SDK lacks pids)."""
    url = self._api._url("/containers/{0}/update", self.id)
    body = {"PidsLimit": pids, "Memory": memory, "MemorySwap": memory}
    self._api._result(self._api._post_json(url, data=body), True)

  def _kill_container(self, reason: str) -> None:
    self._dead = reason
    self.interventions["container_kills"] += 1
    with contextlib.suppress(docker.errors.APIError):
      self._api.kill(self.id)

  def _check_usable(self) -> None:
    if self._closed:
      raise SandboxError(f"sandbox {self.name} is closed")
    if self._dead:
      raise SandboxError(f"sandbox {self.name} was killed: {self._dead}")

  # -- files ------------------------------------------------------------------------
  @_sandbox_errors
  def read_file(self, path: str, max_bytes: int = 256 << 20) -> bytes:
    """The bytes of a regular file (symlinks followed); FileNotFoundError if missing."""
    target = files.resolve(self.workdir, path)
    with self._lock:
      self._check_usable()
      limit = min(int(max_bytes), _SESSION_FILE_MAX)  # a larger file is not sent twice
      called = self._session_call(_READ_SCRIPT.format(path=shlex.quote(target), max=limit),
                                  limit=limit + 64)
      if called is not None:
        code, out = called
        if code == 0:
          return out
        if code == 2:
          raise FileNotFoundError(f"{path}: no such file in the sandbox")
        if code == 3:
          raise IsADirectoryError(f"{path} is a directory in the sandbox")
        if code == 4 and int(out.decode().strip() or 0) > max_bytes:
          raise ValueError(f"{path} is {out.decode().strip()} bytes, more than "
                           f"max_bytes={max_bytes}")
      for _ in range(16):  # the engine's archive call: large or unusual files
        try:
          stream, stat = self._api.get_archive(self.id, target)
        except docker.errors.NotFound:
          raise FileNotFoundError(f"{path}: no such file in the sandbox") from None
        except docker.errors.APIError as err:
          raise SandboxError(f"sandbox {self.name}: cannot read {path}: {err}") from err
        link = stat.get("linkTarget")
        if link:
          for _ in stream:  # drain the tiny tar so the connection is reused
            pass
          target = posixpath.normpath(posixpath.join(posixpath.dirname(target), link))
          continue
        if stat.get("size", 0) > max_bytes:
          raise ValueError(f"{path} is {stat['size']} bytes, more than max_bytes={max_bytes}")
        return files.file_from_tar(files.chunks_as_file(stream), path)
      raise SandboxError(f"{path}: too many levels of symbolic links")

  @_sandbox_errors
  def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Writes a file, creating its parent directories."""
    if isinstance(data, str):
      data = data.encode()
    target = files.resolve(self.workdir, path)
    parent, name = posixpath.split(target)
    if len(data) <= _SESSION_FILE_MAX:
      with self._lock:
        self._check_usable()
        called = self._session_call(_WRITE_SCRIPT.format(
            parent=shlex.quote(parent), target=shlex.quote(target), mode=f"{mode & 0o7777:o}"),
            stdin=data)
        if called is not None and called[0] == 0:
          return
    # the engine's archive call, also for every failure (it raises the precise error)
    self.put_archive(parent, files.one_file_tar(name, data, mode))

  @_sandbox_errors
  def put_archive(self, dest: str, data: bytes | IO[bytes]) -> None:
    """Extracts a tar archive at `dest` (created if missing) in the sandbox."""
    dest = files.resolve(self.workdir, dest)
    with self._lock:
      self._check_usable()
      for attempt in range(2):
        try:
          if not self._api.put_archive(self.id, dest, data):
            raise SandboxError(f"sandbox {self.name}: put_archive to {dest} was refused")
          return
        except docker.errors.NotFound:
          if attempt:
            raise SandboxError(f"sandbox {self.name}: {dest} cannot be created") from None
          self._mkdir(dest)
          if not isinstance(data, bytes):
            data.seek(0)
        except docker.errors.APIError as err:
          if "read-only" in str(err):
            raise PermissionError(f"{dest}: read-only file system in the sandbox") from None
          raise SandboxError(f"sandbox {self.name}: cannot write to {dest}: {err}") from err

  @_sandbox_errors
  def copy_in(self, local_path: str, dest: str = ".") -> None:
    """Copies a host directory's contents (or one file) into `dest` in the sandbox."""
    with files.directory_tar(local_path) as tar:
      self.put_archive(dest, tar)

  def _mkdir(self, path: str) -> None:
    exec_id = self._exec_create(["mkdir", "-p", "--", path])
    out = self._api.exec_start(exec_id)
    if self._exit_code(exec_id) != 0:
      raise PermissionError(f"{path}: cannot create in the sandbox: "
                            f"{out.decode('utf-8', 'replace').strip()}")

  # -- lifetime ---------------------------------------------------------------------
  def close(self) -> None:
    """Removes the container and its volumes; safe to call twice, and from another
    thread while a command runs (that call then raises SandboxError)."""
    with self._close_lock:
      if self._closed:
        return
      self._closed = True
    try:
      self._api.remove_container(self.id, force=True, v=True)
    except docker.errors.NotFound:
      pass
    except docker.errors.APIError as err:
      if "already in progress" not in str(err):
        raise SandboxError(f"sandbox {self.name}: cannot remove: {err}") from err
    finally:
      if self._lock.acquire(blocking=False):  # else the running command's thread drops it
        try:
          self._drop_session()
        finally:
          self._lock.release()
      if self._on_close is not None:
        self._on_close()

  def __enter__(self) -> "DockerSandbox":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


class _Watch:
  """One command's stream: output to the cap, the wrapper's exit line, the host deadline."""

  def __init__(self, sandbox: DockerSandbox, deadline: float):
    self._sandbox, self._deadline = sandbox, deadline
    self._marker = bytearray()
    self.stage = 0  # 1: the host killed the processes; 2: it killed the container

  def on_frame(self, cap: OutputCap) -> Callable[[int, bytes], None]:
    def handle(kind: int, payload: bytes) -> None:
      if kind == 1:
        cap.feed(payload)
      elif kind == 2:  # only the wrapper writes here: the command's stderr goes to stdout
        self._marker.extend(payload)
        del self._marker[:-256]
    return handle

  def deadline(self) -> float:
    return self._deadline

  def on_deadline(self) -> bool:
    """Kills inside first, the container if that did not end the stream; True = give up."""
    self.stage += 1
    if self.stage == 1:
      self._sandbox._kill_all()
      self._deadline = time.monotonic() + _KILL_WAIT_S
      return False
    self._sandbox._kill_container("a command outlived its timeout and every kill")
    return True

  def wrapper_exit(self) -> int | None:
    """The exit status the wrapper reported after its cleanup, None if it never did."""
    found = _MARKER.search(bytes(self._marker))
    return int(found.group(1)) if found else None


def seed_workspace(client: docker.DockerClient, image: str, workdir: str,
                    labels: dict[str, str]) -> IO[bytes] | None:
  """The image's own workspace content as a tar (the tmpfs hides it), None if empty."""
  probe = client.api.create_container(image, command=["true"], labels=labels,
                                      network_disabled=True)["Id"]
  try:
    try:
      stream, _ = client.api.get_archive(probe, workdir.rstrip("/") + "/.")
    except docker.errors.NotFound:
      return None
    spool = tempfile.SpooledTemporaryFile(max_size=32 << 20)
    for chunk in stream:
      spool.write(chunk)
    spool.seek(0)
    with tarfile.open(fileobj=spool, mode="r:") as tar:
      empty = all(member.name in (".", "./") for member in tar)
    spool.seek(0)
    if empty:
      spool.close()
      return None
    return spool
  finally:
    with contextlib.suppress(docker.errors.APIError):
      client.api.remove_container(probe, force=True)


def start_container(client: docker.DockerClient, image: str, limits: Limits, *, workdir: str,
                    labels: dict[str, str], name: str, env: dict[str, str] | None,
                    read_only: bool, seed_tar: IO[bytes] | None) -> str:
  """Creates and starts a hardened container; returns its id (removed again on failure)."""
  mounts = [tmpfs_volume(workdir, limits.disk_cap, "0755"),
            tmpfs_volume("/tmp", limits.tmp_cap, "1777")]
  host_config = client.api.create_host_config(
      network_mode="bridge" if limits.network else "none", mem_limit=limits.memory,
      memswap_limit=limits.memory, pids_limit=limits.pids, nano_cpus=int(limits.cpus * 1e9),
      cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=read_only, mounts=mounts,
      log_config=LogConfig(type="none"), shm_size=64 << 20)
  try:
    container = client.api.create_container(
        image, command=["bash", "-c", PID1], name=name, labels=labels, working_dir=workdir,
        environment=env or None, hostname="sandbox", host_config=host_config,
        network_disabled=not limits.network)
  except docker.errors.ImageNotFound as err:
    raise SandboxError(f"image {image} is not on this engine (run `swejax sandbox setup` "
                       "or build the task image)") from err
  except docker.errors.APIError as err:
    raise SandboxError(f"cannot create a sandbox from {image}: {err}") from err
  cid = container["Id"]
  try:
    client.api.start(cid)
    if seed_tar is not None:
      client.api.put_archive(cid, workdir, seed_tar)
  except BaseException as err:
    with contextlib.suppress(docker.errors.APIError):
      client.api.remove_container(cid, force=True, v=True)
    if isinstance(err, docker.errors.APIError):
      raise SandboxError(f"cannot start a sandbox from {image}: {err}") from err
    raise
  finally:
    if seed_tar is not None:
      seed_tar.close()
  return cid
