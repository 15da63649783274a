"""The KV-cache forward and the sampling step against the full model and numpy references."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax import model as M
from swejax.sampling import kv_model as K

CFG = M.get_config("tiny", initializer_range=0.2)  # peaked logits: argmax is well defined
SLOTS, MAX_LEN = 4, 128
_prefill = jax.jit(functools.partial(K.prefill, cfg=CFG, block=32), donate_argnames=("cache",))
_decode = jax.jit(functools.partial(K.decode, cfg=CFG), static_argnames=("block", "truncate"),
                  donate_argnames=("cache",))
_sample = jax.jit(K.sample, static_argnames=("truncate",))


@jax.jit
def _make_params(key):
  """Random weights with random biases and norms, so that every parameter matters."""
  p = M.init_params(CFG, key)
  keys = iter(jax.random.split(jax.random.fold_in(key, 1), 16))
  noise = lambda x: x + 0.1 * jax.random.normal(next(keys), x.shape)  # noqa: E731
  p["layers"]["attn"] = {n: noise(v) if n.endswith("bias") else v
                         for n, v in p["layers"]["attn"].items()}
  for name in ("attn_norm", "mlp_norm"):
    p["layers"][name]["scale"] = noise(p["layers"][name]["scale"])
  return p


@pytest.fixture(scope="module")
def params():
  return _make_params(jax.random.key(0))


@jax.jit
def _forward(params, t):
  return M.forward(params, CFG, t[None], jnp.arange(t.shape[0])[None], jnp.ones_like(t)[None])[0]


def _full_logits(params, seq):
  """Causal, so padding the end to one fixed length changes nothing before it."""
  padded = np.zeros(MAX_LEN, np.int32)
  padded[:len(seq)] = seq
  return np.asarray(_forward(params, padded))[:len(seq)]


def test_prefill_chunks_and_decode_match_full_forward(params):
  """Slots of different lengths, a prompt prefilled in two chunks, then teacher-forced
  decode steps: each step's greedy id and log-prob equal the full forward's."""
  rng = np.random.default_rng(0)
  seqs = [rng.integers(0, CFG.vocab_size, n).tolist() for n in (45, 3, 1, 20)]
  steps = 6
  forced = [rng.integers(0, CFG.vocab_size, steps).tolist() for _ in seqs]
  cache = K.init_cache(CFG, SLOTS, MAX_LEN)
  for slot, seq in enumerate(seqs):
    todo, start = seq[:-1], 0
    while todo:  # chunks of at most 32, padded to 16 or 32
      chunk, todo = todo[:32], todo[32:]
      padded = np.zeros(16 if len(chunk) <= 16 else 32, np.int32)
      padded[:len(chunk)] = chunk
      cache = _prefill(params, cache=cache, slot=np.int32(slot), tokens_t=padded,
                       start=np.int32(start), length=np.int32(len(chunk)))
      start += len(chunk)
  sampling = K.sampling_arrays(SLOTS)
  sampling["temperature"][:] = 0.0
  got_ids, got_lps = [], []
  for i in range(steps):
    tokens = np.array([s[-1] for s in seqs], np.int32)
    positions = np.array([len(s) - 1 for s in seqs], np.int32)
    cache, ids, lps = _decode(params, cache=cache, tokens_s=tokens, positions_s=positions,
                              active_s=np.ones(SLOTS, bool), sampling=sampling, block=32,
                              truncate=False)
    got_ids.append(np.asarray(ids))
    got_lps.append(np.asarray(lps))
    for s, f in zip(seqs, forced):
      s.append(f[i])
  for slot, seq in enumerate(seqs):
    logits = _full_logits(params, seq)
    n0 = len(seq) - steps - 1
    ref = jax.nn.log_softmax(logits[n0:n0 + steps], axis=-1)
    np.testing.assert_array_equal([g[slot] for g in got_ids], np.argmax(ref, -1))
    np.testing.assert_allclose([g[slot] for g in got_lps], np.max(ref, -1), atol=1e-5)


def test_inactive_slots_and_padding_write_nothing(params):
  cache = K.init_cache(CFG, SLOTS, MAX_LEN)
  cache = _prefill(params, cache=cache, slot=np.int32(1), tokens_t=np.arange(16, dtype=np.int32),
                   start=np.int32(0), length=np.int32(5))
  k = np.asarray(cache["k"])
  assert np.abs(k[:, 1, :5]).sum() > 0
  assert not k[:, 1, 5:].any() and not k[:, [0, 2, 3]].any()
  cache, _, _ = _decode(params, cache=cache, tokens_s=np.ones(SLOTS, np.int32),
                        positions_s=np.full(SLOTS, 5, np.int32),
                        active_s=np.array([False, True, False, False]),
                        sampling=K.sampling_arrays(SLOTS), block=32, truncate=False)
  k = np.asarray(cache["k"])
  assert np.abs(k[:, 1, 5]).sum() > 0 and not k[:, 1, 6:].any()
  assert not k[:, [0, 2, 3]].any()


def _sampling(n, **kw):
  s = K.sampling_arrays(n)
  for name, v in kw.items():
    s[name][:] = v
  return s


def test_noise_depends_on_seed_and_step_only():
  logits = jax.random.normal(jax.random.key(0), (6, 50)) * 2
  s = _sampling(6, seed=np.arange(6) + 10, step=np.arange(6) * 3)
  ids, lps = _sample(logits, truncate=False, **s)
  perm = np.array([3, 0, 5, 1, 4, 2])
  s2 = {k: v[perm] for k, v in s.items()}
  ids2, lps2 = _sample(logits[perm], truncate=False, **s2)
  np.testing.assert_array_equal(np.asarray(ids)[perm], ids2)
  np.testing.assert_allclose(np.asarray(lps)[perm], lps2)
  # Another step (or seed) of the same row draws other noise.
  many = _sampling(64, seed=7, step=np.arange(64))
  ids3, _ = _sample(jnp.broadcast_to(logits[0], (64, 50)), truncate=False, **many)
  assert len(set(np.asarray(ids3).tolist())) > 5


def _np_log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_temperature_and_greedy_logprobs():
  logits = np.asarray(jax.random.normal(jax.random.key(1), (4, 30)) * 3)
  s = _sampling(4, seed=np.arange(4), temperature=[0.0, 0.5, 1.0, 2.0])
  ids, lps = map(np.asarray, _sample(jnp.asarray(logits), truncate=False, **s))
  assert ids[0] == logits[0].argmax()
  for r, t in enumerate([1.0, 0.5, 1.0, 2.0]):  # greedy records the temperature-1 log-prob
    assert lps[r] == pytest.approx(_np_log_softmax(logits[r] / t)[ids[r]], abs=1e-5)


@pytest.mark.parametrize("kind", ["top_k", "top_p", "min_p"])
def test_truncation_support_and_renormalised_logprobs(kind):
  rng = np.random.default_rng(2)
  row = rng.normal(size=40).astype(np.float32) * 2
  p = np.exp(_np_log_softmax(row))
  order = np.argsort(-row)
  if kind == "top_k":
    keep, kw = set(order[:5].tolist()), dict(top_k=5)
  elif kind == "top_p":
    before = np.cumsum(p[order]) - p[order]
    keep, kw = set(order[before < 0.6].tolist()), dict(top_p=0.6)
  else:
    keep, kw = set(np.flatnonzero(p >= 0.1 * p.max()).tolist()), dict(min_p=0.1)
  assert 1 < len(keep) < 40
  n = 400
  s = _sampling(n, seed=np.arange(n), **kw)
  ids, lps = map(np.asarray, _sample(jnp.broadcast_to(row, (n, 40)), truncate=True, **s))
  assert set(ids.tolist()) == keep  # every kept token drawn at least once, no other
  kept = np.array(sorted(keep))
  ref = np.log(p[kept] / p[kept].sum())
  np.testing.assert_allclose(lps, ref[np.searchsorted(kept, ids)], atol=1e-5)


def test_a_batch_of_some_slots_equals_the_whole_cache_batch(params):
  """Rows that name their slots (any order, idle padding rows) compute what the batch of
  every slot computes for those slots, and write the same K/V."""
  rng = np.random.default_rng(3)
  lengths = (9, 40, 2, 17)
  cache = K.init_cache(CFG, SLOTS, MAX_LEN)
  for slot, n in enumerate(lengths):
    padded = np.zeros(64, np.int32)
    padded[:n] = rng.integers(0, CFG.vocab_size, n)
    cache = _prefill(params, cache=cache, slot=np.int32(slot), tokens_t=padded,
                     start=np.int32(0), length=np.int32(n))
  tokens = rng.integers(0, CFG.vocab_size, SLOTS).astype(np.int32)
  positions = np.array(lengths, np.int32)
  sampling = K.sampling_arrays(SLOTS)
  sampling["seed"][:] = [5, 6, 7, 8]
  whole, ids, lps = _decode(params, cache=jax.tree.map(jnp.copy, cache), tokens_s=tokens,
                            positions_s=positions, active_s=np.ones(SLOTS, bool),
                            sampling=sampling, block=32, truncate=False)
  rows = np.array([3, 1, 0, 0], np.int32)  # slots 3 and 1, then two idle rows
  on = np.array([True, True, False, False])
  some, ids2, lps2 = _decode(params, cache=cache, tokens_s=tokens[rows],
                             positions_s=positions[rows], active_s=on,
                             sampling={k: v[rows] for k, v in sampling.items()}, block=32,
                             truncate=False, slots_s=rows)
  np.testing.assert_array_equal(np.asarray(ids2)[:2], np.asarray(ids)[[3, 1]])
  np.testing.assert_allclose(np.asarray(lps2)[:2], np.asarray(lps)[[3, 1]], atol=1e-6)
  for name in ("k", "v"):
    got, want = np.asarray(some[name]), np.asarray(whole[name])
    for slot in (1, 3):  # the new position of each busy slot, as the whole batch wrote it
      np.testing.assert_allclose(got[:, slot, :lengths[slot] + 1],
                                 want[:, slot, :lengths[slot] + 1], atol=1e-6)
    for slot in (0, 2):  # idle: nothing written past the prompt
      assert not got[:, slot, lengths[slot]:].any()
