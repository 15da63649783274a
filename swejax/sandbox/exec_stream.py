"""A raw, deadline-aware `exec start` stream to the Docker engine.

The SDK's streaming reads block without a deadline and buffer through http.client;
here the hijacked connection is ours, so the host can stop waiting at any moment
and read in large chunks (a command printing a gigabyte is drained fast).
"""
from __future__ import annotations

import json
import select
import socket
import ssl
import struct
import time
import urllib.parse
from typing import Callable

import docker

from swejax.sandbox.base import SandboxError

_HEADER = struct.Struct(">BxxxL")
_RECV = 1 << 18


class FrameParser:
  """Splits Docker's multiplexed stream (8-byte header, payload) into frames."""

  def __init__(self):
    self._buf = bytearray()

  def feed(self, data: bytes) -> list[tuple[int, bytes]]:
    """Frames completed by `data`, as (stream id: 1 stdout, 2 stderr, payload)."""
    buf = self._buf
    buf += data
    frames, pos = [], 0
    while len(buf) - pos >= _HEADER.size:
      kind, size = _HEADER.unpack_from(buf, pos)
      end = pos + _HEADER.size + size
      if end > len(buf):
        break
      frames.append((kind, bytes(buf[pos + _HEADER.size:end])))
      pos = end
    del buf[:pos]
    return frames

  @property
  def pending(self) -> int:
    return len(self._buf)


class RawExecConnector:
  """Opens `POST /exec/{id}/start` on a connection of our own (unix or tcp, TLS too)."""

  def __init__(self, api: docker.APIClient):
    self._version = api._version  # the API version the SDK negotiated
    base = api.base_url
    self._tls: ssl.SSLContext | None = None
    if base == "http+docker://localhost":
      self._family, self._address = socket.AF_UNIX, api._custom_adapter.socket_path
    elif base.startswith(("http://", "https://")):
      url = urllib.parse.urlparse(base)
      self._family, self._address = socket.AF_INET, (url.hostname, url.port or 2375)
      if url.scheme == "https":
        self._tls = _tls_context(api)
        self._server_name = url.hostname
    else:
      raise SandboxError(f"sandbox hosts must be unix:// or tcp:// URLs, got {base!r}")

  def _connect(self, timeout: float) -> socket.socket:
    if self._family == socket.AF_UNIX:
      sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
      sock.settimeout(timeout)
      sock.connect(self._address)
    else:
      sock = socket.create_connection(self._address, timeout=timeout)
      if self._tls is not None:
        sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)
    return sock

  def start(self, exec_id: str, timeout: float = 30.0) -> tuple[socket.socket, bytes]:
    """Starts the exec; returns the hijacked socket and any stream bytes already read."""
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    request = (f"POST /v{self._version}/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
               "User-Agent: swejax\r\nContent-Type: application/json\r\n"
               "Connection: Upgrade\r\nUpgrade: tcp\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    try:
      sock = self._connect(timeout)
    except OSError as err:
      raise SandboxError(f"cannot reach the Docker engine at {self._address}: {err}") from err
    try:
      sock.sendall(request)
      head = bytearray()
      deadline = time.monotonic() + timeout
      while b"\r\n\r\n" not in head:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
          raise SandboxError("the Docker engine closed the exec stream before answering")
        head += chunk
        if len(head) > 1 << 20:
          raise SandboxError("the Docker engine sent an oversized exec answer")
      header, _, rest = bytes(head).partition(b"\r\n\r\n")
      status = header.split(b"\r\n", 1)[0].decode("latin-1")
      code = int(status.split()[1]) if len(status.split()) > 1 else 0
      if code not in (101, 200):
        raise SandboxError(f"exec start failed: {status}: {rest[:500].decode('utf-8', 'replace')}")
      sock.settimeout(None)
      return sock, rest
    except BaseException:
      sock.close()
      raise


def _tls_context(api: docker.APIClient) -> ssl.SSLContext:
  """Client TLS matching the SDK's settings (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH)."""
  verify = api.verify
  context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
  if verify is False:
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
  if api.cert:
    cert, key = api.cert if isinstance(api.cert, tuple) else (api.cert, None)
    context.load_cert_chain(cert, key)
  return context


def read_frames(sock: socket.socket, parser: FrameParser, deadline: Callable[[], float],
                on_deadline: Callable[[], bool]):
  """Yields (stream id, payload) frames as they arrive. At `deadline()` calls
  `on_deadline()` and stops when it says so. Returns (StopIteration.value) True if the
  stream ended by itself, False if it was abandoned."""
  while True:
    remaining = deadline() - time.monotonic()
    if remaining <= 0:
      if on_deadline():
        return False
      continue
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
      ready = True
    else:
      ready = bool(select.select([sock], [], [], min(remaining, 1.0))[0])
    if not ready:
      continue
    try:
      data = sock.recv(_RECV)
    except (ssl.SSLWantReadError, BlockingIOError, InterruptedError, socket.timeout):
      continue
    except OSError:
      return True  # the engine dropped the connection: the exec is over
    if not data:
      return True
    yield from parser.feed(data)


def pump(sock: socket.socket, initial: bytes, on_frame: Callable[[int, bytes], None],
         deadline: Callable[[], float], on_deadline: Callable[[], bool]) -> bool:
  """Reads frames until EOF. At `deadline()` calls `on_deadline()`; stops when it says so.

  Returns True if the stream ended by itself, False if it was abandoned.
  """
  parser = FrameParser()
  for kind, payload in parser.feed(initial):
    on_frame(kind, payload)
  frames = read_frames(sock, parser, deadline, on_deadline)
  while True:
    try:
      kind, payload = next(frames)
    except StopIteration as stop:
      return stop.value
    on_frame(kind, payload)
