"""JaxSampler's engine: batching, slots, weight swaps, threads, errors and bad input."""
import threading
import time

import jax
import numpy as np
import pytest

from swejax import model as M
from swejax.sampling import (JaxSampler, Request, Sampler, SamplerError, SamplingParams,
                             TruncatedSamplingError)

CFG = M.get_config("tiny", initializer_range=0.2)
KW = dict(max_slots=4, max_len=128, prefill_buckets=(8, 32))  # as test_jax_parity: no new shapes


@pytest.fixture(scope="module")
def params():
  return jax.jit(M.init_params, static_argnums=0)(CFG, jax.random.key(0))


@pytest.fixture(scope="module")
def sampler(params):
  with JaxSampler(CFG, params, **KW) as s:
    yield s


def test_implements_the_sampler_protocol(sampler):
  assert isinstance(sampler, Sampler)


def test_more_requests_than_slots_and_a_finished_slot_is_refilled(sampler):
  long = sampler.submit(Request([1, 2, 3], 80, seed=1))
  short = [sampler.submit(Request([4 + i], 2, seed=i)) for i in range(11)]
  results = [f.result() for f in short]
  a = long.result()
  assert len(a.tokens) == 80 and all(len(r.tokens) == 2 for r in results)
  # Eleven 2-token requests through the 3 slots left: the late ones were admitted into slots
  # freed by earlier short ones while the long request was still decoding.
  late = results[-1].info
  assert late["admitted_step"] > 0 and late["finished_step"] < a.info["finished_step"]
  assert len({r.info["slot"] for r in results}) <= 3 and a.info["slot"] not in {
      r.info["slot"] for r in results}


def test_a_decode_step_runs_the_busy_slots_only(params):
  """Two requests in an 8-slot sampler: every step is a batch of 2 rows, not 8, and the
  tokens are those of the same requests decoded beside 6 others (a full batch)."""
  with JaxSampler(CFG, params, **dict(KW, max_slots=8)) as s:
    s.warmup()
    before = s.stats()
    two = s.generate([[1, 2, 3], [9, 8]], 10, seed=4)
    after = s.stats()
    steps = after["decode_steps"] - before["decode_steps"]
    assert steps == 10 and after["decode_rows"] - before["decode_rows"] == 2 * steps
    assert s.decode_buckets == (1, 2, 4, 8)
    eight = s.generate([[1, 2, 3], [9, 8]] + [[5 + i] for i in range(6)], 10, seed=4)
    assert s.stats()["jit_cache_entries"] == after["jit_cache_entries"]  # warmed up
  assert [r.tokens for r in two] == [r.tokens for r in eight[:2]]
  np.testing.assert_allclose([r.logprobs for r in two], [r.logprobs for r in eight[:2]],
                             atol=1e-5)


def test_stop_token_is_included_and_ends_the_request(sampler):
  free = sampler.generate([[7, 7, 7]], 12, temperature=0.0)[0]
  stop = free.tokens[4]
  first = free.tokens.index(stop)
  r = sampler.generate([[7, 7, 7]], 12, temperature=0.0, stop_token_ids=[stop])[0]
  assert r.finish_reason == "stop" and r.tokens == free.tokens[:first + 1]
  assert r.logprobs == pytest.approx(free.logprobs[:first + 1])


def test_max_len_ends_with_length(sampler):
  r = sampler.generate([list(range(120))], 50)[0]
  assert r.finish_reason == "length" and len(r.tokens) == 128 - 120
  full = sampler.generate([list(range(128))], 5)[0]
  assert full.tokens == () and full.finish_reason == "length"


def test_seeds_make_results_reproducible_whatever_the_batch(sampler):
  alone = sampler.generate([[3, 1, 4]], 10, seed=42)[0]
  crowd = sampler.generate([[9] * i for i in range(1, 6)] + [[3, 1, 4]], 10, seed=37)
  again = crowd[5]  # seed 37 + index 5 = 42, decoded beside five other requests
  assert again.tokens == alone.tokens
  np.testing.assert_allclose(again.logprobs, alone.logprobs, atol=1e-5)
  other = sampler.generate([[3, 1, 4]], 10, seed=43)[0]
  assert other.tokens != alone.tokens


def test_concurrent_episodes_from_threads_match_sequential_runs(sampler):
  """Eight episodes of three turns on eight threads (twice the slots) give exactly what
  each episode gives when run alone."""
  def episode(i, out):
    prompt = [i + 1] * (i + 2)
    turns = []
    for turn in range(3):
      r = sampler.submit(Request(prompt, 6, seed=10 * i + turn, session=f"ep{i}")).result()
      turns.append(r.tokens)
      prompt = prompt + list(r.tokens) + [turn + 50]
    out[i] = turns

  concurrent, sequential = {}, {}
  threads = [threading.Thread(target=episode, args=(i, concurrent)) for i in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  for i in range(8):
    episode(i, sequential)
  assert concurrent == sequential


def test_session_reuses_its_slot_and_lru_evicts(sampler, params):
  with JaxSampler(CFG, params, **KW) as s:
    first = s.submit(Request([1, 2, 3, 4], 3, session="a")).result()
    for name in "bcde":  # four other sessions: "a" is the least recently used idle slot
      s.submit(Request([5, 6, 7], 3, session=name)).result()
    again = s.submit(Request([1, 2, 3, 4] + list(first.tokens) + [9], 3, session="a")).result()
    assert again.info["cached_tokens"] == 0  # evicted
    third = s.submit(Request([1, 2, 3, 4] + list(first.tokens) + [9] + list(again.tokens),
                             2, session="a")).result()
    assert third.info["cached_tokens"] == 4 + 3 + 1 + 3 - 1


def test_update_weights_changes_outputs_version_and_drops_the_cache(params):
  with JaxSampler(CFG, params, version=3, **KW) as s:
    prompt = [11, 12, 13, 14]
    before = s.generate([prompt], 10, temperature=0.0, sessions=["x"])[0]
    assert before.version == 3 == s.version
    new = jax.tree.map(lambda x: -x, params)
    s.update_weights(new, 4)
    assert s.version == 4
    after = s.generate([prompt], 10, temperature=0.0, sessions=["x"])[0]
    assert after.version == 4 and after.tokens != before.tokens
    assert after.info["cached_tokens"] == 0
    with JaxSampler(CFG, new, **KW) as fresh:
      assert fresh.generate([prompt], 10, temperature=0.0)[0].tokens == after.tokens
    with pytest.raises(ValueError, match="structure, shape or dtype"):
      s.update_weights({"embed": params["embed"]}, 5)


def test_update_weights_waits_for_requests_in_flight(params):
  with JaxSampler(CFG, params, **KW) as s:
    new = jax.block_until_ready(jax.tree.map(lambda x: x * 1.5, params))
    expected = s.generate([[1, 2]], 100, seed=9)[0]
    flight = s.submit(Request([1, 2], 100, seed=9))
    while not s.stats()["decode_steps"] > 100:  # the long request is decoding
      time.sleep(0.001)
    s.update_weights(new, 1)
    assert flight.done()  # the swap waited for it
    r = flight.result()
    assert r.version == 0 and r.tokens == expected.tokens
    assert s.generate([[1, 2]], 1)[0].version == 1


def test_parameters_donated_by_the_learner_give_a_clear_error(params):
  """The learner's train step donates its state: until update_weights brings the new
  parameters, requests fail clearly and the sampler stays usable."""
  mine = jax.tree.map(lambda x: x + 0, params)
  with JaxSampler(CFG, mine, **KW) as s:
    mine["embed"].delete()
    with pytest.raises(SamplerError, match="deleted"):
      s.generate([[1, 2]], 2)
    s.update_weights(params, 1)
    assert s.generate([[1, 2]], 2)[0].version == 1


def test_engine_failure_reaches_every_caller(params):
  s = JaxSampler(CFG, params, **KW)

  def broken(*a, **k):
    raise RuntimeError("device lost")

  s._decode = broken
  futures = [s.submit(Request([1, 2, 3], 5)) for _ in range(6)]
  for f in futures:
    with pytest.raises(SamplerError, match="device lost"):
      f.result(timeout=60)
  with pytest.raises(SamplerError):
    s.submit(Request([1], 1)).result(timeout=60)
  with pytest.raises(SamplerError):
    s.update_weights(params, 1)
  s.close()


def test_close_fails_waiting_and_running_requests(params):
  s = JaxSampler(CFG, params, **KW)
  futures = [s.submit(Request([1], 120, seed=i)) for i in range(6)]
  s.close()
  for f in futures:
    with pytest.raises(SamplerError, match="closed"):
      f.result(timeout=60)
  with pytest.raises(SamplerError):
    s.generate([[1]], 1)


def test_training_mode_refuses_truncation(sampler):
  for kw in (dict(top_k=5), dict(top_p=0.9), dict(min_p=0.1), dict(temperature=0.7)):
    with pytest.raises(TruncatedSamplingError, match="training-mode"):
      sampler.generate([[1]], 1, params=SamplingParams(**kw))
  with pytest.raises(ValueError, match="not both"):
    sampler.generate([[1]], 1, temperature=0.0, params=SamplingParams())


@pytest.mark.parametrize("request_, match", [
    (Request([], 4), "non-empty"),
    (Request([1, 8192], 4), r"prompt\[1\] = 8192"),
    (Request(list(range(129)), 4), "more than the sampler's max_len 128"),
    (Request([1], 0), "max_new_tokens"),
    (Request([1], 4, seed=-1), "seed"),
    (Request([1], 4, params=SamplingParams(repetition_penalty=1.1, mode="eval")),
     "repetition_penalty"),
    (Request([1], 4, params=SamplingParams(top_p=1.5, mode="eval")), "out of range"),
])
def test_bad_requests_are_refused_clearly(sampler, request_, match):
  with pytest.raises(ValueError, match=match):
    sampler.submit(request_)
  with pytest.raises(ValueError, match="prompt 0"):
    sampler.generate([request_.prompt], request_.max_new_tokens, seed=request_.seed,
                     params=request_.params)


@pytest.mark.slow  # compiles for 8 fake devices
def test_reads_the_learners_sharded_parameters(sampler, params):
  """Parameters as the learner holds them (sharded over 8 devices) need no conversion."""
  from swejax.learner import make_mesh, param_shardings
  sharded = jax.device_put(params, param_shardings(CFG, make_mesh(None)))
  assert len(sharded["embed"].sharding.device_set) == 8
  with JaxSampler(CFG, sharded, **KW) as s:
    got = s.generate([[5, 6, 7]], 6, temperature=0.0)[0]
  want = sampler.generate([[5, 6, 7]], 6, temperature=0.0)[0]
  assert got.tokens == want.tokens
  np.testing.assert_allclose(got.logprobs, want.logprobs, atol=1e-5)
