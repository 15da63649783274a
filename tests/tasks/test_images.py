"""Task images: build (a real repository, with and without future history), report per
host, build snapshot tasks' images, pull from a registry run on this machine, and
`swejax train` refusing a run whose images are missing."""
import base64
import dataclasses
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
import warnings

import docker
import ml_collections
import pytest

from swejax.cli import main as swejax_main
from swejax.sandbox import BASE_IMAGE, engine, open_sandbox
from swejax.tasks import images, loader, repo
from swejax.tasks.image_build import build_task_image, clone_at

TOOLZ = os.path.join(os.path.dirname(__file__), "..", "data", "toolz", "toolz-1.2.0.tar.gz")
_GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgsign=false"]


@pytest.fixture(scope="module")
def client(docker_engine):
  client = engine.make_client(timeout=600)
  yield client
  client.close()


@pytest.fixture
def tags(client):
  """Image names made by a test; removed afterwards."""
  made: list[str] = []
  yield made
  for tag in made:
    try:
      client.api.remove_image(tag, force=True)
    except docker.errors.APIError:
      pass


def _tag(name: str) -> str:
  return f"swejax-test/{name}:{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def toolz_repo(tmp_path_factory):
  """toolz 1.2.0 as a git repository: base commit, then a later "fix" commit and tag."""
  root = tmp_path_factory.mktemp("toolz")
  with tarfile.open(TOOLZ) as tar:
    tar.extractall(root, filter="data")
  src = str(root / "toolz-1.2.0")
  run = lambda *a: subprocess.run([*_GIT, *a], cwd=src, check=True, capture_output=True,
                                  text=True).stdout.strip()
  run("init", "-q", "-b", "main")
  run("add", "-A")
  run("commit", "-q", "-m", "base")
  base = run("rev-parse", "HEAD")
  with open(os.path.join(src, "toolz", "future_fix.py"), "w") as handle:
    handle.write("FIXED = True\n")
  run("add", "-A")
  run("commit", "-q", "-m", "the future fix")
  run("tag", "v9.9")
  return src, base, run("rev-parse", "HEAD")


def _task(mini_task, **changes):
  return dataclasses.replace(mini_task, **changes)


# -- no engine needed ---------------------------------------------------------------

def test_images_and_fetch_command(mini_task):
  snap = _task(mini_task, instance_id="s", image="me/snap:1")
  plain = _task(mini_task, instance_id="p", image="me/plain:1", repo_snapshot="")
  found = images.task_images([mini_task, snap, plain, _task(snap, instance_id="s2")])
  assert list(found) == [BASE_IMAGE, "me/snap:1", "me/plain:1"]
  assert [t.instance_id for t in found["me/snap:1"]] == ["s", "s2"]
  assert images.fetch_command("t.jsonl", found, ["me/snap:1"]) == (
      "swejax tasks images --tasks t.jsonl --build")
  assert images.fetch_command("t.jsonl", found, ["me/snap:1", "me/plain:1"], ["tcp://h:1"]) == (
      "swejax tasks images --tasks t.jsonl --pull --hosts tcp://h:1")
  # images named as the caller named them (a private mirror), quoted for the shell
  assert images.fetch_command("my tasks.jsonl", found, ["me/plain:1"],
                              row_flags={"image": "", "image-namespace": "reg:5000/ns"}) == (
      "swejax tasks images --tasks 'my tasks.jsonl' --image-namespace reg:5000/ns --pull")


def _sections(backend="local", hosts="", path="t.jsonl", eval_path=""):
  sandbox = ml_collections.ConfigDict(dict(backend=backend, hosts=hosts))
  tasks = ml_collections.ConfigDict(dict(path=path, eval_path=eval_path, image="",
                                         image_namespace="", image_template=""))
  return sandbox, tasks


def test_local_backend_has_no_images_to_check(mini_task):
  missing = _task(mini_task, image="nobody/absent:1")
  images.require_run_images(*_sections("local"), [missing], [])  # no engine asked


def test_an_engine_that_does_not_answer_is_named(mini_task, tmp_path):
  sandbox, tasks = _sections("docker", hosts=f"unix://{tmp_path}/none.sock")
  with pytest.raises(ValueError, match=f"no Docker engine answers at unix://{tmp_path}"):
    images.require_run_images(sandbox, tasks, [mini_task], [])


def test_clone_without_future_has_no_later_object(toolz_repo, tmp_path):
  src, base, tip = toolz_repo
  commit, branch = clone_at(src, str(tmp_path / "clone"), base)
  assert (commit, branch) == (base, "main")
  git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path / "clone", capture_output=True,
                                  text=True)
  assert git("cat-file", "-e", tip).returncode != 0
  assert git("log", "--all", "--format=%H").stdout.split() == [base]
  assert git("status", "--porcelain").stdout == ""
  assert not (tmp_path / "clone" / "toolz" / "future_fix.py").exists()


# -- with the engine -----------------------------------------------------------------

SHOW = ("cd /testbed && git rev-parse HEAD && git status --porcelain | wc -l && "
        "git log --all --format=%H | wc -l && git reflog | wc -l && git tag && "
        "source /opt/miniconda3/bin/activate && conda activate testbed && "
        "command -v python && python -m pytest -q -p no:cacheprovider toolz/tests 2>&1 | tail -1")


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("future", [False, True])
def test_build_task_image_from_a_real_repository(client, tags, toolz_repo, future):
  src, base, tip = toolz_repo
  tag = _tag("toolz")
  tags.append(tag)
  image_id = build_task_image(tag, repo=src, commit=base, future=future, client=client,
                              install="python -c 'import toolz' && echo built > /opt/built")
  assert image_id == client.api.inspect_image(tag)["Id"]
  with open_sandbox("docker", tag, memory="1g", disk="512m") as sb:
    result = sb.run(SHOW + "; cat /opt/built", timeout=120)
  lines = result.output.strip().splitlines()
  assert result.exit_code == 0, result.output
  assert lines[0] == base and lines[1] == "0"  # HEAD at base, clean tree
  assert "187 passed" in lines[-2] and "failed" not in lines[-2], lines[-2]
  assert lines[-1] == "built" and "/opt/miniconda3/envs/testbed/bin/python" in lines
  if future:  # as published images: the tag and the reflog reach the later commit
    assert lines[2] == "2" and "v9.9" in lines and int(lines[3]) >= 2
  else:
    assert lines[2] == "1" and "v9.9" not in lines


@pytest.mark.docker
def test_activation_shim_says_what_it_is(client, tags):
  tag = _tag("shim")
  tags.append(tag)
  build_task_image(tag, client=client)
  with open_sandbox("docker", tag) as sb:
    ok = sb.run("source /opt/miniconda3/bin/activate && conda activate testbed && "
                "python -c 'import sys; print(sys.version_info[0])' && echo $CONDA_DEFAULT_ENV")
    other = sb.run("source /opt/miniconda3/bin/activate && conda activate py39")
    shim = sb.read_file("/opt/miniconda3/bin/activate").decode()
  assert ok.exit_code == 0 and ok.output.split() == ["3", "testbed"]
  assert other.exit_code != 0 and "only testbed" in other.output
  assert "NOT conda" in shim


def _last_json(out: str) -> dict:
  return json.loads(out.strip().splitlines()[-1])


@pytest.mark.docker
@pytest.mark.slow
def test_report_and_build_partly_absent_images(client, tags, mini_task, tmp_path, capsys):
  snap, absent = _tag("snap"), _tag("absent")
  tags.extend([snap, absent])
  tasks = [mini_task, _task(mini_task, instance_id="mini-snap", image=snap),
           _task(mini_task, instance_id="mini-image", image=absent, repo_snapshot="")]
  path = tmp_path / "tasks.jsonl"
  loader.save_tasks(tasks, path)

  assert swejax_main(["tasks", "images", "--tasks", str(path)]) == 1
  out = capsys.readouterr().out.strip().splitlines()
  host, summary = json.loads(out[0]), json.loads(out[-1])
  assert host["host"] == engine.default_host() and host["present"] == [BASE_IMAGE]
  assert sorted(host["missing"]) == sorted([snap, absent])
  assert summary["missing"] == 2 and summary["images"] == 3 and summary["hosts"] == 1
  assert summary["fetch"] == f"swejax tasks images --tasks {path} --pull"

  assert swejax_main(["tasks", "images", "--tasks", str(path), "--build"]) == 1
  host, summary = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
  assert host["built"] == [snap] and host["missing"] == [absent]
  assert "cannot be built here" in host["failed"][absent]
  assert summary["built"] == 1 and summary["missing"] == 1

  # The built image holds the environment only: the row brings its repository.
  with open_sandbox("docker", snap, seed_workspace=False) as sb:
    repo.prepare_repo(sb, tasks[1])
    result = sb.run("source /opt/miniconda3/bin/activate && conda activate testbed && "
                    "python -m pytest -q -p no:cacheprovider tests 2>&1 | tail -1")
  assert result.exit_code == 0 and "2 passed" in result.output


# -- a registry on this machine --------------------------------------------------------

def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def _bcrypt(password: str) -> str | None:
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", DeprecationWarning)
      import crypt  # pylint: disable=import-outside-toplevel,deprecated-module
  except ImportError:  # gone in Python 3.13: the registry then runs without auth
    return None
  return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


@pytest.fixture(scope="module")
def registry(docker_engine, tmp_path_factory):
  """Debian's docker-registry on 127.0.0.1 (htpasswd auth when bcrypt is at hand)."""
  if shutil.which("docker-registry") is None:
    if os.geteuid() != 0:
      pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    engine.apt_install("docker-registry")
  root = tmp_path_factory.mktemp("registry")
  port = _free_port()
  user, password = "swejax", uuid.uuid4().hex
  hashed = _bcrypt(password)
  auth = ""
  if hashed:
    (root / "htpasswd").write_text(f"{user}:{hashed}\n")
    auth = f"auth:\n  htpasswd:\n    realm: swejax-test\n    path: {root / 'htpasswd'}\n"
  (root / "config.yml").write_text(
      f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
      f"    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
      f"http:\n  addr: 127.0.0.1:{port}\n{auth}")
  log = open(root / "log", "wb")
  proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
  deadline = time.monotonic() + 30
  while True:
    try:
      socket.create_connection(("127.0.0.1", port), timeout=1).close()
      break
    except OSError:
      if proc.poll() is not None or time.monotonic() > deadline:
        proc.kill()
        pytest.fail(f"docker-registry did not start: {(root / 'log').read_text()[-1000:]}")
      time.sleep(0.2)
  docker_config = root / "docker-config"
  docker_config.mkdir()
  creds = {"username": user, "password": password} if hashed else None
  if hashed:  # the usual credentials file, as `docker login` writes it
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": token}}}))
  yield {"address": f"127.0.0.1:{port}", "docker_config": str(docker_config), "auth": creds}
  proc.terminate()
  try:
    proc.wait(10)
  except subprocess.TimeoutExpired:
    proc.kill()
  log.close()


def _tiny_image(client, name: str) -> None:
  """A one-file image (no base image: pushing it takes milliseconds)."""
  data = tarfile_bytes({"hello.txt": b"from the registry\n"})
  repository, tag = name.rsplit(":", 1)
  client.api.import_image_from_data(data, repository=repository, tag=tag)


def tarfile_bytes(files: dict[str, bytes]) -> bytes:
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode="w") as tar:
    for name, data in files.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return buffer.getvalue()


@pytest.mark.docker
@pytest.mark.slow
def test_pull_from_a_local_registry(client, tags, registry, mini_task, tmp_path, monkeypatch):
  name = f"{registry['address']}/swejax-test/pulled:{uuid.uuid4().hex[:8]}"
  tags.append(name)
  _tiny_image(client, name)
  repository, tag = name.rsplit(":", 1)
  for event in client.api.push(repository, tag=tag, stream=True, decode=True,
                               auth_config=registry["auth"]):
    assert "error" not in event, event
  client.api.remove_image(name)
  assert not images.has_image(client, name)
  path = tmp_path / "tasks.jsonl"
  loader.save_tasks([_task(mini_task, image=name, repo_snapshot="")], path)
  env = dict(os.environ, DOCKER_CONFIG=registry["docker_config"])
  cmd = [sys.executable, "-m", "swejax", "tasks", "images", "--tasks", str(path)]
  before = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
  assert before.returncode == 1, before.stderr
  assert json.loads(before.stdout.splitlines()[0])["missing"] == [name]
  if registry["auth"]:  # without the credentials file the registry refuses
    bare = dict(env, DOCKER_CONFIG=str(tmp_path))
    refused = subprocess.run(cmd + ["--pull"], capture_output=True, text=True, env=bare,
                             timeout=120)
    assert refused.returncode == 1, refused.stderr
    assert "pulling" in json.loads(refused.stdout.splitlines()[0])["failed"][name]
  pulled = subprocess.run(cmd + ["--pull"], capture_output=True, text=True, env=env, timeout=120)
  assert pulled.returncode == 0, pulled.stderr
  host, summary = (json.loads(line) for line in pulled.stdout.strip().splitlines())
  assert host["pulled"] == [name] and host["present"] == [name] and summary["missing"] == 0
  assert f"pull {name} on {engine.default_host()}: 1/1 layers" in pulled.stderr
  assert pulled.stderr.strip().endswith("done")
  assert images.has_image(client, name)


# -- swejax train ----------------------------------------------------------------------

@pytest.mark.docker
@pytest.mark.slow
def test_train_refuses_before_any_work(docker_engine, small_tasks, tmp_path, run_train,
                                      smoke_flags):
  absent = _tag("never-built")
  tasks = loader.load_tasks(small_tasks)
  tasks[0] = dataclasses.replace(tasks[0], image=absent)
  path = tmp_path / "tasks.jsonl"
  loader.save_tasks(tasks, path)
  workdir = tmp_path / "run"
  done = run_train(smoke_flags(str(path), str(workdir), **{"sandbox.backend": "docker"}),
                   timeout=300)
  assert done.returncode != 0
  assert absent in done.stderr and f"swejax tasks images --tasks {path} --build" in done.stderr
  assert "== stage" not in done.stdout and not (workdir / "trajectories").exists()
