"""The bubblewrap sandbox's contract: same interface, weaker isolation said out loud."""
from __future__ import annotations

import io
import os
import tarfile

import psutil
import pytest

from swejax.sandbox import LocalSandbox, Sandbox, SandboxError, local_backend, open_sandbox


@pytest.fixture
def sb(bubblewrap):
  local_backend._warn_weaker.cache_clear()  # pylint: disable=protected-access
  with pytest.warns(RuntimeWarning, match="isolates less than Docker"):
    sandbox = open_sandbox("local", memory="256m", disk="32m", tmp="16m", env={"K": "v"})
  with sandbox:
    yield sandbox


def test_run_and_isolation(sb):
  assert isinstance(sb, Sandbox) and isinstance(sb, LocalSandbox)
  assert sb.isolation == "bubblewrap"
  result = sb.run("echo out; echo err >&2; echo $K; pwd; hostname; exit 5", timeout=10)
  assert result.output == "out\nerr\nv\n/testbed\nsandbox\n" and result.exit_code == 5
  assert sb.run("ls /root /home 2>&1; ls /", timeout=10).output.count("No such file") == 2


def test_background_jobs_die_with_the_call(sb):
  marker = "swejax-local-bg-marker"
  result = sb.run(f"(exec -a {marker} sleep 1000 &) ; setsid bash -c 'exec -a {marker} sleep 1000' "
                  "& echo started", timeout=10)
  assert result.output == "started\n" and not result.timed_out
  assert not [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


def test_files_round_trip_and_map_into_the_sandbox(sb):
  sb.write_file("pkg/a.py", "A = 1\n")
  sb.write_file("/tmp/tools/t", "#!/bin/bash\necho tool\n", mode=0o755)
  assert sb.run("cat pkg/a.py && /tmp/tools/t").output == "A = 1\ntool\n"
  assert sb.read_file("/testbed/pkg/a.py") == b"A = 1\n"
  assert sb.read_file("/etc/hostname")  # system dirs are visible read-only
  with pytest.raises(PermissionError):
    sb.write_file("/etc/evil", "x")
  with pytest.raises(FileNotFoundError):
    sb.read_file("/root/.bashrc")  # hidden in the sandbox, so hidden here too
  with pytest.raises(IsADirectoryError):
    sb.read_file("pkg")


def test_symlinks_resolve_inside_the_sandbox_not_on_the_host(sb):
  sb.run("ln -s /etc escape && ln -s /tmp/real inner && mkdir -p /tmp/real", timeout=10)
  with pytest.raises(PermissionError):
    sb.write_file("escape/evil.conf", "x")  # /etc in the sandbox is read-only
  assert not os.path.exists("/etc/evil.conf")
  sb.write_file("inner/f.txt", "through the link")
  assert sb.run("cat /tmp/real/f.txt").output == "through the link"
  sb.run("ln -s /root rootlink", timeout=10)
  with pytest.raises(FileNotFoundError):
    sb.read_file("rootlink/.bashrc")


def test_put_archive_refuses_members_that_escape(sb, tmp_path):
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w") as tar:
    info = tarfile.TarInfo("../../outside.txt")
    info.size = 1
    tar.addfile(info, io.BytesIO(b"x"))
  with pytest.raises(tarfile.OutsideDestinationError):
    sb.put_archive("/testbed", buf.getvalue())
  (tmp_path / "d").mkdir()
  (tmp_path / "d" / "f.txt").write_text("copied")
  sb.copy_in(str(tmp_path / "d"), "sub")
  assert sb.read_file("sub/f.txt") == b"copied"


def test_limits_are_enforced_by_cgroup_and_tmpfs(sb):
  if sb._group is None:
    pytest.skip("needs root with cgroup v1 for the exact caps")
  with open(os.path.join(sb._group.paths["pids"], "pids.max")) as handle:
    assert handle.read().strip() == "512"
  with open(os.path.join(sb._group.paths["memory"], "memory.limit_in_bytes")) as handle:
    assert int(handle.read()) == 256 << 20
  df = sb.run("df -k /testbed /tmp | tail -2", timeout=10).output.split("\n")
  assert [int(line.split()[1]) for line in df if line] == [32 << 10, 16 << 10]


def test_local_rejects_what_it_cannot_do(bubblewrap):
  with pytest.raises(SandboxError, match="image"):
    open_sandbox("local", "python:3.11")
  with pytest.raises(SandboxError, match="network"):
    open_sandbox("local", network=True)
  for workdir in ("/usr/lib", "/", "relative", "/tmp/x"):
    with pytest.raises(SandboxError, match="workdir"):
      open_sandbox("local", workdir=workdir)


def test_weaker_isolation_is_said_once_per_process(bubblewrap):
  import warnings  # pylint: disable=import-outside-toplevel
  local_backend._warn_weaker.cache_clear()  # pylint: disable=protected-access
  with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    for _ in range(3):
      open_sandbox("local", memory="256m").close()
  assert sum("isolates less than Docker" in str(w.message) for w in seen) == 1
