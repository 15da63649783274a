"""The hostile battery: each command in a Docker and (where it applies) a local sandbox.

After each: the call returns within its timeout plus a few seconds, nothing it
started is left (inside, and on the host), host process count and free memory
are back near their baseline, no container or sandbox directory is leaked, and
the output kept is bounded and says what was cut.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid

import docker
import psutil
import pytest

from swejax.sandbox import DockerSandbox, RunResult, open_sandbox
from swejax.sandbox.docker_backend import PID1
from swejax.sandbox.docker_session import SERVER
from swejax.sandbox.owner import LABEL_RUN

# "docker" runs commands through the sandbox's session loop, "docker-exec" with one exec
# of the wrapper each (the path taken when no session can run).
DOCKER = [pytest.param("docker", marks=pytest.mark.docker),
          pytest.param("docker-exec", marks=pytest.mark.docker)]
BOTH = DOCKER + [
    pytest.param("local", marks=pytest.mark.filterwarnings("ignore::RuntimeWarning"))]
SLACK_S = 5.0  # returns within timeout + this
HEAD = TAIL = 20_000


def _processes_inside(sb, wait_s: float = 3.0) -> list[str]:
  """Processes left in the sandbox, seen from the host (zombies get `wait_s` to be reaped)."""
  deadline = time.monotonic() + wait_s
  while True:
    found = _scan(sb)
    if not found or time.monotonic() > deadline:
      return found
    time.sleep(0.1)


def _cmdline(proc: psutil.Process) -> str:
  try:
    return " ".join(proc.cmdline())
  except psutil.ZombieProcess:
    return f"<zombie {proc.pid}>"
  except psutil.NoSuchProcess:
    return ""


def _scan(sb) -> list[str]:
  if isinstance(sb, DockerSandbox):
    found = []
    for proc in psutil.process_iter(["pid"]):
      with contextlib.suppress(OSError):
        with open(f"/proc/{proc.pid}/cgroup") as handle:
          if sb.id in handle.read():
            found.append(_cmdline(proc))
    # PID 1, its sleep and the idle session loop are the sandbox's own
    return [cmd for cmd in found
            if cmd not in (f"bash -c {PID1}", "sleep 86400", f"bash -c {SERVER}", "")]
  found = [" ".join(p.cmdline()) for p in psutil.process_iter(["pid"])
           if _safe_cmdline_has(p, sb.state_dir)]
  if sb._group is not None:
    found += [str(pid) for pid in sb._group.pids()]
  return found


def _safe_cmdline_has(proc: psutil.Process, text: str) -> bool:
  try:
    return any(text in part for part in proc.cmdline())
  except (psutil.Error, OSError):
    return False


def _leaked(backend: str, run_id: str, sb) -> list[str]:
  if backend == "docker":
    client = docker.from_env()
    try:
      return [c.name for c in client.containers.list(
          all=True, filters={"label": f"{LABEL_RUN}={run_id}"})]
    finally:
      client.close()
  leftovers = [sb.state_dir] if os.path.exists(sb.state_dir) else []
  if sb._group is not None:
    leftovers += [p for p in sb._group.paths.values() if os.path.exists(p)]
  return leftovers


def _memory_group(sb) -> str | None:
  """The sandbox's memory cgroup directory on this host."""
  if isinstance(sb, DockerSandbox):
    pid = docker.from_env().api.inspect_container(sb.id)["State"]["Pid"]
    with open(f"/proc/{pid}/cgroup") as handle:
      for line in handle:
        _, controllers, path = line.strip().split(":", 2)
        if "memory" in controllers.split(","):
          return f"/sys/fs/cgroup/memory{path}"
    return None
  return sb._group.paths["memory"] if sb._group is not None else None


def _anon_memory(group: str) -> int:
  """Process memory (rss) charged to a memory cgroup, page cache and tmpfs excluded."""
  with open(f"{group}/memory.stat") as handle:
    stats = dict(line.split() for line in handle)
  return int(stats["total_rss"])


@contextlib.contextmanager
def guarded(backend: str, **limits):
  """Opens a sandbox; on exit checks that it and all it ran are gone."""
  gc_pids, unexplained = len(psutil.pids()), _unexplained_memory()
  run_id = f"hostile-{uuid.uuid4().hex[:8]}"
  sb = open_sandbox(backend, run_id=run_id, **limits)
  group = _memory_group(sb)
  try:
    yield sb
    assert _processes_inside(sb) == []
    if group is not None:  # what the command took is given back, not just capped
      assert _anon_memory(group) < 16 << 20
  finally:
    sb.close()
  assert _leaked(backend, run_id, sb) == []
  if group is not None:
    assert not os.path.exists(group)
  # Host-wide figures move with whatever else runs on the machine, so they only catch
  # gross leaks (an escaped bomb, a kept tmpfs); the exact checks are the cgroup ones above.
  deadline = time.monotonic() + 5
  while time.monotonic() < deadline and (len(psutil.pids()) > gc_pids + 100
                                         or _unexplained_memory() > unexplained + (1 << 30)):
    time.sleep(0.25)
  assert len(psutil.pids()) <= gc_pids + 100
  assert _unexplained_memory() <= unexplained + (1 << 30)


def _unexplained_memory() -> int:
  """Host memory in use beyond the processes' own (rss): tmpfs, kernel, leaked mounts."""
  rss = 0
  for proc in psutil.process_iter(["memory_info"]):
    info = proc.info["memory_info"]
    rss += info.rss if info is not None else 0
  vm = psutil.virtual_memory()
  return vm.total - vm.available - rss


def _run(sb, cmd: str, timeout: float) -> RunResult:
  start = time.monotonic()
  result = sb.run(cmd, timeout=timeout)
  assert time.monotonic() - start <= timeout + SLACK_S, result
  assert len(result.output) <= HEAD + TAIL + 100
  if result.truncated:
    assert result.cut_chars > 0 and f"{result.cut_chars} characters cut" in result.output
  return result


@pytest.fixture
def backend(request):
  if request.param == "local":
    request.getfixturevalue("bubblewrap")
  if request.param == "docker-exec":
    request.getfixturevalue("monkeypatch").setattr(DockerSandbox, "persistent_shell", False)
    return "docker"
  return request.param


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_fork_bomb(backend):
  with guarded(backend, pids=128, memory="512m") as sb:
    result = _run(sb, ":(){ :|:& };:; sleep 60", timeout=3)
    assert result.timed_out and result.exit_code == 124
    assert _run(sb, "echo alive", timeout=10).output == "alive\n"


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_memory_hog_at_twice_the_limit(backend):
  with guarded(backend, memory="256m") as sb:
    result = _run(sb, "python3 -c \"b = b'x' * (512 << 20); print('allocated')\"", timeout=30)
    assert result.exit_code != 0 and "allocated" not in result.output
    assert _run(sb, "echo alive", timeout=10).output == "alive\n"


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_sigterm_ignoring_loop_with_setsid_double_forked_children(backend):
  cmd = ("trap '' TERM; for i in 1 2 3; do setsid bash -c \"(trap '' TERM HUP; "
         "while :; do sleep 0.2; done) & (setsid sleep 1000 &) &\"; done; while :; do :; done")
  with guarded(backend, memory="256m") as sb:
    result = _run(sb, cmd, timeout=2)
    assert result.timed_out and result.exit_code == 124


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_a_gigabyte_to_stdout(backend):
  rss = psutil.Process().memory_info().rss
  with guarded(backend, memory="256m") as sb:
    result = _run(sb, "head -c 1000000000 /dev/zero | tr '\\0' x", timeout=60)
    assert result.truncated and not result.timed_out
    assert result.cut_chars == 1_000_000_000 - HEAD - TAIL
    assert result.output.startswith("x" * HEAD) and result.output.endswith("x" * TAIL)
  assert psutil.Process().memory_info().rss - rss < 100 << 20


@pytest.mark.parametrize("backend", BOTH, indirect=True)
@pytest.mark.parametrize("where", ["/testbed", "/tmp"])
def test_filling_the_workspace_and_tmp(backend, where):
  with guarded(backend, memory="512m", disk="64m", tmp="32m") as sb:
    cap = 64 if where == "/testbed" else 32
    result = _run(sb, f"dd if=/dev/zero of={where}/fill bs=1M count=300; "
                  f"stat -c %s {where}/fill", timeout=30)
    assert "No space left on device" in result.output
    assert int(result.output.split()[-1]) <= cap << 20
    assert _run(sb, f"rm {where}/fill && echo freed", timeout=10).output == "freed\n"


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_writing_outside_the_workspace_fails(backend):
  with guarded(backend, memory="256m") as sb:
    result = _run(sb, "echo x > /usr/evil; echo x > /etc/evil; ls /usr/evil /etc/evil", timeout=10)
    assert result.exit_code != 0 and "Read-only file system" in result.output
  assert not os.path.exists("/usr/evil") and not os.path.exists("/etc/evil")


NETWORK = {
    "http": "python3 -c \"import urllib.request as u; u.urlopen('http://example.com', timeout=5)\"",
    "https_by_ip": "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 443), 5)\"",
    "dns": "python3 -c \"import socket; print(socket.getaddrinfo('example.com', 80))\"",
    "pip": "python3 -m pip download --no-deps --retries 0 --timeout 5 -d /tmp/dl six",
}


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_no_network(backend):
  with guarded(backend, memory="256m") as sb:
    for name, cmd in NETWORK.items():
      result = _run(sb, cmd, timeout=30)
      assert result.exit_code != 0, (name, result.output)
    assert _run(sb, "ls /tmp/dl 2>/dev/null | wc -l", timeout=5).output == "0\n"
    interfaces = "awk -F: 'NR > 2 {gsub(/ /, \"\", $1); print $1}' /proc/net/dev"
    assert _run(sb, interfaces, timeout=5).output.split() == ["lo"]


@pytest.mark.parametrize("backend", BOTH, indirect=True)
def test_kill_every_process(backend):
  with guarded(backend, memory="256m") as sb:
    sb.write_file("kept.txt", "still here\n")
    result = _run(sb, "kill -9 -1; echo after; sleep 60", timeout=5)
    assert result.exit_code != 0
    assert _run(sb, "cat kept.txt", timeout=10).output == "still here\n"


@pytest.mark.parametrize("backend", DOCKER, indirect=True)
def test_killing_the_wrapper_then_a_fork_bomb(backend):
  # The in-container timeout is gone with the wrapper; the host must clean up, and the
  # bomb fills the pids limit so the host first has to make room for its kill.
  with guarded(backend, pids=64, memory="256m") as sb:
    result = _run(sb, "kill -9 -1; :(){ :|:& };:; sleep 60", timeout=3)
    assert result.exit_code != 0
    assert sb.interventions["host_kills"] >= 1
    assert _run(sb, "echo alive", timeout=10).output == "alive\n"
    host_config = docker.from_env().api.inspect_container(sb.id)["HostConfig"]
    assert (host_config["PidsLimit"], host_config["Memory"]) == (64, 256 << 20)  # restored


@pytest.mark.parametrize("backend", DOCKER, indirect=True)
def test_daemon_that_kills_the_wrapper_and_closes_its_output(backend):
  cmd = ("setsid nohup sleep 1000 >/dev/null 2>&1 </dev/null & "
         "W=$(awk '{print $4}' /proc/$PPID/stat); kill -9 $W $PPID; echo bye")
  with guarded(backend, memory="256m") as sb:
    _run(sb, cmd, timeout=10)
