"""Packed rows: each segment's logits equal what it gives alone."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax import model as M


@pytest.mark.parametrize("attention", ["xla", "blockwise"])
def test_two_sequences_packed_give_their_own_logits(attention):
  cfg = M.get_config("tiny", attention=attention, attention_block_q=8, attention_block_k=8)
  params = M.init_params(cfg, jax.random.key(0))
  rng = np.random.default_rng(0)
  a, b = rng.integers(0, cfg.vocab_size, 13), rng.integers(0, cfg.vocab_size, 20)

  def alone(x):
    t = len(x)
    return M.forward(params, cfg, jnp.asarray(x)[None], jnp.arange(t)[None],
                     jnp.ones((1, t), jnp.int32))[0]

  pad = 7
  tokens = np.concatenate([a, b, np.zeros(pad, np.int64)])[None]
  positions = np.concatenate([np.arange(13), np.arange(20), np.zeros(pad, np.int64)])[None]
  seg = np.concatenate([np.full(13, 1), np.full(20, 2), np.zeros(pad, np.int64)])[None]
  packed = M.forward(params, cfg, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(seg))[0]
  np.testing.assert_allclose(packed[:13], alone(a), atol=1e-5, rtol=0)
  np.testing.assert_allclose(packed[13:33], alone(b), atol=1e-5, rtol=0)
  assert np.isfinite(np.asarray(packed)).all()


def test_presets_have_published_dimensions():
  p = M.presets()
  assert {"tiny", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b",
          "qwen2.5-32b", "qwen2.5-72b"} <= set(p)
  big = p["qwen2.5-72b"]
  assert (big.hidden_size, big.intermediate_size, big.num_layers, big.num_heads,
          big.num_kv_heads, big.vocab_size) == (8192, 29568, 80, 64, 8, 152064)
  assert 72e9 < big.num_params < 73.5e9
  assert 0.49e9 < p["qwen2.5-0.5b"].num_params < 0.5e9
  assert 7.6e9 < p["qwen2.5-7b"].num_params < 7.7e9
  with pytest.raises(ValueError, match="unknown model preset"):
    M.get_config("qwen9")


@pytest.mark.parametrize("remat", ["none", "full", "dots"])
def test_bfloat16_and_remat_run(remat):
  cfg = M.get_config("tiny", compute_dtype="bfloat16", remat=remat)
  params = M.init_params(cfg, jax.random.key(0))
  tokens = jnp.ones((1, 16), jnp.int32)
  pos = jnp.arange(16)[None]
  loss = lambda p: M.forward(p, cfg, tokens, pos, jnp.ones_like(tokens)).mean()  # noqa: E731
  g = jax.grad(loss)(params)
  assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(g))
  assert params["layers"]["attn"]["q_kernel"].shape[0] == cfg.num_layers  # scanned


def test_param_axes_name_every_parameter():
  cfg = M.get_config("tiny", tie_embeddings=False)
  axes = M.param_axes(cfg)
  shapes = M.abstract_params(cfg)
  for spec, sd in zip(jax.tree.leaves(axes, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec)),
                      jax.tree.leaves(shapes)):
    assert len(spec) == len(sd.shape) and all(isinstance(n, str) for n in spec)
  assert tuple(axes["layers"]["attn"]["q_kernel"]) == ("layers", "embed", "heads", "head_dim")
  assert tuple(axes["lm_head"]) == ("embed", "vocab")
