"""JaxSampler against the learner, transformers and the model's own distribution."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from swejax import model as M
from swejax.learner import token_logprobs
from swejax.sampling import JaxSampler, Request, SamplingParams

CFG = M.get_config("tiny", initializer_range=0.2)  # peaked logits: argmax is well defined
KW = dict(max_slots=4, max_len=128, prefill_buckets=(8, 32))  # the shapes of every test here


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


@pytest.fixture(scope="module")
def sampler(params):
  with JaxSampler(CFG, params, **KW) as s:
    yield s


@jax.jit
def _ref_logprobs(params, tokens, segments):
  pos = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
  return token_logprobs(params, CFG, tokens, pos, segments)


@jax.jit
def _forward(params, t):
  return M.forward(params, CFG, t[None], jnp.arange(t.shape[0])[None], jnp.ones_like(t)[None])[0]


def _logits(params, seq):
  """Full-model logits [len(seq), V]; causal, so padding the end changes nothing before it."""
  padded = np.zeros(KW["max_len"], np.int32)
  padded[:len(seq)] = seq
  return np.asarray(_forward(params, padded))[:len(seq)].astype(np.float64)


def _learner_logprobs(params, seqs):
  """The learner's log-probs of each sequence, rows padded to the sampler's max_len."""
  tokens = np.zeros((len(seqs), KW["max_len"]), np.int32)
  segments = np.zeros_like(tokens)
  for i, s in enumerate(seqs):
    tokens[i, :len(s)], segments[i, :len(s)] = s, 1
  out = np.asarray(_ref_logprobs(params, tokens, segments))
  return [out[i, :len(s)] for i, s in enumerate(seqs)]


def test_logprobs_equal_learner_across_turns(sampler, params):
  """Three turns of four episodes: each turn's prompt extends the last turn's sequence, so
  only the new tokens are prefilled, and the recorded log-probs still equal the learner's."""
  rng = np.random.default_rng(0)
  episodes = [rng.integers(0, CFG.vocab_size, n).tolist() for n in (5, 60, 1, 12)]
  checks, last_len = [], [0] * len(episodes)
  for turn in range(3):
    results = sampler.generate(episodes, 8, seed=100 * turn,
                               sessions=[f"ep{i}" for i in range(len(episodes))])
    for i, r in enumerate(results):
      prompt = episodes[i]
      assert r.version == 0 and r.finish_reason == "length" and len(r.tokens) == 8
      assert r.info["prompt_tokens"] == len(prompt)
      if turn:  # everything but the last sampled token of the previous turn was cached
        assert r.info["cached_tokens"] == last_len[i] - 1
      assert r.info["prefill_tokens"] == len(prompt) - r.info["cached_tokens"]
      seq = prompt + list(r.tokens)
      checks.append((seq, len(prompt), r))
      last_len[i] = len(seq)
      episodes[i] = seq + rng.integers(0, CFG.vocab_size, 3).tolist()
  ref = _learner_logprobs(params, [c[0] for c in checks])
  for (seq, n, r), lp in zip(checks, ref):
    np.testing.assert_allclose(r.logprobs, lp[n:], atol=1e-4, rtol=0)


def test_eval_temperature_logprobs_are_of_the_scaled_distribution(sampler, params):
  prompt = list(range(7))
  r = sampler.generate([prompt], 6, temperature=0.5, seed=3)[0]
  logits = _logits(params, prompt + list(r.tokens))[6:12]
  ref = jax.nn.log_softmax(logits / 0.5, axis=-1)
  np.testing.assert_allclose(r.logprobs, np.take_along_axis(ref, np.array(r.tokens)[:, None],
                                                             -1)[:, 0], atol=1e-4)


def test_greedy_equals_transformers_generate(tmp_path, sampler, params):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  M.save_hf(params, CFG, str(tmp_path))
  hf = transformers.Qwen2ForCausalLM.from_pretrained(str(tmp_path), dtype=torch.float32).eval()
  rng = np.random.default_rng(1)
  prompts = [rng.integers(0, CFG.vocab_size, n).tolist() for n in (1, 9, 40)]
  stop = (CFG.eos_token_id,)
  ours = sampler.generate(prompts, 24, temperature=0.0, stop_token_ids=stop)
  for prompt, r in zip(prompts, ours):
    with torch.no_grad():
      out = hf.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False,
                        eos_token_id=list(stop), pad_token_id=0)
    assert list(r.tokens) == out[0, len(prompt):].tolist()
    # The comparison is meaningful: no near-tie decided any argmax.
    seq = prompt + list(r.tokens)
    logits = _logits(params, seq)[len(prompt) - 1:-1]
    top2 = np.sort(logits, -1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0]).min() > 1e-3


def test_no_recompilation_after_warmup(sampler):
  sampler.warmup()
  compiles = []

  def listener(name, *args, **kwargs):
    if "backend_compile" in name:
      compiles.append(name)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    entries = sampler.stats()["jit_cache_entries"]
    rng = np.random.default_rng(2)
    futures = []
    for i in range(100):
      n = int(rng.integers(1, 100))
      futures.append(sampler.submit(Request(
          rng.integers(0, CFG.vocab_size, n).tolist(), int(rng.integers(1, 128 - n)), seed=i,
          session=f"s{i % 7}" if i % 2 else None)))
    results = [f.result() for f in futures]
    assert sampler.stats()["jit_cache_entries"] == entries
    assert not compiles, compiles
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert {r.finish_reason for r in results} <= {"length", "stop"}


def test_temperature_one_matches_model_distribution(sampler, params):
  """Chi-square of 2000 first tokens (seeds 0..1999) against softmax(logits), in bins of
  about equal mass; the same counts reject a slightly different distribution."""
  prompt = [5, 17, 300, 2]
  n = 2000
  results = sampler.generate([prompt] * n, 1, seed=0)
  logits = _logits(params, prompt)[-1]
  probs = np.exp(logits - logits.max())
  probs /= probs.sum()
  assert probs.max() > 0.05  # peaked enough to tell distributions apart
  ids = np.array([r.tokens[0] for r in results])
  lps = np.array([r.logprobs[0] for r in results])
  np.testing.assert_allclose(lps, np.log(probs[ids]), atol=1e-4)

  def p_value(p):
    order = np.argsort(-p)
    bins = np.minimum((np.cumsum(p[order]) - p[order]) * 10, 9).astype(int)  # ~10% each
    bin_of = np.empty_like(bins)
    bin_of[order] = bins
    expected = np.bincount(bin_of, weights=p, minlength=10) * n
    observed = np.bincount(bin_of[ids], minlength=10)
    keep = expected > 0
    return stats.chisquare(observed[keep], expected[keep] * observed.sum() /
                           expected[keep].sum()).pvalue

  assert p_value(probs) > 1e-3
  hotter = np.exp((logits - logits.max()) / 1.3)
  assert p_value(hotter / hotter.sum()) < 1e-3


def test_eval_top_k_one_is_greedy(sampler):
  prompt = [[9, 8, 7], [1]]
  greedy = sampler.generate(prompt, 10, temperature=0.0)
  top1 = sampler.generate(prompt, 10, seed=5, params=SamplingParams(top_k=1, mode="eval"))
  assert [r.tokens for r in greedy] == [r.tokens for r in top1]
  assert all(np.allclose(r.logprobs, 0.0, atol=1e-6) for r in top1)  # renormalised to {argmax}
