"""The Docker sandbox's contract: commands, files, hardening, labels, clean-up."""
from __future__ import annotations

import io
import os
import tarfile
import threading
import time

import docker
import pytest

from swejax.sandbox import (BASE_IMAGE, DockerPool, Limits, Sandbox, SandboxError,
                            open_sandbox)
from swejax.sandbox import docker_backend
from swejax.sandbox.owner import LABEL_RUN, Owner

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():
  client = docker.from_env()
  yield client
  client.close()


@pytest.fixture(scope="module")
def sb():
  with open_sandbox("docker", memory="512m", disk="64m", tmp="32m", pids=128,
                    run_id="contract", env={"SWEJAX_TEST": "yes"}) as sandbox:
    yield sandbox


def test_run_merges_streams_keeps_exit_code_and_cwd(sb):
  assert isinstance(sb, Sandbox) and sb.isolation == "docker"
  result = sb.run("echo out; echo err >&2; echo $SWEJAX_TEST; pwd; exit 3", timeout=10)
  assert result.output == "out\nerr\nyes\n/testbed\n"
  assert (result.exit_code, result.timed_out, result.truncated) == (3, False, False)


def test_cwd_does_not_persist_and_background_jobs_do_not_outlive_the_call(sb):
  sb.run("mkdir -p sub && cd sub && (sleep 1000 &) && sleep 1000 &", timeout=5)
  result = sb.run("pwd; ls /proc | grep -cE '^[0-9]+$'", timeout=5)
  lines = result.output.split()
  assert lines[0] == "/testbed"
  # PID 1 and its sleep, the wrapper, timeout, this bash, ls and grep: nothing from before
  assert int(lines[1]) <= 7, result.output


def test_timeout_is_reported_and_exit_code_124(sb):
  start = time.monotonic()
  result = sb.run("echo started; sleep 30", timeout=1)
  assert result.timed_out and result.exit_code == 124
  assert result.output.startswith("started")
  assert time.monotonic() - start < 1 + 4


def test_files_round_trip_with_parents_symlinks_and_modes(sb):
  sb.write_file("pkg/deep/mod.py", "x = 1\n")
  sb.write_file("/tmp/swejax/bin/tool", b"#!/bin/bash\necho tool ran\n", mode=0o755)
  assert sb.read_file("/testbed/pkg/deep/mod.py") == b"x = 1\n"
  assert sb.run("/tmp/swejax/bin/tool").output == "tool ran\n"
  sb.run("ln -sf deep/mod.py pkg/link.py")
  assert sb.read_file("pkg/link.py") == b"x = 1\n"
  with pytest.raises(FileNotFoundError):
    sb.read_file("missing.txt")
  with pytest.raises(IsADirectoryError):
    sb.read_file("pkg")
  with pytest.raises(PermissionError):
    sb.write_file("/etc/evil", "x")  # the root file system is read-only


def test_put_archive_and_copy_in(sb, tmp_path):
  (tmp_path / "repo" / "src").mkdir(parents=True)
  (tmp_path / "repo" / "src" / "a.py").write_text("A = 1\n")
  (tmp_path / "repo" / "setup.cfg").write_text("[metadata]\n")
  sb.copy_in(str(tmp_path / "repo"), "/testbed/copied")
  assert sb.run("cd copied && find . -type f | sort").output == "./setup.cfg\n./src/a.py\n"
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w") as tar:
    info = tarfile.TarInfo("t.txt")
    info.size = 2
    tar.addfile(info, io.BytesIO(b"hi"))
  sb.put_archive("/tmp/new/dir", buf.getvalue())
  assert sb.read_file("/tmp/new/dir/t.txt") == b"hi"


def test_container_is_hardened_and_labelled(sb, client):
  attrs = client.api.inspect_container(sb.id)
  host = attrs["HostConfig"]
  assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"]
  assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
  assert host["Memory"] == host["MemorySwap"] == 512 << 20
  assert host["PidsLimit"] == 128 and host["NanoCpus"] == 10**9
  labels = attrs["Config"]["Labels"]
  assert Owner.from_labels(labels) == Owner.current() and labels[LABEL_RUN] == "contract"
  mounts = sb.run("grep -E ' (/testbed|/tmp) ' /proc/mounts").output
  assert "/testbed tmpfs rw" in mounts and "size=65536k" in mounts
  assert "/tmp tmpfs rw" in mounts and "size=32768k" in mounts
  caps = sb.run("grep -E '^Cap(Eff|Prm)' /proc/self/status; grep NoNewPrivs /proc/self/status")
  assert "0000000000000000" in caps.output and "NoNewPrivs:\t1" in caps.output


def test_close_removes_container_and_volumes(client):
  volumes_before = {v.name for v in client.volumes.list()}
  sandbox = open_sandbox("docker", run_id="closing", memory="128m")
  sandbox.run("echo data > /testbed/f")
  assert client.containers.list(all=True, filters={"label": f"{LABEL_RUN}=closing"})
  sandbox.close()
  sandbox.close()
  assert not client.containers.list(all=True, filters={"label": f"{LABEL_RUN}=closing"})
  assert {v.name for v in client.volumes.list()} <= volumes_before
  with pytest.raises(SandboxError, match="closed"):
    sandbox.run("true")


def test_workspace_is_seeded_from_the_image(client):
  builder = client.containers.run(BASE_IMAGE, ["bash", "-c", "mkdir -p /testbed/pkg && "
                                  "echo 'print(42)' > /testbed/pkg/main.py"], detach=True)
  builder.wait()
  builder.commit("swejax/test-seeded", "latest")
  builder.remove()
  try:
    with open_sandbox("docker", "swejax/test-seeded:latest", memory="128m") as sandbox:
      assert sandbox.run("python3 pkg/main.py").output == "42\n"
      assert sandbox.run("touch pkg/new.py && echo ok").output == "ok\n"
  finally:
    client.images.remove("swejax/test-seeded:latest", force=True)


def test_network_true_gets_an_interface(client):
  with open_sandbox("docker", network=True, memory="128m") as sandbox:
    interfaces = "awk -F: 'NR > 2 {gsub(/ /, \"\", $1); print $1}' /proc/net/dev"
    assert sandbox.run(interfaces).output.split() not in ([], ["lo"])


def test_bad_input_is_reported_clearly():
  with pytest.raises(SandboxError, match="backend"):
    open_sandbox("podman")
  with pytest.raises(SandboxError, match="not on this engine|is not on"):
    open_sandbox("docker", "swejax/no-such-image:1")
  with pytest.raises(SandboxError, match="workdir"):
    open_sandbox("docker", workdir="relative")
  with pytest.raises(SandboxError, match="memory"):
    open_sandbox("docker", memory="lots")


def test_pool_spreads_over_hosts_and_caps_each(tmp_path):
  alias = tmp_path / "docker.sock"  # a second URL for the same engine
  os.symlink("/var/run/docker.sock", alias)
  with DockerPool([f"unix://{alias}", "unix:///var/run/docker.sock"], per_host=1) as pool:
    first = pool.open(BASE_IMAGE, pool_limits())
    second = pool.open(BASE_IMAGE, pool_limits())
    try:
      assert set(pool.load().values()) == {1}
      with pytest.raises(SandboxError, match="full"):
        pool.open(BASE_IMAGE, pool_limits(), wait_s=0.1)
      assert first.run("echo a").output == second.run("echo b").output.replace("b", "a")
    finally:
      first.close()
      second.close()
    assert set(pool.load().values()) == {0}


def pool_limits() -> Limits:
  return Limits.make(memory="128m")


def test_host_deadline_kills_when_the_container_keeps_running(monkeypatch):
  # Shrink the host's grace so it acts before the in-container `timeout -k` would.
  monkeypatch.setattr(docker_backend, "HOST_GRACE_S", 0.5)
  with open_sandbox("docker", memory="128m") as sandbox:
    result = sandbox.run("trap '' TERM; sleep 30", timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert sandbox.interventions["host_kills"] >= 1
    assert sandbox.run("echo alive").output == "alive\n"


def test_host_deadline_kills_the_container_when_nothing_else_works(monkeypatch):
  monkeypatch.setattr(docker_backend, "HOST_GRACE_S", 0.5)
  monkeypatch.setattr(docker_backend, "_KILL_WAIT_S", 0.5)
  monkeypatch.setattr(docker_backend.DockerSandbox, "_kill_all", lambda self: None)
  with open_sandbox("docker", memory="128m") as sandbox:
    result = sandbox.run("trap '' TERM; sleep 30", timeout=1)
    assert result.timed_out and "sandbox killed" in result.output
    assert sandbox.interventions["container_kills"] == 1
    with pytest.raises(SandboxError, match="was killed"):
      sandbox.run("true")


def test_close_from_another_thread_aborts_a_running_command(client):
  sandbox = open_sandbox("docker", memory="128m", run_id="abort")
  timer = threading.Timer(0.5, sandbox.close)
  timer.start()
  with pytest.raises(SandboxError, match="closed"):
    sandbox.run("sleep 30", timeout=60)
  timer.join()
  assert not client.containers.list(all=True, filters={"label": f"{LABEL_RUN}=abort"})


# -- the session loop (docker_session): one exec for the sandbox's commands and files -----

def _count_execs(monkeypatch, sandbox) -> list[list[str]]:
  made = []
  create = sandbox._api.exec_create

  def counting(container, cmd, **kwargs):
    made.append(cmd)
    return create(container, cmd, **kwargs)

  monkeypatch.setattr(sandbox._api, "exec_create", counting)
  return made


def test_commands_and_small_files_share_one_exec(monkeypatch):
  with open_sandbox("docker", memory="128m") as sandbox:
    made = _count_execs(monkeypatch, sandbox)
    for i in range(10):
      assert sandbox.run(f"echo {i}").output == f"{i}\n"
    data = bytes(range(256)) * 1000  # binary, not valid UTF-8
    sandbox.write_file("bin/data", data, mode=0o640)
    assert sandbox.read_file("bin/data") == data
    assert sandbox.run("stat -c %a bin/data").output == "640\n"
    assert len(made) == 1 and made[0][:2] == ["bash", "-c"]


def test_the_end_marker_cannot_be_forged_and_output_is_exact():
  with open_sandbox("docker", memory="128m") as sandbox:
    # A command printing marker-shaped lines, partial lines and bytes split anywhere.
    forged = "0123456789abcdef0123456789abcdef 0\n"
    result = sandbox.run(f"printf '{forged}'; printf 'no newline at the end'", timeout=10)
    assert result.output == forged + "no newline at the end" and result.exit_code == 0
    big = sandbox.run("head -c 300000 /dev/zero | tr '\\0' x; echo; exit 5", timeout=20)
    assert big.exit_code == 5 and big.truncated and big.output.endswith("x\n")


def test_a_command_that_kills_the_session_is_cleaned_up_and_the_next_opens_one(monkeypatch):
  with open_sandbox("docker", memory="128m") as sandbox:
    sandbox.run("true")
    made = _count_execs(monkeypatch, sandbox)
    # kills the loop only (timeout's parent): the loop's own cleanup never runs
    result = sandbox.run("sleep 1000 & kill -9 $(awk '{print $4}' /proc/$PPID/stat); "
                         "echo after", timeout=10)
    assert result.exit_code == 137 and not result.timed_out
    assert sandbox.interventions["host_kills"] == 1
    listed = ("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <$f; echo; done 2>/dev/null "
              "| grep -c '^sleep 1000' || true")
    assert sandbox.run(listed).output == "0\n"
    assert [cmd[:2] for cmd in made] == [["bash", "-c"], ["bash", "-c"]]  # kill, new session


def test_without_a_working_session_every_call_takes_the_exec_path(monkeypatch):
  monkeypatch.setattr(docker_backend, "SERVER", "exit 7")
  with open_sandbox("docker", memory="128m") as sandbox:
    assert sandbox.run("echo one; exit 4").exit_code == 4
    sandbox.write_file("f.txt", "via the archive call\n")
    assert sandbox.read_file("f.txt") == b"via the archive call\n"
    assert sandbox._shell is None and sandbox._shell_failed


def test_large_files_take_the_archive_path(monkeypatch):
  monkeypatch.setattr(docker_backend, "_SESSION_FILE_MAX", 1000)
  with open_sandbox("docker", memory="128m") as sandbox:
    made = _count_execs(monkeypatch, sandbox)
    data = os.urandom(5000)
    sandbox.write_file("/tmp/big", data)
    assert sandbox.read_file("/tmp/big") == data
    assert made == [["bash", "-c", docker_backend.SERVER]]  # the read's size check only
