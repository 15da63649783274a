"""The in-process JAX sampler: one engine thread, a KV cache of fixed slots, jitted steps.

Requests come from many threads (`submit` -> Future[Result]); the engine thread owns the
cache and the parameters and loops: take new messages, admit waiting requests into free
slots (prefill of the prompt part not already cached), one decode step for every slot.

Choices worth knowing:
- A slot keeps its K/V after its request ends; `slots.choose` gives a request its
  session's slot, or the one sharing the longest prefix, or an empty one, or evicts the
  least recently used. Only the prompt tokens after the common prefix are computed.
  There are as many cached sessions as slots.
- Shapes are static: prefill chunks are padded to `prefill_buckets` (longer suffixes go
  in several chunks) and attend over 512-position key blocks up to their last position;
  a decode step runs the busy slots only, padded to `decode_buckets` rows (powers of two,
  then every slot), and reads 128-position key blocks up to the furthest active position
  (a dynamic count, so one compilation serves every length; a block stays in the CPU's
  cache between its two uses). A new request length or a new number of busy slots never
  compiles anything once `warmup()` has run.
- `update_weights` waits until the requests in flight finish (new ones queue meanwhile),
  then swaps the pytree and drops every cached K/V: every token of a Result comes from
  the version it reports.
- `max_len` bounds prompt + generated tokens of one request; reaching it ends the request
  with finish_reason "length".
"""
from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Sequence

import jax
import numpy as np

from swejax.model.config import ModelConfig
from swejax.sampling import kv_model, slots
from swejax.sampling.base import Request, Result, SamplerError, SamplingParams

_KV_BLOCK = 512  # key block of the prefill attention
_DECODE_BLOCK = 128  # key block of the decode step (a divisor of _KV_BLOCK)
# Jitted once per process: samplers of the same model and shapes share the compilations.
_prefill = jax.jit(kv_model.prefill, static_argnames=("cfg", "block"),
                   donate_argnames=("cache",))
_decode = jax.jit(kv_model.decode, static_argnames=("cfg", "block", "truncate"),
                  donate_argnames=("cache",))
# A jit output like every later cache, so the first step adds no dispatch-cache entry.
_init_cache = jax.jit(kv_model.init_cache, static_argnums=(0, 1, 2))


@dataclasses.dataclass
class _Job:
  request: Request
  prompt: tuple[int, ...]
  future: Future
  submitted: float
  version: int = 0
  tokens: list[int] = dataclasses.field(default_factory=list)
  logprobs: list[float] = dataclasses.field(default_factory=list)
  next_token: int = 0  # fed to the next decode step ...
  position: int = 0  # ... at this position
  info: dict[str, Any] = dataclasses.field(default_factory=dict)


def _powers_of_two(lo: int, hi: int) -> tuple[int, ...]:
  """lo, 2 lo, 4 lo, ... below hi, then hi."""
  return tuple(lo << i for i in range(64) if lo << i < hi) + (hi,)


def _truncating(p: SamplingParams) -> bool:
  return p.top_k is not None or p.top_p is not None or p.min_p is not None


class JaxSampler:
  """Continuous-batching sampler over swejax.model parameters (the Sampler protocol).

  Result.info: slot, prompt_tokens, cached_tokens (K/V reused), prefill_tokens (prompt
  tokens computed), prefill_seconds, queue_seconds, and admitted_step / finished_step on
  the engine's decode-step counter. `stats()` has the engine's totals.
  """

  def __init__(self, cfg: ModelConfig, params: Any, *, max_slots: int = 8,
               max_len: int | None = None, prefill_buckets: Sequence[int] | None = None,
               version: int = 0):
    max_len = cfg.max_position_embeddings if max_len is None else int(max_len)
    if max_slots < 1:
      raise ValueError(f"JaxSampler: max_slots must be >= 1, got {max_slots}")
    if max_len < 2:
      raise ValueError(f"JaxSampler: max_len must be >= 2, got {max_len}")
    if prefill_buckets is None:
      prefill_buckets = _powers_of_two(min(16, max_len), min(512, max_len))
    buckets = tuple(int(b) for b in prefill_buckets)
    if not buckets or any(b < 1 for b in buckets) or list(buckets) != sorted(set(buckets)):
      raise ValueError(f"JaxSampler: prefill_buckets must be increasing positive sizes, got "
                       f"{tuple(prefill_buckets)}")
    self.cfg, self.max_slots, self.max_len = cfg, max_slots, max_len
    self.prefill_buckets = buckets
    # Decode batch sizes: powers of two below max_slots, then max_slots (every slot).
    self.decode_buckets = _powers_of_two(1, max_slots)
    self._params, self._version = params, int(version)
    block = min(_KV_BLOCK, 1 << (max_len - 1).bit_length())
    self._prefill = functools.partial(_prefill, cfg=cfg, block=block)
    self._decode = functools.partial(_decode, cfg=cfg, block=min(_DECODE_BLOCK, block))
    self._cache = _init_cache(cfg, max_slots, -(-max_len // block) * block)
    self._slots = [slots.Slot() for _ in range(max_slots)]
    self._sampling = kv_model.sampling_arrays(max_slots)
    self._waiting: list[_Job] = []
    self._pending_weights: list[tuple] = []
    self._tick = 0
    self._stats = {"decode_steps": 0, "decode_tokens": 0, "decode_rows": 0, "decode_seconds": 0.0,
                   "prefill_calls": 0, "prefill_tokens": 0, "prefill_seconds": 0.0}
    self._lock = threading.Lock()
    self._error: SamplerError | None = None
    self._inbox: queue.Queue = queue.Queue()
    self._thread = threading.Thread(target=self._run, name="swejax-jax-sampler", daemon=True)
    self._thread.start()

  # ------------------------------------------------------------------ public, any thread
  @property
  def version(self) -> int:
    return self._version

  def submit(self, request: Request) -> Future:
    """Future[Result]; bad requests raise ValueError here, engine failures reach the future."""
    job = _Job(request, self._validate(request), Future(), time.perf_counter())
    with self._lock:
      if self._error is None:
        self._inbox.put(("request", job))
        return job.future
      error = self._error
    job.future.set_exception(error)
    return job.future

  def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
               temperature: float = 1.0, seed: int = 0, stop_token_ids: Sequence[int] = (),
               params: SamplingParams | None = None,
               sessions: Sequence[str | None] | None = None) -> list[Result]:
    """One Result per prompt, in order. Prompt i uses seed `seed + i`.

    `temperature` other than 1 (0 is greedy) selects evaluation mode; pass `params` for
    anything else (then leave `temperature` at 1).
    """
    if params is None:
      params = SamplingParams(temperature=temperature,
                              mode="train" if temperature == 1.0 else "eval")
    elif temperature != 1.0:
      raise ValueError("generate: give the temperature either as `temperature` or inside "
                       "`params`, not both")
    if sessions is not None and len(sessions) != len(prompts):
      raise ValueError(f"generate: {len(sessions)} sessions for {len(prompts)} prompts")
    requests = [Request(tuple(p), max_new_tokens, params, seed + i, tuple(stop_token_ids),
                        None if sessions is None else sessions[i]) for i, p in enumerate(prompts)]
    for i, r in enumerate(requests):
      try:
        self._validate(r)
      except ValueError as e:
        raise ValueError(f"generate: prompt {i}: {e}") from None
    futures = [self.submit(r) for r in requests]
    return [f.result() for f in futures]

  def update_weights(self, params: Any, version: int) -> None:
    """Swaps the parameters once the requests in flight finish; returns when swapped."""
    def sig(tree):
      return jax.tree.structure(tree), [(x.shape, x.dtype) for x in jax.tree.leaves(tree)]

    if sig(params) != sig(self._params):
      raise ValueError("update_weights: the new parameters differ in structure, shape or dtype "
                       "from the sampler's; a weight update must be the same model")
    self._call_engine("weights", (params, int(version)))

  def warmup(self, truncation: bool = False) -> None:
    """Compiles every prefill bucket and the decode step (and the eval-only truncating
    variants if asked) so that later requests never compile."""
    self._call_engine("warmup", truncation)

  def stats(self) -> dict[str, float]:
    """Counters since start: decode steps/tokens/batch rows/seconds, prefill
    calls/tokens/seconds."""
    with self._lock:
      out = dict(self._stats)
    out["jit_cache_entries"] = _prefill._cache_size() + _decode._cache_size()  # all samplers
    return out

  def close(self) -> None:
    """Stops the engine; requests still waiting or in flight fail with SamplerError."""
    with self._lock:
      if self._error is None:
        self._inbox.put(("close", None))
    if threading.current_thread() is not self._thread:  # e.g. from a future's callback
      self._thread.join()

  def __enter__(self) -> "JaxSampler":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  # ------------------------------------------------------------------ helpers
  def _validate(self, r: Request) -> tuple[int, ...]:
    if not isinstance(r, Request):
      raise ValueError(f"submit expects a Request, got {type(r).__name__}")
    prompt = np.asarray(r.prompt)
    if prompt.ndim != 1 or not prompt.size or not np.issubdtype(prompt.dtype, np.integer):
      raise ValueError("Request.prompt must be a non-empty sequence of token ids")
    bad = np.flatnonzero((prompt < 0) | (prompt >= self.cfg.vocab_size))
    if bad.size:
      raise ValueError(f"Request.prompt[{bad[0]}] = {prompt[bad[0]]} is not a token id of this "
                       f"model (vocab_size {self.cfg.vocab_size})")
    if len(prompt) > self.max_len:
      raise ValueError(f"Request.prompt has {len(prompt)} tokens, more than the sampler's "
                       f"max_len {self.max_len}")
    if r.max_new_tokens < 1:
      raise ValueError(f"Request.max_new_tokens must be >= 1, got {r.max_new_tokens}")
    if not 0 <= r.seed < 2**32:
      raise ValueError(f"Request.seed must be in [0, 2**32), got {r.seed}")
    p = r.params
    if p.repetition_penalty is not None:
      raise ValueError("SamplingParams.repetition_penalty is not supported by the JAX sampler")
    if p.temperature < 0 or (p.top_k is not None and p.top_k < 1) or (
        p.top_p is not None and not 0 < p.top_p <= 1) or (
        p.min_p is not None and not 0 <= p.min_p <= 1):
      raise ValueError(f"SamplingParams out of range: {p}")
    return tuple(int(t) for t in prompt)

  def _call_engine(self, kind: str, payload: Any) -> None:
    done, box = threading.Event(), {}
    with self._lock:
      if self._error is not None:
        raise self._error
      self._inbox.put((kind, (payload, done, box)))
    while not done.wait(0.1):
      if not self._thread.is_alive():
        break
    if "error" in box or not done.is_set():
      raise box.get("error") or self._error or SamplerError("JAX sampler engine stopped")

  # ------------------------------------------------------------------ engine thread
  def _run(self) -> None:
    try:
      while True:
        idle = not self._active() and not self._waiting and not self._pending_weights
        if not self._drain(block=idle):
          self._shutdown(SamplerError("JAX sampler closed"))
          return
        if self._pending_weights and not self._active():
          self._swap_weights()
        if not self._pending_weights:
          self._admit()
        if self._active():
          self._step()
    except BaseException as e:  # noqa: BLE001  every caller must hear about it
      err = SamplerError(f"JAX sampler engine failed: {type(e).__name__}: {e}")
      err.__cause__ = e
      self._shutdown(err)

  def _drain(self, block: bool) -> bool:
    """Moves inbox messages to the engine's state; False on close."""
    while True:
      try:
        kind, payload = self._inbox.get(block=block)
      except queue.Empty:
        return True
      block = False
      if kind == "close":
        return False
      if kind == "request":
        self._waiting.append(payload)
      elif kind == "weights":
        self._pending_weights.append(payload)
      elif kind == "warmup":
        truncation, done, _ = payload
        self._warmup(truncation)
        done.set()

  def _shutdown(self, error: SamplerError) -> None:
    with self._lock:
      self._error = error
      jobs = [s.job for s in self._slots if s.job] + self._waiting
      waiters = list(self._pending_weights)
      while True:
        try:
          kind, payload = self._inbox.get_nowait()
        except queue.Empty:
          break
        if kind == "request":
          jobs.append(payload)
        elif kind in ("weights", "warmup"):
          waiters.append(payload)
    for job in jobs:
      if not job.future.done():
        job.future.set_exception(error)
    for _, done, box in waiters:
      box["error"] = error
      done.set()

  def _active(self) -> list[int]:
    return [i for i, s in enumerate(self._slots) if s.job is not None]

  def _swap_weights(self) -> None:
    for (params, version), done, _ in self._pending_weights:
      self._params, self._version = params, version
      done.set()
    self._pending_weights = []
    for s in self._slots:  # K/V computed with the old weights
      s.cached, s.session = [], None

  def _admit(self) -> None:
    while self._waiting:
      head = self._waiting[0]
      slot = slots.choose(self._slots, head.prompt, head.request.session)
      if slot is None:
        return
      job = self._waiting.pop(0)
      if not job.future.set_running_or_notify_cancel():
        continue  # cancelled by its caller while waiting
      if any(getattr(x, "is_deleted", lambda: False)() for x in jax.tree.leaves(self._params)):
        job.future.set_exception(SamplerError(
            "the sampler's parameters were deleted (donated to a learner step?); call "
            "update_weights with the current ones"))
        continue
      self._start(slot, job)

  def _start(self, slot: int, job: _Job) -> None:
    s, n = self._slots[slot], len(job.prompt)
    reuse = min(slots.common_prefix(s.cached, job.prompt), n - 1)
    if s.session != job.request.session:  # a session's slot is its own from now on
      s.session = job.request.session
    job.version = self._version
    job.info.update(slot=slot, prompt_tokens=n, cached_tokens=reuse, prefill_tokens=n - reuse,
                    queue_seconds=time.perf_counter() - job.submitted,
                    admitted_step=self._stats["decode_steps"])
    if n >= self.max_len:  # no room for a single new token
      job.info["prefill_seconds"] = 0.0
      self._finish(slot, job, "length")
      return
    t0 = time.perf_counter()
    s.cached = list(job.prompt[:reuse])
    self._prefill_tokens(slot, job.prompt[reuse:n - 1], start=reuse)
    s.cached = list(job.prompt[:n - 1])
    job.info["prefill_seconds"] = time.perf_counter() - t0
    p = job.request.params
    sm = self._sampling
    sm["seed"][slot] = job.request.seed
    sm["temperature"][slot] = p.temperature
    sm["top_k"][slot] = p.top_k or 0
    sm["top_p"][slot] = 1.0 if p.top_p is None else p.top_p
    sm["min_p"][slot] = p.min_p or 0.0
    job.next_token, job.position = job.prompt[-1], n - 1
    s.job = job

  def _prefill_tokens(self, slot: int, tokens: Sequence[int], start: int) -> None:
    """Writes the K/V of `tokens` at positions start... in chunks of the largest bucket."""
    if not tokens:
      return
    t0, big = time.perf_counter(), self.prefill_buckets[-1]
    for c in range(0, len(tokens), big):
      chunk = tokens[c:c + big]
      bucket = next(b for b in self.prefill_buckets if b >= len(chunk))
      padded = np.zeros(bucket, np.int32)
      padded[:len(chunk)] = chunk
      self._cache = self._prefill(self._params, cache=self._cache, slot=np.int32(slot),
                                  tokens_t=padded, start=np.int32(start + c),
                                  length=np.int32(len(chunk)))
    jax.block_until_ready(self._cache)
    with self._lock:
      self._stats["prefill_calls"] += -(-len(tokens) // big)
      self._stats["prefill_tokens"] += len(tokens)
      self._stats["prefill_seconds"] += time.perf_counter() - t0

  def _step(self) -> None:
    t0 = time.perf_counter()
    active = self._active()
    # The batch: the busy slots only, padded to a bucket size with idle rows (they read
    # slot 0 and write nothing).
    n = next(b for b in self.decode_buckets if b >= len(active))
    rows = np.zeros(n, np.int32)
    rows[:len(active)] = active
    tokens = np.zeros(n, np.int32)
    positions = np.zeros(n, np.int32)
    on = np.zeros(n, bool)
    truncate = False
    for r, i in enumerate(active):
      job = self._slots[i].job
      tokens[r], positions[r], on[r] = job.next_token, job.position, True
      self._sampling["step"][i] = len(job.tokens)
      truncate |= _truncating(job.request.params)
    sampling = {k: v[rows] for k, v in self._sampling.items()}
    self._cache, ids, lps = self._decode(self._params, cache=self._cache, tokens_s=tokens,
                                         positions_s=positions, active_s=on,
                                         sampling=sampling, truncate=truncate, slots_s=rows)
    ids, lps = np.asarray(ids), np.asarray(lps)
    with self._lock:
      self._stats["decode_steps"] += 1
      self._stats["decode_tokens"] += len(active)
      self._stats["decode_rows"] += n
      self._stats["decode_seconds"] += time.perf_counter() - t0
    self._tick += 1
    for r, i in enumerate(active):
      s, job = self._slots[i], self._slots[i].job
      s.cached.append(job.next_token)
      tok = int(ids[r])
      job.tokens.append(tok)
      job.logprobs.append(float(lps[r]))
      job.next_token, job.position = tok, job.position + 1
      if tok in job.request.stop_token_ids:
        self._finish(i, job, "stop")
      elif len(job.tokens) >= job.request.max_new_tokens or job.position + 1 >= self.max_len:
        self._finish(i, job, "length")

  def _finish(self, slot: int, job: _Job, reason: str) -> None:
    s = self._slots[slot]
    s.job, s.last_used = None, self._tick
    job.info["finished_step"] = self._stats["decode_steps"]
    job.future.set_result(Result(tuple(job.tokens), tuple(job.logprobs), reason, job.version,
                                 dict(job.info)))

  def _warmup(self, truncation: bool) -> None:
    """Runs every shape once; nothing is written (length 0, no active slot)."""
    for b in self.prefill_buckets:
      self._cache = self._prefill(self._params, cache=self._cache, slot=np.int32(0),
                                  tokens_t=np.zeros(b, np.int32), start=np.int32(0),
                                  length=np.int32(0))
    for n in self.decode_buckets:
      zeros = np.zeros(n, np.int32)
      sampling = {k: v[:n].copy() for k, v in self._sampling.items()}
      for truncate in (False, True) if truncation else (False,):
        self._cache, ids, _ = self._decode(
            self._params, cache=self._cache, tokens_s=zeros, positions_s=zeros,
            active_s=np.zeros(n, bool), sampling=sampling, truncate=truncate, slots_s=zeros)
    jax.block_until_ready(self._cache)
