"""The vLLM OpenAI-compatible server's wire format, as pure functions.

Request bodies always carry every sampling field explicitly, so that no server-side default
(vLLM fills unset fields from the checkpoint's generation_config.json) can reshape the
distribution. Responses are parsed token-in-token-out. The start-up checks read a server's
configuration and one probe completion and name every setting that would bias training.
Routing, retries and health live in `vllm_fleet`.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Mapping, NamedTuple, Sequence

import requests

from swejax.sampling.base import Request, SamplerError

# Values that leave the model's distribution untouched; top_k 0 means "off" in vLLM.
NEUTRAL: Mapping[str, float] = {
    "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0,
    "presence_penalty": 0.0, "frequency_penalty": 0.0,
}
# The generation_config.json keys that vLLM turns into request defaults.
_DEFAULT_KEYS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                 "presence_penalty", "frequency_penalty")
_LOGPROB_MODES = ("raw_logprobs", "processed_logprobs")
_TOKEN_PREFIX = "token_id:"


class RetryableError(SamplerError):
  """A failure worth re-sending elsewhere: disconnect, timeout, 5xx, aborted request.
  `server_down` when the server did not answer at all (not used until /health says so)."""

  def __init__(self, message: str, server_down: bool = False):
    super().__init__(message)
    self.server_down = server_down


def completion_body(request: Request, *, model: str, max_tokens: int,
                    eos_token_ids: Sequence[int] = (), seeded: bool = True) -> dict[str, Any]:
  """The /v1/completions body of one request.

  Stopping is entirely ours: `ignore_eos` keeps the server from adding the checkpoint's
  eos ids; the request's stop ids and the fleet's eos ids are sent instead. Without
  `seeded` the server draws from its own generator (the seed is not sent).
  """
  p = request.params
  sampling = dict(NEUTRAL)
  if p.mode == "eval":
    sampling.update(temperature=float(p.temperature),
                    top_k=0 if p.top_k is None else int(p.top_k),
                    top_p=1.0 if p.top_p is None else float(p.top_p),
                    min_p=0.0 if p.min_p is None else float(p.min_p),
                    repetition_penalty=(1.0 if p.repetition_penalty is None
                                        else float(p.repetition_penalty)))
  stops = list(dict.fromkeys(int(t) for t in (*request.stop_token_ids, *eos_token_ids)))
  body: dict[str, Any] = {
      "model": model, "prompt": [int(t) for t in request.prompt], "max_tokens": int(max_tokens),
      **sampling, "seed": int(request.seed) if seeded else None, "n": 1, "min_tokens": 0,
      "stop": [], "stop_token_ids": stops, "ignore_eos": True, "logit_bias": None,
      "bad_words": [], "allowed_token_ids": None, "add_special_tokens": False,
      "logprobs": 0, "return_tokens_as_token_ids": True, "return_token_ids": True,
      "skip_special_tokens": False, "echo": False, "stream": False,
  }
  if request.session is not None:
    body["session_id"] = str(request.session)
  return body


def parse_token(s: Any, source: str) -> int:
  if not isinstance(s, str) or not s.startswith(_TOKEN_PREFIX):
    raise SamplerError(f"{source}: token {s!r} is not of the form 'token_id:N'; "
                       f"return_tokens_as_token_ids was ignored")
  try:
    return int(s[len(_TOKEN_PREFIX):])
  except ValueError:
    raise SamplerError(f"{source}: token {s!r} is not of the form 'token_id:N'") from None


def parse_completion(body: Any, source: str) -> tuple[tuple[int, ...], tuple[float, ...], str]:
  """(token ids, their log-probabilities, finish reason) from a /v1/completions response."""
  try:
    choice = body["choices"][0]
    lp = choice["logprobs"]
    strings, values = lp["tokens"], lp["token_logprobs"]
    reason = choice["finish_reason"]
  except (KeyError, IndexError, TypeError):
    raise SamplerError(f"{source}: malformed completion response (no choices[0].logprobs): "
                       f"{str(body)[:500]}") from None
  if reason == "abort":
    raise RetryableError(f"{source}: the server aborted the request")
  if reason not in ("stop", "length"):
    raise SamplerError(f"{source}: unexpected finish_reason {reason!r}")
  tokens = tuple(parse_token(s, source) for s in strings)
  ids = choice.get("token_ids")
  if ids is not None and tuple(ids) != tokens:
    raise SamplerError(f"{source}: token_ids {ids} disagree with the logprob tokens {tokens}")
  if len(values) != len(tokens):
    raise SamplerError(f"{source}: {len(tokens)} tokens but {len(values)} log-probabilities")
  logprobs = []
  for i, v in enumerate(values):
    if v is None or not math.isfinite(v) or v > 1e-3:
      raise SamplerError(f"{source}: log-probability {v!r} of token {i} is not a finite "
                         f"log-probability (is the server's logprobs_mode a logits mode?)")
    logprobs.append(float(v))
  return tokens, tuple(logprobs), reason


# ----------------------------------------------------------------------------- start-up checks


def generation_config_path(model_config: Mapping[str, Any]) -> str | None:
  """Where the server reads its sampling defaults from; None when it reads none."""
  src = model_config.get("generation_config", "auto")
  if src == "vllm":
    return None
  base = model_config.get("model") if src == "auto" else src
  return f"{base}/generation_config.json"


def server_defaults(model_config: Mapping[str, Any],
                    generation_config: Mapping[str, Any] | None) -> dict[str, Any]:
  """The sampling defaults a server applies to fields a request leaves unset (vLLM's
  ModelConfig.get_diff_sampling_param: the generation config, then the overrides)."""
  config = {} if model_config.get("generation_config", "auto") == "vllm" else dict(
      generation_config or {})
  config.update(model_config.get("override_generation_config") or {})
  return {k: config[k] for k in _DEFAULT_KEYS if config.get(k) is not None}


def reshaping_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
  """The defaults that would change the model's distribution if they were ever applied."""
  bad = {}
  for k, v in defaults.items():
    neutral = (v in (0, -1)) if k == "top_k" else (float(v) == float(NEUTRAL[k]))
    if not neutral:
      bad[k] = v
  return bad


def check_server_config(source: str, model_config: Mapping[str, Any],
                        generation_config: Mapping[str, Any] | None,
                        generation_config_readable: bool) -> list[str]:
  """Problems with a server's sampling configuration, for training-mode sampling."""
  problems = []
  mode = model_config.get("logprobs_mode", "raw_logprobs")
  if mode not in _LOGPROB_MODES:
    problems.append(f"{source}: logprobs_mode={mode!r} returns logits, not log-probabilities")
  path = generation_config_path(model_config)
  if path is not None and not generation_config_readable:
    problems.append(
        f"{source}: the server takes sampling defaults from {path}, which cannot be read "
        f"here to verify them; start it with --generation-config vllm")
  bad = reshaping_defaults(server_defaults(model_config, generation_config))
  if bad:
    problems.append(f"{source}: server-side sampling defaults {bad} would truncate or reshape "
                    f"the distribution (generation_config={model_config.get('generation_config')!r}"
                    f", override_generation_config="
                    f"{model_config.get('override_generation_config')}); start it with "
                    f"--generation-config vllm and no override")
  return problems


def check_probe(body: Any, source: str) -> list[str]:
  """Problems visible in a training-mode probe completion requested with top log-probs.

  Real log-probabilities over the whole vocabulary are <= 0, sum to at most 1 over any
  subset, and never -inf for a top candidate unless something masked the distribution.
  """
  tokens, logprobs, _ = parse_completion(body, source)
  problems = []
  try:
    tops = body["choices"][0]["logprobs"]["top_logprobs"]
  except (KeyError, IndexError, TypeError):
    return [f"{source}: the probe returned no top_logprobs"]
  for i, (tok, lp, top) in enumerate(zip(tokens, logprobs, tops or [])):
    if not top:
      problems.append(f"{source}: probe token {i} has no top_logprobs")
      continue
    values = [float(v) for v in top.values()]
    if any(not math.isfinite(v) for v in values):
      problems.append(f"{source}: probe step {i} has -inf among its top log-probabilities: "
                      f"a server-side processor truncates the distribution")
      continue
    mass = sum(math.exp(v) for v in values)
    if mass > 1.0 + 1e-3:
      problems.append(f"{source}: probe step {i} top log-probabilities sum to probability "
                      f"{mass:.4f} > 1: they are not normalized log-probabilities")
    own = top.get(f"{_TOKEN_PREFIX}{tok}")
    if own is not None and abs(float(own) - lp) > 1e-4:
      problems.append(f"{source}: probe step {i}: sampled token's log-probability {lp} differs "
                      f"from its top_logprobs entry {own}")
  return problems


def alive(http: requests.Session, url: str, timeout: float = 5.0) -> bool:
  try:
    return http.get(url + "/health", timeout=timeout).status_code == 200
  except requests.RequestException:
    return False


def wait_healthy(http: requests.Session, urls: Sequence[str], timeout: float) -> None:
  """Returns once every server answers GET /health, or raises after `timeout` seconds."""
  deadline = time.monotonic() + timeout
  while True:
    down = [u for u in urls if not alive(http, u)]
    if not down:
      return
    if time.monotonic() >= deadline:
      raise SamplerError(f"vLLM servers not healthy (GET /health) after {timeout:.0f} s: "
                         f"{', '.join(down)}")
    time.sleep(1.0)


def served_model(http: requests.Session, urls: Sequence[str]) -> tuple[str, int]:
  """(model name, max_model_len) that every server serves; they must agree."""
  seen = {}
  for url in urls:
    r = http.get(url + "/v1/models", timeout=10.0)
    if r.status_code != 200:
      raise SamplerError(f"{url}/v1/models returned {r.status_code}: {r.text[:300]}")
    data = r.json()["data"]
    if len(data) != 1:
      raise SamplerError(f"{url}/v1/models lists {len(data)} models; expected one")
    seen[url] = (data[0]["id"], int(data[0]["max_model_len"]))
  if len(set(seen.values())) != 1:
    raise SamplerError(f"servers serve different models or lengths: {seen}")
  return next(iter(seen.values()))


def _read_generation_config(path: str | None) -> tuple[dict | None, bool, list[str]]:
  """(config, whether it could be verified, problems). A checkpoint directory that is here
  but has no generation_config.json has no defaults; one that is not here is unknown."""
  if path is None:
    return None, True, []
  if os.path.isfile(path):
    try:
      with open(path) as f:
        return json.load(f), True, []
    except (OSError, ValueError) as e:
      return None, False, [f"{path}: unreadable generation config: {e}"]
  return None, os.path.isdir(os.path.dirname(path)), []


class ServerCheck(NamedTuple):
  problems: list[str]  # what would make training-mode sampling wrong; empty when fit
  device: str | None  # "cpu", "cuda", ... as the server reports it


def check_server(http: requests.Session, url: str, model: str, *,
                 timeout: float = 60.0) -> ServerCheck:
  """Everything about one server that would make training-mode sampling wrong: its logprobs
  mode, its sampling defaults (from /server_info, needs VLLM_SERVER_DEV_MODE=1), and a probe
  completion's log-probabilities."""
  try:
    r = http.get(url + "/server_info", params={"config_format": "json"}, timeout=timeout)
    config = r.json()["vllm_config"] if r.status_code == 200 else None
    model_config = config["model_config"] if config else None
  except (requests.RequestException, ValueError, KeyError, TypeError) as e:
    model_config, r = None, e
  if not model_config:
    detail = f"{r.status_code} {r.text[:200]}" if hasattr(r, "status_code") else str(r)
    return ServerCheck([f"{url}: cannot read /server_info to verify its sampling defaults "
                        f"(start it with VLLM_SERVER_DEV_MODE=1): {detail}"], None)
  dc = config.get("device_config") or {}
  device = dc.get("device_type") or dc.get("device")
  device = None if device is None else str(device)
  gen, readable, problems = _read_generation_config(generation_config_path(model_config))
  problems += check_server_config(url, model_config, gen, readable)
  top_n = int(model_config.get("max_logprobs") or 1)
  probe = Request(prompt=(0, 1, 2, 3), max_new_tokens=4, seed=0)
  body = completion_body(probe, model=model, max_tokens=4, seeded=False)
  body["logprobs"] = 20 if top_n < 0 else max(1, min(20, top_n))
  try:
    r = http.post(url + "/v1/completions", json=body, timeout=timeout)
  except requests.RequestException as e:
    return ServerCheck(problems + [f"{url}: probe completion failed: {e}"], device)
  if r.status_code != 200:
    return ServerCheck(problems + [f"{url}: probe completion failed ({r.status_code}): "
                                   f"{r.text[:300]}"], device)
  try:
    return ServerCheck(problems + check_probe(r.json(), url), device)
  except (SamplerError, ValueError) as e:
    return ServerCheck(problems + [f"{url}: probe completion: {e}"], device)
