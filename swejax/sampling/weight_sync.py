"""Weight sync from the learner to a vLLM fleet, behind one callable.

`WeightSync` is the seam: `sync(params, version, urls)` leaves every server in `urls`
serving `params` labelled `version`, or raises. The default, `DiskWeightSync`, streams the
parameters in the Hugging Face layout (bfloat16, tensor by tensor, never the whole model on
one host) to a directory the servers can read, then has each server reload it in place. A
GPU cluster swaps in an NCCL broadcast with the same signature. The fleet holds its requests
while a sync runs and verifies every server's version afterwards: a sync may return what
servers reported of their state once the load was done, {url: (version label, paused?)},
and the fleet asks the others.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import requests
from jax.experimental import multihost_utils

from swejax.model.config import ModelConfig
from swejax.sampling.base import SamplerError
from swejax.sampling.hf_export import export_hf_weights

ServerStates = Mapping[str, tuple[str, bool]]  # url -> (weight version label, paused?)
WeightSync = Callable[[Any, int, Sequence[str]], ServerStates | None]


class WeightSyncError(SamplerError):
  """Some servers did not take the new weights; `failed` maps url -> reason."""

  def __init__(self, message: str, failed: dict[str, str]):
    super().__init__(message)
    self.failed = failed


def _post(session: requests.Session, url: str, path: str, timeout: float, **kw) -> Any:
  r = session.post(url + path, timeout=timeout, **kw)
  if r.status_code != 200:
    raise SamplerError(f"{url}{path} returned {r.status_code}: {r.text[:500]}")
  return r.json() if r.content else None


_DEV_MODE_HINT = " (is VLLM_SERVER_DEV_MODE=1 set on the server?)"


def _get(session: Any, url: str, path: str, timeout: float, hint: str = "") -> Any:
  r = session.get(url + path, timeout=timeout)
  if r.status_code != 200:
    raise SamplerError(f"{url}{path} returned {r.status_code}: {r.text[:300]}{hint}")
  return r.json()


RELOAD_METHOD = "reload_weights"  # vLLM's own in-place reload (any server)
SWEJAX_METHOD = "swejax_update_weights"  # swejax's loader; see vllm_server/
SWEJAX_EXTENSION = "swejax_weight_loader.WeightLoaderExtension"
ENDPOINTS = "/swejax/"  # swejax's weight-sync endpoints; see vllm_server/


def server_loader(url: str, *, timeout: float = 60.0,
                  session: requests.Session | None = None) -> str:
  """The worker method that updates this server's weights: SWEJAX_METHOD when it runs
  with swejax's worker extension (launch/vllm_fleet.sh), else vLLM's RELOAD_METHOD."""
  r = (session or requests).get(url + "/server_info", params={"config_format": "json"},
                                timeout=timeout)
  if r.status_code != 200:
    raise SamplerError(f"{url}/server_info returned {r.status_code}: {r.text[:300]} "
                       f"(is VLLM_SERVER_DEV_MODE=1 set on the server?)")
  try:
    config = r.json()["vllm_config"]
    ext = (config.get("parallel_config") or {}).get("worker_extension_cls") or ""
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise SamplerError(f"{url}/server_info has no vllm_config ({e}); start the server "
                       f"with VLLM_SERVER_DEV_MODE=1") from e
  return SWEJAX_METHOD if ext == SWEJAX_EXTENSION else RELOAD_METHOD


def pause_server(url: str, *, timeout: float = 600.0,
                 session: requests.Session | None = None) -> float:
  """Pauses a server, letting its running requests finish; returns the seconds taken."""
  t0 = time.perf_counter()
  # clear_cache=false: the prefix cache is reset after the load (load_and_resume).
  _post(session or requests, url, "/pause", timeout,
        params={"mode": "wait", "clear_cache": "false"})
  return time.perf_counter() - t0


def load_and_resume(url: str, weights_dir: str, version: int, *,
                    method: str = RELOAD_METHOD, timeout: float = 600.0,
                    session: requests.Session | None = None,
                    reset_tries: int = 20) -> dict[str, Any]:
  """A paused server: load the weights in `weights_dir` in place with the worker method
  `method`, reset the prefix cache (cached KV of the old weights gives wrong outputs), set
  the weight version, resume. Returns the seconds of the load call and what the worker
  method reported (swejax's loader reports its own timings)."""
  s = session or requests
  t0 = time.perf_counter()
  out = _post(s, url, "/collective_rpc", timeout,
              json={"method": method, "kwargs": {"weights_path": weights_dir}})
  t1 = time.perf_counter()
  for _ in range(reset_tries):
    if (_post(s, url, "/reset_prefix_cache", timeout) or {}).get("success"):
      break
    time.sleep(0.05)
  else:
    # Stay paused: serving from a stale prefix cache would be silently wrong.
    raise SamplerError(f"{url}: /reset_prefix_cache did not succeed after a weight reload; "
                       f"the server stays paused")
  _post(s, url, "/update_weight_version", timeout, json={"new_version": str(version)})
  _post(s, url, "/resume", timeout)
  return {"rpc_seconds": t1 - t0, "worker": _worker_report(out)}


def reload_server(url: str, weights_dir: str, version: int, *, timeout: float = 600.0,
                  session: requests.Session | None = None, reset_tries: int = 20,
                  method: str = RELOAD_METHOD) -> dict[str, Any]:
  """One server: pause (letting running requests finish), then `load_and_resume`. Needs
  VLLM_SERVER_DEV_MODE=1 on the server (and swejax's worker extension for SWEJAX_METHOD).
  Returns the seconds of the pause and of the load call."""
  if session is None:
    with requests.Session() as s:
      return reload_server(url, weights_dir, version, timeout=timeout, session=s,
                           reset_tries=reset_tries, method=method)
  pause = pause_server(url, timeout=timeout, session=session)
  out = load_and_resume(url, weights_dir, version, method=method, timeout=timeout,
                        session=session, reset_tries=reset_tries)
  return {"pause_seconds": pause, **out}


def server_endpoints(url: str, *, timeout: float = 60.0,
                     session: requests.Session | None = None) -> bool:
  """Whether a server has swejax's weight-sync endpoints (vllm_server/swejax_endpoints.py,
  which launch/vllm_fleet.sh adds): one request to pause, one to load and resume."""
  try:
    r = (session or requests).get(url + ENDPOINTS + "info", timeout=timeout)
    return r.status_code == 200 and bool(r.json().get("endpoints"))
  except (requests.RequestException, ValueError, AttributeError):
    return False


def swejax_load(url: str, weights_dir: str, version: int, *, method: str,
                timeout: float = 600.0, session: requests.Session | None = None
                ) -> dict[str, Any]:
  """`load_and_resume` in one request to swejax's endpoint: pause if not paused, load with
  `method`, reset the prefix cache, set the version, resume; a failure leaves the server
  paused."""
  out = _post(session or requests, url, ENDPOINTS + "load", timeout,
              json={"method": method, "kwargs": {"weights_path": weights_dir},
                    "version": str(version)}) or {}
  done = {"rpc_seconds": float(out.get("rpc_seconds", 0.0)), "worker": _worker_report(out)}
  if "weight_version" in out and "is_paused" in out:  # read from the engine after the load
    done["state"] = (str(out["weight_version"]), bool(out["is_paused"]))
  return done


def _worker_report(out: Any) -> dict[str, Any]:
  """What the (first) worker's load method returned, if a report (swejax's loader's)."""
  first = ((out or {}).get("results") or [None])[0]
  return first if isinstance(first, dict) else {}


def server_version(url: str, *, timeout: float = 10.0,
                   session: requests.Session | None = None) -> str:
  """The weight version label a server reports ("default" before any is set)."""
  out = _get(session or requests, url, "/weight_info", timeout, _DEV_MODE_HINT)
  return str(out["weight_version"])


def server_state(url: str, *, endpoints: bool, timeout: float = 10.0,
                 session: requests.Session | None = None) -> tuple[str, bool]:
  """(weight version label, paused?) of a server: one request to swejax's endpoints
  (`endpoints`), else /weight_info and /is_paused."""
  s = session or requests
  if endpoints:
    out = _get(s, url, ENDPOINTS + "state", timeout)
    return str(out["weight_version"]), bool(out["is_paused"])
  label = server_version(url, timeout=timeout, session=s)
  return label, bool(_get(s, url, "/is_paused", timeout).get("is_paused", True))


@dataclasses.dataclass
class DiskWeightSync:
  """Export to `staging_dir/v<version>` (visible to every server at the same path), then
  have every server load it in place, in parallel. Keeps only the newest export.

  Each server is asked once what it has (again after a failed load): swejax's worker
  extension (`vllm_server/swejax_weight_loader.py`), which copies the staged tensors into
  the live parameters, or else vLLM's `reload_weights` (then the export also names a tied
  head, which vLLM needs); and swejax's endpoints (`vllm_server/swejax_endpoints.py`),
  which take a sync in two requests instead of five, and whose load answers with the
  state the server reports once resumed (returned, for the fleet's verification). The
  servers are paused while the export runs. Each export overwrites the file of the one
  before (`recycle`). A staging directory on a memory file system (/dev/shm) spares the
  disk.

  A learner over several processes calls it on every process: each writes the rows of
  the export it holds (`staging_dir` must be the same storage for all, and for the
  servers), process 0 drives the servers, and all return together."""
  cfg: ModelConfig
  staging_dir: str
  dtype: str = "bfloat16"
  timeout: float = 600.0
  use_extension: bool = True  # False: always vLLM's reload_weights
  # Keep the exported blocks between syncs and compute each export over the last one's
  # memory (hf_export's `buffers`): None = when the parameters live in host memory (CPU
  # devices), where new memory costs a page fault per 4 KiB; on accelerators it would hold
  # a copy of the weights in device memory.
  reuse_buffers: bool | None = None
  last_stats: dict[str, float] = dataclasses.field(default_factory=dict)
  _kinds: dict[str, tuple[str, bool]] = dataclasses.field(default_factory=dict, init=False,
                                                          repr=False)
  _sessions: dict[str, requests.Session] = dataclasses.field(default_factory=dict, init=False,
                                                             repr=False)
  _last_export: str | None = dataclasses.field(default=None, init=False, repr=False)
  _buffers: dict = dataclasses.field(default_factory=dict, init=False, repr=False)

  def _session(self, url: str) -> requests.Session:
    if url not in self._sessions:  # one thread per url at a time uses it
      self._sessions[url] = requests.Session()
    return self._sessions[url]

  def _kind(self, url: str) -> tuple[str, bool]:
    """(worker method, swejax endpoints?) of a server; asked once, forgotten when a load
    fails (a restarted server?)."""
    if url not in self._kinds:
      s = self._session(url)
      method = server_loader(url, timeout=self.timeout, session=s) if self.use_extension \
          else RELOAD_METHOD
      self._kinds[url] = (method, server_endpoints(url, timeout=self.timeout, session=s))
    return self._kinds[url]

  def _pause(self, url: str) -> tuple[str, bool]:
    method, endpoints = kind = self._kind(url)
    if endpoints:
      _post(self._session(url), url, ENDPOINTS + "pause", self.timeout, json={})
    else:
      pause_server(url, timeout=self.timeout, session=self._session(url))
    return kind

  def _load(self, url: str, path: str, version: int, kind: tuple[str, bool]) -> dict:
    method, endpoints = kind
    load = swejax_load if endpoints else load_and_resume
    return load(url, path, version, method=method, timeout=self.timeout,
                session=self._session(url))

  def _export(self, params: Any, path: str, head: bool) -> int:
    recycle, self._last_export = self._last_export, path
    reuse = self.reuse_buffers
    if reuse is None:
      reuse = all(d.platform == "cpu" for x in jax.tree.leaves(params)
                  if isinstance(x, jax.Array) for d in x.sharding.device_set)
    if not reuse:
      self._buffers.clear()
    return export_hf_weights(params, self.cfg, path, dtype=self.dtype, tied_head=head,
                             recycle=recycle,  # gone or another size: a new file
                             buffers=self._buffers if reuse else None)

  def __call__(self, params: Any, version: int, urls: Sequence[str]) -> ServerStates:
    if jax.process_count() == 1:
      return self._sync(params, version, urls)
    # A multi-host learner: every process writes its rows of the export; process 0 also
    # drives the servers, and the others wait until it is done.
    try:
      if jax.process_index() == 0:
        return self._sync(params, version, urls)
      self._export(params, self._path(version), True)
      return {}
    finally:
      multihost_utils.sync_global_devices(f"swejax weight sync to version {version}")

  def _path(self, version: int) -> str:
    return os.path.join(os.path.abspath(self.staging_dir), f"v{int(version):08d}")

  def _sync(self, params: Any, version: int, urls: Sequence[str]) -> ServerStates:
    os.makedirs(self.staging_dir, exist_ok=True)
    path = self._path(version)
    failed: dict[str, str] = {}
    t0 = time.perf_counter()
    # Ask and pause every server while the export runs; a tied head is written when a
    # server may need it (what the servers have is known from the last sync; a new
    # server: assume so; always with several processes, which must agree on the file
    # without asking).
    head = jax.process_count() > 1 or not all(
        self._kinds.get(u, ("",))[0] == SWEJAX_METHOD for u in urls)
    with concurrent.futures.ThreadPoolExecutor(max(1, len(urls))) as pool:
      prepared = {u: pool.submit(self._pause, u) for u in urls}
      try:
        nbytes = self._export(params, path, head)
      except BaseException:
        for u, f in prepared.items():  # leave no server paused by a failed export
          if f.exception() is None:
            try:
              _post(self._session(u), u, "/resume", self.timeout)
            except (SamplerError, requests.RequestException):
              pass
        raise
      t1 = time.perf_counter()
      kinds = {}
      for u, f in prepared.items():
        if f.exception() is not None:
          failed[u] = str(f.exception())
        else:
          kinds[u] = f.result()
      if not head and any(m != SWEJAX_METHOD for m, _ in kinds.values()):
        nbytes = self._export(params, path, True)  # a server changed loader: rare
      t2 = time.perf_counter()
      loads = {u: pool.submit(self._load, u, path, version, k) for u, k in kinds.items()}
      results, states = [], {}
      for u, f in loads.items():
        if f.exception() is not None:
          failed[u] = str(f.exception())
          self._kinds.pop(u, None)
        else:
          results.append(f.result())
          if "state" in results[-1]:
            states[u] = results[-1]["state"]
    t3 = time.perf_counter()
    worker = [r["worker"] for r in results if r["worker"]]
    self.last_stats = {
        "export_seconds": t1 - t0, "reload_seconds": t3 - t2,
        "rpc_seconds": max([r["rpc_seconds"] for r in results], default=0.0),
        "bytes": float(nbytes),
        "swejax_endpoints": float(sum(e for _, e in kinds.values())),  # servers that used them
        **{f"worker_{k}": max(w.get(k, 0.0) for w in worker)
           for k in ("copy_seconds", "pack_seconds") if worker}}
    for name in os.listdir(self.staging_dir):
      old = os.path.join(self.staging_dir, name)
      if name.startswith("v") and name != os.path.basename(path) and os.path.isdir(old):
        shutil.rmtree(old, ignore_errors=True)
    if failed:
      raise WeightSyncError(f"weight sync to version {version} failed on "
                            f"{len(failed)}/{len(urls)} servers: {failed}", failed)
    return states
