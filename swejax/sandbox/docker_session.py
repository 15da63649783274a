"""One long-lived shell per Docker sandbox: commands and small file transfers without an
exec (or an archive call) each.

Every `docker exec` costs the engine a runc process and every archive call a re-exec of
the engine binary: about 50 ms of CPU each on a small machine, which is most of an
episode's sandbox cost. The session is one exec running SERVER, a bash loop that reads
framed requests on its stdin and runs each exactly as the per-exec wrapper does
(`timeout -k`, stderr merged, oom_score_adj 1000, then `kill -9 -1`, which spares the
caller: the loop survives its own cleanup and PID 1 is never signalled).

Host -> session, per request: `<nonce> <timeout> <n> <d>\\n`, then the command as n
base64 characters (so its length is the same in any locale), then d raw bytes that become
the command's stdin (/dev/null when d is 0). Session -> host: the command's output, then
`<nonce> <exit status>\\n`. The nonce is fresh per request and never reaches the command,
so the command cannot forge the end of its own output. If the stream ends without the
marker (the command killed the loop, the host killed everything at a deadline, the
container died), the session is dead and the sandbox opens a new one for its next call.
"""
from __future__ import annotations

import base64
import re
import secrets
import socket
from typing import Callable

from swejax.sandbox.exec_stream import FrameParser, read_frames

SERVER = r"""trap true TERM INT HUP QUIT
while IFS=' ' read -r nonce t n d; do
  enc=
  if [ "$n" -gt 0 ]; then IFS= read -r -N "$n" enc || exit 0; fi
  cmd=$(printf %s "$enc" | base64 -d && echo x) || exit 3
  cmd=${cmd%x}
  in=/dev/null
  if [ "$d" -gt 0 ]; then
    in=/tmp/.swejax-in.$nonce
    head -c "$d" >"$in" && [ "$(wc -c <"$in")" -eq "$d" ] || exit 3
  fi
  ( { echo 1000 >/proc/self/oom_score_adj; } 2>/dev/null
    exec timeout -k 2 "$t" bash -c "$cmd" ) <"$in" 2>&1
  rc=$?
  kill -9 -1 2>/dev/null
  [ "$in" = /dev/null ] || rm -f -- "$in"
  printf '%s %d\n' "$nonce" "$rc"
done
"""
_SEND_TIMEOUT_S = 60.0


class SessionEnded(Exception):
  """The stream ended (or could not be written) before the request's end marker."""


class ShellSession:
  """The host side of one SERVER exec: a hijacked socket and its frame parser."""

  def __init__(self, exec_id: str, sock: socket.socket, initial: bytes):
    self.exec_id, self._sock = exec_id, sock
    self._parser = FrameParser()
    self._pending = list(self._parser.feed(initial))
    self.alive = True

  def request(self, cmd: str, timeout: float, on_stdout: Callable[[bytes], None],
              deadline: Callable[[], float], on_deadline: Callable[[], bool],
              stdin: bytes = b"") -> int:
    """Runs `cmd`; streams its output to `on_stdout`; returns its exit status.

    At `deadline()` calls `on_deadline()` (which kills from outside, ending the stream)
    and stops waiting when it returns True. Raises SessionEnded when the stream ends
    without the end marker; the session is then dead.
    """
    if not self.alive:
      raise SessionEnded("the session is closed")
    nonce = secrets.token_hex(16)
    encoded = base64.b64encode(cmd.encode("utf-8", "surrogateescape"))
    frame = f"{nonce} {timeout:.3f} {len(encoded)} {len(stdin)}\n".encode() + encoded + stdin
    try:
      self._sock.settimeout(_SEND_TIMEOUT_S)
      self._sock.sendall(frame)
    except OSError as err:
      self.close()
      raise SessionEnded(f"cannot write to the session: {err}") from err
    marker = re.compile(nonce.encode() + rb" (\d+)\n")
    keep = len(nonce) + 16  # a marker split across frames is held back, never passed on
    held = bytearray()
    for kind, payload in self._frames(deadline, on_deadline):
      if kind != 1:
        continue
      held += payload
      found = marker.search(held)
      if found:
        on_stdout(bytes(held[:found.start()]))
        return int(found.group(1))
      if len(held) > keep:
        on_stdout(bytes(held[:-keep]))
        del held[:-keep]
    on_stdout(bytes(held))
    self.close()
    raise SessionEnded("the session's stream ended before the command's end marker")

  def _frames(self, deadline: Callable[[], float], on_deadline: Callable[[], bool]):
    """Frames as they arrive, until EOF or until on_deadline() gives up."""
    while self._pending:
      yield self._pending.pop(0)
    yield from read_frames(self._sock, self._parser, deadline, on_deadline)

  def close(self) -> None:
    self.alive = False
    try:
      self._sock.close()
    except OSError:
      pass
