"""Tar helpers shared by the backends: one file in, one file out, a directory in."""
from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
import time
from typing import IO

from swejax.sandbox.base import SandboxError


def resolve(workdir: str, path: str) -> str:
  """Absolute, normalized sandbox path; relative paths are taken from the workspace."""
  if not isinstance(path, str) or not path or "\0" in path:
    raise SandboxError(f"bad sandbox path {path!r}")
  return posixpath.normpath(posixpath.join(workdir, path))


# Top-level directories a workspace may not be mounted over.
SYSTEM_TOPS = ("bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run",
               "sbin", "sys", "tmp", "usr")


def check_workdir(workdir: str, also: tuple[str, ...] = ()) -> str:
  """The normalized workspace path; SandboxError unless absolute and outside system dirs."""
  if not isinstance(workdir, str) or not workdir.startswith("/"):
    raise SandboxError(f"workdir must be an absolute path, got {workdir!r}")
  workdir = posixpath.normpath(workdir)
  top = workdir.strip("/").split("/")[0]
  if top in ("", *SYSTEM_TOPS, *also):
    raise SandboxError(f"workdir must not be / or under /{top or ''}: got {workdir!r}")
  return workdir


def one_file_tar(name: str, data: bytes, mode: int) -> bytes:
  """A tar holding a single regular file `name` (no directories, root-owned)."""
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w") as tar:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))
  return buf.getvalue()


def file_from_tar(stream: io.BufferedIOBase | io.BytesIO, path: str) -> bytes:
  """The content of the one regular file in a tar stream as `get_archive` returns it."""
  with tarfile.open(fileobj=stream, mode="r|") as tar:
    for member in tar:
      if member.isfile():
        handle = tar.extractfile(member)
        return handle.read() if handle else b""
      if member.isdir():
        raise IsADirectoryError(f"{path} is a directory in the sandbox")
  raise FileNotFoundError(f"{path} is not a regular file in the sandbox")


def directory_tar(local_path: str) -> IO[bytes]:
  """A tar of a host directory's contents (or of one file), root-owned, spooled to disk."""
  if not os.path.exists(local_path):
    raise FileNotFoundError(f"{local_path} does not exist")

  def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info

  buf = tempfile.SpooledTemporaryFile(max_size=32 << 20)
  with tarfile.open(fileobj=buf, mode="w") as tar:
    if os.path.isdir(local_path):
      for entry in sorted(os.listdir(local_path)):
        tar.add(os.path.join(local_path, entry), arcname=entry, filter=_owned_by_root)
    else:
      tar.add(local_path, arcname=os.path.basename(local_path), filter=_owned_by_root)
  buf.seek(0)
  return buf


class _IterStream(io.RawIOBase):
  """A file-like view of an iterator of byte chunks, for streaming tar reads."""

  def __init__(self, chunks):
    self._chunks = iter(chunks)
    self._rest = b""

  def readable(self) -> bool:
    return True

  def readinto(self, buffer) -> int:
    while not self._rest:
      try:
        self._rest = next(self._chunks)
      except StopIteration:
        return 0
    n = min(len(buffer), len(self._rest))
    buffer[:n], self._rest = self._rest[:n], self._rest[n:]
    return n


def chunks_as_file(chunks) -> io.BufferedReader:
  return io.BufferedReader(_IterStream(chunks))
